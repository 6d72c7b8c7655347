"""The Open Inference Protocol (KServe/Triton "V2") over REST: health, metadata, infer, repository.

:func:`handle` routes one ``/v2...`` request to the serving core and returns a
:class:`~modelserve.protocols.http.RestResponse`; wire formats live in the sibling modules: the request envelope
in :mod:`~modelserve.protocols.v2.envelope`, JSON tensors and the response in
:mod:`~modelserve.protocols.v2.json_tensors`, the binary tensor extension in :mod:`~modelserve.protocols.v2.binary`,
metadata in :mod:`~modelserve.protocols.v2.metadata`. A request may pick a signature other than
``serving_default`` with the request parameter ``signature_name`` (our extension).
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import unquote

from modelserve import __version__
from modelserve.errors import InvalidArgument, NotFound
from modelserve.metrics.record import note
from modelserve.protocols import recorded
from modelserve.protocols.http import RestResponse
from modelserve.protocols.v2 import envelope, json_tensors, metadata
from modelserve.protocols.v2.metadata import EXTENSIONS
from modelserve.serving.service import ModelService
from modelserve.types import DEFAULT_SIGNATURE, InferRequest, InputRules, ModelRef

_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(/ready|/infer|/config)?")
_REPOSITORY = re.compile(r"/v2/repository/models/([^/]+)/(load|unload)")


async def handle(
    service: ModelService,
    method: str,
    path: str,
    headers: dict[bytes, bytes],
    body: bytes,
    deadline: float | None = None,
    routing_key: str | None = None,
) -> RestResponse:
    """Serve one ``/v2...`` request; ``deadline`` (``time.monotonic()``) bounds the model call."""
    if path == "/v2" and method == "GET":
        return RestResponse(metadata.server_metadata("modelserve", __version__, list(EXTENSIONS)))
    if path in ("/v2/health/live", "/v2/health/ready") and method == "GET":
        ready = path.endswith("live") or service.ready()
        return RestResponse(
            b'{"live":true}' if path.endswith("live") else b'{"ready":%s}' % (b"true" if ready else b"false"),
            status=200 if ready else 400,
        )
    if path == "/v2/repository/index" and method == "POST":
        return RestResponse(metadata.json_bytes(service.repository_index()))
    match = _REPOSITORY.fullmatch(path)
    if match and method == "POST":
        name, action = unquote(match.group(1)), match.group(2)
        operation = service.load_model if action == "load" else service.unload_model
        await asyncio.get_running_loop().run_in_executor(None, operation, name)
        return RestResponse(b"")
    match = _MODEL.fullmatch(path)
    if match:
        name, version_text, verb = unquote(match.group(1)), match.group(2), match.group(3)
        version = int(version_text) if version_text else None
        note(api=(verb or "/metadata").lstrip("/"), model=name)
        if verb is None and method == "GET":
            return _metadata(service, name, version)
        if verb == "/config" and method == "GET":
            view = recorded.describe(service, ModelRef(name, version))
            config = metadata.model_config(name, view.platform, view.signature(DEFAULT_SIGNATURE))
            return RestResponse(metadata.json_bytes(config))
        if verb == "/ready" and method == "GET":
            return _ready(service, name, version)
        if verb == "/infer" and method == "POST":
            return await _infer(service, ModelRef(name, version), headers, body, deadline, routing_key)
    raise NotFound(f"unknown V2 endpoint: {method} {path}")


def _metadata(service: ModelService, name: str, version: int | None) -> RestResponse:
    view = recorded.describe(service, ModelRef(name, version))
    versions = [str(v) for v in service.available_versions(name)]
    body = metadata.model_metadata(name, versions, view.platform, view.signature(DEFAULT_SIGNATURE))
    return RestResponse(body, version=view.version)


def _ready(service: ModelService, name: str, version: int | None) -> RestResponse:
    available = service.available_versions(name)
    return _readiness(version in available if version is not None else bool(available))


def _readiness(ready: bool) -> RestResponse:
    """Triton's convention: 200 when ready, 400 when not; the body says it too."""
    return RestResponse(b'{"ready":true}' if ready else b'{"ready":false}', status=200 if ready else 400)


async def _infer(
    service: ModelService,
    ref: ModelRef,
    headers: dict[bytes, bytes],
    body: bytes,
    deadline: float | None,
    routing_key: str | None,
) -> RestResponse:
    header = headers.get(b"inference-header-content-length")
    if header is not None and not header.isdigit():
        raise InvalidArgument(
            f"Inference-Header-Content-Length must be a number, got {header.decode(errors='replace')!r}"
        )
    decoded = envelope.decode_infer_request(body, int(header) if header is not None else None)
    signature_name = decoded.parameters.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature_name, str):
        raise InvalidArgument(f"parameter 'signature_name' must be a string, got {signature_name!r}")
    request = InferRequest(
        ref, decoded.inputs, signature_name, outputs=tuple(o.name for o in decoded.outputs), routing_key=routing_key,
        deadline=deadline, request_id=decoded.id, parameters=decoded.parameters, rules=InputRules.V2, api="infer",
    )  # fmt: skip
    response = await recorded.infer(service, request)
    payload, json_length = json_tensors.encode_infer_response(
        ref.name, str(response.version), decoded.id, response.outputs, decoded.outputs, decoded.binary_output_default
    )
    extra = [] if json_length is None else [(b"inference-header-content-length", str(json_length).encode())]
    content_type = b"application/octet-stream" if json_length is not None else b"application/json"
    return RestResponse(payload, version=response.version, headers=tuple(extra), content_type=content_type)
