"""Turn what a remote server or the network says into our error vocabulary, and say what is worth retrying.

Every remote failure becomes a :class:`~modelserve.errors.ServingError` whose ``code`` is the server's status
(HTTP statuses mapped back through TF Serving's table, gRPC codes by number) and whose message starts with
the target's URL. ``retry_after`` carries a server's ``Retry-After`` header (seconds) when it sent one.
"""

from __future__ import annotations

from modelserve.errors import (
    Code,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServingError,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)

#: Codes that mean "not now": overload (429/RESOURCE_EXHAUSTED), unavailability (503, connection refused or
#: reset: a restarting or killed server) and timeouts (504/DEADLINE_EXCEEDED, no answer in time).
RETRYABLE_CODES = frozenset({Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.DEADLINE_EXCEEDED})

_BY_CODE: dict[Code, type[ServingError]] = {
    Code.INVALID_ARGUMENT: InvalidArgument,
    Code.NOT_FOUND: NotFound,
    Code.FAILED_PRECONDITION: FailedPrecondition,
    Code.UNAVAILABLE: Unavailable,
    Code.RESOURCE_EXHAUSTED: ResourceExhausted,
    Code.UNIMPLEMENTED: Unimplemented,
    Code.INTERNAL: Internal,
    Code.DEADLINE_EXCEEDED: DeadlineExceeded,
    Code.UNAUTHENTICATED: Unauthenticated,
    Code.PERMISSION_DENIED: PermissionDenied,
}

_HTTP: dict[int, Code] = {
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


def error(code: Code, message: str, retry_after: float | None = None) -> ServingError:
    """A ServingError of the class for ``code`` (a plain ServingError carrying the code otherwise)."""
    cls = _BY_CODE.get(code)
    exc = cls(message) if cls is not None else ServingError(message)
    if cls is None:
        exc.code = code
    exc.retry_after = retry_after
    return exc


def http_code(status: int) -> Code:
    if status in _HTTP:
        return _HTTP[status]
    return Code.INTERNAL if status >= 500 else Code.INVALID_ARGUMENT


def is_retryable(exc: BaseException) -> bool:
    """True for remote failures that may pass on a later attempt (see :data:`RETRYABLE_CODES`)."""
    return isinstance(exc, ServingError) and exc.code in RETRYABLE_CODES


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After: 2`` -> 2.0; dates and garbage -> None (the client's own backoff applies)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
