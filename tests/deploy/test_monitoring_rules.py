"""The shipped monitoring files (deploy/monitoring/) checked offline by Prometheus' own promtool: the alert
rules load and pass their unit tests, the example config loads, and every Grafana panel's query parses as
PromQL and selects only metrics the server exports. (tests/integration/monitoring/ runs them against a real
Prometheus scraping a real server.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring_files import (
    ALERTS,
    KNOWN,
    MONITORING,
    alert_rules,
    alert_rules_without_for,
    dashboard,
    dashboard_queries,
    expand,
    metric_names,
)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def test_alert_rules_are_valid() -> None:
    checked = promtool("check", "rules", ALERTS.name, cwd=MONITORING)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_alert_rules_pass_their_unit_tests() -> None:
    tested = promtool("test", "rules", "alerts_test.yml", cwd=MONITORING)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    (group,) = alert_rules()["groups"]
    assert group["name"] == "modelserve"
    alerts = {rule["alert"] for rule in group["rules"] if "alert" in rule}
    assert {"ModelserveDriftDetected", "ModelserveAccuracyLow"} <= alerts
    for rule in group["rules"]:
        if "alert" in rule:
            assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
    tests = yaml.safe_load((MONITORING / "alerts_test.yml").read_text(encoding="utf-8"))["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    assert {case["alertname"] for case in cases if case["exp_alerts"]} == alerts
    assert {case["alertname"] for case in cases if not case["exp_alerts"]} == alerts


def test_alert_rules_select_only_exported_metrics_and_earlier_records() -> None:
    """A rule reads recorded series only from rules before it in its group: those are evaluated first in the
    same evaluation (a record in another group, or after, would be an evaluation behind)."""
    for group in alert_rules()["groups"]:
        recorded: set[str] = set()
        for rule in group["rules"]:
            unknown = metric_names(rule["expr"]) - KNOWN - recorded
            assert not unknown, f"{rule.get('alert') or rule['record']}: {unknown}"
            if "record" in rule:
                recorded.add(rule["record"])


def test_the_live_copy_of_the_rules_only_drops_the_durations(tmp_path: Path) -> None:
    (tmp_path / "alerts.yml").write_text(alert_rules_without_for(), encoding="utf-8")
    checked = promtool("check", "rules", "alerts.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    live, shipped = yaml.safe_load((tmp_path / "alerts.yml").read_text(encoding="utf-8")), alert_rules()
    for group in shipped["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "0s"
    assert live == shipped


def test_example_prometheus_config_is_valid(tmp_path: Path) -> None:
    for name in ("prometheus.yml", "alerts.yml"):
        shutil.copy(MONITORING / name, tmp_path / name)
    checked = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "modelserve" and job["metrics_path"] == "/monitoring/prometheus/metrics"
    assert config["rule_files"] == ["alerts.yml"]


def test_dashboard_has_the_variables_and_panels() -> None:
    found = dashboard()
    assert found["schemaVersion"] >= 36
    variables = {v["name"]: v for v in found["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["model"]["type"] == "query"
    assert variables["model"]["definition"] == "label_values(modelserve_requests_total, model)"
    panels = [panel for panel in found["panels"] if panel["type"] != "row"]
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"] and all(t["datasource"] == panel["datasource"] for t in panel["targets"])
    assert len({panel["id"] for panel in found["panels"]}) == len(found["panels"])
    queries = " ".join(expr for _title, expr in dashboard_queries())
    for needed in (
        "modelserve_requests_total",
        "modelserve_request_duration_seconds_bucket",
        "modelserve_batch_size",
        "modelserve_in_flight_requests",
        "modelserve_queued_requests",
        "modelserve_drift_detected",
        "modelserve_drift_p_value",
        "modelserve_feedback_accuracy",
        "modelserve_feedback_f1",
        "modelserve_feedback_mae",
        "modelserve_feedback_rmse",
    ):
        assert needed in queries


def test_dashboard_queries_select_only_exported_metrics() -> None:
    for title, expr in dashboard_queries():
        names = metric_names(expand(expr))
        assert names, f"{title}: {expr} selects no metric"
        assert names <= KNOWN, f"{title}: unknown metrics {names - KNOWN}"


def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    """promtool has no parse-only command: each query becomes a recording rule, which check rules parses."""
    queries = dashboard_queries()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{n}", "expr": expand(expr)} for n, (_title, expr) in enumerate(queries)
    ]}]}  # fmt: skip
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    checked = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout
    broken = {"groups": [{"name": "broken", "rules": [{"record": "broken:query", "expr": "sum(rate(x[5m])"}]}]}
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert promtool("check", "rules", "broken.yml", cwd=tmp_path).returncode != 0  # the check can fail


def test_metric_names_of_an_expression() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (model, le) (rate(x_bucket{model=~"a|b", status="OK"}[5m]))) > 0.5'
    ) == {"x_bucket"}
    assert metric_names('a:b:rate5m / on (model) c_total unless d{state="up"} == 1 offset 5m') == {
        "a:b:rate5m",
        "c_total",
        "d",
    }
    assert metric_names("sum(rate(typo_metric[1h])) / bogus") == {"typo_metric", "bogus"}
