"""Drift and ground truth on a real server with the digits network (ONNX): drift found on shifted digits
and not on held-out clean ones (rates printed), feedback accuracy equal to the offline accuracy of the same
rows over REST and gRPC, scored per version and traffic route, and business counters from a Python model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests

from modelserve.model import load_model
from servers import wait_for

pytestmark = pytest.mark.integration

WINDOW = 100
REQUEST_ROWS = 10


@pytest.fixture
def digits_repo(examples_dir: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "models"
    shutil.copytree(examples_dir / "digits_onnx", repo / "digits_onnx")
    assert (repo / "digits_onnx" / "1" / "reference.npz").is_file()  # the training images, from the build
    return repo


def _send(url: str, images: np.ndarray, ids: list[str] | None = None) -> list[str]:
    sent = []
    for n, start in enumerate(range(0, len(images), REQUEST_ROWS)):
        headers = {"x-request-id": ids[n]} if ids else {}
        answer = requests.post(
            f"{url}:predict", json={"instances": images[start : start + REQUEST_ROWS].tolist()}, headers=headers,
            timeout=10,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        sent.append(answer.headers["x-request-id"])
    return sent


def _windows(url: str) -> dict[str, int]:
    versions = requests.get(f"{url}/monitoring", timeout=10).json()["versions"]
    return versions[0]["drift"]["windows"] if versions else {"ok": 0, "drift": 0}


def _phase(url: str, windows: list[np.ndarray]) -> int:
    """Send each window's rows; return how many of those windows were found drifted."""
    before = _windows(url)
    for images in windows:
        _send(url, images)
    wait_for(lambda: sum(_windows(url).values()) == sum(before.values()) + len(windows), timeout=30)
    return _windows(url)["drift"] - before["drift"]


def test_drift_on_shifted_digits_and_not_on_clean_ones(start_server, digits_repo: Path, digits_test) -> None:
    server = start_server(f"--model_repository={digits_repo}", f"--drift_window_rows={WINDOW}")
    url = f"{server.url}/v1/models/digits_onnx"
    images = digits_test[0]
    rng = np.random.default_rng(11)

    def clean() -> np.ndarray:  # windows drawn from the 360 held-out digits (so they overlap)
        return images[rng.choice(len(images), WINDOW, replace=False)]

    def noisy() -> np.ndarray:
        return np.clip(clean() + rng.normal(0, 0.1, (WINDOW, 8, 8, 1)), 0, 1).astype(np.float32)

    false_alarms = _phase(url, [clean() for _ in range(40)])
    inverted = _phase(url, [1 - clean() for _ in range(10)])
    noised = _phase(url, [noisy() for _ in range(10)])
    print(f"\nfalse alarms {false_alarms}/40 clean windows; detected {inverted}/10 inverted, {noised}/10 noisy")
    assert false_alarms <= 2 and inverted == 10 and noised >= 9

    report = requests.get(f"{url}/monitoring", timeout=10).json()
    drift = report["versions"][0]["drift"]
    assert drift["baseline"]["source"].startswith("reference: ") and drift["baseline"]["rows"] == 1000
    assert set(drift["baseline"]["features"]) == {"images:mean", "images:std", "prediction", "probabilities:max"}
    metrics = requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=10).text
    assert 'modelserve_drift_detected{model="digits_onnx",version="1"} 1.0' in metrics
    assert 'modelserve_drift_p_value{feature="images:mean",model="digits_onnx",test="ks",version="1"}' in metrics
    assert requests.get(f"{server.url}/v1/models/nope/monitoring", timeout=10).status_code == 404


def _feedback_grpc(target: str, model: str, ids: list[str], labels: np.ndarray) -> dict:
    from modelserve.protocols import monitoring_grpc

    request = monitoring_grpc.FeedbackRequest(model_name=model)
    for n, request_id in enumerate(ids):
        item = request.feedback.add(request_id=request_id)
        for label in labels[n * REQUEST_ROWS : (n + 1) * REQUEST_ROWS]:
            item.labels.add(class_id=int(label))
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            "/modelserve.MonitoringService/Feedback",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=monitoring_grpc.FeedbackResponse.FromString,
        )
        answer = call(request, timeout=10)
        report = channel.unary_unary(
            "/modelserve.MonitoringService/GetMonitoring",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=monitoring_grpc.GetMonitoringResponse.FromString,
        )(monitoring_grpc.GetMonitoringRequest(model_name=model), timeout=10)
    return {"rows": answer.rows, "matched": answer.matched, "report": json.loads(report.report_json)}


def test_feedback_accuracy_equals_offline_accuracy_per_route(start_server, digits_repo: Path, digits_test, tmp_path):
    shutil.copytree(digits_repo / "digits_onnx" / "1", digits_repo / "digits_onnx" / "2")
    traffic = tmp_path / "traffic.yaml"
    traffic.write_text("models:\n  digits_onnx:\n    routes: {1: 50, 2: 50}\n    seed: 3\n")
    config = tmp_path / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "digits_onnx" base_path: "{digits_repo / "digits_onnx"}" '
        'model_platform: "onnx" model_version_policy { all {} } } }'
    )
    server = start_server(f"--model_config_file={config}", f"--traffic_config_file={traffic}")
    url = f"{server.url}/v1/models/digits_onnx"
    images, labels = digits_test
    ids = [f"order-{n}" for n in range(len(images) // REQUEST_ROWS)]
    _send(url, images, ids)

    half = len(ids) // 2
    rest = requests.post(f"{url}:feedback", timeout=10, json={"feedback": [
        {"request_id": request_id, "labels": labels[n * REQUEST_ROWS : (n + 1) * REQUEST_ROWS].tolist()}
        for n, request_id in enumerate(ids[:half])
    ]})  # fmt: skip
    assert rest.status_code == 200 and rest.json()["matched"] == half * REQUEST_ROWS, rest.text
    by_grpc = _feedback_grpc(server.grpc_target, "digits_onnx", ids[half:], labels[half * REQUEST_ROWS :])
    assert by_grpc["matched"] == by_grpc["rows"] == (len(ids) - half) * REQUEST_ROWS

    offline = load_model(digits_repo / "digits_onnx" / "1").predict({"images": images})["class_index"]
    expected = float(np.mean(offline == labels))
    feedback = {v["version"]: v.get("feedback", {}) for v in by_grpc["report"]["versions"]}
    routes = {route: scores for found in feedback.values() for route, scores in found.items()}
    assert set(routes) == {"1", "2"}  # both versions answered, each scored under its route
    assert sum(s["rows"] for s in routes.values()) == len(labels)
    overall = sum(s["correct"] for s in routes.values()) / len(labels)
    assert overall == pytest.approx(expected)
    metrics = requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=10).text
    assert 'modelserve_feedback_accuracy{model="digits_onnx",route="1",version="1"}' in metrics

    again = requests.post(
        f"{url}:feedback", json={"feedback": [{"request_id": ids[0], "labels": [1] * 10}]}, timeout=10
    )
    assert again.json()["unmatched"][0]["reason"] == "a row of this answer already has feedback"
    bad = requests.post(f"{url}:feedback", json={"feedback": [{"label": 1}]}, timeout=10)
    assert bad.status_code == 400 and "request_id" in bad.json()["error"]
    unknown = requests.post(f"{server.url}/v1/models/nope:feedback", json={"feedback": []}, timeout=10)
    assert unknown.status_code == 404


COUNTING_MODEL = """
import numpy as np
from modelserve.python_model import PythonModel, signature


class Model(PythonModel):
    signatures = {"serving_default": signature(inputs={"x": ("float32", [-1])}, outputs={"y": ("float32", [-1])})}

    def predict(self, inputs, signature):
        self.count("large_values", int((inputs["x"] > 10).sum()))
        return {"y": inputs["x"] * 2}
"""


def test_a_python_model_emits_business_counters(start_server, tmp_path: Path) -> None:
    folder = tmp_path / "models" / "counting" / "1"
    folder.mkdir(parents=True)
    (folder / "model.py").write_text(COUNTING_MODEL)
    server = start_server(f"--model_repository={tmp_path / 'models'}", "--allow_code_models")
    for values in ([1.0, 20.0, 30.0], [50.0]):
        assert requests.post(f"{server.url}/v1/models/counting:predict", json={"instances": values}, timeout=10).ok
    metrics = requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=10).text
    assert 'modelserve_business_events_total{model="counting",name="large_values",version="1"} 3.0' in metrics
