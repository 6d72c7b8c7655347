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
from modelserve.errors import InvalidArgument, NotFound, Unimplemented
from modelserve.metrics.record import note
from modelserve.protocols import recorded
from modelserve.protocols.http import RestResponse
from modelserve.protocols.v2 import envelope, json_tensors, metadata, model_config
from modelserve.protocols.v2.metadata import EXTENSIONS
from modelserve.protocols.v2.shared_memory import SharedMemoryRegions
from modelserve.protocols.v2.statistics import statistics_document
from modelserve.serving.service import ModelService
from modelserve.types import DEFAULT_SIGNATURE, InferRequest, InputRules, ModelRef

_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(/ready|/infer|/config|/stats)?")
_REPOSITORY = re.compile(r"/v2/repository/models/([^/]+)/(load|unload)")


async def handle(
    service: ModelService,
    method: str,
    path: str,
    headers: dict[bytes, bytes],
    body: bytes,
    deadline: float | None = None,
    routing_key: str | None = None,
    regions: SharedMemoryRegions | None = None,
) -> RestResponse:
    """Serve one ``/v2...`` request; ``deadline`` (``time.monotonic()``) bounds the model call; ``regions``
    are the server's shared-memory regions (``None``: the extension is off)."""
    if path == "/v2" and method == "GET":
        auth = "api_keys" if service.config.api_keys_file is not None else "off"
        return RestResponse(metadata.server_metadata("modelserve", __version__, list(EXTENSIONS), auth))
    if path in ("/v2/health/live", "/v2/health/ready") and method == "GET":
        ready = path.endswith("live") or service.ready()
        return RestResponse(
            b'{"live":true}' if path.endswith("live") else b'{"ready":%s}' % (b"true" if ready else b"false"),
            status=200 if ready else 400,
        )
    if path.startswith(("/v2/systemsharedmemory", "/v2/cudasharedmemory")):
        return _shared_memory(regions, method, path, body)
    if path == "/v2/models/stats" and method == "GET":
        return RestResponse(metadata.json_bytes(statistics_document(service)))
    if path == "/v2/repository/index" and method == "POST":
        return RestResponse(metadata.json_bytes(service.repository_index()))
    match = _REPOSITORY.fullmatch(path)
    if match and method == "POST":
        name, action = unquote(match.group(1)), match.group(2)
        loop = asyncio.get_running_loop()
        if action == "load":
            parameters = envelope.parse_object(body, "load request").get("parameters") or {}
            if not isinstance(parameters, dict):
                raise InvalidArgument(f"failed to load '{name}': 'parameters' must be a JSON object")
            await loop.run_in_executor(None, model_config.load_model, service, name, parameters)
        else:
            await loop.run_in_executor(None, service.unload_model, name)
        return RestResponse(b"")
    match = _MODEL.fullmatch(path)
    if match:
        name, version_text, verb = unquote(match.group(1)), match.group(2), match.group(3)
        version = int(version_text) if version_text else None
        note(api=(verb or "/metadata").lstrip("/"), model=name)
        if verb is None and method == "GET":
            return _metadata(service, name, version)
        if verb == "/config" and method == "GET":
            return RestResponse(metadata.json_bytes(model_config.config_document(service, name, version)))
        if verb == "/stats" and method == "GET":
            return RestResponse(metadata.json_bytes(statistics_document(service, name, version)))
        if verb == "/ready" and method == "GET":
            return _ready(service, name, version)
        if verb == "/infer" and method == "POST":
            return await _infer(service, ModelRef(name, version), headers, body, deadline, routing_key, regions)
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
    regions: SharedMemoryRegions | None,
) -> RestResponse:
    header = headers.get(b"inference-header-content-length")
    if header is not None and not header.isdigit():
        raise InvalidArgument(
            f"Inference-Header-Content-Length must be a number, got {header.decode(errors='replace')!r}"
        )
    decoded = envelope.decode_infer_request(body, int(header) if header is not None else None, regions)
    signature_name = decoded.parameters.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(signature_name, str):
        raise InvalidArgument(f"parameter 'signature_name' must be a string, got {signature_name!r}")
    request = InferRequest(
        ref, decoded.inputs, signature_name, outputs=tuple(o.name for o in decoded.outputs), routing_key=routing_key,
        deadline=deadline, request_id=decoded.id, parameters=decoded.parameters, rules=InputRules.V2, api="infer",
    )  # fmt: skip
    response = await recorded.infer(service, request)
    in_shared_memory = frozenset(_write_shared_memory(regions, decoded.outputs, response.outputs))
    payload, json_length = json_tensors.encode_infer_response(
        ref.name, str(response.version), decoded.id, response.outputs, decoded.outputs,
        decoded.binary_output_default, in_shared_memory,
    )  # fmt: skip
    extra = [] if json_length is None else [(b"inference-header-content-length", str(json_length).encode())]
    content_type = b"application/octet-stream" if json_length is not None else b"application/json"
    return RestResponse(payload, version=response.version, headers=tuple(extra), content_type=content_type)


def _write_shared_memory(
    regions: SharedMemoryRegions | None, requested: list[envelope.RequestedOutput], outputs: dict
) -> list[str]:
    """Write the outputs asked for in shared memory to their regions; their names."""
    written = []
    for output in requested:
        if output.shm is not None and output.name in outputs:
            if regions is None:
                raise Unimplemented(f"output '{output.name}': shared-memory tensors are not served here")
            regions.write(output.name, outputs[output.name], output.shm)
            written.append(output.name)
    return written


_SHM_URL = re.compile(r"/v2/(system|cuda)sharedmemory(?:/region/([^/]+))?/(status|register|unregister)")


def _shared_memory(regions: SharedMemoryRegions | None, method: str, path: str, body: bytes) -> RestResponse:
    """The system shared-memory extension's REST calls; CUDA ones list no regions and unregister nothing."""
    match = _SHM_URL.fullmatch(path)
    if match is None:
        raise NotFound(f"unknown V2 endpoint: {method} {path}")
    kind, region, action = match.group(1), unquote(match.group(2) or ""), match.group(3)
    if (action == "status") != (method == "GET") or method not in ("GET", "POST"):
        raise NotFound(f"unknown V2 endpoint: {method} {path}")
    if kind == "cuda":
        if action == "register":
            raise Unimplemented(f"failed to register CUDA shared memory region: '{region}', GPUs not supported")
        if action == "status" and region:
            raise NotFound(f"Unable to find cuda shared memory region: '{region}'")
        return RestResponse(b"[]" if action == "status" else b"")
    if regions is None:
        raise Unimplemented("the system shared memory extension is off on this server")
    if action == "status":
        return RestResponse(metadata.json_bytes(regions.status(region)))
    if action == "unregister":
        regions.unregister(region)
        return RestResponse(b"")
    request = envelope.parse_object(body, "shared memory register request")
    for field in ("key", "byte_size"):
        if field not in request:
            raise InvalidArgument(f"Shared memory register request has no '{field}' field")
    regions.register(region, request["key"], request.get("offset", 0), request["byte_size"])
    return RestResponse(b"")
