"""The model behind the server's dynamic batcher, for callers that hold one decoded request at a time.

    predictor = Predictor(model.runtime, BatchingConfig(max_batch_size=64), metrics)
    outputs = await predictor.predict("serving_default", {"images": batch})   # on the event loop
    predictor.close()

Concurrent :meth:`Predictor.predict` calls for one signature share model calls through one
:class:`~modelserve.batching.dynamic.DynamicBatcher` (TF Serving's semantics, as in ``modelserve serve``).
Poison isolation: when a merged batch fails, each of its requests is run again alone, so only the request that
fails alone fails; its batch-mates get their results. Call :meth:`predict` on one event loop only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from modelserve.batching.config import BatchingConfig
from modelserve.batching.dynamic import Arrays, BatchRunner, DynamicBatcher, rows_of
from modelserve.errors import Internal, InvalidArgument, ServingError, Unavailable
from modelserve.runtimes.base import LoadedModel
from modelserve.runtimes.registry import first_line
from modelserve.streaming.metrics import StreamMetrics

#: How long a request waits for room when the batch queue is full before it fails with Unavailable.
QUEUE_FULL_PATIENCE_SECONDS = 10.0


class Predictor:
    def __init__(self, model: LoadedModel, batching: BatchingConfig, metrics: StreamMetrics | None = None) -> None:
        self._model = model
        self._batching = batching
        self._metrics = metrics
        # One thread more than the batcher uses, for requests re-run alone after a failed batch.
        self._executor = ThreadPoolExecutor(batching.num_batch_threads + 1, thread_name_prefix="model")
        self._batchers: dict[str, DynamicBatcher] = {}

    async def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> Arrays:
        """Run ``signature`` on ``inputs`` (validated against it) and return their rows of the outputs.

        Raises the request's own :class:`ServingError`: InvalidArgument for a request the batcher refuses
        (uneven dim 0; larger than ``max_batch_size`` without splitting), the model's error when the request
        fails alone, Unavailable when the batch queue stayed full for ``QUEUE_FULL_PATIENCE_SECONDS``.
        """
        rows = rows_of(inputs)  # refusals the batcher would raise, raised here so they are not re-run alone
        if rows > self._batching.max_batch_size and not self._batching.enable_large_batch_splitting:
            raise InvalidArgument(
                f"Task size {rows} is larger than maximum input batch size {self._batching.max_batch_size}"
            )
        batcher = self._batchers.get(signature)
        if batcher is None:
            batcher = DynamicBatcher(self._runner(signature), self._batching, self._executor)
            self._batchers[signature] = batcher
        deadline, pause = time.monotonic() + QUEUE_FULL_PATIENCE_SECONDS, 0.002
        while True:
            try:
                return await batcher.submit(inputs)
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(0.1, pause * 2)
            except Exception:
                return await self._alone(signature, inputs)

    async def _alone(self, signature: str, inputs: Mapping[str, np.ndarray]) -> Arrays:
        loop = asyncio.get_running_loop()
        try:
            run = self._runner(signature)
            return await loop.run_in_executor(self._executor, run, dict(inputs), time.perf_counter())
        except ServingError:
            raise
        except Exception as exc:  # runtimes wrap framework errors; anything else is a bug worth naming
            raise Internal(f"model call failed: {type(exc).__name__}: {first_line(exc)}") from exc

    def _runner(self, signature: str) -> BatchRunner:
        model, metrics = self._model, self._metrics

        def run(batch: Arrays, enqueued: float) -> Arrays:
            started = time.perf_counter()
            try:
                return model.run(signature, batch)
            finally:
                if metrics is not None:
                    ended = time.perf_counter()
                    metrics.observe_run(signature, model.platform, rows_of(batch), started - enqueued, ended - started)

        return run

    def close(self) -> None:
        """Wait for running model calls, then release the threads (the model is the caller's to close)."""
        self._executor.shutdown(wait=True)
