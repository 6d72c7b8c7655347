"""The one table between our error codes and the wire: HTTP statuses (TF Serving's table) and gRPC codes,
and the way back for our own clients (the batch and stream clients that call a server).

Every front door answers errors through :func:`http_status_of` or :func:`grpc_status`; nothing else in the
code base writes an error status. REST error answers also carry :data:`ERROR_CODE_HEADER` with the code's
name, because the HTTP table is not one-to-one (400 is INVALID_ARGUMENT, FAILED_PRECONDITION and
OUT_OF_RANGE); :func:`code_of_http` reads it back, falling back to the table's inverse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelserve.errors import Code, RequestTooLarge, ServingError

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
PAYLOAD_TOO_LARGE = 413
ERROR_CODE_HEADER = b"x-error-code"

# HTTP status -> code for answers without ERROR_CODE_HEADER (other servers, proxies).
_CODE_OF_HTTP: dict[int, Code] = {
    400: Code.INVALID_ARGUMENT,
    401: Code.UNAUTHENTICATED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    408: Code.DEADLINE_EXCEEDED,
    409: Code.ABORTED,
    412: Code.FAILED_PRECONDITION,
    413: Code.RESOURCE_EXHAUSTED,
    429: Code.RESOURCE_EXHAUSTED,
    499: Code.CANCELLED,
    500: Code.INTERNAL,
    501: Code.UNIMPLEMENTED,
    502: Code.UNAVAILABLE,
    503: Code.UNAVAILABLE,
    504: Code.DEADLINE_EXCEEDED,
}


def http_status(code: Code) -> int:
    return HTTP_STATUS.get(code, 500)


def http_status_of(exc: BaseException) -> int:
    """The HTTP status for any exception a REST door meets: 413 for a body over the limit, the table for a
    :class:`ServingError`, 500 (INTERNAL) for anything else."""
    if isinstance(exc, RequestTooLarge):
        return PAYLOAD_TOO_LARGE
    if isinstance(exc, ServingError):
        return http_status(exc.code)
    return http_status(Code.INTERNAL)


def code_of(exc: BaseException) -> Code:
    """The code a door records and answers for ``exc``: its own, or INTERNAL for a non-ServingError."""
    return exc.code if isinstance(exc, ServingError) else Code.INTERNAL


def code_of_http(status: int, code_header: bytes | str | None = None) -> Code:
    """What a REST error answer means: the code named by :data:`ERROR_CODE_HEADER` when present, else the
    inverse of the table (unknown 5xx: INTERNAL; unknown 4xx: INVALID_ARGUMENT)."""
    if code_header:
        name = code_header.decode("ascii", "replace") if isinstance(code_header, bytes) else code_header
        if name in Code.__members__:
            return Code[name]
    if status in _CODE_OF_HTTP:
        return _CODE_OF_HTTP[status]
    return Code.INTERNAL if status >= 500 else Code.INVALID_ARGUMENT


def grpc_status(code: Code) -> grpc.StatusCode:
    """Our codes are gRPC's canonical codes, so the mapping is by number."""
    import grpc

    for status in grpc.StatusCode:
        if status.value[0] == int(code):
            return status
    return grpc.StatusCode.UNKNOWN


def code_of_grpc(status: grpc.StatusCode) -> Code:
    """A gRPC status code as ours (by number)."""
    try:
        return Code(status.value[0])
    except ValueError:
        return Code.UNKNOWN
