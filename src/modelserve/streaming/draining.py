"""What both stream workers wait on: the shutdown drain (a bounded wait for the records in flight, the rest
cancelled), the first of several waits, and a sleep that a stop cuts short."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Collection
from typing import Any

log = logging.getLogger("modelserve.stream")


async def drain(tasks: Collection[asyncio.Task], timeout: float, noun: str, fate: str) -> bool:
    """Wait up to ``timeout`` seconds for ``tasks``; cancel those left (logging how many, with ``fate``: what
    becomes of their ``noun``). True when every task finished."""
    if not tasks:
        return True
    log.info("draining %d in-flight %s", len(tasks), noun)
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    if not pending:
        return True
    log.error("%d %s not finished after %g s; %s", len(pending), noun, timeout, fate)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return False


async def first_of(*waits: Awaitable[Any]) -> None:
    """Return when the first of ``waits`` finishes; the others are cancelled."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def sleep_unless_stopped(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True as soon as ``stop`` is set."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
