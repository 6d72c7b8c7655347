"""The one mapping from our error codes to HTTP statuses (TF Serving's table) and gRPC status codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelserve.errors import Code

if TYPE_CHECKING:
    import grpc

HTTP_STATUS: dict[Code, int] = {
    Code.OK: 200,
    Code.CANCELLED: 499,
    Code.UNKNOWN: 500,
    Code.INVALID_ARGUMENT: 400,
    Code.DEADLINE_EXCEEDED: 504,
    Code.NOT_FOUND: 404,
    Code.ALREADY_EXISTS: 409,
    Code.PERMISSION_DENIED: 403,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.FAILED_PRECONDITION: 400,
    Code.ABORTED: 409,
    Code.OUT_OF_RANGE: 400,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNAVAILABLE: 503,
    Code.DATA_LOSS: 500,
    Code.UNAUTHENTICATED: 401,
}


def http_status(code: Code) -> int:
    return HTTP_STATUS.get(code, 500)


def grpc_status(code: Code) -> grpc.StatusCode:
    """Our codes are gRPC's canonical codes, so the mapping is by number."""
    import grpc

    for status in grpc.StatusCode:
        if status.value[0] == int(code):
            return status
    return grpc.StatusCode.UNKNOWN
