"""TensorFlow Serving's REST API (``/v1/...``): URLs, status, metadata, predict, classify, regress.

:func:`handle` takes a method, the raw (still percent-encoded) path and the body, and returns a
:class:`RestResponse`; errors are raised as :class:`~modelserve.errors.ServingError` and turned into
TF Serving's ``{"error": "..."}`` envelope by the caller with :func:`error_body`. URL rules follow TF
Serving's own regexes (case-insensitive; names and labels percent-decoded after matching).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import numpy as np

from modelserve import dtypes
from modelserve.errors import InvalidArgument
from modelserve.metrics.record import note
from modelserve.protocols import tfs_json
from modelserve.serving.handle import ServedVersion
from modelserve.serving.service import ModelService
from modelserve.serving.state import VersionStatus
from modelserve.types import CLASSIFY_METHOD, REGRESS_METHOD, Signature, TensorSpec
from modelserve.validation import check_shapes

_INFER_URL = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_MODEL_URL = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.IGNORECASE
)
_MAX_INT64 = 2**63 - 1


@dataclass(frozen=True)
class RestResponse:
    """What a REST handler answers; the app adds Content-Length, CORS and ``X-Model-Version``."""

    body: bytes
    status: int = 200
    version: int | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    content_type: bytes = b"application/json"


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode()


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value > _MAX_INT64:
        raise InvalidArgument(f"Failed to convert version: {text} to numeric.")
    return value


async def handle(service: ModelService, method: str, raw_path: str, body: bytes, timeout: float) -> RestResponse:
    """Serve one ``/v1/...`` request (the path has already matched ``(?i)/v1/.*``)."""
    if method == "POST":
        match = _INFER_URL.fullmatch(raw_path)
        if match:
            name, version, label, verb = match.groups()
            note(api=verb.lower())
            return await _infer(service, unquote(name), _version(version), _label(label), verb.lower(), body, timeout)
    elif method == "GET":
        match = _MODEL_URL.fullmatch(raw_path)
        if match:
            name, version, label, metadata = match.groups()
            if name is None:
                if version or label or metadata:
                    raise InvalidArgument("Missing model name in request.")
                return RestResponse(_json(list_models(service)))
            name, number = unquote(name), _version(version)
            note(api="metadata" if metadata else "status")
            if metadata:
                return _metadata(service, name, number, _label(label))
            return _status(service, name, number, _label(label))
    raise InvalidArgument(f"Malformed request: {method} {raw_path}")


def _label(text: str | None) -> str | None:
    return None if text is None else unquote(text)


# ---- status and metadata ----


def _status_json(status: VersionStatus) -> dict[str, Any]:
    return {
        "version": str(status.version),
        "state": status.state.name,
        "status": {"error_code": status.error_code.name, "error_message": status.error_message},
    }


def _status(service: ModelService, name: str, version: int | None, label: str | None) -> RestResponse:
    """TF Serving ignores a label here: ``/labels/l`` lists every version, like no version at all."""
    statuses = service.statuses(name, version)
    return RestResponse(_json({"model_version_status": [_status_json(s) for s in statuses]}))


def list_models(service: ModelService) -> dict[str, Any]:
    """Our addition (TF Serving answers 400): every configured model with its versions and labels."""
    models = []
    for name in service.model_names():
        manager = service.manager(name)
        models.append(
            {
                "name": name,
                "versions": [_status_json(s) for s in manager.statuses()],
                "labels": {label: str(v) for label, v in sorted(manager.labels.items())},
            }
        )
    return {"models": models}


def _tensor_info(spec: TensorSpec) -> dict[str, Any]:
    if spec.shape is None:
        shape: dict[str, Any] = {"dim": [], "unknown_rank": True}
    else:
        shape = {"dim": [{"size": str(d), "name": ""} for d in spec.shape], "unknown_rank": False}
    return {"dtype": dtypes.by_name(spec.dtype).tf_name, "tensor_shape": shape, "name": spec.tensor_name}


def signature_def_json(signature: Signature) -> dict[str, Any]:
    """One SignatureDef as TF Serving's metadata API prints it (proto field names, int64 as strings)."""
    return {
        "inputs": {n: _tensor_info(s) for n, s in signature.inputs.items()},
        "outputs": {n: _tensor_info(s) for n, s in signature.outputs.items()},
        "method_name": signature.method_name,
        "defaults": {},
    }


def _metadata(service: ModelService, name: str, version: int | None, label: str | None) -> RestResponse:
    with service.borrow(name, version, label) as served:
        signatures = served.model.signatures
        body = {
            "model_spec": {"name": name, "signature_name": "", "version": str(served.version)},
            "metadata": {"signature_def": {"signature_def": {n: signature_def_json(s) for n, s in signatures.items()}}},
        }
        return RestResponse(_json(body), version=served.version)


# ---- inference ----


def _signature(served: ServedVersion, name: str) -> Signature:
    signature = served.model.signatures.get(name)
    if signature is None:
        raise InvalidArgument(f'Serving signature name: "{name}" not found in signature def')
    return signature


_EXPECTED_METHOD = {
    "classify": ("classification", CLASSIFY_METHOD),
    "regress": ("regression", REGRESS_METHOD),
}


async def _infer(
    service: ModelService,
    name: str,
    version: int | None,
    label: str | None,
    verb: str,
    body: bytes,
    timeout: float,
) -> RestResponse:
    document = tfs_json.parse_json(body)
    signature_name = tfs_json.signature_name_of(document)
    with service.borrow(name, version, label) as served:
        signature = _signature(served, signature_name)
        if verb == "predict":
            request = tfs_json.decode_predict(document, signature)
            if served.model.strict_shapes:
                check_shapes(signature, request.inputs)
            outputs = await service.run(served, signature.name, request.inputs, timeout)
            return RestResponse(tfs_json.encode_predict(outputs, request.row_format), version=served.version)
        kind, method = _EXPECTED_METHOD[verb]
        if signature.method_name != method:
            raise InvalidArgument(f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}")
        examples = tfs_json.decode_classify_regress(document)
        input_name = next(iter(signature.inputs))
        inputs = {input_name: _object_array(examples)}
        outputs = await service.run(served, signature.name, inputs, timeout)
        encode = tfs_json.encode_classify if verb == "classify" else tfs_json.encode_regress
        return RestResponse(encode(outputs, len(examples)), version=served.version)


def _object_array(items: list[bytes]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array
