"""Fixtures: a real ``redis-server`` per test module and real ``modelserve stream`` workers (see stream_helpers)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # stream_helpers.py

from stream_helpers import RedisServer, Worker

from factories import onnx_double_and_echo


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def start_worker(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """``start_worker(stream, group, consumer, model, *args, url=...)``; every worker is killed after the test.
    ``model`` None: the model is named by ``args`` (``--model-repository``, ``--model-name``)."""
    workers: list[Worker] = []

    def start(stream: str, group: str, consumer: str, model: Path | None, *args: str, url: str = "") -> Worker:
        log = tmp_path / f"{consumer}-{len(workers)}.log"
        worker = Worker(url or redis_server.url, stream, group, consumer, model, args, log)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.signal(signal.SIGKILL)
        worker.wait()


@pytest.fixture(scope="module")
def doubler(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX ``y = 2x`` (float32 [N, 3]) and ``tag_out = tag`` (string [N]): exact expected outputs."""
    return onnx_double_and_echo(tmp_path_factory.mktemp("doubler") / "1")
