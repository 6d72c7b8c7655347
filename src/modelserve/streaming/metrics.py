"""Prometheus metrics of one streaming worker (served by ``--metrics-port``).

The worker's model calls go through a local serving core, which records the server's own model-call metrics
(``modelserve_batch_size``, ``modelserve_runtime_duration_seconds``, ``modelserve_queue_delay_seconds``,
declared once in :class:`~modelserve.metrics.collectors.ServingMetrics`); :class:`StreamMetrics` adds the
stream's ``modelserve_stream_*`` to the same registry, so one scrape and one dashboard read both.
prometheus_client's types are thread-safe.
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class StreamMetrics:
    """The stream's metrics, registered in ``registry`` (the local serving core's, or a new one).

    ``backend`` (``redis`` or ``kafka``) names the broker-error counter: ``modelserve_stream_<backend>_errors``
    (:attr:`errors`; :attr:`redis_errors` is the same counter). The ``latency`` histogram starts at the input's
    time: a Redis entry id's, or a Kafka record's timestamp."""

    def __init__(self, registry: CollectorRegistry | None = None, backend: str = "redis") -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
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
            "From the input's time (Redis entry id, Kafka record timestamp) to its result being written.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter(
            f"modelserve_stream_{backend}_errors", f"{backend.capitalize()} calls that failed and were retried.",
            ["operation"], registry=r,
        )  # fmt: skip
        self.redis_errors = self.errors
        self._peak = 0
        self._lock = threading.Lock()

    def set_in_flight(self, count: int) -> None:
        self.in_flight.set(count)
        with self._lock:
            if count > self._peak:
                self._peak = count
                self.in_flight_peak.set(count)

    def serve(self, port: int, host: str) -> None:
        """Serve ``/metrics`` (any path) on a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)
