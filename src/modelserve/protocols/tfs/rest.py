"""TensorFlow Serving's REST API (``/v1/...``): URLs, status, metadata, predict, classify, regress.

:func:`handle` takes a method, the raw (still percent-encoded) path and the body, and returns a
:class:`~modelserve.protocols.http.RestResponse`; errors are raised as :class:`~modelserve.errors.ServingError`
and turned into TF Serving's ``{"error": "..."}`` envelope by the caller with
:func:`~modelserve.protocols.http.error_body`. URL rules follow TF Serving's own regexes (case-insensitive;
names and labels percent-decoded after matching). Bodies are read and written by the sibling modules
(:mod:`~modelserve.protocols.tfs.json_parse`, :mod:`~modelserve.protocols.tfs.predict_decode`,
:mod:`~modelserve.protocols.tfs.predict_encode`, :mod:`~modelserve.protocols.tfs.examples`).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import numpy as np

from modelserve import dtypes
from modelserve.errors import InvalidArgument, NotFound, SignatureNotFound
from modelserve.metrics.record import note
from modelserve.monitoring.feedback import parse_feedback
from modelserve.protocols import recorded
from modelserve.protocols.http import RestResponse
from modelserve.protocols.tfs import json_parse, predict_decode, predict_encode
from modelserve.protocols.tfs.examples import decode_classify_regress, encode_classify, encode_regress, examples_input
from modelserve.serving.service import ModelService
from modelserve.serving.state import VersionStatus
from modelserve.types import (
    CLASSIFY_METHOD,
    REGRESS_METHOD,
    InferRequest,
    InferResponse,
    InputRules,
    ModelRef,
    Signature,
    TensorSpec,
)

_INFER_URL = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE,
)
_MODEL_URL = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.IGNORECASE
)
_FEEDBACK_URL = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+))?:feedback", re.IGNORECASE)
_MONITORING_URL = re.compile(r"/v1/models/([^/:]+)/monitoring", re.IGNORECASE)
_MAX_INT64 = 2**63 - 1


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2).encode()


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    value = int(text)
    if value > _MAX_INT64:
        raise InvalidArgument(f"Failed to convert version: {text} to numeric.")
    return value


async def handle(
    service: ModelService,
    method: str,
    raw_path: str,
    body: bytes,
    deadline: float | None = None,
    routing_key: str | None = None,
    check_method_name: bool = False,
    accept: bytes = b"",
) -> RestResponse:
    """Serve one ``/v1/...`` request (the path has already matched ``(?i)/v1/.*``). ``deadline`` is a
    ``time.monotonic()`` instant for model calls; ``routing_key`` the traffic policy's sticky key;
    ``check_method_name`` is ``--enable_signature_method_name_check`` (see
    :func:`~modelserve.protocols.tfs.examples.examples_input`); ``accept`` the ``Accept`` header: an
    ``image/...`` type answers a predict of one row with the raw bytes of its one ``*_bytes`` output
    (:func:`_as_image`)."""
    if method == "POST":
        match = _INFER_URL.fullmatch(raw_path)
        if match:
            name, version, label, verb = match.groups()
            ref = ModelRef(unquote(name), _version(version), _label(label))
            note(api=verb.lower(), model=ref.name)  # before decoding: a refused body counts for its model
            return await _infer(service, ref, verb.lower(), body, deadline, routing_key, check_method_name, accept)
        match = _FEEDBACK_URL.fullmatch(raw_path)
        if match:
            return await _feedback(service, unquote(match.group(1)), _version(match.group(2)), body)
    elif method == "GET":
        match = _MONITORING_URL.fullmatch(raw_path)
        if match:
            note(api="monitoring", model=unquote(match.group(1)))
            return RestResponse(_json(service.monitoring_report(unquote(match.group(1)))))
        match = _MODEL_URL.fullmatch(raw_path)
        if match:
            name, version, label, metadata = match.groups()
            if name is None:
                if version or label or metadata:
                    raise InvalidArgument("Missing model name in request.")
                return RestResponse(_json(list_models(service)))
            name, number = unquote(name), _version(version)
            note(api="metadata" if metadata else "status", model=name)
            if metadata:
                return _metadata(service, name, number, _label(label))
            return _status(service, name, number, _label(label))
    raise InvalidArgument(f"Malformed request: {method} {raw_path}")


async def _feedback(service: ModelService, name: str, version: int | None, body: bytes) -> RestResponse:
    """Ground truth for earlier answers (:func:`~modelserve.monitoring.feedback.parse_feedback`)."""
    note(api="feedback", model=name)
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise InvalidArgument(f"JSON Parse error: {exc}") from None
    return RestResponse(_json(await service.feedback(name, version, parse_feedback(document))))


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
        try:
            statuses = service.statuses(name)
        except NotFound:  # no version seen yet
            statuses = []
        models.append(
            {
                "name": name,
                "versions": [_status_json(s) for s in statuses],
                "labels": {label: str(v) for label, v in sorted(service.labels(name).items())},
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
    view = recorded.describe(service, ModelRef(name, version, label))
    body = {
        "model_spec": {"name": name, "signature_name": "", "version": str(view.version)},
        "metadata": {
            "signature_def": {"signature_def": {n: signature_def_json(s) for n, s in view.signatures.items()}}
        },
    }
    return RestResponse(_json(body), version=view.version)


# ---- inference ----


def _signature_not_found(name: str) -> InvalidArgument:
    return InvalidArgument(f'Serving signature name: "{name}" not found in signature def')


_METHOD_OF_VERB = {"classify": CLASSIFY_METHOD, "regress": REGRESS_METHOD}


async def _infer(
    service: ModelService,
    ref: ModelRef,
    verb: str,
    body: bytes,
    deadline: float | None,
    routing_key: str | None,
    check_method_name: bool,
    accept: bytes = b"",
) -> RestResponse:
    """Predict, classify or regress: decode by the signature, ``service.infer``, encode."""
    document = json_parse.parse_json(body)
    signature_name = json_parse.signature_name_of(document)
    try:
        signature = service.signature(ref, signature_name)
    except SignatureNotFound:
        raise _signature_not_found(signature_name) from None
    if verb == "predict":
        decoded = predict_decode.decode_predict(document, signature)
        request = InferRequest(
            ref, decoded.inputs, signature.name, routing_key=routing_key, deadline=deadline,
            rules=InputRules.TF_SERVING, api=verb,
        )  # fmt: skip
        response = await _call(service, request)
        if accept.startswith(b"image/"):
            return _as_image(response, accept)
        return RestResponse(
            predict_encode.encode_predict(response.outputs, decoded.row_format), version=response.version
        )
    input_name = examples_input(signature, _METHOD_OF_VERB[verb], check_method_name)
    examples = decode_classify_regress(document)
    inputs = {input_name: _object_array(examples)}
    request = InferRequest(
        ref, inputs, signature.name, routing_key=routing_key, deadline=deadline, rules=InputRules.TF_SERVING, api=verb
    )
    response = await _call(service, request)
    encode = encode_classify if verb == "classify" else encode_regress
    return RestResponse(encode(response.outputs, len(examples)), version=response.version)


def _as_image(response: InferResponse, accept: bytes) -> RestResponse:
    """Our addition for people with curl (``-H 'Accept: image/png' -o out.png``): the answer is the raw bytes
    of the one ``*_bytes`` output of a one-row predict, with the asked-for type; anything else is refused."""
    media_type = accept.split(b",")[0].split(b";")[0].strip()
    images = [(name, array) for name, array in response.outputs.items() if name.endswith("_bytes")]
    if len(images) != 1 or images[0][1].size != 1:
        shapes = ", ".join(f"{name} {list(array.shape)}" for name, array in response.outputs.items())
        raise InvalidArgument(
            f"Accept: {media_type.decode('latin-1')} answers one image: one row and one *_bytes output "
            f"(name it with output_filter); this answer has {shapes}"
        )
    data = images[0][1].reshape(-1)[0]
    return RestResponse(bytes(data), version=response.version, content_type=media_type)


async def _call(service: ModelService, request: InferRequest) -> InferResponse:
    try:
        return await recorded.infer(service, request)
    except SignatureNotFound as exc:  # the version changed under the request
        raise _signature_not_found(exc.signature) from None


def _object_array(items: list[bytes]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array
