"""One consumer of a Kafka topic in a consumer group: read, predict in micro-batches, produce, then commit.

    service = ModelService.local(model, source.name, source.version or 1, DispatchOptions(batching=...))
    worker = KafkaStreamWorker(config, service, source, StreamMetrics(registry, backend="kafka"))
    drained = await worker.run(stop)      # returns after ``stop`` is set and in-flight records are done

Delivery contract (at least once):

- Auto-commit is off. A record is finished when its result (or dead letter) is delivered to the output (or
  dead-letter) topic: the producer's delivery report, with ``acks=all`` and idempotence. Offsets are committed
  every ``commit_interval_ms`` only up to the first record of each partition not yet finished
  (:class:`~modelserve.streaming.kafka_offsets.OffsetTracker`), so a worker killed at any point loses nothing:
  the group's next owner reads every unfinished record again. Records finished after the last commit are
  answered again then: duplicates, which a consumer of the results can count and drop by the ``id`` header
  (``<topic>/<partition>/<offset>``).
- Poison records go to the dead-letter topic with the reason in headers: undecodable payloads, predictions
  that fail when run alone, and results the output topic refuses for good (``RESOURCE_EXHAUSTED``: larger than
  ``message.max.bytes``). A dead letter that is refused too is retried, logged as an error: its record stays
  unfinished, so its partition's commits stop there (no loss). There is no delivery count in Kafka, so a
  record that crashes the worker itself is read again after every restart. A transient failure (UNAVAILABLE)
  is retried in place (a partition is read in order) until it passes or the worker stops (then it stays
  uncommitted).
- Bounded memory: at most ``max_in_flight`` records are read and not finished; while that many are, the worker
  does not poll (the client keeps what it prefetched, bounded by librdkafka's ``queued.max.messages.kbytes``).
  Full for ``PAUSE_AFTER_SECONDS`` (a stalled model or broker), it pauses its partitions and polls again, so
  rebalances are served and the group keeps it. (Pausing drops the client's prefetched records, and fetching
  them again costs a round trip, which is why short waits do not pause.)
- Rebalance: when partitions are revoked, their in-flight records are finished (within ``drain_timeout``) and
  their offsets committed before they go; lost partitions are dropped without a commit.
- :meth:`KafkaStreamWorker.run` on ``stop``: stops polling (a poll returns within ``poll_ms``), finishes and
  delivers every in-flight record within ``drain_timeout``, commits, closes the consumer (leaving the group)
  and flushes the producer.

Threading: the logic runs on one event loop; the clients' threads are :mod:`.kafka_io`'s business, the model
calls run on the service's model threads (:class:`~modelserve.streaming.predictor.Predictor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from modelserve.errors import Code, InvalidArgument
from modelserve.serving.service import ModelService
from modelserve.streaming.config import KafkaConfig, ModelSource
from modelserve.streaming.draining import drain, first_of, sleep_unless_stopped
from modelserve.streaming.kafka_io import DeliveryFailed, KafkaClients, Record, RecordRefused
from modelserve.streaming.kafka_offsets import OffsetTracker, Partition
from modelserve.streaming.kafka_records import dead_letter_headers, entry_fields, record_id, result_record
from modelserve.streaming.metrics import StreamMetrics
from modelserve.streaming.predictor import Answer, Predictor

log = logging.getLogger(__name__)

#: How long a record that failed transiently waits before it is tried again.
RETRY_SECONDS = 1.0
#: How long the worker may stay full (max_in_flight records unfinished) before it pauses its partitions.
PAUSE_AFTER_SECONDS = 5.0


class KafkaStreamWorker:
    def __init__(self, config: KafkaConfig, service: ModelService, source: ModelSource, metrics: StreamMetrics):
        self.config = config
        self._source = source
        self._metrics = metrics
        self._predictor = Predictor(service, source, config.signature, config.consumer)
        self._offsets = OffsetTracker()
        self._clients = KafkaClients(config, self._release, metrics)
        self._in_flight: dict[asyncio.Task, tuple[Partition, int]] = {}
        self._room = asyncio.Event()
        self._stop = asyncio.Event()

    # ---- the run ----

    async def run(self, stop: asyncio.Event) -> bool:
        """Consume until ``stop`` is set; True when every in-flight record was finished within the drain time.

        Raises :class:`~modelserve.errors.Unavailable` (no broker) or NotFound (no input topic) at start."""
        self._stop = stop
        c = self.config
        try:
            await self._clients.start()
        except BaseException:
            await self._clients.close()
            raise
        log.info(
            "consuming topic %s as group %s, consumer %s: results to %s, dead letters to %s (model %s version %s)",
            c.topic, c.group, c.consumer, c.output_topic, c.dead_letter_topic, self._source.name,
            self._source.version,
        )  # fmt: skip
        drained = False
        try:
            await self._read_loop(stop)
        finally:
            stop.set()
            drained = await self._drain()
            due = self._offsets.due()
            if due and await self._clients.commit(due):
                self._offsets.committed(due)
                log.info("committed %s", _describe(due))
            await self._clients.close()
        return drained

    async def _read_loop(self, stop: asyncio.Event) -> None:
        """Poll within the free room; commit what is due every ``commit_interval_ms``. While full, wait for
        room without polling (the client's prefetched records stay queued); full for ``PAUSE_AFTER_SECONDS``,
        pause the partitions and poll, so rebalances are served and the group keeps this consumer."""
        c = self.config
        interval = c.commit_interval_ms / 1000
        last_commit = time.monotonic()
        full_since: float | None = None
        while not stop.is_set():
            due = None
            if time.monotonic() - last_commit >= interval:
                due, last_commit = self._offsets.due(), time.monotonic()
            self._room.clear()
            free = c.max_in_flight - len(self._in_flight)
            if free > 0:
                full_since = None
                records, committed = await self._clients.poll(min(c.read_count, free), c.poll_ms / 1000, due)
            else:
                full_since = full_since or time.monotonic()
                if time.monotonic() - full_since >= PAUSE_AFTER_SECONDS:
                    records, committed = await self._clients.poll(0, 0, due)
                else:
                    records, committed = [], bool(due) and await self._clients.commit(due)
                if not records:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(first_of(self._room.wait(), stop.wait()), c.poll_ms / 1000)
            if due and committed:
                self._offsets.committed(due)
            for record in records:
                self._dispatch(record)

    async def _drain(self) -> bool:
        fate = "they stay uncommitted, to be read again"
        return await drain(list(self._in_flight), self.config.drain_timeout, "records", fate)

    async def _release(self, partitions: list[Partition], lost: bool) -> dict[Partition, int]:
        """Revoked (or lost) ``partitions``: finish their in-flight records (not when lost), and return the
        offsets to commit for them before they go; forget them either way."""
        wanted = set(partitions)
        tasks = [task for task, (partition, _) in self._in_flight.items() if partition in wanted]
        if tasks and not lost:
            _done, pending = await asyncio.wait(tasks, timeout=self.config.drain_timeout)
            if pending:
                log.warning("%d records of revoked partitions unfinished; they will be read again", len(pending))
        due = {} if lost else self._offsets.due(partitions)
        self._offsets.forget(partitions)
        if due:
            log.info("committing %s before the partitions go", _describe(due))
        return due

    # ---- one record ----

    def _dispatch(self, record: Record) -> None:
        partition = (record.topic, record.partition)
        self._offsets.started(partition, record.offset)
        task = asyncio.create_task(self._handle(record))
        self._in_flight[task] = (partition, record.offset)
        self._metrics.set_in_flight(len(self._in_flight))
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._in_flight.pop(task, None)
        self._metrics.set_in_flight(len(self._in_flight))
        self._room.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("a record's task failed: %r", task.exception())

    async def _handle(self, record: Record) -> None:
        c = self.config
        entry_id = record_id(record.topic, record.partition, record.offset)
        try:
            fields = entry_fields(record.key, record.value, record.headers)
            answer = await self._predictor.answer(entry_id, fields)
            while answer.retry:  # transient: again in place; a stop leaves the record uncommitted
                if await sleep_unless_stopped(self._stop, RETRY_SECONDS):
                    return
                answer = await self._predictor.answer(entry_id, fields)
        except InvalidArgument as exc:  # the payload header names no payload kind
            answer = Answer(code=exc.code.name, reason=exc.message)
        if answer.result is not None:
            value, headers = result_record(answer.result)
            try:
                await self._deliver(c.output_topic, record.key, value, headers, refused_ok=False)
            except RecordRefused as exc:  # e.g. larger than message.max.bytes: the input goes to the dead letters
                answer = Answer(code=Code.RESOURCE_EXHAUSTED.name, reason=f"{c.output_topic} refused the result: {exc}")
            else:
                self._metrics.messages.labels("ok").inc()
                if record.timestamp_ms > 0:
                    self._metrics.latency.observe(max(0.0, time.time() - record.timestamp_ms / 1000))
                self._offsets.finished((record.topic, record.partition), record.offset)
                return
        log.warning(
            "record %s goes to %s: %s: %s", entry_id.decode(), c.dead_letter_topic, answer.code, answer.reason[:300]
        )
        headers = dead_letter_headers(record.topic, record.partition, record.offset, c.group, c.consumer,
                                      answer.code, answer.reason, record.headers)  # fmt: skip
        await self._deliver(c.dead_letter_topic, record.key, record.value, headers, refused_ok=True)
        self._metrics.messages.labels("dead_letter").inc()
        self._metrics.dead_letters.labels(answer.code).inc()
        self._offsets.finished((record.topic, record.partition), record.offset)

    async def _deliver(self, topic: str, key: bytes | None, value: bytes | None, headers: list, refused_ok: bool):
        """Produce until delivered: a failed delivery is retried with backoff, and so is a refused one when
        ``refused_ok`` (a dead letter has nowhere else to go: its record stays unfinished and uncommitted, and
        the error is logged); otherwise :class:`RecordRefused` is raised."""
        pause = 0.1
        while True:
            try:
                await self._clients.produce(topic, key, value, headers)
                return
            except DeliveryFailed as exc:
                log.warning("delivery to %s failed (%s); retrying in %.1f s", topic, exc, pause)
            except RecordRefused as exc:
                if not refused_ok:
                    raise
                log.error("%s refused a dead letter (%s); its record stays uncommitted; retrying in %.1f s",
                          topic, exc, pause)  # fmt: skip
            self._metrics.errors.labels("produce").inc()
            await asyncio.sleep(pause)
            pause = min(5.0, pause * 2)


def _describe(offsets: dict[Partition, int]) -> str:
    return ", ".join(f"{topic}/{partition}@{offset}" for (topic, partition), offset in sorted(offsets.items()))
