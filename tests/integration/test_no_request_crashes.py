"""No request can take the server down: wrong ranks and sizes that abort TensorFlow's kernels (oneDNN's Conv2D
on the digits SavedModel) are refused by the one input gate on all four doors, for every runtime, and the
server still answers afterwards. TF Serving's own leniency (``[N]`` into ``[-1, 1]``) is kept.
"""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tritonclient.utils import InferenceServerException

from servers import ServerProcess

MODELS = ("digits", "digits_keras", "digits_onnx", "digits_tflite")
BAD = {
    "wrong rank": np.array([[1, 2, 3, 4]], np.float32),  # [1, 4] for [-1, 8, 8, 1]: aborts oneDNN's Conv2D
    "flat rows": np.zeros((2, 64), np.float32),
    "no channel dim": np.zeros((2, 8, 8), np.float32),
    "wrong sizes": np.zeros((2, 9, 9, 2), np.float32),  # right rank: TensorFlow made up predictions for it
}


@pytest.fixture(scope="module")
def server(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    logs = tmp_path_factory.mktemp("crash-server")
    process = ServerProcess(
        f"--model_repository={examples_dir}", "--file_system_poll_wait_seconds=0", log_path=logs / "server.log"
    )
    process.wait_ready(path="/readyz")
    yield process
    process.stop()


def still_answers(server: ServerProcess) -> None:
    good = {"instances": np.zeros((1, 8, 8, 1)).tolist()}
    response = requests.post(f"{server.url}/v1/models/digits:predict", json=good, timeout=30)
    assert response.status_code == 200, response.text
    assert server.process.poll() is None


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("model", MODELS)
def test_tf_serving_rest(server: ServerProcess, model: str, case: str):
    body = json.dumps({"instances": BAD[case].tolist()})
    response = requests.post(f"{server.url}/v1/models/{model}:predict", data=body, timeout=30)
    assert response.status_code == 400, response.text
    assert response.headers["x-error-code"] == "INVALID_ARGUMENT"
    message = response.json()["error"]
    assert message.startswith("input 'images' expects float32 [-1, 8, 8, 1], got float32 ["), message
    still_answers(server)


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("model", MODELS)
def test_tf_serving_grpc(server: ServerProcess, model: str, case: str):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(BAD[case]))
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expects float32 [-1, 8, 8, 1]" in err.value.details()
    still_answers(server)


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("model", MODELS)
def test_v2_rest_and_grpc(server: ServerProcess, model: str, case: str):
    array = BAD[case]
    http_client = triton_http.InferenceServerClient(server.url.removeprefix("http://"))
    http_input = triton_http.InferInput("images", list(array.shape), "FP32")
    http_input.set_data_from_numpy(array, binary_data=True)
    with pytest.raises(InferenceServerException) as http_err:
        http_client.infer(model, [http_input])
    assert "has shape" in str(http_err.value) and "but the model expects [-1, 8, 8, 1]" in str(http_err.value)
    grpc_client = triton_grpc.InferenceServerClient(server.grpc_target)
    grpc_input = triton_grpc.InferInput("images", list(array.shape), "FP32")
    grpc_input.set_data_from_numpy(array)
    with pytest.raises(InferenceServerException) as grpc_err:
        grpc_client.infer(model, [grpc_input])
    assert grpc_err.value.status() == "StatusCode.INVALID_ARGUMENT"
    still_answers(server)


def test_v2_unknown_output_is_refused_before_the_model_runs(server: ServerProcess):
    body = {
        "inputs": [{"name": "images", "shape": [1, 8, 8, 1], "datatype": "FP32", "data": [0.0] * 64}],
        "outputs": [{"name": "nope"}],
    }
    response = requests.post(f"{server.url}/v2/models/digits/infer", json=body, timeout=30)
    assert response.status_code == 400
    assert response.json()["error"].startswith("unknown output 'nope'; the model has: ")


def test_tf_serving_leniency_is_kept_for_half_plus_two(server: ServerProcess):
    response = requests.post(
        f"{server.url}/v1/models/half_plus_two:predict", json={"instances": [1.0, 2.0, 5.0]}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [2.5, 3.0, 4.5]}
