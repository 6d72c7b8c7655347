"""One consumer of a Redis Stream consumer group: read, predict in micro-batches, write, acknowledge.

    service = ModelService.local(model, source.name, source.version or 1, DispatchOptions(batching=...))
    worker = StreamWorker(config, service, source, metrics)
    drained = await worker.run(stop)      # returns after ``stop`` is set and in-flight entries are done

Delivery contract (at least once in, once out):

- An entry is acknowledged only in the same atomic step (one Lua script) that writes its result or dead letter,
  and that step writes only if the entry was still pending (``XACK`` returned 1). So a worker killed at any
  point loses nothing (its pending entries are taken over), and an entry processed twice (taken over from a
  worker that froze, then woke up) still gets one result; the second copy counts as ``duplicate``.
- Start-up first re-reads this consumer's own pending entries (a restart under the same ``--consumer``), then
  reads new ones. Every ``claim_interval_ms`` entries idle for ``claim_idle_ms`` in any consumer of the group
  (a dead or frozen worker) are claimed with ``XAUTOCLAIM``; meanwhile a heartbeat resets the idle time of this
  worker's own in-flight entries, so slow work is not taken from a live worker.
- Poison entries go to the dead-letter stream with the reason: undecodable payloads, predictions that fail when
  run alone, and entries delivered more than ``max_deliveries`` times (they crash or stall workers). A transient
  failure (Unavailable) leaves the entry pending, to be claimed and retried.
- Memory is bounded under any backlog: reads ask for at most the free room of ``max_in_flight`` entries, and
  claims too, so entries read and not acknowledged never exceed it.
- :meth:`StreamWorker.run` on ``stop``: stops reading (a blocked read returns within ``block_ms``; its entries are
  processed), finishes and acknowledges every in-flight entry within ``drain_timeout``, then removes this
  consumer from the group when it holds no pending entry.

Model calls go through :class:`~modelserve.streaming.predictor.Predictor` (the serving core's dynamic batcher
with its poison isolation, shared with the Kafka worker); a full batch queue is waited out for a while before
the entry is left pending.

Threading: everything runs on one event loop; model calls run on the service's model threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from modelserve.errors import Code, Unavailable
from modelserve.serving.service import ModelService
from modelserve.streaming.config import ModelSource, WorkerConfig
from modelserve.streaming.draining import drain, first_of, sleep_unless_stopped
from modelserve.streaming.messages import dead_letter_fields
from modelserve.streaming.metrics import StreamMetrics
from modelserve.streaming.predictor import Predictor
from modelserve.streaming.writer import ACK_ONLY, DEAD_LETTER, OUTPUT, ResultWriter, Write

log = logging.getLogger(__name__)


def connect(config: WorkerConfig) -> aioredis.Redis:
    """A client whose socket timeout outlasts a blocked read."""
    return aioredis.Redis.from_url(
        config.redis_url,
        protocol=2,
        socket_timeout=config.block_ms / 1000 + 10,
        socket_connect_timeout=5,
        health_check_interval=30,
    )


class StreamWorker:
    def __init__(
        self,
        config: WorkerConfig,
        service: ModelService,
        source: ModelSource,
        metrics: StreamMetrics,
        client: aioredis.Redis | None = None,
    ) -> None:
        self.config = config
        self._predictor = Predictor(service, source, config.signature, config.consumer)
        self._source = source
        self._metrics = metrics
        self._redis = client or connect(config)
        self._in_flight: dict[bytes, asyncio.Task] = {}
        self._touched: dict[bytes, float] = {}  # in-flight entry -> when its idle time was last reset
        self._reserved = 0  # room promised to a read or claim under way
        self._room = asyncio.Event()
        self._writer = ResultWriter(self._redis, config, metrics)

    # ---- the run ----

    async def run(self, stop: asyncio.Event) -> bool:
        """Consume until ``stop`` is set; True when every in-flight entry was finished within the drain time.

        Raises :class:`Unavailable` when Redis cannot be reached at start."""
        await self._ensure_group()
        c = self.config
        log.info(
            "consuming stream %s as %s/%s: results to %s, dead letters to %s (model %s version %s)",
            c.stream, c.group, c.consumer, c.output_stream, c.dead_letter_stream, self._source.name,
            self._source.version,
        )  # fmt: skip
        writer = asyncio.create_task(self._writer.run())
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        claimer = asyncio.create_task(self._claim_loop(stop))
        try:
            await self._read_loop(stop)
            await claimer
        finally:
            stop.set()
            drained = await self._drain()
            writer.cancel()
            heartbeat.cancel()
            await asyncio.gather(writer, heartbeat, claimer, return_exceptions=True)
        if drained:
            await self._leave_group()
        await self._redis.aclose()
        return drained

    async def _ensure_group(self) -> None:
        c = self.config
        try:
            await self._redis.xgroup_create(c.stream, c.group, id=c.start_id, mkstream=True)
            log.info("created consumer group %s on %s from id %s", c.group, c.stream, c.start_id)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise Unavailable(f"cannot create consumer group {c.group} on {c.stream}: {exc}") from None
        except RedisError as exc:
            raise Unavailable(f"cannot reach Redis at {c.redis_url}: {exc}") from None

    async def _drain(self) -> bool:
        fate = "they stay pending for another worker"
        return await drain(list(self._in_flight.values()), self.config.drain_timeout, "entries", fate)

    async def _leave_group(self) -> None:
        """Delete this consumer when it holds nothing, so finished workers do not pile up in the group."""
        c = self.config
        try:
            mine = await self._redis.xpending_range(c.stream, c.group, "-", "+", 1, consumername=c.consumer)
            if not mine:
                await self._redis.xgroup_delconsumer(c.stream, c.group, c.consumer)
        except RedisError as exc:
            log.warning("could not remove consumer %s from the group: %s", c.consumer, exc)

    # ---- reading and claiming ----

    async def _read_loop(self, stop: asyncio.Event) -> None:
        """Own pending entries first (cursor from 0), then new ones ('>'), always within the free room."""
        c = self.config
        cursor: bytes | None = b"0"
        pause = 0.1
        while True:
            count = await self._wait_for_room(stop)
            if not count:
                return
            self._reserved += count
            try:
                if cursor is not None:
                    entries = _entries(await self._redis.xreadgroup(c.group, c.consumer, {c.stream: cursor}, count))
                    if not entries:
                        cursor = None
                        continue
                    cursor = entries[-1][0]
                    log.info("resuming %d entries this consumer held before", len(entries))
                    await self._take_over(entries)
                else:
                    reply = await self._redis.xreadgroup(c.group, c.consumer, {c.stream: ">"}, count, c.block_ms)
                    for entry_id, fields in _entries(reply):
                        self._dispatch(entry_id, fields, 1)
                pause = 0.1
            except RedisError as exc:
                pause = await self._redis_failed("read", exc, pause, stop)
            finally:
                self._reserved -= count

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        """Every ``claim_interval_ms``: XAUTOCLAIM entries idle for ``claim_idle_ms`` (their worker is dead or
        stalled), within the free room."""
        c = self.config
        cursor, pause = b"0-0", 0.1
        while not await sleep_unless_stopped(stop, c.claim_interval_ms / 1000):
            try:
                while not stop.is_set():
                    count = min(c.read_count, self._free())
                    if count <= 0:
                        break
                    self._reserved += count
                    try:
                        reply = await self._redis.xautoclaim(
                            c.stream, c.group, c.consumer, c.claim_idle_ms, cursor, count=count
                        )
                        cursor, entries = reply[0], reply[1]
                        fresh = [(i, f) for i, f in entries if i not in self._in_flight]
                        if fresh:
                            log.info("claimed %d entries idle for %d ms or more", len(fresh), c.claim_idle_ms)
                            await self._take_over(fresh)
                    finally:
                        self._reserved -= count
                    if cursor in (b"0-0", "0-0"):
                        break
                pause = 0.1
            except RedisError as exc:
                pause = await self._redis_failed("claim", exc, pause, stop)

    async def _heartbeat_loop(self) -> None:
        """Every ``claim_interval_ms`` until cancelled: reset the idle time of in-flight entries older than that
        (``XCLAIM ... JUSTID`` to ourselves, which leaves delivery counts alone), so that live work, however
        slow, is never claimed by other workers. ``claim_interval_ms`` < ``claim_idle_ms`` / 2 keeps it so."""
        c = self.config
        interval = c.claim_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            stale = [entry_id for entry_id, since in self._touched.items() if now - since >= interval]
            if not stale:
                continue
            try:
                # Half an interval of idleness at least: an entry another worker claimed a moment ago (this one
                # froze) is left with it; our own stale ones have been idle a whole interval.
                half = c.claim_interval_ms // 2
                await self._redis.xclaim(c.stream, c.group, c.consumer, half, stale, justid=True)
                for entry_id in stale:
                    if entry_id in self._touched:
                        self._touched[entry_id] = now
            except RedisError as exc:
                self._metrics.redis_errors.labels("heartbeat").inc()
                log.warning("refreshing in-flight entries failed (%s: %s)", type(exc).__name__, exc)

    async def _take_over(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Dispatch entries delivered before (own pending, or claimed), with their delivery counts."""
        c = self.config
        ids = [entry_id for entry_id, _ in entries]
        pending = await self._redis.xpending_range(
            c.stream, c.group, min(ids, key=_id_key), max(ids, key=_id_key), len(ids) + c.max_in_flight,
            consumername=c.consumer,
        )  # fmt: skip
        counts = {p["message_id"]: p["times_delivered"] for p in pending}
        self._metrics.redelivered.inc(len(entries))
        for entry_id, fields in entries:
            self._dispatch(entry_id, fields, counts.get(entry_id, 1))

    async def _wait_for_room(self, stop: asyncio.Event) -> int:
        """How many entries the next read may ask for (at least 1), or 0 once ``stop`` is set."""
        while not stop.is_set():
            free = self._free()
            if free > 0:
                return min(self.config.read_count, free)
            self._room.clear()
            await first_of(self._room.wait(), stop.wait())
        return 0

    def _free(self) -> int:
        """Room for more entries: the in-flight limit less entries held and reads or claims under way."""
        return self.config.max_in_flight - len(self._in_flight) - self._reserved

    async def _redis_failed(self, operation: str, exc: RedisError, pause: float, stop: asyncio.Event) -> float:
        self._metrics.redis_errors.labels(operation).inc()
        if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
            log.warning("the consumer group or stream is gone; creating it again")
            try:
                await self._ensure_group()
            except Unavailable as again:
                log.warning("%s", again.message)
        else:
            log.warning("redis %s failed (%s: %s); retrying in %.1f s", operation, type(exc).__name__, exc, pause)
        await sleep_unless_stopped(stop, pause)
        return min(5.0, pause * 2)

    # ---- one entry ----

    def _dispatch(self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int) -> None:
        if entry_id in self._in_flight:
            return
        self._in_flight[entry_id] = asyncio.create_task(self._handle(entry_id, fields, deliveries))
        self._touched[entry_id] = time.monotonic()
        self._metrics.set_in_flight(len(self._in_flight))

    async def _handle(self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int) -> None:
        try:
            write = await self._process(entry_id, fields, deliveries)
            if write is not None:
                try:
                    written = await self._writer.write(write)
                except Exception:
                    log.exception("writing entry %s failed; it stays pending", entry_id.decode())
                    return
                outcome = write.outcome if written else "duplicate"
                self._metrics.messages.labels(outcome).inc()
                if written and write.target == DEAD_LETTER:
                    self._metrics.dead_letters.labels(write.fields["code"].decode()).inc()
                added = _id_seconds(entry_id)
                if written and write.target == OUTPUT and added > 1e9:  # skip ids a producer made up
                    self._metrics.latency.observe(max(0.0, time.time() - added))
        finally:
            del self._in_flight[entry_id], self._touched[entry_id]
            self._metrics.set_in_flight(len(self._in_flight))
            self._room.set()

    async def _process(self, entry_id: bytes, fields: dict[bytes, bytes], deliveries: int) -> Write | None:
        """The write this entry needs, or None to leave it pending (transient failure)."""
        c = self.config
        if not fields:  # trimmed or deleted from the stream while pending
            return Write(entry_id, ACK_ONLY, {}, "deleted")
        if deliveries > c.max_deliveries:
            reason = (
                f"delivered {deliveries} times, more than --max-deliveries {c.max_deliveries}; "
                "workers may be crashing or stalling on it"
            )
            return self._dead_letter(entry_id, fields, Code.ABORTED.name, reason, deliveries)
        answer = await self._predictor.answer(entry_id, fields)
        if answer.result is not None:
            return Write(entry_id, OUTPUT, answer.result, "ok")
        if answer.retry:
            return None  # left pending, to be claimed and retried
        return self._dead_letter(entry_id, fields, answer.code, answer.reason, deliveries)

    def _dead_letter(self, entry_id: bytes, fields: dict[bytes, bytes], code: str, reason: str, n: int) -> Write:
        c = self.config
        log.warning("entry %s goes to %s: %s: %s", entry_id.decode(), c.dead_letter_stream, code, reason[:300])
        letter = dead_letter_fields(entry_id, fields, c.stream, c.group, c.consumer, code, reason, n)
        return Write(entry_id, DEAD_LETTER, letter, "dead_letter")


def _entries(reply: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of an XREADGROUP reply on one stream (RESP2, which :func:`connect` uses)."""
    return list(reply[0][1]) if reply else []


def _id_key(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)


def _id_seconds(entry_id: bytes) -> float:
    """When the entry was added, from its id (milliseconds); ids chosen by producers may be anything."""
    return _id_key(entry_id)[0] / 1000
