"""Who a request was for, noted along the way so the front door can label its metrics.

A front door creates a :class:`RequestRecord` and makes it current for the request (a ``ContextVar``, so
each asyncio task has its own), then fills in what it learns (:func:`note`: the model it asked for, and the
version, signature and route that answered, from the ``InferResponse``). The serving core never reads or
writes it. Imports nothing of ours.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class RequestRecord:
    protocol: str
    api: str = ""
    model: str = ""
    version: str = ""
    signature: str = ""
    route: str = ""  # the traffic route (label or version) that picked the version, if routed


CURRENT: ContextVar[RequestRecord | None] = ContextVar("modelserve_request", default=None)


def note(**fields: str) -> None:
    """Fill fields of the current request's record; a no-op outside a request (in-memory use, tests)."""
    record = CURRENT.get()
    if record is not None:
        for name, value in fields.items():
            setattr(record, name, value)
