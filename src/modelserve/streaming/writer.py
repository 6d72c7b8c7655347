"""Acknowledge input entries and add their results or dead letters, atomically and in batches.

    writer = ResultWriter(redis_client, config, metrics)
    task = asyncio.create_task(writer.run())
    written = await writer.write(Write(entry_id, OUTPUT, fields, "ok"))   # False: another worker answered first

One Lua script per batch of ready writes (up to ``write_batch``): for each entry, ``XACK`` and, only when that
removed the entry from the group's pending list, ``XADD`` its result (or dead letter). So an acknowledgement
never happens without its result, and an entry answered by two workers (one froze, the other claimed its work)
gets one result. Redis errors are retried with backoff until they pass; the entries stay pending meanwhile.
Call everything on one event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from modelserve.streaming.config import WorkerConfig
from modelserve.streaming.metrics import StreamMetrics

log = logging.getLogger(__name__)

#: KEYS: input, output, dead-letter stream. ARGV: group, output MAXLEN (0: none), item count, then per item:
#: entry id, target (0: acknowledge only, 1: output, 2: dead letter), field count, fields (name, value, ...).
#: Returns, per item, 1 when it was acknowledged (and written) now, 0 when it was no longer pending.
WRITE_SCRIPT = """
local group, maxlen, items = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local acked, i = {}, 4
for item = 1, items do
  local id, target, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local ok = redis.call('XACK', KEYS[1], group, id)
  if ok == 1 and target > 0 then
    local args = {KEYS[target + 1]}
    if target == 1 and maxlen > 0 then
      args[#args + 1] = 'MAXLEN'; args[#args + 1] = '~'; args[#args + 1] = maxlen
    end
    args[#args + 1] = '*'
    for j = 1, n do args[#args + 1] = ARGV[i + 2 + j] end
    redis.call('XADD', unpack(args))
  end
  acked[item] = ok
  i = i + 3 + n
end
return acked
"""

ACK_ONLY, OUTPUT, DEAD_LETTER = 0, 1, 2


@dataclass
class Write:
    """What one input entry needs: acknowledgement, plus a result (OUTPUT) or dead letter (DEAD_LETTER)."""

    entry_id: bytes
    target: int
    fields: Mapping[str, bytes]
    outcome: str  # the messages metric's label if the write happens
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ResultWriter:
    def __init__(self, client: aioredis.Redis, config: WorkerConfig, metrics: StreamMetrics) -> None:
        self._client = client
        self._config = config
        self._metrics = metrics
        self._script = client.register_script(WRITE_SCRIPT)
        self._queue: asyncio.Queue[Write] = asyncio.Queue()

    async def write(self, write: Write) -> bool:
        """Queue ``write`` and wait for it: True when written now, False when the entry was no longer pending
        (another worker acknowledged it first). Raises what an unexpected failure raised."""
        self._queue.put_nowait(write)
        return await write.done

    async def run(self) -> None:
        """Write what is ready in one script call, until cancelled (after the last write was awaited)."""
        pause = 0.1
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._config.write_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            while True:
                try:
                    acked: list[Any] = await self._commit(batch)
                    break
                except RedisError as exc:
                    self._metrics.redis_errors.labels("write").inc()
                    log.warning("redis write failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, pause)
                    await asyncio.sleep(pause)
                    pause = min(5.0, pause * 2)
                except Exception as exc:  # a bug: fail these writes (their entries stay pending), keep writing
                    acked = [exc] * len(batch)
                    break
            pause = 0.1
            for write, ok in zip(batch, acked):
                if write.done.done():
                    continue
                if isinstance(ok, Exception):
                    write.done.set_exception(ok)
                else:
                    write.done.set_result(bool(ok))

    async def _commit(self, batch: list[Write]) -> list[Any]:
        c = self._config
        args: list[Any] = [c.group, c.output_maxlen, len(batch)]
        for write in batch:
            args += [write.entry_id, write.target, 2 * len(write.fields)]
            for name, value in write.fields.items():
                args += [name, value]
        return await self._script(keys=[c.stream, c.output_stream, c.dead_letter_stream], args=args)
