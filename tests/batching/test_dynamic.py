"""DynamicBatcher with a recording fake model: merging, splitting, padding, queue limits, compatibility."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from modelserve.batching.dynamic import DynamicBatcher
from modelserve.config import BatchingConfig
from modelserve.errors import InvalidArgument, Unavailable


class Recorder:
    """y = 2x; remembers every batch size; optionally slow, to let requests pile up."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.batches: list[int] = []
        self.seconds = seconds
        self.lock = threading.Lock()

    def __call__(self, inputs: dict, enqueued: float) -> dict:
        with self.lock:
            self.batches.append(inputs["x"].shape[0])
        time.sleep(self.seconds)
        return {"y": inputs["x"] * 2}


def run_all(batcher: DynamicBatcher, requests: list[np.ndarray]) -> list:
    async def main() -> list:
        return await asyncio.gather(*(batcher.submit({"x": r}) for r in requests), return_exceptions=True)

    return asyncio.run(main())


@pytest.fixture
def executor():
    with ThreadPoolExecutor(4) as pool:
        yield pool


def test_concurrent_requests_share_one_call_and_rows_come_back_exactly(executor):
    model = Recorder(seconds=0.05)
    batcher = DynamicBatcher(model, BatchingConfig(max_batch_size=64, num_batch_threads=1), executor)
    requests = [np.full((i + 1, 3), i, np.float32) for i in range(8)]
    results = run_all(batcher, requests)
    for request, result in zip(requests, results):
        np.testing.assert_array_equal(result["y"], request * 2)
    assert sum(model.batches) == sum(r.shape[0] for r in requests)
    assert len(model.batches) < len(requests)  # the first call runs alone, the rest queue and merge


def test_timeout_collects_a_batch(executor):
    model = Recorder()
    config = BatchingConfig(max_batch_size=100, batch_timeout_micros=50_000, num_batch_threads=2)
    results = run_all(DynamicBatcher(model, config, executor), [np.ones((2, 1))] * 5)
    assert model.batches == [10]
    assert all(r["y"].shape == (2, 1) for r in results)


def test_allowed_batch_sizes_pad_and_outputs_are_trimmed(executor):
    model = Recorder()
    config = BatchingConfig(max_batch_size=8, batch_timeout_micros=20_000, allowed_batch_sizes=(4, 8))
    results = run_all(DynamicBatcher(model, config, executor), [np.ones((1, 2)), np.ones((2, 2))])
    assert model.batches == [4]
    assert [r["y"].shape for r in results] == [(1, 2), (2, 2)]


def test_incompatible_shapes_never_share_a_batch(executor):
    model = Recorder()
    config = BatchingConfig(max_batch_size=100, batch_timeout_micros=20_000)
    results = run_all(DynamicBatcher(model, config, executor), [np.ones((1, 2)), np.ones((1, 3)), np.ones((2, 2))])
    assert sorted(model.batches) == [1, 3]
    assert [r["y"].shape for r in results] == [(1, 2), (1, 3), (2, 2)]


def test_variable_length_inputs_are_padded_with_the_first_element(executor):
    model = Recorder()
    config = BatchingConfig(max_batch_size=100, batch_timeout_micros=20_000, pad_variable_length_inputs=True)
    a, b = np.array([[5.0, 6.0]]), np.array([[7.0, 8.0, 9.0]])
    results = run_all(DynamicBatcher(model, config, executor), [a, b])
    assert model.batches == [2]
    np.testing.assert_array_equal(results[0]["y"], [[10.0, 12.0, 10.0]])  # padded with a's first element
    np.testing.assert_array_equal(results[1]["y"], b * 2)


def test_large_tasks_fail_or_split(executor):
    model = Recorder()
    strict = DynamicBatcher(model, BatchingConfig(max_batch_size=4), executor)
    [error] = run_all(strict, [np.ones((9, 1))])
    assert isinstance(error, InvalidArgument)
    assert "Task size 9 is larger than maximum input batch size 4" in error.message
    splitting = DynamicBatcher(model, BatchingConfig(max_batch_size=4, enable_large_batch_splitting=True), executor)
    [result] = run_all(splitting, [np.arange(9.0).reshape(9, 1)])
    np.testing.assert_array_equal(result["y"][:, 0], np.arange(9.0) * 2)


def test_a_full_queue_answers_unavailable_at_once(executor):
    model = Recorder(seconds=0.2)
    config = BatchingConfig(max_batch_size=2, max_enqueued_batches=1, num_batch_threads=1)
    results = run_all(DynamicBatcher(model, config, executor), [np.ones((2, 1))] * 5)
    rejected = [r for r in results if isinstance(r, Unavailable)]
    assert rejected
    assert "queue to which this task was submitted is full" in rejected[0].message
    assert sum(isinstance(r, dict) for r in results) >= 2


def test_model_errors_reach_every_task_of_the_batch(executor):
    def broken(inputs: dict, enqueued: float) -> dict:
        raise RuntimeError("boom")

    config = BatchingConfig(max_batch_size=10, batch_timeout_micros=20_000)
    results = run_all(DynamicBatcher(broken, config, executor), [np.ones((1, 1))] * 3)
    assert all(isinstance(r, RuntimeError) for r in results)
