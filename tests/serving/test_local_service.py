"""A local service (the in-memory API, Beam and stream workers' core): it batches concurrent requests with the
server's DynamicBatcher, isolates poison requests, and records the server's metrics."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from modelserve.config import BatchingConfig, DispatchOptions
from modelserve.errors import InvalidArgument
from modelserve.metrics.collectors import ServingMetrics
from modelserve.runtimes.base import LoadedModel
from modelserve.serving.service import ModelService
from modelserve.types import InferRequest, ModelRef, Signature, TensorSpec


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


def local(model: LoadedModel, batching: BatchingConfig, metrics: ServingMetrics | None = None) -> ModelService:
    options = DispatchOptions(inline_call_micros=0, batching=batching)
    return ModelService.local(model, "doubler", 1, options, metrics)


def predict_all(service: ModelService, values: list[list[float]]) -> list:
    async def main() -> list:
        calls = [
            service.infer(InferRequest(ModelRef("doubler"), {"x": np.array(v, np.float32).reshape(-1, 1)}))
            for v in values
        ]
        answers = await asyncio.gather(*calls, return_exceptions=True)
        return [a if isinstance(a, Exception) else a.outputs for a in answers]

    try:
        return asyncio.run(main())
    finally:
        service.stop()


def test_concurrent_requests_share_model_calls_and_get_their_own_rows():
    model = Doubler()
    metrics = ServingMetrics()
    config = BatchingConfig(max_batch_size=64, batch_timeout_micros=50_000, num_batch_threads=1)
    results = predict_all(local(model, config, metrics), [[i, i + 0.5] for i in range(20)])
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result["y"].ravel(), [2 * i, 2 * i + 1])
    assert sum(model.batches) == 40 and len(model.batches) < 5, model.batches
    assert metrics.registry.get_sample_value(
        "modelserve_batch_size_count", {"model": "doubler", "signature": "serving_default"}
    ) == len(model.batches)


def test_a_poison_request_fails_alone_and_its_batch_mates_succeed():
    model = Doubler()
    config = BatchingConfig(max_batch_size=64, batch_timeout_micros=50_000, num_batch_threads=1)
    results = predict_all(local(model, config), [[1], [2], [-1], [3]])
    assert isinstance(results[2], InvalidArgument) and results[2].message == "negative input"
    assert [r["y"].item() for i, r in enumerate(results) if i != 2] == [2, 4, 6]
    assert model.batches[0] == 4 and sorted(model.batches[1:]) == [1, 1, 1, 1]  # one merged call, then each alone


def test_requests_the_batcher_refuses_are_not_run_alone():
    model = Doubler()
    results = predict_all(local(model, BatchingConfig(max_batch_size=2)), [[1, 2, 3]])
    assert isinstance(results[0], InvalidArgument) and "larger than maximum input batch size 2" in results[0].message
    assert model.batches == []
    split = Doubler()
    config = BatchingConfig(max_batch_size=2, enable_large_batch_splitting=True)
    (result,) = predict_all(local(split, config), [[1, 2, 3]])
    np.testing.assert_array_equal(result["y"].ravel(), [2, 4, 6])
    assert max(split.batches) <= 2


def test_a_wrong_shape_is_refused_before_anything_runs():
    model = Doubler()
    service = local(model, BatchingConfig())
    request = InferRequest(ModelRef("doubler"), {"x": np.zeros((2, 2), np.float32)})
    with pytest.raises(InvalidArgument, match=r"^input 'x' expects float32 \[-1, 1\], got float32 \[2, 2\]$"):
        asyncio.run(service.infer(request))
    assert model.batches == []
    service.stop()


def test_infer_now_runs_on_the_calling_thread():
    model = Doubler()
    service = ModelService.local(model, "doubler")
    answer = service.infer_now(InferRequest(ModelRef("doubler"), {"x": [[1.5]]}))
    assert answer.version == 1 and answer.outputs["y"].tolist() == [[3.0]]
    service.stop()
