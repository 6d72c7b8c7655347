"""The Kafka clients of one ``modelserve stream --kafka`` worker, on threads of their own, awaited from asyncio.

    clients = KafkaClients(config, release, metrics)
    await clients.start()                         # topics checked (output ones created), consumer subscribed
    records, committed = await clients.poll(64, 0.1, {("in", 0): 42})   # commit first, then read
    await clients.produce("in.results", key, value, headers)            # returns once the broker has it
    await clients.close()                         # consumer leaves the group; producer flushed

Threads: every consumer call runs on one thread (``kafka-consumer``), in order, so a poll, a commit, a pause and
the rebalance callbacks (served inside those calls) never overlap. ``release(partitions, lost)``, a coroutine
function, runs on the caller's event loop when partitions are revoked (``lost`` False: the consumer thread waits
for it and commits the offsets it returns, synchronously, before the partitions go) or lost (no commit). The
producer's delivery reports are served by another thread (``kafka-producer``) and settle the awaiting
:meth:`produce` on the event loop. ``confluent_kafka`` is imported here only, when a worker starts.

Flow control: :meth:`poll` with ``count`` 0 pauses every assigned partition (and partitions assigned while
paused), serving callbacks without fetching; a later poll with room resumes them. Commits are synchronous and
only ever name offsets the caller computed (auto-commit is off).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from modelserve.errors import NotFound, Unavailable
from modelserve.streaming.config import KafkaConfig
from modelserve.streaming.kafka_offsets import Partition
from modelserve.streaming.metrics import StreamMetrics

log = logging.getLogger(__name__)

Release = Callable[[list[Partition], bool], Awaitable[dict[Partition, int]]]
METADATA_TIMEOUT_SECONDS = 15.0
#: The consumer's fetch.wait.max.ms default (librdkafka's is 500): brokers that hold a fetch for its whole wait
#: when no record is there yet (Tansu does) add up to this much latency to a trickle of records.
FETCH_WAIT_MS = 50


class DeliveryFailed(Exception):
    """The producer gave up on a record (after librdkafka's own retries, ``message.timeout.ms``); worth trying
    again later."""


class RecordRefused(Exception):
    """The client or broker refused the record for good (larger than ``message.max.bytes``, not authorized...):
    producing it again cannot help."""


@dataclass(frozen=True)
class Record:
    """One consumed record, copied out of the client's message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp_ms: int  # 0 when the record carries none


def split_client_config(pairs: tuple[tuple[str, str], ...]) -> tuple[dict, dict, dict]:
    """``--kafka-config`` pairs as (common, consumer-only, producer-only) settings: ``consumer.KEY`` and
    ``producer.KEY`` go to one client (librdkafka has no setting named so), the rest to both and the admin."""
    common: dict[str, str] = {}
    consumer: dict[str, str] = {}
    producer: dict[str, str] = {}
    for name, value in pairs:
        for prefix, target in (("consumer.", consumer), ("producer.", producer)):
            if name.startswith(prefix):
                target[name[len(prefix) :]] = value
                break
        else:
            common[name] = value
    return common, consumer, producer


class KafkaClients:
    def __init__(self, config: KafkaConfig, release: Release, metrics: StreamMetrics) -> None:
        self._config = config
        self._release = release
        self._metrics = metrics
        self._common, consumer, producer = split_client_config(config.client_config)
        base = {"bootstrap.servers": config.bootstrap, "client.id": config.consumer}
        self._consumer_settings = {
            **base, "auto.offset.reset": "earliest", "fetch.wait.max.ms": FETCH_WAIT_MS, **self._common, **consumer,
            "group.id": config.group, "enable.auto.commit": False, "enable.auto.offset.store": False,
            "error_cb": self._client_error, "logger": logging.getLogger("modelserve.stream.kafka.consumer"),
        }  # fmt: skip
        self._producer_settings = {
            **base, "acks": "all", "enable.idempotence": True, "linger.ms": 2, **self._common, **producer,
            "error_cb": self._client_error, "logger": logging.getLogger("modelserve.stream.kafka.producer"),
        }  # fmt: skip
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-consumer")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._consumer: Any = None
        self._producer: Any = None
        self._producer_thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._paused = False

    # ---- start and stop ----

    async def start(self) -> None:
        """Check the topics (the input must exist; missing output and dead-letter topics are created with the
        input's partition count), then subscribe. Raises Unavailable (no broker) or NotFound (no input)."""
        self._loop = asyncio.get_running_loop()
        await self._loop.run_in_executor(self._thread, self._ensure_topics)
        self._producer = confluent_kafka.Producer(self._producer_settings)
        self._producer_thread = threading.Thread(target=self._serve_producer, name="kafka-producer", daemon=True)
        self._producer_thread.start()
        await self._loop.run_in_executor(self._thread, self._subscribe)

    def _ensure_topics(self) -> None:
        c = self._config
        admin = AdminClient({**self._common, "bootstrap.servers": c.bootstrap})
        try:
            topics = admin.list_topics(timeout=METADATA_TIMEOUT_SECONDS).topics
        except confluent_kafka.KafkaException as exc:
            raise Unavailable(f"cannot reach Kafka at {c.bootstrap}: {exc}") from None
        if c.topic not in topics or topics[c.topic].error is not None:
            raise NotFound(f"topic {c.topic} does not exist on {c.bootstrap}: create it (with its partitions) first")
        missing = [t for t in (c.output_topic, c.dead_letter_topic) if t not in topics]
        if not missing:
            return
        partitions = len(topics[c.topic].partitions)
        for topic, future in admin.create_topics([NewTopic(t, partitions) for t in missing]).items():
            try:
                future.result(METADATA_TIMEOUT_SECONDS)
                log.info("created topic %s with %d partitions", topic, partitions)
            except confluent_kafka.KafkaException as exc:
                error = exc.args[0] if exc.args else None
                if getattr(error, "code", lambda: None)() != confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                    raise Unavailable(f"cannot create topic {topic} (create it yourself): {exc}") from None

    def _subscribe(self) -> None:
        self._consumer = confluent_kafka.Consumer(self._consumer_settings)
        self._consumer.subscribe(
            [self._config.topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )

    async def close(self, flush_seconds: float = 30.0) -> None:
        """Leave the group (the revoke callback commits what is due), then deliver what the producer holds."""
        loop = asyncio.get_running_loop()
        if self._consumer is not None:
            try:
                await loop.run_in_executor(self._thread, self._consumer.close)
            except confluent_kafka.KafkaException as exc:
                log.warning("closing the consumer failed: %s", exc)
        self._thread.shutdown(wait=True)
        if self._producer is not None:
            self._closing.set()
            if self._producer_thread is not None:
                await loop.run_in_executor(None, self._producer_thread.join)
            left = await loop.run_in_executor(None, self._producer.flush, flush_seconds)
            if left:
                log.error("%d produced records not delivered within %g s", left, flush_seconds)

    # ---- consuming ----

    async def poll(
        self, count: int, wait: float, commit: Mapping[Partition, int] | None = None
    ) -> tuple[list[Record], bool]:
        """Commit ``commit`` (when given), then read up to ``count`` records, waiting up to ``wait`` seconds for
        the first. ``count`` 0 pauses the partitions instead. Returns the records and whether the commit held."""
        assert self._loop is not None
        return await self._loop.run_in_executor(self._thread, self._poll, count, wait, dict(commit or {}))

    async def commit(self, offsets: Mapping[Partition, int]) -> bool:
        """Commit ``offsets`` now, synchronously; False when the broker refused."""
        assert self._loop is not None
        return await self._loop.run_in_executor(self._thread, self._commit, dict(offsets))

    def _poll(self, count: int, wait: float, commit: dict[Partition, int]) -> tuple[list[Record], bool]:
        committed = self._commit(commit) if commit else False
        consumer = self._consumer
        if count <= 0:
            if not self._paused:
                consumer.pause(consumer.assignment())
                self._paused = True
            message = consumer.poll(0)  # serves callbacks; a paused partition delivers nothing
            return self._records([message] if message is not None else []), committed
        if self._paused:
            consumer.resume(consumer.assignment())
            self._paused = False
        messages = consumer.consume(count, 0)
        if not messages:
            first = consumer.poll(wait)
            messages = [] if first is None else [first]
            if first is not None and count > 1:
                messages += consumer.consume(count - 1, 0)
        return self._records(messages), committed

    def _records(self, messages: list[Any]) -> list[Record]:
        records = []
        for message in messages:
            error = message.error()
            if error is not None:
                self._metrics.errors.labels("consume").inc()
                log.warning("consuming %s failed: %s", self._config.topic, error)
                continue
            kind, timestamp = message.timestamp()
            records.append(
                Record(message.topic(), message.partition(), message.offset(), message.key(), message.value(),
                       list(message.headers() or ()), timestamp if kind else 0)
            )  # fmt: skip
        return records

    def _commit(self, offsets: dict[Partition, int]) -> bool:
        if not offsets:
            return True
        partitions = [confluent_kafka.TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        try:
            self._consumer.commit(offsets=partitions, asynchronous=False)
            return True
        except confluent_kafka.KafkaException as exc:
            self._metrics.errors.labels("commit").inc()
            log.warning("committing offsets failed (they are committed later, or records read again): %s", exc)
            return False

    # ---- rebalance callbacks (on the consumer thread, inside poll, consume or close) ----

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        consumer.assign(partitions)
        if self._paused and partitions:
            consumer.pause(partitions)
        log.info("assigned partitions %s of %s", ",".join(str(p.partition) for p in partitions), self._config.topic)

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        names = [(p.topic, p.partition) for p in partitions]
        log.info("partitions %s revoked: finishing their records", ",".join(str(p) for _, p in names) or "none")
        self._commit(self._released(names, lost=False))

    def _lost(self, consumer: Any, partitions: list[Any]) -> None:
        names = [(p.topic, p.partition) for p in partitions]
        log.warning("partitions %s lost (no commit; their records will be read again)", names)
        self._released(names, lost=True)

    def _released(self, names: list[Partition], lost: bool) -> dict[Partition, int]:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._release(names, lost), self._loop)
        try:
            return future.result(self._config.drain_timeout + 10)
        except Exception as exc:  # the loop is gone or the release failed: commit nothing more
            log.warning("releasing partitions failed: %s", exc)
            return {}

    # ---- producing ----

    async def produce(self, topic: str, key: bytes | None, value: bytes | None, headers: list) -> None:
        """Produce one record and return once it is delivered; raises :class:`DeliveryFailed` (transient) or
        :class:`RecordRefused` (for good)."""
        loop = asyncio.get_running_loop()
        delivered = loop.create_future()

        def report(error: Any, _message: Any) -> None:  # on the producer thread
            loop.call_soon_threadsafe(_settle, delivered, error)

        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=report)
                break
            except BufferError:  # the producer's queue is full: let deliveries drain it
                await asyncio.sleep(0.005)
            except confluent_kafka.KafkaException as exc:  # refused before sending: too large, unknown topic...
                raise RecordRefused(str(exc.args[0] if exc.args else exc)) from None
        await delivered

    def _serve_producer(self) -> None:
        while not self._closing.is_set():
            self._producer.poll(0.05)

    def _client_error(self, error: Any) -> None:
        self._metrics.errors.labels("client").inc()
        log.warning("kafka: %s", error)


#: Delivery errors that producing again may get past (the rest are :class:`RecordRefused`).
_TRANSIENT_DELIVERY = {"_MSG_TIMED_OUT", "_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_PURGE_QUEUE",
                       "_PURGE_INFLIGHT", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND"}  # fmt: skip


def _settle(future: asyncio.Future, error: Any) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    elif error.retriable() or error.name() in _TRANSIENT_DELIVERY:
        future.set_exception(DeliveryFailed(str(error)))
    else:
        future.set_exception(RecordRefused(str(error)))
