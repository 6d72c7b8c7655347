"""V2 metadata bodies: server and model metadata, the error body and other JSON bodies."""

from __future__ import annotations

import orjson
import pytest

from modelserve.protocols.v2.metadata import error_body, json_bytes, model_metadata, server_metadata
from modelserve.types import Signature, TensorSpec

# ----------------------------------------------------------------------------------- metadata and errors


def test_server_metadata() -> None:
    body = server_metadata("modelserve", "0.1.0", ["binary_tensor_data"], "off")
    assert orjson.loads(body) == {
        "name": "modelserve", "version": "0.1.0", "extensions": ["binary_tensor_data"], "auth": "off"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("tensorflow", "tensorflow_savedmodel"),
        ("keras", "tensorflow_keras"),
        ("onnx", "onnxruntime_onnx"),
        ("tflite", "tensorflow_lite"),
        ("other", "other"),
    ],
)
def test_model_metadata(platform: str, expected: str) -> None:
    signature = Signature.from_specs(
        "serving_default",
        [TensorSpec("images", "float32", (-1, 8, 8, 1)), TensorSpec("ids", "string", None)],
        [TensorSpec("scores", "float16", (-1, 10)), TensorSpec("z", "complex64", ())],
    )
    assert orjson.loads(model_metadata("digits", ["1", "2"], platform, signature)) == {
        "name": "digits",
        "versions": ["1", "2"],
        "platform": expected,
        "inputs": [
            {"name": "images", "datatype": "FP32", "shape": [-1, 8, 8, 1]},
            {"name": "ids", "datatype": "BYTES", "shape": [-1]},
        ],
        "outputs": [
            {"name": "scores", "datatype": "FP16", "shape": [-1, 10]},
            {"name": "z", "datatype": "INVALID", "shape": []},
        ],
    }


def test_error_body_and_json_bytes() -> None:
    assert error_body('bad "x"') == b'{"error":"bad \\"x\\""}'
    assert json_bytes([{"name": "m", "state": "READY"}]) == b'[{"name":"m","state":"READY"}]'
