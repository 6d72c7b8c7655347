"""The request the try-it page just made, as code to copy: curl and Python over TF Serving's REST API, and
Python over its gRPC API (``tensorflow-serving-api``). Each repeats the exact body that was sent; with keys
on, each reads the key from ``$MODELSERVE_API_KEY`` (never the key itself)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from modelserve.types import ModelRef, Signature

__all__ = ["Target", "snippets", "url_path"]


@dataclass(frozen=True)
class Target:
    """Where the page's server answers: REST base URL (``http://host:8501``), gRPC ``host:port`` (empty when
    gRPC is off), whether it speaks TLS and whether it needs a key."""

    rest_url: str
    grpc_address: str = ""
    tls: bool = False
    keys: bool = False


def url_path(ref: ModelRef) -> str:
    """``/v1/models/NAME[/versions/N | /labels/L]:predict``."""
    where = ""
    if ref.version is not None:
        where = f"/versions/{ref.version}"
    elif ref.label is not None:
        where = f"/labels/{ref.label}"
    return f"/v1/models/{ref.name}{where}:predict"


def _curl(target: Target, ref: ModelRef, body: str) -> str:
    key = ' -H "Authorization: Bearer $MODELSERVE_API_KEY"' if target.keys else ""
    return (
        f"curl -s{key} -H 'Content-Type: application/json' \\\n"
        f"  {target.rest_url}{url_path(ref)} -d @- <<'EOF'\n{body}\nEOF"
    )


def _python(target: Target, ref: ModelRef, body: str) -> str:
    lines = ["import os" if target.keys else "", "import requests", "", f"body = {body}"]
    headers = ', headers={"Authorization": f"Bearer {os.environ[\'MODELSERVE_API_KEY\']}"}' if target.keys else ""
    lines += [
        f'answer = requests.post("{target.rest_url}{url_path(ref)}", json=body{headers}, timeout=30)',
        "answer.raise_for_status()",
        "print(answer.json())",
    ]
    return "\n".join(line for i, line in enumerate(lines) if line or i > 0)


def _tensor_line(name: str, value: Any, dtype: str) -> str:
    if dtype == "string":
        return f'request.inputs["{name}"].CopyFrom(tf.make_tensor_proto(strings({json.dumps(value)})))'
    return f'request.inputs["{name}"].CopyFrom(tf.make_tensor_proto({json.dumps(value)}, dtype=tf.{dtype}))'


def _grpc(target: Target, signature: Signature, ref: ModelRef, inputs: dict[str, Any]) -> str:
    channel = (
        f'grpc.secure_channel("{target.grpc_address}", grpc.ssl_channel_credentials(open("ca.pem", "rb").read()))'
        if target.tls
        else f'grpc.insecure_channel("{target.grpc_address}")'
    )
    lines = [
        "import base64" + ("\nimport os" if target.keys else ""),
        "import grpc",
        "import tensorflow as tf",
        "from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc",
        "",
        "def strings(values):  # {'b64': ...} in the REST body is raw bytes on gRPC",
        "    if isinstance(values, list):",
        "        return [strings(v) for v in values]",
        "    return base64.b64decode(values['b64']) if isinstance(values, dict) else values.encode()",
        "",
        "request = predict_pb2.PredictRequest()",
        f'request.model_spec.name = "{ref.name}"',
        f'request.model_spec.signature_name = "{signature.name}"',
    ]
    if ref.version is not None:
        lines.append(f"request.model_spec.version.value = {ref.version}")
    elif ref.label is not None:
        lines.append(f'request.model_spec.version_label = "{ref.label}"')
    for name, value in inputs.items():
        spec = signature.inputs.get(name)
        lines.append(_tensor_line(name, value, spec.dtype if spec is not None else "float32"))
    metadata = ', metadata=[("authorization", f"Bearer {os.environ[\'MODELSERVE_API_KEY\']}")]' if target.keys else ""
    lines += [
        f"stub = prediction_service_pb2_grpc.PredictionServiceStub({channel})",
        f"answer = stub.Predict(request, timeout=30{metadata})",
        "print(answer.outputs)",
    ]
    return "\n".join(lines)


def snippets(target: Target, signature: Signature, ref: ModelRef, body: dict[str, Any]) -> dict[str, str]:
    """``{"curl": ..., "python": ..., "grpc": ...}`` for the predict ``body`` sent for ``ref`` (``grpc`` is
    absent when the server has no gRPC port)."""
    text = json.dumps(body)
    found = {"curl": _curl(target, ref, text), "python": _python(target, ref, text)}
    if target.grpc_address:
        found["grpc"] = _grpc(target, signature, ref, body.get("inputs", {}))
    return found
