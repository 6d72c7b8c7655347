"""The dashboard's "Model health" table: drift and ground-truth accuracy per model version (and traffic
route), from :meth:`~modelserve.serving.service.ModelService.monitoring_report`. Plain Python (no Gradio)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["HEALTH_COLUMNS", "health_rows"]

HEALTH_COLUMNS = ["model", "version", "drift", "baseline", "windows ok/drift", "most shifted", "route",
                  "feedback rows", "accuracy", "F1", "MAE"]  # fmt: skip


def _most_shifted(last_window: Mapping[str, Any] | None) -> str:
    if not last_window or not last_window.get("features"):
        return ""
    features = last_window["features"]
    name = max(features, key=lambda f: (features[f]["drifted"], features[f]["distance"]))
    found = features[name]
    p_value = f", p={found['p_value']:.2g}" if found["p_value"] is not None else ""
    return f"{name} ({found['test']} {found['distance']:.3g}{p_value})"


def _score(scores: Mapping[str, Any], name: str) -> float | None:
    value = scores.get(name)
    return round(float(value), 4) if value is not None else None


def health_rows(reports: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """One row per version and route with feedback (one row per version without): the drift verdict of the
    latest window, where the baseline came from, window counts, the most shifted feature, and the accuracy,
    F1 and MAE of the latest feedback window."""
    rows = []
    for report in reports:
        for version in report["versions"]:
            drift = version.get("drift")
            if drift is None:
                cells = ["off" if not report["drift_enabled"] else "no requests yet", "", "", ""]
            else:
                baseline = drift["baseline"]
                verdict = "DRIFT" if drift["drift_detected"] else ("ok" if drift["last_window"] else "measuring")
                source = baseline["source"] if baseline["ready"] else f"learning ({baseline['rows']} rows)"
                if baseline.get("error"):
                    source += f" [reference not used: {baseline['error']}]"
                windows = f"{drift['windows']['ok']}/{drift['windows']['drift']}"
                cells = [verdict, source, windows, _most_shifted(drift["last_window"])]
            routes = version.get("feedback") or {"": None}
            for route, scores in sorted(routes.items()):
                feedback: list[Any] = ["", None, None, None] if scores is None else [
                    scores["rows"], _score(scores, "accuracy"), _score(scores, "f1"), _score(scores, "mae"),
                ]  # fmt: skip
                rows.append([report["model"], version["version"], *cells, route, *feedback])
    return rows
