"""The shipped alert rules and dashboard against a real Prometheus (Debian's ``prometheus``) scraping a real
server on 127.0.0.1: clean digits keep the drift verdict at 0, inverted digits fire ModelserveDriftDetected,
true labels keep ModelserveAccuracyLow quiet and wrong ones fire it, and every dashboard query runs.

Prometheus scrapes and evaluates every second and loads alerts.yml with every ``for:`` set to 0s (in a
temporary copy), so an alert fires at the first evaluation that finds its condition; the durations
themselves are covered by ``promtool test rules deploy/monitoring/alerts_test.yml`` (tests/deploy/)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

from monitoring_files import EXPORTED, alert_rules_without_for, dashboard_queries, expand, metric_names
from servers import ServerProcess, free_port, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="prometheus is not on PATH (Debian package prometheus; .ci/run installs it)",
    ),
]

MODEL = "digits_onnx"
BASELINE_ROWS = 200
WINDOW_ROWS = 100
FEEDBACK_REQUEST_ROWS = 10
#: Bounded waits: scrapes and evaluations are every second, so anything takes a few seconds at most.
TIMEOUT = 60


class PrometheusProcess:
    """A real Prometheus on 127.0.0.1 with its own config and TSDB under ``folder``; SIGTERM to stop."""

    def __init__(self, folder: Path, target: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "alerts.yml").write_text(alert_rules_without_for(), encoding="utf-8")
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [{
                "job_name": "modelserve",
                "metrics_path": "/monitoring/prometheus/metrics",
                "static_configs": [{"targets": [target]}],
            }],
        }  # fmt: skip
        (folder / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = folder / "prometheus.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address={self.url.removeprefix('http://')}",
                "--log.level=warn",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"prometheus not ready after {timeout} s:\n{self.log()}")

    def query(self, expr: str) -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", f"{expr}: {answer}"
        return answer["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The value of a one-series query; None when it has no series."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr}: {result}"
        return float(result[0]["value"][1]) if result else None

    def alerts(self, name: str, state: str = "firing") -> list[dict]:
        answer = requests.get(f"{self.url}/api/v1/alerts", timeout=10).json()
        assert answer["status"] == "success", answer
        return [a for a in answer["data"]["alerts"] if a["labels"]["alertname"] == name and a["state"] == state]

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def digits_server(examples_dir: Path, tmp_path: Path):
    """The digits network without its reference dataset: the baseline is its first 200 request rows."""
    repo = tmp_path / "models"
    shutil.copytree(examples_dir / MODEL, repo / MODEL)
    for reference in (repo / MODEL).glob("*/reference.*"):
        reference.unlink()
    server = ServerProcess(
        f"--model_repository={repo}",
        "--file_system_poll_wait_seconds=0",
        f"--drift_baseline_rows={BASELINE_ROWS}",
        f"--drift_window_rows={WINDOW_ROWS}",
        "--drift_window_seconds=1",
        "--drift_min_window_rows=50",
        log_path=tmp_path / "server.log",
    )
    try:
        server.wait_ready(path="/readyz")
        yield server
    finally:
        server.stop()


@pytest.fixture
def prometheus(digits_server: ServerProcess, tmp_path: Path):
    found = PrometheusProcess(tmp_path / "prometheus", digits_server.url.removeprefix("http://"))
    try:
        found.wait_ready()
        yield found
    finally:
        found.stop()


def _predict(server: ServerProcess, images: np.ndarray, request_id: str | None = None) -> np.ndarray:
    headers = {"x-request-id": request_id} if request_id else {}
    answer = requests.post(
        f"{server.url}/v1/models/{MODEL}:predict", json={"instances": images.tolist()}, headers=headers, timeout=30
    )
    assert answer.status_code == 200, answer.text
    if request_id:
        assert answer.headers["x-request-id"] == request_id
    return np.array([row["class_index"] for row in answer.json()["predictions"]])


def _feedback(server: ServerProcess, images: np.ndarray, labels: np.ndarray, prefix: str) -> np.ndarray:
    """Predict ``images`` ten rows a request under known ids, then post ``labels`` as their ground truth;
    returns the predictions."""
    ids, predictions = [], []
    for n, start in enumerate(range(0, len(images), FEEDBACK_REQUEST_ROWS)):
        ids.append(f"{prefix}-{n}")
        predictions.append(_predict(server, images[start : start + FEEDBACK_REQUEST_ROWS], ids[-1]))
    rows = FEEDBACK_REQUEST_ROWS
    feedback = [{"request_id": id_, "labels": labels[n * rows : (n + 1) * rows].tolist()} for n, id_ in enumerate(ids)]
    answer = requests.post(f"{server.url}/v1/models/{MODEL}:feedback", json={"feedback": feedback}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["matched"] == len(labels) and answer.json()["unmatched"] == [], answer.text
    return np.concatenate(predictions)


def _wait(condition, what: str, prometheus: PrometheusProcess, server: ServerProcess) -> None:
    try:
        wait_for(condition, timeout=TIMEOUT, interval=0.25)
    except TimeoutError:
        raise AssertionError(
            f"{what} not seen within {TIMEOUT} s\n--- server log ---\n{server.log()[-4000:]}"
            f"\n--- prometheus log ---\n{prometheus.log()[-4000:]}"
        ) from None


def _settled() -> None:
    """Let two more evaluations run (rules are evaluated every second) after what a test waited for."""
    time.sleep(2.5)


def test_drift_and_accuracy_alerts_fire_on_a_real_prometheus(
    digits_server: ServerProcess, prometheus: PrometheusProcess, digits_test
) -> None:
    started = time.monotonic()
    server = digits_server
    images, labels = digits_test
    rng = np.random.default_rng(7)
    selector = f'model="{MODEL}",version="1"'
    _wait(lambda: prometheus.value('up{job="modelserve"}') == 1, "the scrape of the server", prometheus, server)

    # Clean digits: the baseline (two windows' worth), then three live windows drawn from the same digits.
    # A window is one request of exactly --drift_window_rows rows, so each closes at its row count.
    for _ in range(BASELINE_ROWS // WINDOW_ROWS + 3):
        _predict(server, images[rng.choice(len(images), WINDOW_ROWS, replace=False)])
    windows = f"sum(modelserve_drift_windows_total{{{selector}}})"
    _wait(lambda: prometheus.value(windows) == 3, "three clean drift windows", prometheus, server)
    assert prometheus.value(f"modelserve_drift_baseline_rows{{{selector}}}") == BASELINE_ROWS
    _settled()
    assert prometheus.value(f'modelserve_drift_windows_total{{{selector},outcome="drift"}}') in (None, 0)
    assert prometheus.value(f"max_over_time(modelserve_drift_detected{{{selector}}}[10m])") == 0
    assert prometheus.alerts("ModelserveDriftDetected", "firing") == []
    assert prometheus.alerts("ModelserveDriftDetected", "pending") == []

    # Inverted digits: the next window drifts and the alert fires for this model and version.
    for _ in range(2):
        _predict(server, 1 - images[rng.choice(len(images), WINDOW_ROWS, replace=False)])
    _wait(lambda: prometheus.alerts("ModelserveDriftDetected"), "ModelserveDriftDetected firing", prometheus, server)
    (alert,) = prometheus.alerts("ModelserveDriftDetected")
    assert alert["labels"] == {
        "alertname": "ModelserveDriftDetected", "model": MODEL, "version": "1", "severity": "warning"
    }  # fmt: skip
    assert alert["annotations"]["summary"] == f"Input drift on {MODEL} version 1"
    assert f"GET /v1/models/{MODEL}/monitoring" in alert["annotations"]["description"]
    assert prometheus.value(f'modelserve_drift_windows_total{{{selector},outcome="drift"}}') >= 1
    drifted_at = time.monotonic()

    # True labels for 200 clean rows: accuracy ~0.97, above the 0.9 threshold: quiet.
    right = rng.choice(len(images), 200, replace=False)
    predicted_right = _feedback(server, images[right], labels[right], "right")
    rows = f"modelserve_feedback_window_rows{{{selector}}}"
    _wait(lambda: prometheus.value(rows) == 200, "200 rows in the feedback window", prometheus, server)
    accuracy = prometheus.value(f"modelserve_feedback_accuracy{{{selector}}}")
    assert accuracy == pytest.approx(float(np.mean(predicted_right == labels[right])))
    assert accuracy > 0.9
    _settled()
    assert prometheus.alerts("ModelserveAccuracyLow", "firing") == []
    assert prometheus.alerts("ModelserveAccuracyLow", "pending") == []

    # Wrong labels (every true label shifted by one) for 300 more rows: the window's accuracy falls, it fires.
    wrong = rng.choice(len(images), 300, replace=False)
    shifted = (labels[wrong] + 1) % 10
    predicted_wrong = _feedback(server, images[wrong], shifted, "wrong")
    _wait(lambda: prometheus.alerts("ModelserveAccuracyLow"), "ModelserveAccuracyLow firing", prometheus, server)
    (alert,) = prometheus.alerts("ModelserveAccuracyLow")
    assert alert["labels"] == {  # route is "" without a traffic policy: Prometheus drops empty labels
        "alertname": "ModelserveAccuracyLow", "model": MODEL, "version": "1", "severity": "warning",
        "instance": server.url.removeprefix("http://"), "job": "modelserve",
    }  # fmt: skip
    expected = (np.sum(predicted_right == labels[right]) + np.sum(predicted_wrong == shifted)) / 500
    assert float(alert["value"]) == pytest.approx(expected) and expected < 0.9
    assert prometheus.value(rows) == 500
    assert prometheus.value(f"modelserve_feedback_rows_total{{{selector}}}") == 500

    # Nothing else fired: the server is up, fast, and every request succeeded. (The drift alert may have
    # resolved by now: the feedback requests were clean digits, and windows of them are ok.)
    alerts = requests.get(f"{prometheus.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
    assert {a["labels"]["alertname"] for a in alerts} <= {"ModelserveDriftDetected", "ModelserveAccuracyLow"}
    print(
        f"\ndrift alert {drifted_at - started:.1f} s after the start; accuracy {accuracy:.3f} with true labels, "
        f"{expected:.3f} after wrong ones; {time.monotonic() - started:.1f} s in all"
    )

    _check_dashboard(prometheus, server)


def _check_dashboard(prometheus: PrometheusProcess, server: ServerProcess) -> None:
    """Every dashboard query runs on the live Prometheus, and those over figures this test made have data;
    every metric the rules and dashboard may name is one the server really exports."""
    exported = {
        line.split()[2]
        for line in requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=10).text.splitlines()
        if line.startswith("# TYPE modelserve_")
    }
    assert exported >= EXPORTED, f"named in tests/monitoring_files.py but not exported: {EXPORTED - exported}"
    with_data = {
        "modelserve_requests_total", "modelserve_request_duration_seconds_bucket", "modelserve_batch_size_bucket",
        "modelserve_in_flight_requests", "modelserve_drift_detected", "modelserve_drift_p_value",
        "modelserve_drift_distance", "modelserve_feedback_accuracy", "modelserve_feedback_f1",
    }  # fmt: skip
    for title, expr in dashboard_queries():
        result = prometheus.query(expand(expr))  # asserts status "success"
        errors_only = 'status!="OK"' in expr or 'status=~"INTERNAL' in expr  # every request here succeeded
        if metric_names(expand(expr)) & with_data and not errors_only:
            assert result, f"{title}: {expr} has no data"
