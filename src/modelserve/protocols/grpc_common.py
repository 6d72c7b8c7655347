"""What every gRPC API of ours shares: error and metrics handling per call, and handler registration
without generated stubs (our messages live in a private descriptor pool, see :mod:`modelserve.protocols.pb`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from modelserve.errors import ServingError
from modelserve.metrics.record import CURRENT, RequestRecord
from modelserve.protocols.status import grpc_status

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


def aborting(handler: Handler) -> Handler:
    """Turn ServingError into the gRPC status of its code, with its message; record the request's metrics."""

    @functools.wraps(handler)
    async def wrapped(api: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        record = RequestRecord(protocol=api.protocol, api=handler.__name__)
        traffic = api.service.traffic
        if traffic.policies:
            for key, value in context.invocation_metadata() or ():
                if key == traffic.routing_header:
                    record.routing_key = value if isinstance(value, str) else value.decode("latin-1")
                    break
        token = CURRENT.set(record)
        started = time.perf_counter()
        status = "OK"
        try:
            return await handler(api, request, context)
        except ServingError as exc:
            status = exc.code.name
            await context.abort(grpc_status(exc.code), truncate(exc.message))
        finally:
            CURRENT.reset(token)
            api.service.metrics.observe_request(record, status, time.perf_counter() - started)

    return wrapped


MAX_ERROR_CHARS = 1024


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
