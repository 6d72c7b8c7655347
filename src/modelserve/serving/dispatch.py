"""Where an admitted call runs: on the event loop, on the model threads, or through the dynamic batcher.

:class:`Dispatcher` is owned by :class:`~modelserve.serving.service.ModelService`; it sees only a borrowed
version, a signature name and admitted inputs, never a request or a protocol.

Contract:

- At most ``max_in_flight`` model calls run or wait at once; beyond that a call fails at once with
  ``Unavailable`` (HTTP 503) instead of queueing without bound.
- A call that outlives its deadline fails with ``DeadlineExceeded`` (504); its thread finishes in the
  background, still counts as in flight, and keeps its version borrowed until it ends.
- With batching on, every call goes through the version's :class:`DynamicBatcher` for its signature. Without
  it, a small call (at most ``INLINE_MAX_ROWS`` rows) to a signature whose typical call takes under
  ``inline_call_micros`` runs on the event loop itself (a thread hop costs more than such a call).
- A model's own failure that is not a :class:`ServingError` becomes ``Internal`` naming the exception, so every
  door answers INTERNAL for it and records it so.
- Shadow calls (:meth:`mirror`) have their own count, never take a request's place, and run only while calls
  and shadows together are fewer than half of ``max_in_flight``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from modelserve.batching.dynamic import DynamicBatcher
from modelserve.config import BatchingConfig, DispatchOptions
from modelserve.errors import DeadlineExceeded, Internal, ServingError, Unavailable
from modelserve.metrics.collectors import ServingMetrics, rows_of
from modelserve.runtimes.base import LoadedModel
from modelserve.runtimes.registry import first_line
from modelserve.serving.handle import ServedVersion

#: Requests with more rows than this always run on the model threads (their call grows with the rows).
INLINE_MAX_ROWS = 8
#: An inline call slower than this many times ``inline_call_micros`` sends the next
#: ``INLINE_HOLD_OFF_CALLS`` calls of its signature to the model threads (input-dependent cost).
INLINE_SLOW_FACTOR = 4
INLINE_HOLD_OFF_CALLS = 100

Arrays = dict[str, np.ndarray]


class Dispatcher:
    """Runs calls within the in-flight bound. :meth:`run` is called on the event loop, :meth:`run_now` on
    any thread (it runs the call on that thread); both take a version the caller has borrowed."""

    def __init__(self, options: DispatchOptions, metrics: ServingMetrics | None = None) -> None:
        self.options = options
        self._metrics = metrics
        workers = options.model_threads or max(4, 2 * (os.cpu_count() or 1))
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="model")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._running = 0
        self._shadows = 0  # shadow calls running or waiting (not counted against max_in_flight)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queued(self) -> int:
        return max(0, self._in_flight - self._running)

    @property
    def shadows(self) -> int:
        return self._shadows

    # ---- requests ----

    async def run(
        self, served: ServedVersion, signature: str, inputs: Mapping[str, np.ndarray], api: str, deadline: float | None
    ) -> Arrays:
        """Run ``signature`` of ``served`` on ``inputs`` and wait for its outputs (see the module contract)."""
        self._enter()
        submitted = time.perf_counter()
        call = self._caller(served, signature, api)
        try:
            served.borrow()  # held until the call ends, even if the request gives up first (timeout, cancel)
        except Unavailable:
            self._leave()
            raise
        if self._batching_of(served) is not None:
            future = asyncio.ensure_future(self._batcher(served, signature, call).submit(inputs))
        elif self._runs_inline(served, signature, inputs):
            cpu_before = time.thread_time()  # CPU time: being descheduled on a busy machine does not count
            try:
                return call(inputs, submitted)
            finally:
                served.give_back()
                self._leave()
                if time.thread_time() - cpu_before > INLINE_SLOW_FACTOR * self.options.inline_call_micros / 1e6:
                    served.hold_off(signature, INLINE_HOLD_OFF_CALLS)  # inputs that cost more: stop blocking
        else:
            try:
                future = asyncio.wrap_future(self._executor.submit(call, inputs, submitted))
            except RuntimeError:
                served.give_back()
                self._leave()
                raise Unavailable("server is shutting down") from None
        future.add_done_callback(lambda _f: (served.give_back(), self._leave()))
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(f"model {served.model_name} did not answer within {timeout:.3f} s") from None

    def run_now(self, served: ServedVersion, signature: str, inputs: Mapping[str, np.ndarray], api: str) -> Arrays:
        """Run the call on the calling thread (the in-memory API), within the in-flight bound."""
        self._enter()
        try:
            if self._metrics is not None:
                return self._caller(served, signature, api)(inputs, time.perf_counter())
            started = time.perf_counter()  # no metrics (a local service): no running count to keep either
            try:
                return _run_model(served.model, signature, inputs)
            finally:
                served.observe_call(signature, time.perf_counter() - started)
        finally:
            self._leave()

    def _caller(
        self, served: ServedVersion, signature: str, api: str
    ) -> Callable[[Mapping[str, np.ndarray], float], Arrays]:
        model, metrics, lock = served.model, self._metrics, self._lock

        def call(batch: Mapping[str, np.ndarray], enqueued: float) -> Arrays:
            started = time.perf_counter()
            with lock:
                self._running += 1
            try:
                return _run_model(model, signature, batch)
            finally:
                ended = time.perf_counter()
                served.observe_call(signature, ended - started)
                with lock:
                    self._running -= 1
                rows = rows_of(batch)
                served.statistics.observe_execution(rows, started - enqueued, ended - started)
                if metrics is not None:
                    metrics.observe_run(
                        served.model_name, served.version, signature, model.platform, api,
                        rows, started - enqueued, ended - started,
                    )  # fmt: skip

        return call

    def _runs_inline(self, served: ServedVersion, signature: str, inputs: Mapping[str, np.ndarray]) -> bool:
        """Whether this call may run on the event loop: a small request to a signature whose typical call
        takes under ``inline_call_micros``. A model that became slower goes back to the model threads (every
        call feeds the typical time)."""
        limit = self.options.inline_call_micros
        if limit <= 0 or rows_of(inputs) > INLINE_MAX_ROWS:
            return False
        typical = served.typical_call(signature)
        return typical is not None and typical * 1e6 < limit

    def _batching_of(self, served: ServedVersion) -> BatchingConfig | None:
        """The model's own (config override), else with server batching on the version's or the server's."""
        if served.batching is not None:
            return served.batching
        if self.options.batching is None:
            return None
        return served.model.batching or self.options.batching  # type: ignore[return-value]

    def _batcher(self, served: ServedVersion, signature: str, call: Callable) -> DynamicBatcher:
        """One batcher per (model version, signature), kept on the version so it goes when the version goes.
        Called on the event loop only."""
        batcher = served.batchers.get(signature)
        if batcher is None:
            config = self._batching_of(served)
            batcher = served.batchers[signature] = DynamicBatcher(call, config, self._executor)
        return batcher  # type: ignore[return-value]

    def _enter(self) -> None:
        with self._lock:
            if self._in_flight >= self.options.max_in_flight:
                limit = self.options.max_in_flight
                raise Unavailable(f"server overloaded: {limit} requests in flight (the limit); retry later")
            self._in_flight += 1

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    # ---- shadows ----

    def mirror(self, work: Callable[[], None]) -> bool:
        """Run ``work`` (a shadow call) on the model threads if there is room for it; False when skipped."""
        with self._lock:
            if self._in_flight + self._shadows >= max(1, self.options.max_in_flight // 2):
                return False
            self._shadows += 1

        def run() -> None:
            try:
                work()
            finally:
                with self._lock:
                    self._shadows -= 1

        try:
            self._executor.submit(run)
        except RuntimeError:  # shutting down
            with self._lock:
                self._shadows -= 1
            return False
        return True

    # ---- shutdown ----

    def stop(self) -> None:
        """Refuse new thread work, then wait up to ``graceful_shutdown_seconds`` for calls in flight."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + self.options.graceful_shutdown_seconds
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.01)


def _run_model(model: LoadedModel, signature: str, inputs: Mapping[str, np.ndarray]) -> Arrays:
    """``model.run``, with a failure that is not a ServingError named as Internal (a runtime bug)."""
    try:
        return model.run(signature, inputs)
    except ServingError:
        raise
    except Exception as exc:  # runtimes wrap framework errors; anything else is a bug worth naming
        raise Internal(f"model call failed: {type(exc).__name__}: {first_line(exc)}") from exc
