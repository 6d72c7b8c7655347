"""The stream workers' shutdown drain: wait a bounded time for the records in flight, cancel the rest."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

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
