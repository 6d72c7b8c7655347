"""What both REST doors (:mod:`modelserve.protocols.tfs.rest`, :mod:`modelserve.protocols.v2.rest`) answer.

:class:`RestResponse` is a handler's answer; :func:`error_body` is the ``{"error": "..."}`` body the app writes
for a :class:`~modelserve.errors.ServingError` raised by either door (TF Serving's envelope, which V2 shares).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = ["RestResponse", "error_body"]


@dataclass(frozen=True)
class RestResponse:
    """What a REST handler answers; the app adds Content-Length, CORS and ``X-Model-Version``."""

    body: bytes
    status: int = 200
    version: int | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()
    content_type: bytes = b"application/json"


def error_body(message: str) -> bytes:
    """``{"error": message}``, as TF Serving writes it (Python's ``json``: spaces after separators, ASCII only)."""
    return json.dumps({"error": message}).encode()
