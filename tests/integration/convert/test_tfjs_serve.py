"""A TF.js conversion landed as a version and served: the server answers predictions from its SavedModel and
hands its TF.js files and the browser runtime to anyone (content types, CORS, 404s in TF Serving's envelope)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from servers import ServerProcess
from tfjs_conversions import digits_tfjs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Iterator[ServerProcess]:
    landed = digits_tfjs(tmp_path_factory, examples_dir)
    tmp = tmp_path_factory.mktemp("tfjs_serve")
    root = tmp / "models"
    shutil.copytree(landed.path.parent, root / "digits_tfjs")
    shutil.copytree(examples_dir / "half_plus_two", root / "half_plus_two")
    process = ServerProcess(f"--model_repository={root}", log_path=tmp / "server.log")
    try:
        process.wait_ready(timeout=120, path="/readyz")
        yield process
    finally:
        process.stop()


def test_files_and_predictions_of_the_landed_version(server, digits_test):
    base = f"{server.url}/v1/models/digits_tfjs"
    model = requests.get(f"{base}/tfjs/model.json", timeout=10)
    assert model.status_code == 200 and model.headers["content-type"] == "application/json"
    assert model.headers["access-control-allow-origin"] == "*"
    shard = model.json()["weightsManifest"][0]["paths"][0]
    weights = requests.get(f"{base}/versions/1/tfjs/{shard}", timeout=10)
    assert weights.status_code == 200 and weights.headers["content-type"] == "application/octet-stream"
    assert len(weights.content) == int(weights.headers["content-length"]) > 1000
    images, labels = digits_test
    answer = requests.post(f"{base}:predict", json={"inputs": {"images": images[:20].tolist()}}, timeout=30)
    assert answer.status_code == 200
    predicted = np.argmax(np.array(answer.json()["outputs"]["probabilities"]), axis=-1)
    assert np.mean(predicted == labels[:20]) >= 0.9


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/digits_tfjs/tfjs/..%2Fsaved_model.pb",
        "/v1/models/digits_tfjs/tfjs/missing.bin",
        "/v1/models/digits_tfjs/versions/9/tfjs/model.json",
        "/v1/models/half_plus_two/tfjs/model.json",
        "/ui/tfjs-runtime/package.json",
    ],
)
def test_what_is_not_a_tfjs_file_is_not_found(server, path: str):
    answer = requests.get(server.url + path, timeout=10)
    assert answer.status_code == 404
    assert "error" in answer.json()


def test_the_browser_runtime_comes_from_this_server(server):
    script = requests.get(f"{server.url}/ui/tfjs-runtime/tf.min.js", timeout=10)
    assert script.status_code == 200 and script.headers["content-type"] == "text/javascript"
    wasm = requests.get(f"{server.url}/ui/tfjs-runtime/tfjs-backend-wasm-simd.wasm", timeout=10)
    assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
    assert wasm.content[:4] == b"\0asm"
