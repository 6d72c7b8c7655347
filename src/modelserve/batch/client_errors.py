"""Turn what a remote server or the network says into our error vocabulary, and say what is worth retrying.

Every remote failure becomes a :class:`~modelserve.errors.ServingError` whose ``code`` is the server's status
(:mod:`modelserve.protocols.status` reads HTTP answers and gRPC codes back) and whose message starts with
the target's URL. ``retry_after`` carries a server's ``Retry-After`` header (seconds) when it sent one.
"""

from __future__ import annotations

from modelserve.errors import Code, ServingError, error_of_code
from modelserve.protocols.status import code_of_http

#: Codes that mean "not now": overload (429/RESOURCE_EXHAUSTED), unavailability (503, connection refused or
#: reset: a restarting or killed server) and timeouts (504/DEADLINE_EXCEEDED, no answer in time).
RETRYABLE_CODES = frozenset({Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.DEADLINE_EXCEEDED})


def error(code: Code, message: str, retry_after: float | None = None) -> ServingError:
    """A ServingError of the class for ``code``, with the server's ``Retry-After`` (seconds) if any."""
    exc = error_of_code(code, message)
    exc.retry_after = retry_after
    return exc


def http_code(status: int, code_header: str | None = None) -> Code:
    """A REST answer's code: our servers name it in a header; otherwise TF Serving's table read back."""
    return code_of_http(status, code_header)


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
