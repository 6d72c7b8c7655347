"""The predictor batches concurrent requests with the server's DynamicBatcher and isolates poison requests."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from modelserve.config import BatchingConfig
from modelserve.errors import InvalidArgument
from modelserve.runtimes.base import LoadedModel
from modelserve.streaming.metrics import StreamMetrics
from modelserve.streaming.predictor import Predictor
from modelserve.types import Signature, TensorSpec


class Doubler(LoadedModel):
    """y = 2x; refuses any batch holding a negative number (a poison row); records batch sizes."""

    platform = "fake"
    path = Path("doubler")

    def __init__(self) -> None:
        x, y = TensorSpec("x", "float32", (-1, 1)), TensorSpec("y", "float32", (-1, 1))
        self.signatures = {"serving_default": Signature.from_specs("serving_default", [x], [y])}
        self.batches: list[int] = []
        self.lock = threading.Lock()

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = inputs["x"]
        with self.lock:
            self.batches.append(len(x))
        time.sleep(0.01)
        if (x < 0).any():
            raise InvalidArgument("negative input")
        return {"y": x * 2}

    def close(self) -> None:
        pass


def predict_all(predictor: Predictor, values: list[list[float]]) -> list:
    async def main() -> list:
        calls = [predictor.predict("serving_default", {"x": np.array(v, np.float32).reshape(-1, 1)}) for v in values]
        return await asyncio.gather(*calls, return_exceptions=True)

    try:
        return asyncio.run(main())
    finally:
        predictor.close()


def test_concurrent_requests_share_model_calls_and_get_their_own_rows():
    model = Doubler()
    metrics = StreamMetrics("doubler", 1)
    config = BatchingConfig(max_batch_size=64, batch_timeout_micros=50_000, num_batch_threads=1)
    results = predict_all(Predictor(model, config, metrics), [[i, i + 0.5] for i in range(20)])
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"].ravel(), [2 * i, 2 * i + 1])
    assert sum(model.batches) == 40 and len(model.batches) < 5, model.batches
    assert metrics.registry.get_sample_value(
        "modelserve_batch_size_count", {"model": "doubler", "signature": "serving_default"}
    ) == len(model.batches)


def test_a_poison_request_fails_alone_and_its_batch_mates_succeed():
    model = Doubler()
    config = BatchingConfig(max_batch_size=64, batch_timeout_micros=50_000, num_batch_threads=1)
    results = predict_all(Predictor(model, config), [[1], [2], [-1], [3]])
    assert isinstance(results[2], InvalidArgument) and results[2].message == "negative input"
    assert [r["y"].item() for i, r in enumerate(results) if i != 2] == [2, 4, 6]
    assert model.batches[0] == 4 and sorted(model.batches[1:]) == [1, 1, 1, 1]  # one merged call, then each alone


def test_requests_the_batcher_refuses_are_not_run_alone():
    model = Doubler()
    results = predict_all(Predictor(model, BatchingConfig(max_batch_size=2)), [[1, 2, 3]])
    assert isinstance(results[0], InvalidArgument) and "larger than maximum input batch size 2" in results[0].message
    assert model.batches == []
    split = Doubler()
    config = BatchingConfig(max_batch_size=2, enable_large_batch_splitting=True)
    (result,) = predict_all(Predictor(split, config), [[1, 2, 3]])
    np.testing.assert_array_equal(result["y"].ravel(), [2, 4, 6])
    assert max(split.batches) <= 2


def test_uneven_inputs_are_refused():
    async def main() -> None:
        predictor = Predictor(Doubler(), BatchingConfig())
        try:
            with pytest.raises(InvalidArgument, match="share dimension 0"):
                await predictor.predict("serving_default", {"x": np.zeros((2, 1)), "z": np.zeros((3, 1))})
        finally:
            predictor.close()

    asyncio.run(main())
