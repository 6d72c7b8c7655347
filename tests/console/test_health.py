"""The dashboard's model-health rows from monitoring reports."""

from __future__ import annotations

from modelserve.console.health import HEALTH_COLUMNS, health_rows

WINDOW = {"features": {
    "images:mean": {"test": "ks", "distance": 0.9, "p_value": 1e-20, "drifted": True},
    "prediction": {"test": "chi2", "distance": 0.2, "p_value": 0.3, "drifted": False},
}}  # fmt: skip


def _drift(detected: bool, last_window: dict | None) -> dict:
    return {
        "drift_detected": detected, "last_window": last_window, "windows": {"ok": 3, "drift": 1},
        "baseline": {"source": "reference: r.npz", "ready": True, "rows": 1000},
    }  # fmt: skip


def test_a_row_per_version_and_route() -> None:
    reports = [{
        "model": "digits", "drift_enabled": True, "versions": [
            {"version": 1, "drift": _drift(True, WINDOW),
             "feedback": {"stable": {"rows": 50, "accuracy": 0.9, "f1": 0.88}, "canary": {"rows": 5, "accuracy": 0.6}}},
            {"version": 2, "drift": {**_drift(False, None), "baseline": {"source": "x", "ready": False, "rows": 40}}},
        ],
    }]  # fmt: skip
    rows = health_rows(reports)
    assert all(len(row) == len(HEALTH_COLUMNS) for row in rows)
    canary, stable, second = rows
    assert stable[:7] == ["digits", 1, "DRIFT", "reference: r.npz", "3/1", "images:mean (ks 0.9, p=1e-20)", "stable"]
    assert stable[7:] == [50, 0.9, 0.88, None] and canary[6:9] == ["canary", 5, 0.6]
    assert second[2:4] == ["measuring", "learning (40 rows)"] and second[6:] == ["", "", None, None, None]


def test_drift_off_and_no_requests() -> None:
    rows = health_rows([{"model": "m", "drift_enabled": False, "versions": [{"version": 3, "feedback": {}}]}])
    assert rows == [["m", 3, "off", "", "", "", "", "", None, None, None]]
