"""Per-version inference statistics, as Triton's statistics extension reports them.

One :class:`VersionStatistics` lives on each loaded version (:class:`~modelserve.serving.handle.ServedVersion`)
and goes with it. What is counted, and where:

- per request (:meth:`ModelService.infer <modelserve.serving.service.ModelService.infer>`): ``success`` or
  ``fail`` (count, and the time from the request reaching the service to its answer), ``inference_count``
  (rows: a batch of 8 is 8 inferences, as in Triton), ``compute_input`` (the input gate: checking and
  converting inputs), ``compute_output`` (choosing the requested outputs), ``last_inference``;
- per model execution (the dispatcher's call, one per batch when batching merges requests):
  ``execution_count``, ``queue`` (from entering the dispatcher to the model call starting; for a merged
  batch, its oldest request's wait), ``compute_infer`` (the model call) and ``batch_stats`` by batch size.

So ``queue`` and ``compute_infer`` count executions: with batching off they equal the successful and failed
requests that reached the model; with batching on they are fewer, and ``compute_infer.ns / count`` is the
time of one batch, which is what each request in it waited for. Counts only grow; a reload of the version
starts from zero (a new version object), as Triton's do.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Duration:
    """``{count, ns}``: how many times, and nanoseconds in all."""

    count: int = 0
    ns: int = 0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.ns += int(seconds * 1e9)


@dataclass
class BatchStatistics:
    batch_size: int
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass
class StatisticsSnapshot:
    """A consistent copy, for the statistics APIs."""

    last_inference_ms: int
    inference_count: int
    execution_count: int
    success: Duration
    fail: Duration
    queue: Duration
    compute_input: Duration
    compute_infer: Duration
    compute_output: Duration
    batches: list[BatchStatistics]


class VersionStatistics:
    """Thread-safe counters (requests finish on the event loop, executions on model threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_inference_ms = 0
        self._inference_count = 0
        self._execution_count = 0
        self._success = Duration()
        self._fail = Duration()
        self._queue = Duration()
        self._compute_input = Duration()
        self._compute_infer = Duration()
        self._compute_output = Duration()
        self._batches: dict[int, BatchStatistics] = {}

    def observe_request(self, ok: bool, rows: int, total: float, admit: float, answer: float) -> None:
        """One request's end (seconds): its whole time in the service, the input gate, the output step."""
        now_ms = int(time.time() * 1000)
        with self._lock:
            (self._success if ok else self._fail).add(total)
            if ok:
                self._inference_count += rows
                self._compute_input.add(admit)
                self._compute_output.add(answer)
            self._last_inference_ms = now_ms

    def observe_execution(self, batch_size: int, queued: float, ran: float) -> None:
        """One model call of ``batch_size`` rows that waited ``queued`` and ran ``ran`` seconds."""
        with self._lock:
            self._execution_count += 1
            self._queue.add(queued)
            self._compute_infer.add(ran)
            batch = self._batches.get(batch_size)
            if batch is None:
                batch = self._batches[batch_size] = BatchStatistics(batch_size)
            batch.compute_infer.add(ran)
            batch.compute_input.add(0.0)
            batch.compute_output.add(0.0)

    def snapshot(self) -> StatisticsSnapshot:
        def copy(duration: Duration) -> Duration:
            return Duration(duration.count, duration.ns)

        with self._lock:
            return StatisticsSnapshot(
                self._last_inference_ms,
                self._inference_count,
                self._execution_count,
                copy(self._success),
                copy(self._fail),
                copy(self._queue),
                copy(self._compute_input),
                copy(self._compute_infer),
                copy(self._compute_output),
                [
                    BatchStatistics(b.batch_size, copy(b.compute_input), copy(b.compute_infer), copy(b.compute_output))
                    for _, b in sorted(self._batches.items())
                ],
            )
