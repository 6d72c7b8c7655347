"""V2 metadata bodies: server and model metadata, the model config, and other small JSON bodies.

Metadata (:func:`model_metadata`) names our platforms as Triton does where Triton has the format:
``tensorflow`` -> ``tensorflow_savedmodel``, ``onnx`` -> ``onnxruntime_onnx``; and by the same
``framework_format`` pattern otherwise: ``keras`` -> ``tensorflow_keras``, ``tflite`` -> ``tensorflow_lite``.
A spec of unknown rank is listed with shape ``[-1]`` (the protocol cannot say "any rank"), and a dtype the
protocol cannot carry (complex) with datatype ``INVALID``. Both doors describe the ``serving_default``
signature (:func:`default_signature`) and list the same :data:`EXTENSIONS`.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelserve.dtypes import by_name
from modelserve.types import Signature, TensorSpec

__all__ = [
    "EXTENSIONS",
    "error_body",
    "json_bytes",
    "model_metadata",
    "platform_name",
    "server_metadata",
    "tensor_datatype",
]

EXTENSIONS = ("binary_tensor_data", "model_repository", "model_configuration", "statistics", "system_shared_memory")
"""The protocol extensions both V2 doors serve (server metadata lists them)."""
_PLATFORMS = {
    "tensorflow": "tensorflow_savedmodel",
    "keras": "tensorflow_keras",
    "onnx": "onnxruntime_onnx",
    "tflite": "tensorflow_lite",
    "python": "python",
}


def server_metadata(name: str, version: str, extensions: list[str], auth: str) -> bytes:
    """``GET /v2``: ``{"name","version","extensions"}``, and ``auth`` (ours: ``"api_keys"`` or ``"off"``, so
    a client or a scanner sees an open server for what it is)."""
    return orjson.dumps({"name": name, "version": version, "extensions": extensions, "auth": auth})


def platform_name(platform: str) -> str:
    """Our platform name (``tensorflow``, ``keras``, ``onnx``, ``tflite``) as V2 metadata spells it."""
    return _PLATFORMS.get(platform, platform)


def model_metadata(name: str, versions: list[str], platform: str, signature: Signature) -> bytes:
    """``GET /v2/models/{m}``; ``platform`` is ours (``tensorflow``, ``keras``, ``onnx``, ``tflite``)."""
    return orjson.dumps(
        {
            "name": name,
            "versions": versions,
            "platform": platform_name(platform),
            "inputs": [_tensor_metadata(spec) for spec in signature.inputs.values()],
            "outputs": [_tensor_metadata(spec) for spec in signature.outputs.values()],
        }
    )


def tensor_datatype(spec: TensorSpec) -> str:
    """The spec's V2 datatype, ``INVALID`` for a dtype the protocol cannot carry."""
    return by_name(spec.dtype).v2_name or "INVALID"


def _tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "datatype": tensor_datatype(spec),
        "shape": [-1] if spec.shape is None else list(spec.shape),
    }


def error_body(message: str) -> bytes:
    """``{"error": message}``, the V2 REST error body."""
    return orjson.dumps({"error": message})


def json_bytes(value: Any) -> bytes:
    """Compact JSON for other V2 bodies (e.g. the repository index)."""
    return orjson.dumps(value)
