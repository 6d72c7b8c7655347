"""A TFLite model with two signatures (TFLite's converter, ``signature_keys``) served with both, REST and gRPC."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import get_model_metadata_pb2, predict_pb2, prediction_service_pb2_grpc

from modelserve import load_model
from servers import serving

WEIGHTS = [[2.0, -1.0, 0.5]]


class TwoSignatures(tf.Module):
    """``serving_default``: x [n, 3] -> scaled = x * w; ``add``: x, y [n, 3] -> total [n] = sum(x + y)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = tf.Variable(WEIGHTS)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def scale(self, x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"scaled": x * self.w}

    @tf.function(
        input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x"), tf.TensorSpec([None, 3], tf.float32, name="y")]
    )
    def add(self, x: tf.Tensor, y: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"total": tf.reduce_sum(x + y, axis=1)}


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<base>/1/model.tflite`` converted from a SavedModel with both signatures kept."""
    folder = tmp_path_factory.mktemp("two_signatures")
    module = TwoSignatures()
    saved_model = folder / "saved_model"
    tf.saved_model.save(module, str(saved_model), signatures={"serving_default": module.scale, "add": module.add})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=["serving_default", "add"])
    version = folder / "base" / "1"
    version.mkdir(parents=True)
    (version / "model.tflite").write_bytes(converter.convert())
    return folder / "base"


@pytest.fixture(scope="module")
def server(base_path: Path, tmp_path_factory: pytest.TempPathFactory):
    with serving(
        "--model_name=pair", f"--model_base_path={base_path}", log_path=tmp_path_factory.mktemp("server") / "server.log"
    ) as process:
        yield process


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(server.grpc_target) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], np.float32)
Y = np.ones((2, 3), np.float32)


def test_runtime_sees_both_signatures(base_path: Path):
    with load_model(base_path / "1") as model:
        assert sorted(model.signatures) == ["add", "serving_default"]
        assert sorted(model.signatures["add"].inputs) == ["x", "y"]
        np.testing.assert_allclose(model.predict({"x": X, "y": Y}, signature="add")["total"], [9.0, 18.0])


def test_rest_metadata_lists_both(server):
    body = requests.get(f"{server.url}/v1/models/pair/metadata", timeout=10).json()
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert sorted(signatures) == ["add", "serving_default"]
    assert list(signatures["add"]["outputs"]) == ["total"]


def test_rest_calls_each_signature(server):
    url = f"{server.url}/v1/models/pair:predict"
    default = requests.post(url, json={"instances": X.tolist()}, timeout=10)
    assert default.status_code == 200, default.text
    np.testing.assert_allclose(default.json()["predictions"], X * np.array(WEIGHTS, np.float32))
    added = requests.post(url, json={"signature_name": "add", "inputs": {"x": X.tolist(), "y": Y.tolist()}}, timeout=10)
    assert added.status_code == 200, added.text
    assert added.json() == {"outputs": [9.0, 18.0]}
    unknown = requests.post(url, json={"signature_name": "nope", "instances": X.tolist()}, timeout=10)
    assert unknown.status_code in (400, 404) and "nope" in unknown.json()["error"]


def test_grpc_calls_each_signature(stub):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "pair"
    request.model_spec.signature_name = "add"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(X))
    request.inputs["y"].CopyFrom(tf.make_tensor_proto(Y))
    response = stub.Predict(request, timeout=30)
    assert response.model_spec.signature_name == "add"
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["total"]), [9.0, 18.0])

    default = predict_pb2.PredictRequest()
    default.model_spec.name = "pair"
    default.inputs["x"].CopyFrom(tf.make_tensor_proto(X))
    answer = stub.Predict(default, timeout=30)
    assert answer.model_spec.signature_name == "serving_default"
    np.testing.assert_allclose(tf.make_ndarray(answer.outputs["scaled"]), X * np.array(WEIGHTS, np.float32))


def test_grpc_metadata_lists_both(stub):
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = "pair"
    request.metadata_field.append("signature_def")
    response = stub.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert sorted(signatures.signature_def) == ["add", "serving_default"]
    assert sorted(signatures.signature_def["add"].inputs) == ["x", "y"]


def test_micro_report_names_each_signatures_tensors(base_path: Path):
    from modelserve.convert.micro import check_micro

    check = check_micro((base_path / "1" / "model.tflite").read_bytes())
    assert {"input add/x (float32)", "input add/y (float32)", "output serving_default/scaled (float32)"} <= set(
        check.non_int8_io
    )
    assert not check.ready
