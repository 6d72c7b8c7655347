"""Fixtures: one real Tansu broker (Kafka API) per test module and real ``modelserve stream --kafka`` workers
(see kafka_helpers)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # kafka_helpers.py

from kafka_helpers import KafkaWorker, TansuBroker


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    server = TansuBroker(tmp_path_factory.mktemp("tansu"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_worker(broker: TansuBroker, examples_dir: Path, tmp_path: Path) -> Iterator[Callable[..., KafkaWorker]]:
    """``start_worker(topic, group, consumer, *args, model=digits_onnx)``; every worker is killed after the test."""
    workers: list[KafkaWorker] = []

    def start(topic: str, group: str, consumer: str, *args: str, model: Path | None = None) -> KafkaWorker:
        log = tmp_path / f"{consumer}-{len(workers)}.log"
        model = model or examples_dir / "digits_onnx"
        worker = KafkaWorker(broker.bootstrap, topic, group, consumer, model, args, log)
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.signal(signal.SIGKILL)
            worker.wait()
