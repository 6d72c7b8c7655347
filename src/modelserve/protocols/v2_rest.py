"""The Open Inference Protocol (KServe/Triton "V2") over REST: health, metadata, infer, repository.

:func:`handle` routes one ``/v2...`` request to the serving core and returns a
:class:`~modelserve.protocols.tfs_rest.RestResponse`; wire formats (JSON tensors and the binary tensor
extension) live in :mod:`modelserve.protocols.v2_codec`. A request may pick a signature other than
``serving_default`` with the request parameter ``signature_name`` (our extension).
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import unquote

from modelserve import __version__
from modelserve.errors import InvalidArgument, NotFound
from modelserve.metrics.record import note
from modelserve.protocols import v2_codec
from modelserve.protocols.tfs_rest import RestResponse
from modelserve.serving.service import ModelService
from modelserve.types import DEFAULT_SIGNATURE

EXTENSIONS = ("binary_tensor_data", "model_repository")
_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(/ready|/infer|/config)?")
_REPOSITORY = re.compile(r"/v2/repository/models/([^/]+)/(load|unload)")


async def handle(
    service: ModelService, method: str, path: str, headers: dict[bytes, bytes], body: bytes, timeout: float | None
) -> RestResponse:
    if path == "/v2" and method == "GET":
        return RestResponse(v2_codec.server_metadata("modelserve", __version__, list(EXTENSIONS)))
    if path in ("/v2/health/live", "/v2/health/ready") and method == "GET":
        ready = path.endswith("live") or service.ready()
        return RestResponse(
            b'{"live":true}' if path.endswith("live") else b'{"ready":%s}' % (b"true" if ready else b"false"),
            status=200 if ready else 400,
        )
    if path == "/v2/repository/index" and method == "POST":
        return RestResponse(v2_codec.json_bytes(service.repository_index()))
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
        note(api=(verb or "/metadata").lstrip("/"))
        if verb is None and method == "GET":
            return _metadata(service, name, version)
        if verb == "/config" and method == "GET":
            with service.borrow(name, version) as served:
                config = v2_codec.model_config(name, served.model.platform, served.model.signature(DEFAULT_SIGNATURE))
            return RestResponse(v2_codec.json_bytes(config))
        if verb == "/ready" and method == "GET":
            return _ready(service, name, version)
        if verb == "/infer" and method == "POST":
            return await _infer(service, name, version, headers, body, timeout)
    raise NotFound(f"unknown V2 endpoint: {method} {path}")


def _metadata(service: ModelService, name: str, version: int | None) -> RestResponse:
    with service.borrow(name, version) as served:
        signature = served.model.signature(DEFAULT_SIGNATURE)
        versions = [str(v) for v in service.manager(name).available_versions()]
        body = v2_codec.model_metadata(name, versions, served.model.platform, signature)
        return RestResponse(body, version=served.version)


def _ready(service: ModelService, name: str, version: int | None) -> RestResponse:
    try:
        available = service.manager(name).available_versions()
    except NotFound:
        available = []
    return _readiness(version in available if version is not None else bool(available))


def _readiness(ready: bool) -> RestResponse:
    """Triton's convention: 200 when ready, 400 when not; the body says it too."""
    return RestResponse(b'{"ready":true}' if ready else b'{"ready":false}', status=200 if ready else 400)


async def _infer(
    service: ModelService,
    name: str,
    version: int | None,
    headers: dict[bytes, bytes],
    body: bytes,
    timeout: float | None,
) -> RestResponse:
    header = headers.get(b"inference-header-content-length")
    if header is not None and not header.isdigit():
        raise InvalidArgument(
            f"Inference-Header-Content-Length must be a number, got {header.decode(errors='replace')!r}"
        )
    request = v2_codec.decode_infer_request(body, int(header) if header is not None else None)
    signature_name = request.parameters.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature_name, str):
        raise InvalidArgument(f"parameter 'signature_name' must be a string, got {signature_name!r}")
    with service.borrow(name, version) as served:
        signature = served.model.signature(signature_name)
        inputs = v2_codec.check_against_signature(request.inputs, request.input_datatypes, signature)
        outputs = await service.run(served, signature.name, inputs, timeout)
        payload, json_length = v2_codec.encode_infer_response(
            name, str(served.version), request.id, outputs, request.outputs, request.binary_output_default
        )
    extra = [] if json_length is None else [(b"inference-header-content-length", str(json_length).encode())]
    content_type = b"application/octet-stream" if json_length is not None else b"application/json"
    return RestResponse(payload, version=served.version, headers=tuple(extra), content_type=content_type)
