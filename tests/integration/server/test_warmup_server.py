"""Warmup in the real server: a version serves only after its warmup; a failing warmup fails only that version."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import requests

from modelserve.protocols.tfs.tf_example import Feature, encode_example
from modelserve.protocols.tfs.warmup_files import predict_log, regress_log, write_tf_serving_warmup, write_warmup_json
from servers import wait_for


def version_statuses(server, model: str) -> dict[str, dict]:
    body = requests.get(f"{server.url}/v1/models/{model}", timeout=10).json()
    return {s["version"]: s for s in body["model_version_status"]}


def states(server, model: str) -> dict[str, str]:
    return {version: s["state"] for version, s in version_statuses(server, model).items()}


def good_half_plus_two_warmup(folder: Path) -> None:
    example = encode_example({"x": Feature("float", [3.0])})
    write_tf_serving_warmup(
        folder, [predict_log({"x": np.ones((2, 1), np.float32)}), regress_log([example], "regress_x_to_y")]
    )


def digits_onnx_with_warmup(examples_dir: Path, folder: Path, body: dict) -> None:
    shutil.copytree(examples_dir / "digits_onnx/1", folder)
    write_warmup_json(folder, [body])


DIGITS_BODY = {"instances": np.zeros((2, 8, 8, 1), np.float32)}
BAD_DIGITS_BODY = {"instances": [[1.0]]}


def test_failing_warmup_keeps_a_version_out_and_the_others_serve(start_server, examples_dir: Path, tmp_path: Path):
    repo = tmp_path / "repo"
    good, bad = repo / "half_plus_two/00000123", repo / "half_plus_two/00000124"
    shutil.copytree(examples_dir / "half_plus_two/00000123", good)
    shutil.copytree(examples_dir / "half_plus_two/00000124", bad)
    good_half_plus_two_warmup(good)
    write_tf_serving_warmup(bad, [predict_log({"nope": np.ones((1, 1), np.float32)})])
    digits_onnx_with_warmup(examples_dir, repo / "digits_onnx/1", DIGITS_BODY)

    server = start_server(f"--model_repository={repo}", "--file_system_poll_wait_seconds=0.2", ready_path="/readyz")

    half_plus_two = version_statuses(server, "half_plus_two")
    assert half_plus_two["123"]["state"] == "AVAILABLE"
    assert half_plus_two["124"]["state"] == "END"
    assert half_plus_two["124"]["status"]["error_code"] == "INVALID_ARGUMENT"
    message = half_plus_two["124"]["status"]["error_message"]
    assert message.startswith(f"warmup record 0 of {bad / 'assets.extra/tf_serving_warmup_requests'}: ")
    assert "Sent extra: {nope}" in message  # the gRPC door's rule: a warmup log is a Predict request
    assert states(server, "digits_onnx") == {"1": "AVAILABLE"}
    response = requests.post(server.url + "/v1/models/half_plus_two:predict", data='{"instances": [1.0]}', timeout=10)
    assert (response.status_code, response.json(), response.headers["x-model-version"]) == (
        200,
        {"predictions": [2.5]},
        "123",
    )
    response = requests.post(
        server.url + "/v1/models/half_plus_two/versions/124:predict", data='{"instances": [1.0]}', timeout=10
    )
    assert response.status_code == 404
    log = server.log()
    assert "model half_plus_two version 123 warmed up: 2 requests from 2 records of tf_serving_warmup_requests" in log
    assert "model digits_onnx version 1 warmed up: 1 requests from 1 records of warmup.json" in log

    good_half_plus_two_warmup(bad)  # a repaired warmup file changes the folder: the version is retried
    wait_for(lambda: states(server, "half_plus_two") == {"124": "AVAILABLE", "123": "END"})
    assert "model half_plus_two version 124 warmed up: 2 requests" in server.log()


def test_warmup_flags(start_server, examples_dir: Path, tmp_path: Path):
    """``--num_request_iterations_for_warmup`` replays each request N times; ``--enable_model_warmup=false``
    skips the files (a version whose warmup would fail then serves)."""
    repeated = tmp_path / "repeated"
    digits_onnx_with_warmup(examples_dir, repeated / "1", DIGITS_BODY)
    server = start_server(
        f"--model_base_path={repeated}", "--model_name=digits", "--num_request_iterations_for_warmup=3"
    )
    assert "model digits version 1 warmed up: 3 requests from 1 records of warmup.json" in server.log()

    disabled = tmp_path / "disabled"
    digits_onnx_with_warmup(examples_dir, disabled / "1", BAD_DIGITS_BODY)
    server = start_server(f"--model_base_path={disabled}", "--model_name=digits", "--enable_model_warmup=false")
    assert states(server, "digits") == {"1": "AVAILABLE"}
    assert "warmed up" not in server.log()
    response = requests.post(
        server.url + "/v1/models/digits:predict",
        data=json.dumps({"instances": np.zeros((1, 8, 8, 1)).tolist()}),
        timeout=10,
    )
    assert response.status_code == 200
