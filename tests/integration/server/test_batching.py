"""--enable_batching on the real server: concurrent requests through two front doors share model calls."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from test_metrics import scrape, value

from modelserve.config import BatchingConfig
from modelserve.config_io import read_batching_parameters
from modelserve.errors import InvalidArgument


def test_parameters_file(tmp_path: Path):
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 128 }\nbatch_timeout_micros { value: 2000 }\n"
        "max_enqueued_batches { value: 1000000 }\nnum_batch_threads { value: 8 }\n"
        "allowed_batch_sizes: 32 allowed_batch_sizes: 128\npad_variable_length_inputs: true\n"
    )
    assert read_batching_parameters(path) == BatchingConfig(
        max_batch_size=128, batch_timeout_micros=2000, max_enqueued_batches=1_000_000, num_batch_threads=8,
        allowed_batch_sizes=(32, 128), pad_variable_length_inputs=True,
    )  # fmt: skip
    path.write_text("max_batch_size { value: 8 } allowed_batch_sizes: 4")
    with pytest.raises(InvalidArgument, match="end with max_batch_size"):
        read_batching_parameters(path)
    path.write_text("max_batch_size { value: 8 } colour: 3")
    with pytest.raises(InvalidArgument, match="unknown batching parameter 'colour'"):
        read_batching_parameters(path)


def test_concurrent_requests_are_batched(start_server, examples_dir: Path, tmp_path: Path, digits_test):
    images, _ = digits_test
    parameters = tmp_path / "batching.config"
    parameters.write_text(
        "max_batch_size { value: 32 } batch_timeout_micros { value: 20000 } num_batch_threads { value: 2 }"
    )
    server = start_server(
        f"--model_base_path={examples_dir / 'digits_onnx'}", "--model_name=digits_onnx",
        "--enable_batching", f"--batching_parameters_file={parameters}", ready_path="/readyz",
    )  # fmt: skip
    rest = f"{server.url}/v1/models/digits_onnx:predict"
    v2 = f"{server.url}/v2/models/digits_onnx/infer"

    def one(i: int) -> int:
        image = images[i : i + 1]
        if i % 2:
            body = {"instances": image.tolist()}
            return int(
                np.argmax(
                    requests.post(rest, data=json.dumps(body), timeout=30).json()["predictions"][0]["probabilities"]
                )
            )
        tensor = {"name": "images", "shape": [1, 8, 8, 1], "datatype": "FP32", "data": image.ravel().tolist()}
        body = {"inputs": [tensor], "outputs": [{"name": "class_index"}]}
        return requests.post(v2, data=json.dumps(body), timeout=30).json()["outputs"][0]["data"][0]

    with ThreadPoolExecutor(16) as pool:
        predicted = list(pool.map(one, range(48)))
    direct = []
    for start in (0, 24):  # 48 rows would be over max_batch_size 32: TF Serving refuses such a task
        body = json.dumps({"instances": images[start : start + 24].tolist()})
        direct += requests.post(rest, data=body, timeout=30).json()["predictions"]
    assert predicted == [int(np.argmax(p["probabilities"])) for p in direct]
    text = scrape(server, "/metrics")
    calls = value(text, "modelserve_batch_size_count", model="digits_onnx", signature="serving_default")
    rows = value(text, "modelserve_batch_size_sum", model="digits_onnx", signature="serving_default")
    assert rows == 48 + 48
    assert calls < 48, "concurrent requests should have shared model calls"


def test_per_model_batching_parameters(start_server, examples_dir: Path, tmp_path: Path, digits_test):
    """A version's batching_params.pbtxt replaces the server's parameters for that version only; a broken
    one fails that version's load and leaves the other model serving."""
    import shutil

    images, _ = digits_test
    repo = tmp_path / "repo"
    shutil.copytree(examples_dir / "digits_onnx", repo / "small")
    shutil.copytree(examples_dir / "digits_onnx", repo / "broken")
    (repo / "small/1/batching_params.pbtxt").write_text("max_batch_size { value: 4 }")
    (repo / "broken/1/batching_params.pbtxt").write_text("max_batch_size { value: 4 } colour: 1")
    server = start_server(
        f"--model_repository={repo}", "--enable_batching", "--enable_per_model_batching_parameters",
    )  # fmt: skip
    small = requests.post(f"{server.url}/v1/models/small:predict", json={"instances": images[:8].tolist()}, timeout=30)
    assert small.status_code == 400
    assert small.json()["error"] == "Task size 8 is larger than maximum input batch size 4"
    fits = requests.post(f"{server.url}/v1/models/small:predict", json={"instances": images[:4].tolist()}, timeout=30)
    assert fits.status_code == 200 and len(fits.json()["predictions"]) == 4
    status = requests.get(f"{server.url}/v1/models/broken", timeout=10).json()["model_version_status"][0]
    assert status["state"] == "END"
    assert "per-model batching parameters" in status["status"]["error_message"]
    assert "unknown batching parameter 'colour'" in status["status"]["error_message"]
