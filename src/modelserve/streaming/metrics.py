"""Prometheus metrics of one streaming worker, in its own registry (served by ``--metrics-port``).

Model-call metrics keep the server's names (``modelserve_batch_size``, ``modelserve_runtime_duration_seconds``,
``modelserve_queue_delay_seconds``) so one dashboard reads both; stream metrics are ``modelserve_stream_*``.
Recording is called from the event loop and from model threads; prometheus_client's types are thread-safe.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class StreamMetrics:
    def __init__(self, model: str, version: int | None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._model, self._version = model, "" if version is None else str(version)
        r = self.registry
        self.messages = Counter(
            "modelserve_stream_messages", "Input entries finished, by outcome (ok, dead_letter, duplicate, deleted).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.dead_letters = Counter(
            "modelserve_stream_dead_letters", "Entries sent to the dead-letter stream, by error code.", ["code"],
            registry=r,
        )  # fmt: skip
        self.redelivered = Counter(
            "modelserve_stream_redelivered", "Entries taken over from a previous run or another consumer.", registry=r
        )
        self.in_flight = Gauge("modelserve_stream_in_flight", "Entries read and not yet acknowledged.", registry=r)
        self.in_flight_peak = Gauge(
            "modelserve_stream_in_flight_peak", "The highest in-flight count since the worker started.", registry=r
        )
        self.latency = Histogram(
            "modelserve_stream_latency_seconds",
            "From the input entry's id time (when it was added) to its result being written.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.redis_errors = Counter(
            "modelserve_stream_redis_errors", "Redis calls that failed and were retried.", ["operation"], registry=r
        )
        self._batch_size = Histogram(
            "modelserve_batch_size", "Rows per model call.", ["model", "signature"], buckets=_BATCH_BUCKETS, registry=r
        )
        self._runtime = Histogram(
            "modelserve_runtime_duration_seconds", "Model call time.", ["model", "version", "signature", "runtime"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._queue_delay = Histogram(
            "modelserve_queue_delay_seconds", "Time a batch's oldest request waited for a model thread.", ["model"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._peak = 0
        self._lock = threading.Lock()

    def set_in_flight(self, count: int) -> None:
        self.in_flight.set(count)
        with self._lock:
            if count > self._peak:
                self._peak = count
                self.in_flight_peak.set(count)

    def observe_run(self, signature: str, runtime: str, rows: int, queued: float, seconds: float) -> None:
        self._batch_size.labels(self._model, signature).observe(rows)
        self._runtime.labels(self._model, self._version, signature, runtime).observe(seconds)
        self._queue_delay.labels(self._model).observe(queued)

    def serve(self, port: int, host: str) -> None:
        """Serve ``/metrics`` (any path) on a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
