"""The REST front door: a small ASGI application over :class:`ModelService`.

Routes: ``(?i)/v1/...`` -> TF Serving's API (:mod:`modelserve.protocols.tfs.rest`); ``/v2...`` -> the Open
Inference Protocol (:mod:`modelserve.protocols.v2.rest`); ``GET /metrics`` and TF Serving's
``GET /monitoring/prometheus/metrics`` -> Prometheus text; ``GET /healthz`` (the process is up);
``GET /readyz`` (every configured model has an AVAILABLE version); ``GET /openapi.json``: the OpenAPI 3.1
document of these routes (``modelserve/protocols/openapi.json``, read once at import; a "read" kind for
access control); TF.js files (:mod:`modelserve.server.tfjs_files`):
``GET /v1/models/NAME/.../tfjs/FILE`` and ``GET /ui/tfjs-runtime/FILE``; anything else -> 404 with an HTML body,
as TF Serving's HTTP server answers. Protection: request bodies over
``max_request_bytes`` get 413 (checked against Content-Length before reading, and while reading);
``Content-Encoding: gzip`` bodies are inflated up to the same limit. Every response that served a model
carries ``X-Model-Version``.

Access (:mod:`modelserve.server.access_control`): with API keys on, every request but the probes and CORS
preflights is authenticated and its kind checked before its body is read (401 with ``WWW-Authenticate:
Bearer``, 403, or 429 with ``Retry-After``, in TF Serving's envelope), then served as its caller.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any, Protocol

from modelserve.access.audit import AuditLog
from modelserve.access.authenticator import RateLimited
from modelserve.access.scopes import PRINCIPAL, Identity, Kind
from modelserve.config import ServerConfig
from modelserve.errors import Code, InvalidArgument, RequestTooLarge, ServingError, Unauthenticated
from modelserve.metrics.collectors import CONTENT_TYPE
from modelserve.metrics.record import CURRENT, RequestRecord
from modelserve.monitoring.request_log import REQUEST_ID, request_id
from modelserve.protocols.http import error_body
from modelserve.protocols.status import ERROR_CODE_HEADER, code_of, http_status, http_status_of
from modelserve.protocols.tfs import rest as tfs_rest
from modelserve.protocols.v2 import rest as v2_rest
from modelserve.protocols.v2.shared_memory import SharedMemoryRegions
from modelserve.server import admin, tfjs_files
from modelserve.server.access_control import CLIENT_ADDRESS, AccessControl, rest_kind
from modelserve.serving.service import ModelService

log = logging.getLogger(__name__)

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_V1 = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL)
_V2 = re.compile(r"/v2(?:/.*)?", re.DOTALL)
_JSON = (b"content-type", b"application/json")
_NOT_FOUND_HTML = b"<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>"
_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, GET"),
    (b"access-control-allow-headers", b"Content-Type"),
]
_ORIGIN = re.compile(rb"https?://.*")
_OPENAPI_PATH = "/openapi.json"
_OPENAPI = files("modelserve.protocols").joinpath("openapi.json").read_bytes()  # served as is


class PageApp(Protocol):
    """The web page: an ASGI app the REST door hands ``/`` and ``/ui...`` to (lifespan too), closed at
    shutdown."""

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None: ...

    def close(self) -> None: ...


class RestApp:
    def __init__(
        self,
        service: ModelService,
        config: ServerConfig,
        regions: SharedMemoryRegions | None = None,
        access: AccessControl | None = None,
        page: PageApp | None = None,
        exposition: Callable[[], bytes] | None = None,
    ) -> None:
        """``page``: the web page (``--ui``), served under ``/ui`` with ``/`` leading to it. ``exposition``:
        what a metrics scrape answers, made off the loop (``--workers``: every worker's, merged); without
        it, this service's own metrics."""
        self.service = service
        self.page = page
        self.config = config
        self.regions = regions
        self.access = access if access is not None else AccessControl(None, AuditLog())
        self._exposition = exposition
        self._timeout = config.rest_api_timeout_ms / 1000 if config.rest_api_timeout_ms > 0 else None
        self._extra_headers = _CORS if config.enable_cors else []
        self._metrics_paths = {"/metrics", *([config.monitoring_path] if config.monitoring_path else [])}
        self.tfjs = tfjs_files.TfjsFiles(service, tfjs_files.runtime_dir(), cors=not config.enable_cors)

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if self.page is not None:
                await self.page(scope, receive, send)
            else:
                await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        token = REQUEST_ID.set(request_id(_header(scope, b"x-request-id").decode("latin-1")))
        try:
            await self._http(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """One HTTP request; every answer carries its ``x-request-id`` (the caller's, else a new one)."""
        method: str = scope["method"]
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        identity = None
        if self.access.enabled:
            try:
                identity = self._admit(scope, method, path)
            except ServingError as exc:
                await self._send_error(send, exc)
                return
        if path in self._metrics_paths and method == "GET":
            if self._exposition is None:
                body = self.service.metrics.exposition()
            else:
                body = await asyncio.to_thread(self._exposition)
            await self._send(send, 200, body, content_type=CONTENT_TYPE.encode())
            return
        if path in ("/healthz", "/readyz") and method == "GET":
            ready = path == "/healthz" or self.service.ready()
            await self._send(send, 200 if ready else 503, b'{"status": "%s"}' % (b"ok" if ready else b"not ready"))
            return
        if method == "GET" and path == _OPENAPI_PATH:
            await self._send(send, 200, _OPENAPI)
            return
        if admin.is_admin_path(path):
            try:
                body = await self._read_body(scope, receive)
            except ServingError as exc:
                await self._send_error(send, exc)
                return
            token = None if self.access.enabled else self.config.admin_token  # keys on: the token is a key
            status, answer = await admin.handle(self.service, token, method, path, dict(scope["headers"]), body)
            if method not in ("GET", "HEAD", "OPTIONS"):
                self._audit_admin(scope, identity, method, path, status)
            await self._send(send, status, answer)
            return
        if self.tfjs.handles(method, path):
            try:
                found = await asyncio.to_thread(self.tfjs.answer, path)
            except ServingError as exc:
                await self._send_error(send, exc)
                return
            await self._send(send, 200, found.body, content_type=found.content_type, headers=found.headers)
            return
        is_v2 = bool(_V2.fullmatch(path))
        if not is_v2 and not _V1.fullmatch(path):
            if self.page is not None and (path in ("/", "/ui") or path.startswith("/ui/")):
                await self._to_page(scope, receive, send, path)
                return
            await self._send(send, 404, _NOT_FOUND_HTML, content_type=b"text/html")
            return
        if method == "OPTIONS" and self.config.enable_cors:
            origin = dict(scope["headers"]).get(b"origin", b"")
            await self._send(send, 200 if _ORIGIN.fullmatch(origin) else http_status(Code.INVALID_ARGUMENT), b"")
            return
        record = RequestRecord(protocol="v2_rest" if is_v2 else "rest")
        routing_key = self._routing_key(scope["headers"])
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        token = CURRENT.set(record)
        caller = PRINCIPAL.set(identity) if identity is not None else None
        started = time.perf_counter()
        status, failure = "OK", ""
        try:
            body = await self._read_body(scope, receive)
            if is_v2:
                headers = dict(scope["headers"])
                response = await v2_rest.handle(
                    self.service, method, path, headers, body, deadline, routing_key, self.regions
                )
            else:
                response = await tfs_rest.handle(
                    self.service, method, path, body, deadline, routing_key,
                    self.config.enable_signature_method_name_check, _header(scope, b"accept"),
                )  # fmt: skip
        except Exception as exc:  # a bug too gets an answer (INTERNAL), never a dropped connection
            status = code_of(exc).name
            failure = exc.message if isinstance(exc, ServingError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, ServingError):
                log.exception("unhandled error serving %s %s", method, path)
            elif identity is not None and exc.code is Code.PERMISSION_DENIED:  # the core's model check
                self.access.denied(identity.name, _client(scope), "rest", f"{method} {path}", exc.message)
            await self._send_error(send, exc)
            return
        finally:
            CURRENT.reset(token)
            if caller is not None:
                PRINCIPAL.reset(caller)
            seconds = time.perf_counter() - started
            self.service.metrics.observe_request(record, status, seconds)
            if status != "OK" and self.service.request_log is not None:
                self.service.request_log.record_refusal(record.model, record.api, record.protocol, status,
                                                        failure, seconds)  # fmt: skip
            if is_v2 and method == "POST" and path.startswith("/v2/repository/models/"):
                self._audit_admin(scope, identity, method, path, http_status(Code[status]))
        headers = list(response.headers)
        if response.version is not None:
            headers.append((b"x-model-version", str(response.version).encode()))
        await self._send(send, response.status, response.body, content_type=response.content_type, headers=headers)

    async def _to_page(self, scope: dict[str, Any], receive: Receive, send: Send, path: str) -> None:
        """``/`` and ``/ui`` lead to ``/ui/``; the rest of ``/ui/...`` is the page's (it signs people in)."""
        if path in ("/", "/ui"):
            await self._send(send, 307, b"", content_type=b"text/plain", headers=[(b"location", b"/ui/")])
            return
        token = CLIENT_ADDRESS.set(_client(scope))
        try:
            await self.page(scope, receive, send)  # type: ignore[misc]
        finally:
            CLIENT_ADDRESS.reset(token)

    def _admit(self, scope: dict[str, Any], method: str, path: str) -> Identity | None:
        """The caller, checked for this request's kind (see :meth:`AccessControl.admit`)."""
        kind = rest_kind(method, path, self._metrics_paths)
        if kind is Kind.OPEN:
            return None
        authorization = _header(scope, b"authorization").decode("latin-1")
        tls = scope.get("extensions", {}).get("tls") or {}
        return self.access.admit(kind, authorization, tls.get("client_cn"), _client(scope), "rest", f"{method} {path}")

    def _audit_admin(
        self, scope: dict[str, Any], identity: Identity | None, method: str, path: str, status: int
    ) -> None:
        who = identity.name if identity is not None else "anonymous"
        outcome = "ok" if status < 400 else f"failed ({status})"
        self.access.admin_action(who, _client(scope), "rest", f"{method} {path}", "", outcome)

    def _routing_key(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The traffic policy's sticky key (``X-Routing-Key`` unless configured), when policies exist."""
        traffic = self.service.traffic
        if not traffic.policies:
            return None
        routing_header = traffic.routing_header.encode("latin-1")
        for name, value in headers:
            if name == routing_header:
                return value.decode("latin-1")
        return None

    async def _send_error(self, send: Send, exc: BaseException) -> None:
        """TF Serving's error envelope; the status and the code's name from the one table."""
        message = exc.message if isinstance(exc, ServingError) else f"Internal error: {type(exc).__name__}: {exc}"
        headers = [(ERROR_CODE_HEADER, code_of(exc).name.encode())]
        if isinstance(exc, Unauthenticated):
            headers.append((b"www-authenticate", b'Bearer realm="modelserve"'))
        elif isinstance(exc, RateLimited):
            headers.append((b"retry-after", str(exc.retry_after).encode()))
        await self._send(send, http_status_of(exc), error_body(message), headers=headers)

    async def _read_body(self, scope: dict[str, Any], receive: Receive) -> bytes:
        limit = self.config.max_request_bytes
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestTooLarge(f"request body of {int(declared)} bytes is over the limit of {limit} bytes")
        chunks, size = [], 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestTooLarge(f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if headers.get(b"content-encoding", b"").lower() == b"gzip":
            body = _gunzip(body, limit)
        return body

    async def _send(
        self,
        send: Send,
        status: int,
        body: bytes,
        content_type: bytes = _JSON[1],
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        all_headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            *self._extra_headers,
            *(headers or []),
            (b"x-request-id", REQUEST_ID.get().encode("latin-1")),
        ]
        await send({"type": "http.response.start", "status": status, "headers": all_headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def _client(scope: dict[str, Any]) -> str:
    """The client's address (no port), as rate limits and the audit log key it."""
    client = scope.get("client")
    return str(client[0]) if client else ""


def _header(scope: dict[str, Any], name: bytes) -> bytes:
    """One request header's value (b"" when absent); ASGI header names are lower case."""
    return next((value for key, value in scope["headers"] if key == name), b"")


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidArgument(f"cannot decompress gzip body: {exc}") from None
    if len(out) > limit:
        raise RequestTooLarge(f"decompressed request body is over the limit of {limit} bytes")
    if not inflater.eof:
        raise InvalidArgument("cannot decompress gzip body: it ends before the end of the gzip stream")
    return out
