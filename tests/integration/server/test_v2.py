"""The Open Inference Protocol with the official Triton clients (tritonclient http and grpc)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException


@pytest.fixture(scope="module")
def http_client(examples_server):
    client = triton_http.InferenceServerClient(examples_server.url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def grpc_client(examples_server):
    client = triton_grpc.InferenceServerClient(examples_server.grpc_target)
    yield client
    client.close()


def infer_digits(client, module, images: np.ndarray, binary: bool, model: str = "digits_onnx"):
    infer_input = module.InferInput("images", list(images.shape), "FP32")
    if module is triton_http:
        infer_input.set_data_from_numpy(images, binary_data=binary)
        outputs = [module.InferRequestedOutput("probabilities", binary_data=binary)]
    else:
        infer_input.set_data_from_numpy(images)
        outputs = [module.InferRequestedOutput("probabilities")]
    return client.infer(model, [infer_input], outputs=outputs, request_id="req-1")


def test_health_and_metadata(http_client, grpc_client):
    assert http_client.is_server_live() and http_client.is_server_ready()
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    assert http_client.is_model_ready("digits_onnx")
    assert grpc_client.is_model_ready("digits_onnx", "1")
    assert not http_client.is_model_ready("digits_onnx", "7")
    metadata = http_client.get_model_metadata("digits_onnx")
    assert metadata["platform"] and metadata["versions"] == ["1"]
    assert metadata["inputs"] == [{"name": "images", "datatype": "FP32", "shape": [-1, 8, 8, 1]}]
    grpc_metadata = grpc_client.get_model_metadata("digits_onnx")
    assert grpc_metadata.inputs[0].datatype == "FP32"
    assert list(grpc_metadata.inputs[0].shape) == [-1, 8, 8, 1]
    server = http_client.get_server_metadata()
    assert "binary_tensor_data" in server["extensions"]


def test_model_config(http_client, grpc_client):
    config = http_client.get_model_config("digits_onnx")
    assert config["platform"] == "onnxruntime_onnx"
    assert config["input"] == [{"name": "images", "data_type": "TYPE_FP32", "dims": [-1, 8, 8, 1]}]
    grpc_config = grpc_client.get_model_config("digits").config
    assert {o.name for o in grpc_config.output} == {"probabilities", "class_index", "class_name"}
    assert {o.name: o.data_type for o in grpc_config.output}["class_name"] == 13  # TYPE_STRING


@pytest.mark.parametrize("binary", [False, True])
def test_http_infer_json_and_binary(http_client, digits_test, binary: bool):
    images, labels = digits_test
    result = infer_digits(http_client, triton_http, images[:16], binary)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (16, 10)
    assert np.mean(probabilities.argmax(axis=1) == labels[:16]) >= 0.9
    assert result.get_response()["id"] == "req-1"


def test_grpc_infer_raw(grpc_client, digits_test):
    images, labels = digits_test
    result = infer_digits(grpc_client, triton_grpc, images[:16], binary=True)
    probabilities = result.as_numpy("probabilities")
    assert np.mean(probabilities.argmax(axis=1) == labels[:16]) >= 0.9


def test_bytes_tensors_through_pass_through(http_client, grpc_client, digits_test):
    images, _ = digits_test
    keys = np.array([b"a", b"bb"], dtype=object)
    for client, module in ((http_client, triton_http), (grpc_client, triton_grpc)):
        image_input = module.InferInput("images", [2, 8, 8, 1], "FP32")
        image_input.set_data_from_numpy(images[:2])
        key_input = module.InferInput("key", [2], "BYTES")
        key_input.set_data_from_numpy(keys)
        result = client.infer(
            "digits",
            [image_input, key_input],
            outputs=[module.InferRequestedOutput("key")],
            parameters={"signature_name": "input_pass_through"},
        )
        assert result.as_numpy("key").tolist() == [b"a", b"bb"]


def test_errors(http_client, grpc_client, digits_test):
    images, _ = digits_test
    for client, module in ((http_client, triton_http), (grpc_client, triton_grpc)):
        with pytest.raises(InferenceServerException) as err:
            infer_digits(client, module, images[:2], binary=True, model="nope")
        assert "nope" in str(err.value)
        wrong = module.InferInput("images", [2, 64], "FP32")
        wrong.set_data_from_numpy(images[:2].reshape(2, 64))
        with pytest.raises(InferenceServerException) as err:
            client.infer("digits_onnx", [wrong])
        assert "[-1, 8, 8, 1]" in str(err.value)


def test_cross_protocol_parity(examples_server, http_client, grpc_client, digits_test):
    """The same digits input gives identical outputs through all four front doors."""
    import json

    import requests
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    images, _ = digits_test
    batch = images[:8]
    v2_http = infer_digits(http_client, triton_http, batch, binary=True).as_numpy("probabilities")
    v2_grpc = infer_digits(grpc_client, triton_grpc, batch, binary=True).as_numpy("probabilities")
    rest = requests.post(
        f"{examples_server.url}/v1/models/digits_onnx:predict",
        data=json.dumps({"inputs": {"images": batch.tolist()}}),
        timeout=30,
    ).json()["outputs"]["probabilities"]
    import grpc

    with grpc.insecure_channel(examples_server.grpc_target) as channel:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "digits_onnx"
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(batch))
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    tfs_grpc = tf.make_ndarray(response.outputs["probabilities"])
    np.testing.assert_array_equal(v2_http, v2_grpc)
    np.testing.assert_array_equal(v2_http, tfs_grpc)
    np.testing.assert_allclose(np.array(rest, np.float32), v2_http, rtol=1e-6)  # JSON text round trip


def test_repository_load_and_unload(start_server, examples_dir: Path, tmp_path: Path):
    repo = tmp_path / "repo"
    for name in ("half_plus_two", "digits_onnx"):
        shutil.copytree(examples_dir / name, repo / name)
    server = start_server(f"--model_repository={repo}", ready_path="/readyz")
    http = triton_http.InferenceServerClient(server.url.removeprefix("http://"))
    grpc_client = triton_grpc.InferenceServerClient(server.grpc_target)
    index = {m["name"]: m for m in http.get_model_repository_index()}
    assert index["digits_onnx"]["state"] == "READY"
    http.unload_model("digits_onnx")
    assert not http.is_model_ready("digits_onnx")
    assert {m["name"]: m["state"] for m in http.get_model_repository_index()}["digits_onnx"] == "UNAVAILABLE"
    grpc_client.load_model("digits_onnx")
    assert grpc_client.is_model_ready("digits_onnx")
    grpc_client.unload_model("half_plus_two")
    assert not grpc_client.is_model_ready("half_plus_two")
    http.load_model("half_plus_two")
    assert http.is_model_ready("half_plus_two")
    with pytest.raises(InferenceServerException):
        http.load_model("not_there")
    http.close()
    grpc_client.close()
