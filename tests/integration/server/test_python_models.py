"""The bundled Python models (digits_pipeline, painter) through the four doors and Model.predict, and Python
models that raise, hang or answer the wrong shape: a clear error, and the server keeps serving."""

from __future__ import annotations

import base64
import io
import shutil
import textwrap
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from PIL import Image
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from servers import ServerProcess

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@pytest.fixture(scope="module")
def server(examples_dir: Path, tmp_path_factory):
    logs = tmp_path_factory.mktemp("python-models")
    process = ServerProcess(
        f"--model_repository={examples_dir}", "--file_system_poll_wait_seconds=0", "--allow_code_models",
        log_path=logs / "server.log",
    )  # fmt: skip
    process.wait_ready(path="/readyz")
    yield process
    process.stop()


@pytest.fixture(scope="module")
def pngs(examples_dir: Path) -> dict[int, bytes]:
    """One held-out digit PNG per class, from the examples build (``digit_<label>_<index>.png``)."""
    return {int(p.name.split("_")[1]): p.read_bytes() for p in sorted((examples_dir / "digits_png").glob("*.png"))}


def test_digits_pipeline_over_tf_serving_rest(server, pngs):
    instances = [{"b64": base64.b64encode(pngs[d]).decode()} for d in range(10)]
    body = requests.post(f"{server.url}/v1/models/digits_pipeline:predict", json={"instances": instances}).json()
    assert [row["labels"][0] for row in body["predictions"]] == list(WORDS)
    assert all(len(row["scores"]) == 3 and row["scores"][0] >= row["scores"][1] for row in body["predictions"])


def test_digits_pipeline_over_tf_serving_grpc(server, pngs):
    with grpc.insecure_channel(server.grpc_target) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "digits_pipeline"
        request.inputs["image_bytes"].dtype = 7  # DT_STRING
        request.inputs["image_bytes"].string_val.extend([pngs[3], pngs[8]])
        request.inputs["image_bytes"].tensor_shape.dim.add(size=2)
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 30.0)
    labels = list(response.outputs["labels"].string_val)
    assert [labels[0], labels[3]] == [b"three", b"eight"]


@pytest.mark.parametrize("kind", ["http", "grpc"])
def test_digits_pipeline_over_v2(server, pngs, kind):
    module = triton_http if kind == "http" else triton_grpc
    target = server.url.removeprefix("http://") if kind == "http" else server.grpc_target
    client = module.InferenceServerClient(target)
    try:
        infer_input = module.InferInput("image_bytes", [1], "BYTES")
        infer_input.set_data_from_numpy(np.array([pngs[7]], dtype=object))
        result = client.infer("digits_pipeline", [infer_input])
        assert result.as_numpy("labels")[0][0] == b"seven"
        assert result.as_numpy("scores").shape == (1, 3)
    finally:
        client.close()


def test_bundled_python_models_in_memory(examples_dir, pngs):
    from modelserve import load_model

    with load_model(examples_dir / "digits_pipeline" / "1", allow_code_models=True) as pipeline:
        assert pipeline.predict({"image_bytes": [pngs[5]]})["labels"][0][0] == b"five"
    with load_model(examples_dir / "painter" / "1", allow_code_models=True) as painter:
        png = painter.predict({"prompt": ["four"], "seed": [3]}, signature="seeded")["image_bytes"][0]
    assert Image.open(io.BytesIO(png)).size == (64, 64)


def test_painter_paints_what_it_is_asked_for(server):
    """Each digit, ten seeds, numerals and words: the digits model reads back the digit asked for (>= 90%)."""
    right = 0
    for digit in range(10):
        for seed in range(10):
            prompt = str(digit) if seed % 2 else f"draw a {WORDS[digit]}"
            body = {"signature_name": "seeded", "instances": [{"prompt": prompt, "seed": seed}]}
            answer = requests.post(f"{server.url}/v1/models/painter:predict", json=body, timeout=30).json()
            png = base64.b64decode(answer["predictions"][0]["b64"])
            read = requests.post(
                f"{server.url}/v1/models/digits_pipeline:predict",
                json={"instances": [{"b64": base64.b64encode(png).decode()}]},
                timeout=30,
            ).json()
            right += read["predictions"][0]["labels"][0] == WORDS[digit]
    assert right >= 90, f"{right} of 100 paintings read back as the digit asked for"


def test_painter_over_tf_serving_grpc_and_v2(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "painter"
        request.model_spec.signature_name = "seeded"
        request.inputs["prompt"].dtype = 7  # DT_STRING
        request.inputs["prompt"].string_val.append(b"two")
        request.inputs["prompt"].tensor_shape.dim.add(size=1)
        request.inputs["seed"].dtype = 9  # DT_INT64
        request.inputs["seed"].int64_val.append(5)
        request.inputs["seed"].tensor_shape.dim.add(size=1)
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, 30.0)
    assert response.outputs["image_bytes"].string_val[0].startswith(b"\x89PNG")
    for kind, module in (("http", triton_http), ("grpc", triton_grpc)):
        target = server.url.removeprefix("http://") if kind == "http" else server.grpc_target
        client = module.InferenceServerClient(target)
        try:
            prompt = module.InferInput("prompt", [1], "BYTES")
            prompt.set_data_from_numpy(np.array([b"nine"], dtype=object))
            png = client.infer("painter", [prompt]).as_numpy("image_bytes")[0]
            assert Image.open(io.BytesIO(png)).size == (64, 64)
        finally:
            client.close()


def test_painter_answers_a_png_to_curl(server):
    """``curl -d '{"instances": ["seven"]}' -H 'Accept: image/png' .../painter:predict -o seven.png``."""
    response = requests.post(
        f"{server.url}/v1/models/painter:predict", json={"instances": ["seven"]}, headers={"Accept": "image/png"}
    )
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG") and Image.open(io.BytesIO(response.content)).size == (64, 64)
    two = requests.post(
        f"{server.url}/v1/models/painter:predict", json={"instances": ["1", "2"]}, headers={"Accept": "image/png"}
    )
    assert two.status_code == 400 and "answers one image: one row" in two.json()["error"]
    refused = requests.post(f"{server.url}/v1/models/painter:predict", json={"instances": ["a cat"]})
    assert refused.status_code == 400 and "names no digit" in refused.json()["error"]


BROKEN = {
    "raises": "raise ZeroDivisionError('the model divided by zero')",
    "hangs": "time.sleep(4)",  # past the 1.5 s deadline
    "wrong_shape": "return {'y': np.zeros((7, 7), np.float32)}",
}


def test_broken_python_models_answer_errors_and_the_server_keeps_serving(tmp_path, examples_dir):
    for name, line in BROKEN.items():
        folder = tmp_path / name / "1"
        folder.mkdir(parents=True)
        (folder / "model.py").write_text(
            textwrap.dedent(
                f"""
                import time
                import numpy as np
                from modelserve.python_model import PythonModel, signature

                class Model(PythonModel):
                    thread_safe = True
                    signatures = {{"serving_default": signature(inputs={{"x": ("float32", [-1, 1])}},
                                                               outputs={{"y": ("float32", [-1, 1])}})}}

                    def predict(self, inputs, signature):
                        {line}
                """
            )
        )
    shutil.copytree(examples_dir / "multiply_five", tmp_path / "healthy")
    process = ServerProcess(
        f"--model_repository={tmp_path}", "--file_system_poll_wait_seconds=0", "--allow_code_models",
        "--rest_api_timeout_in_ms=1500", "--graceful_shutdown_seconds=5", log_path=tmp_path / "server.log",
    )  # fmt: skip
    try:
        process.wait_ready(path="/readyz")
        body = {"instances": [[1.0]]}
        raised = requests.post(f"{process.url}/v1/models/raises:predict", json=body, timeout=30)
        assert raised.status_code == 400
        assert "ZeroDivisionError: the model divided by zero" in raised.json()["error"]
        hung = requests.post(f"{process.url}/v1/models/hangs:predict", json=body, timeout=30)
        assert hung.status_code == 504 and "did not answer within" in hung.json()["error"]
        shaped = requests.post(f"{process.url}/v1/models/wrong_shape:predict", json=body, timeout=30)
        assert shaped.status_code == 400 and "has shape [7, 7]" in shaped.json()["error"]
        healthy = requests.post(
            f"{process.url}/v1/models/healthy/versions/1:predict",
            json={"signature_name": "predict", "instances": [[1.0]]},
            timeout=30,
        )
        assert healthy.status_code == 200, healthy.text
        assert process.process.poll() is None
    finally:
        process.stop(timeout=60)


def test_without_the_opt_in_python_models_are_not_served(tmp_path, examples_dir):
    shutil.copytree(examples_dir / "painter", tmp_path / "painter")
    shutil.copytree(examples_dir / "multiply_five", tmp_path / "healthy")
    process = ServerProcess(f"--model_repository={tmp_path}", log_path=tmp_path / "server.log")
    try:
        process.wait_ready(path="/readyz")
        assert requests.get(f"{process.url}/v1/models/painter", timeout=10).status_code == 404
        assert "pass --allow_code_models to serve it" in process.log()
    finally:
        process.stop()


# ---------------------------------------------------------------------------------------- pipelines


def test_digits_ensemble_pipeline_through_every_door(server, pngs):
    """decode (Python) -> digits_onnx and digits_tflite (served models, in process) -> vote (Python)."""
    instances = [{"b64": base64.b64encode(pngs[d]).decode()} for d in range(10)]
    body = requests.post(f"{server.url}/v1/models/digits_ensemble:predict", json={"instances": instances}).json()
    assert [row["labels"][0] for row in body["predictions"]] == list(WORDS)
    for kind, module in (("http", triton_http), ("grpc", triton_grpc)):
        target = server.url.removeprefix("http://") if kind == "http" else server.grpc_target
        client = module.InferenceServerClient(target)
        try:
            infer_input = module.InferInput("image_bytes", [1], "BYTES")
            infer_input.set_data_from_numpy(np.array([pngs[6]], dtype=object))
            assert client.infer("digits_ensemble", [infer_input]).as_numpy("labels")[0][0] == b"six"
        finally:
            client.close()
    metrics = requests.get(f"{server.url}/metrics", timeout=10).text
    for step in ("decode", "onnx", "tflite", "vote"):
        assert f'modelserve_pipeline_step_seconds_count{{pipeline="digits_ensemble",step="{step}"}}' in metrics


def test_a_pipeline_error_names_its_step(server):
    response = requests.post(
        f"{server.url}/v1/models/digits_ensemble:predict", json={"instances": [{"b64": "bm90IGEgcG5n"}]}, timeout=30
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("pipeline digits_ensemble step 'decode': row 0 is not an image")


def test_a_pipeline_needs_the_models_it_names(tmp_path, examples_dir):
    folder = tmp_path / "broken_pipeline" / "1"
    folder.mkdir(parents=True)
    (folder / "pipeline.yaml").write_text(
        "signature: {inputs: {x: [float32, [-1, 1]]}, outputs: {y: [float32, [-1, 1]]}}\n"
        "steps: [{name: times, model: no_such_model, inputs: {x: x}}]\n"
        "outputs: {y: times.output_0}\n"
    )
    process = ServerProcess(f"--model_repository={tmp_path}", log_path=tmp_path / "server.log")
    try:
        process.wait_ready(path="/readyz")
        response = requests.post(f"{process.url}/v1/models/broken_pipeline:predict", json={"instances": [[1.0]]})
        assert response.status_code == 404
        assert response.json()["error"].startswith("pipeline broken_pipeline step 'times': ")
        assert "no_such_model" in response.json()["error"]
    finally:
        process.stop()
