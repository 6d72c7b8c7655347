"""What every gRPC API of ours shares: error and metrics handling per call, and handler registration
without generated stubs (our messages live in a private descriptor pool, see :mod:`modelserve.protocols.pb`).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from modelserve.errors import Code, ServingError
from modelserve.metrics.record import CURRENT, RequestRecord
from modelserve.monitoring.request_log import REQUEST_ID, REQUEST_ID_HEADER, request_id
from modelserve.protocols.status import grpc_status

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
log = logging.getLogger(__name__)


def routing_key_of(context: grpc.aio.ServicerContext, service: Any) -> str | None:
    """The traffic policy's sticky key from the call's metadata (``x-routing-key`` unless configured)."""
    traffic = service.traffic
    if not traffic.policies:
        return None
    for key, value in context.invocation_metadata() or ():
        if key == traffic.routing_header:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


def deadline_of(context: grpc.aio.ServicerContext, timeout: float | None) -> float | None:
    """The model call's ``time.monotonic()`` deadline: the server's timeout or the client's deadline,
    whichever comes first (None: neither)."""
    remaining = context.time_remaining()
    if timeout is not None and (remaining is None or timeout < remaining):
        remaining = timeout
    return None if remaining is None else time.monotonic() + remaining


def aborting(handler: Handler) -> Handler:
    """Turn ServingError into the gRPC status of its code, with its message, and any other exception (a bug)
    into INTERNAL naming it; record the request's metrics with the same status. Every answer carries the
    request's id in its trailing metadata (``x-request-id``: the caller's, else a new one)."""

    @functools.wraps(handler)
    async def wrapped(api: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        record = RequestRecord(protocol=api.protocol, api=handler.__name__)
        token = CURRENT.set(record)
        rid = request_id(_metadata_value(context, REQUEST_ID_HEADER))
        id_token = REQUEST_ID.set(rid)
        trailer = ((REQUEST_ID_HEADER, rid),)
        context.set_trailing_metadata(trailer)
        started = time.perf_counter()
        status, failure = "OK", ""
        try:
            return await handler(api, request, context)
        except ServingError as exc:
            status, failure = exc.code.name, exc.message
            await context.abort(grpc_status(exc.code), truncate(exc.message), trailer)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # never a bare UNKNOWN for a bug: INTERNAL, on the wire and in the metrics
            status, failure = Code.INTERNAL.name, f"{type(exc).__name__}: {exc}"
            log.exception("unhandled error in %s", handler.__name__)
            message = truncate(f"Internal error: {type(exc).__name__}: {exc}")
            await context.abort(grpc_status(Code.INTERNAL), message, trailer)
        finally:
            CURRENT.reset(token)
            seconds = time.perf_counter() - started
            api.service.metrics.observe_request(record, status, seconds)
            request_log = api.service.request_log
            if status != "OK" and request_log is not None:
                request_log.record_refusal(record.model, record.api, record.protocol, status, failure, seconds)
            REQUEST_ID.reset(id_token)

    return wrapped


MAX_ERROR_CHARS = 1024


def _metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value if isinstance(value, str) else None
    return None


def truncate(message: str) -> str:
    """TF Serving cuts gRPC error messages at 1024 characters (gRPC metadata has a size limit)."""
    return message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS] + "...TRUNCATED"


def unary_service(name: str, methods: dict[str, tuple[Handler, Any]]) -> grpc.GenericRpcHandler:
    """Register ``{method: (handler, request class)}`` as the unary RPCs of service ``name``."""
    return grpc.method_handlers_generic_handler(
        name,
        {
            method: grpc.unary_unary_rpc_method_handler(
                handler, request_deserializer=request_class.FromString, response_serializer=_serialize
            )
            for method, (handler, request_class) in methods.items()
        },
    )


def _serialize(message: Any) -> bytes:
    return message.SerializeToString()
