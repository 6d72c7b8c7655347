"""A converted version lands in a served base path while the server runs, and answers correctly."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import requests

from modelserve import load_model
from modelserve.convert import ConvertRequest, convert


def wait_for_version(url: str, version: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    states = None
    while time.monotonic() < deadline:
        states = requests.get(url, timeout=5).json().get("model_version_status", [])
        if any(s["version"] == str(version) and s["state"] == "AVAILABLE" for s in states):
            return
        time.sleep(0.2)
    raise TimeoutError(f"version {version} not AVAILABLE after {timeout} s: {states}")


def test_landed_int8_version_is_served(examples_dir: Path, digits_calibration: Path, digits_test, serve, tmp_path):
    base = tmp_path / "digits_edge"
    first = convert(ConvertRequest(source=examples_dir / "digits/1", out=base, to="tflite", latency_runs=1))
    assert first.version == 1
    server = serve("--model_name=digits_edge", f"--model_base_path={base}", "--file_system_poll_wait_seconds=0.2")
    status_url = f"{server.url}/v1/models/digits_edge"
    wait_for_version(status_url, 1)

    second = convert(
        ConvertRequest(
            source=examples_dir / "digits/1",
            out=base,
            to="tflite",
            quantize="int8",
            calibration=digits_calibration,
            samples=100,
            latency_runs=1,
        )
    )
    assert second.version == 2 and second.accepted
    wait_for_version(status_url, 2)

    images, labels = digits_test
    body = {"instances": images[:60].tolist()}
    answer = requests.post(f"{status_url}/versions/2:predict", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    served = np.array([p["class_index"] for p in predictions])
    assert np.mean(served == labels[:60]) >= 0.95
    assert [p["class_name"] for p in predictions[:5]] == [str(i) for i in served[:5]]
    with load_model(second.path) as model:
        expected = model.predict({"images": images[:60]})
    np.testing.assert_array_equal(served, expected["class_index"])
    np.testing.assert_allclose([p["probabilities"] for p in predictions], expected["probabilities"], atol=1e-6)
