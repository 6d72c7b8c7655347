"""The same mistake gets the matching code through all four front doors (one error table)."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
import requests
import tensorflow as tf
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
from tritonclient.utils import InferenceServerException

CASES = {
    # case: (model, array, expected HTTP status, expected gRPC code)
    "unknown model": ("nope", np.zeros((1, 8, 8, 1), np.float32), 404, grpc.StatusCode.NOT_FOUND),
    "bad dtype": ("digits_onnx", np.zeros((1, 8, 8, 1), np.int64), 400, grpc.StatusCode.INVALID_ARGUMENT),
    "bad shape": ("digits_onnx", np.zeros((1, 64), np.float32), 400, grpc.StatusCode.INVALID_ARGUMENT),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tfs_rest(examples_server, case: str):
    model, array, status, _ = CASES[case]
    values = array.tolist() if array.dtype != np.int64 else [["x"]]  # JSON carries no dtype: a string is the mistake
    response = requests.post(
        f"{examples_server.url}/v1/models/{model}:predict", data=json.dumps({"inputs": {"images": values}}), timeout=30
    )
    assert response.status_code == status, response.text


@pytest.mark.parametrize("case", list(CASES))
def test_tfs_grpc(examples_server, case: str):
    model, array, _, code = CASES[case]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(array))
    with grpc.insecure_channel(examples_server.grpc_target) as channel, pytest.raises(grpc.RpcError) as err:
        prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert err.value.code() == code


@pytest.mark.parametrize("case", list(CASES))
def test_v2_rest(examples_server, case: str):
    model, array, status, _ = CASES[case]
    client = triton_http.InferenceServerClient(examples_server.url.removeprefix("http://"))
    infer_input = triton_http.InferInput("images", list(array.shape), "INT64" if array.dtype == np.int64 else "FP32")
    infer_input.set_data_from_numpy(array)
    with pytest.raises(InferenceServerException) as err:
        client.infer(model, [infer_input])
    assert err.value.status() == str(status)
    client.close()


@pytest.mark.parametrize("case", list(CASES))
def test_v2_grpc(examples_server, case: str):
    model, array, _, code = CASES[case]
    client = triton_grpc.InferenceServerClient(examples_server.grpc_target)
    infer_input = triton_grpc.InferInput("images", list(array.shape), "INT64" if array.dtype == np.int64 else "FP32")
    infer_input.set_data_from_numpy(array)
    with pytest.raises(InferenceServerException) as err:
        client.infer(model, [infer_input])
    assert err.value.status() == f"StatusCode.{code.name}"
    client.close()
