"""The shipped monitoring files (deploy/monitoring/) as tests read them: the metric names the server exports,
the Grafana dashboard's queries with its variables filled in, the metric names a PromQL expression selects,
and the alert rules with their ``for:`` durations set to 0s for a live run.

(A module with a name no other folder uses, so test modules in any folder can import it.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

MONITORING = Path(__file__).parents[1] / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"

#: Every ``modelserve_*`` metric the server exports (docs/metrics.md), as its ``# TYPE`` line names it;
#: histograms by their base name.
COUNTERS = {
    "modelserve_requests_total",
    "modelserve_routed_requests_total",
    "modelserve_shadow_requests_total",
    "modelserve_auth_refusals_total",
    "modelserve_drift_windows_total",
    "modelserve_feedback_rows_total",
    "modelserve_feedback_correct_total",
    "modelserve_feedback_unmatched_total",
    "modelserve_business_events_total",
    "modelserve_monitor_dropped_total",
}
GAUGES = {
    "modelserve_in_flight_requests",
    "modelserve_queued_requests",
    "modelserve_model_version_state",
    "modelserve_drift_detected",
    "modelserve_drift_distance",
    "modelserve_drift_p_value",
    "modelserve_drift_baseline_rows",
    "modelserve_feedback_window_rows",
    *(f"modelserve_feedback_{score}" for score in ("accuracy", "precision", "recall", "f1", "mae", "rmse")),
}
HISTOGRAMS = {
    "modelserve_request_duration_seconds",
    "modelserve_runtime_duration_seconds",
    "modelserve_queue_delay_seconds",
    "modelserve_batch_size",
    "modelserve_model_load_seconds",
    "modelserve_shadow_max_abs_diff",
    "modelserve_shadow_duration_seconds",
    "modelserve_pipeline_step_seconds",
}
EXPORTED = COUNTERS | GAUGES | HISTOGRAMS
#: Names a query may select: the samples of the above, and the series Prometheus makes itself.
KNOWN = (
    COUNTERS
    | GAUGES
    | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
    | {"up", "ALERTS", "ALERTS_FOR_STATE"}
)

#: Grafana's variables, replaced by values a query may take (``model`` in ``=~"$model"``: the "All" regex).
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h", "model": ".*"}

#: Words that are no metric (aggregations and functions are told apart by the "(" after them).
_NOT_METRICS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on", "ignoring"}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_queries() -> list[tuple[str, str]]:
    """``(panel title, expr)`` for every target of every panel (panels inside rows included)."""
    found = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            found.extend((panel["title"], target["expr"]) for target in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(dashboard()["panels"])
    return found


def expand(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced, as Grafana would send it."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: GRAFANA_VARIABLES[m.group(1)], expr)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (not labels, functions, keywords or numbers)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "[]", text)  # ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?!\w)(\s*\()?", text):
        name, call = match.group(1), match.group(2)
        if not call and name not in _NOT_METRICS:  # a name followed by "(" is a function
            names.add(name)
    return names


def alert_rules() -> dict:
    return yaml.safe_load(ALERTS.read_text(encoding="utf-8"))


def alert_rules_without_for() -> str:
    """alerts.yml with every ``for:`` set to 0s: a live test sees an alert fire at the first evaluation
    that finds its condition (the durations themselves are covered by alerts_test.yml)."""
    rules = alert_rules()
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "0s"
    return yaml.safe_dump(rules, sort_keys=False)
