"""The one error vocabulary of modelserve.

Every failure a caller can act on is raised as a :class:`ServingError` subclass carrying a :class:`Code`.
The codes are gRPC's canonical status codes (the same vocabulary TensorFlow Serving uses); only
``protocols/status.py`` (the server issue) maps them to HTTP statuses and gRPC codes. Nothing here knows a
wire format, and this module imports nothing of ours.

    try:
        model.predict({"x": [[1.0]]})
    except InvalidArgument as exc:
        print(exc.code.name, exc.message)
"""

from __future__ import annotations

import enum


class Code(enum.IntEnum):
    """Canonical status codes (numbers as in ``google.rpc.Code``)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ServingError(Exception):
    """Base class: a failure with a code and a message written for the person who sent the request."""

    code: Code = Code.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidArgument(ServingError):
    """The request is wrong: bad input names, dtypes, shapes, or a malformed payload."""

    code = Code.INVALID_ARGUMENT


class NotFound(ServingError):
    """A model, version, signature or file that does not exist."""

    code = Code.NOT_FOUND


class AlreadyExists(ServingError):
    """Something the request would create exists already (a shared-memory region of that name)."""

    code = Code.ALREADY_EXISTS


class FailedPrecondition(ServingError):
    """The model exists but cannot do this now (e.g. it loaded but fails at run time)."""

    code = Code.FAILED_PRECONDITION


class Unavailable(ServingError):
    """Temporarily unable to serve (loading, shutting down); retrying later may succeed."""

    code = Code.UNAVAILABLE


class ResourceExhausted(ServingError):
    """A limit was hit (queue full, too many requests, message too large)."""

    code = Code.RESOURCE_EXHAUSTED


class Unimplemented(ServingError):
    """The operation or dtype is not supported."""

    code = Code.UNIMPLEMENTED


class Internal(ServingError):
    """A bug or an unexpected framework failure; the message says what failed."""

    code = Code.INTERNAL


class DeadlineExceeded(ServingError):
    """The request took longer than its deadline."""

    code = Code.DEADLINE_EXCEEDED


class Unauthenticated(ServingError):
    """Credentials are missing or wrong."""

    code = Code.UNAUTHENTICATED


class PermissionDenied(ServingError):
    """The caller is known but not allowed to do this."""

    code = Code.PERMISSION_DENIED


class ModelLoadError(FailedPrecondition):
    """A model file or folder could not be loaded (corrupt, truncated, unsupported, missing runtime)."""


class SignatureNotFound(NotFound):
    """The model has no signature of this name; ``signature`` is the name asked for. Front doors that owe
    their clients another code or text (TF Serving's) translate it."""

    def __init__(self, message: str, signature: str) -> None:
        super().__init__(message)
        self.signature = signature


class RequestTooLarge(ResourceExhausted):
    """The request body is over the server's limit (HTTP 413 on REST doors)."""


_CLASS_OF_CODE: dict[Code, type[ServingError]] = {
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


def error_of_code(code: Code, message: str) -> ServingError:
    """A ServingError of the class for ``code`` (a plain ServingError carrying the code otherwise); what a
    client of ours raises for a remote failure."""
    cls = _CLASS_OF_CODE.get(code)
    if cls is not None:
        return cls(message)
    exc = ServingError(message)
    exc.code = code
    return exc
