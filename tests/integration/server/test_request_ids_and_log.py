"""The request log and request ids on a real server: every answer carries its id (REST header, gRPC
trailing metadata), sampled requests and every failure land in the log with that id, and a log that cannot
be written costs no request."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests

from factories import onnx_triton_simple

pytestmark = pytest.mark.integration

ROW = np.arange(16, dtype=np.int32).reshape(1, 16)


def _entries(path: Path, wanted: int, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    found: list[dict] = []
    while time.monotonic() < deadline:
        found = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        if len(found) >= wanted:
            return found
        time.sleep(0.1)
    return found


def _predict_body() -> dict:
    return {"instances": [{"INPUT0": ROW[0].tolist(), "INPUT1": ROW[0].tolist()}]}


def test_ids_on_every_answer_and_the_sampled_log(start_server, tmp_path: Path) -> None:
    onnx_triton_simple(tmp_path / "models" / "simple" / "1")
    log_path = tmp_path / "logs" / "requests.jsonl"
    server = start_server(
        f"--model_repository={tmp_path / 'models'}", f"--request_log={log_path}",
        "--request_log_sample_rate=0,simple=1",
    )  # fmt: skip
    url = f"{server.url}/v1/models/simple:predict"
    mine = requests.post(url, json=_predict_body(), headers={"X-Request-Id": "order-42"}, timeout=10)
    assert mine.status_code == 200 and mine.headers["x-request-id"] == "order-42"
    generated = requests.post(url, json=_predict_body(), timeout=10).headers["x-request-id"]
    assert len(generated) == 16
    missing = requests.post(f"{server.url}/v1/models/nope:predict", json=_predict_body(), timeout=10)
    assert missing.status_code == 404 and len(missing.headers["x-request-id"]) == 16

    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "simple"
    shape = tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in ROW.shape])
    for name in ("INPUT0", "INPUT1"):
        request.inputs[name].CopyFrom(
            tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, tensor_shape=shape, int_val=ROW.ravel().tolist())
        )
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        _answer, call = stub.Predict.with_call(request, metadata=[("x-request-id", "grpc-7")], timeout=10)
        assert dict(call.trailing_metadata())["x-request-id"] == "grpc-7"
        request.model_spec.name = "nope"
        with pytest.raises(grpc.RpcError) as refused:
            stub.Predict(request, metadata=[("x-request-id", "grpc-nope")], timeout=10)
        assert dict(refused.value.trailing_metadata())["x-request-id"] == "grpc-nope"

    entries = {e["id"]: e for e in _entries(log_path, 5)}
    assert {"order-42", generated, "grpc-7"} <= set(entries)  # simple: rate 1
    assert entries["order-42"]["model"] == "simple" and entries["order-42"]["version"] == 1
    assert entries["order-42"]["inputs"][0]["shape"] == [1, 16] and entries["order-42"]["status"] == "OK"
    assert "values" in entries["order-42"]["outputs"][0] or "stats" in entries["order-42"]["outputs"][0]
    failures = [e for e in entries.values() if e["model"] == "nope"]
    assert len(failures) == 2 and {e["status"] for e in failures} == {"NOT_FOUND"}  # rate 0, logged anyway
    assert entries["grpc-nope"]["model"] == "nope"  # a refusal is logged under its request's id
    assert missing.headers["x-request-id"] in entries


def test_a_log_that_cannot_be_written_costs_no_request(start_server, tmp_path: Path) -> None:
    onnx_triton_simple(tmp_path / "models" / "simple" / "1")
    folder = tmp_path / "logs"
    server = start_server(
        f"--model_repository={tmp_path / 'models'}", f"--request_log={folder / 'requests.jsonl'}",
        "--request_log_sample_rate=1",
    )  # fmt: skip
    shutil.rmtree(folder)
    folder.write_text("not a folder any more")
    session = requests.Session()
    codes = [session.post(f"{server.url}/v1/models/simple:predict", json=_predict_body(), timeout=10).status_code
             for _ in range(50)]  # fmt: skip
    assert codes == [200] * 50
    deadline = time.monotonic() + 10
    while "entries are dropped and counted" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "entries are dropped and counted" in server.log()
