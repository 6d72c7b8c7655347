"""The "run on this device" job the page hands the browser: the model's URL, the request's tensors, the
score output and the server's classes (the JavaScript half runs in Chromium: tests/integration/console)."""

from __future__ import annotations

import json
from pathlib import Path

from modelserve.console.device import DEVICE_JS, device_job, has_tfjs, score_output
from modelserve.types import Signature, TensorSpec

DIGITS = Signature.from_specs(
    "serving_default",
    [TensorSpec("images", "float32", (-1, 2, 2, 1))],
    [TensorSpec("class_index", "int64", (-1,)), TensorSpec("probabilities", "float32", (-1, 3))],
)


def _version(tmp_path: Path) -> Path:
    (tmp_path / "3" / "tfjs").mkdir(parents=True)
    (tmp_path / "3" / "tfjs" / "model.json").write_text("{}")
    return tmp_path / "3"


def test_a_columnar_request_becomes_the_browsers_job(tmp_path: Path):
    folder = _version(tmp_path)
    body = {"signature_name": "serving_default", "inputs": {"images": [[[[0.0], [1.0]], [[0.5], [0.25]]]]}}
    answer = {"outputs": {"class_index": [2], "probabilities": [[0.1, 0.2, 0.7]]}}
    job = json.loads(device_job("my model", 3, folder, DIGITS, body, answer))
    assert job["model"] == "/v1/models/my%20model/versions/3/tfjs/model.json"
    assert job["runtime"] == "/ui/tfjs-runtime/"
    assert job["inputs"]["images"] == {"dtype": "float32", "shape": [1, 2, 2, 1], "data": [0.0, 1.0, 0.5, 0.25]}
    assert job["score_output"] == "probabilities" and job["server_classes"] == [2]


def test_row_requests_and_answers_too(tmp_path: Path):
    body = {"instances": [{"images": [[[0], [0]], [[0], [0]]]}, {"images": [[[1], [1]], [[1], [1]]]}]}
    answer = {"predictions": [{"class_index": 0, "probabilities": [0.9, 0.05, 0.05]},
                              {"class_index": 1, "probabilities": [0.1, 0.8, 0.1]}]}  # fmt: skip
    job = json.loads(device_job("digits", 3, _version(tmp_path), DIGITS, body, answer))
    assert job["inputs"]["images"]["shape"] == [2, 2, 2, 1] and job["server_classes"] == [0, 1]


def test_what_cannot_run_in_the_browser_says_why(tmp_path: Path):
    answer = {"outputs": {"probabilities": [[1, 0, 0]]}}
    without = json.loads(device_job("digits", 3, tmp_path / "3", DIGITS, {"inputs": {}}, answer))
    assert "has no TF.js model" in without["error"]
    text = Signature.from_specs(
        "s", [TensorSpec("text", "string", (-1,))], [TensorSpec("probabilities", "float32", (-1, 3))]
    )
    job = json.loads(device_job("t", 3, _version(tmp_path), text, {"inputs": {"text": ["hi"]}}, answer))
    assert "numeric inputs only" in job["error"]


def test_the_score_output_and_the_folder_check(tmp_path: Path):
    assert score_output(DIGITS) == "probabilities"
    assert score_output(Signature.from_specs("s", [], [TensorSpec("y", "float32", (-1,))])) is None
    assert has_tfjs(_version(tmp_path)) and not has_tfjs(None) and not has_tfjs(tmp_path)
    assert DEVICE_JS.strip().startswith("async (jobText) =>")
