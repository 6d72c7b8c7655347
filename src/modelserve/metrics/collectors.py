"""Prometheus metrics: TF Serving's names, and ours per model, version, signature, protocol and status.

One :class:`ServingMetrics` per server, in its own registry (no global state). TF Serving's metrics keep
their exact names and units (microseconds): ``:tensorflow:serving:request_count{model_name,status}``,
``:tensorflow:serving:request_latency{model_name,API,entrypoint}`` (successes only) and
``:tensorflow:serving:runtime_latency{model_name,API,runtime}``. Ours are ``modelserve_*`` in seconds.
Recording is a few dict lookups and lock-protected adds; exposition happens only when scraped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from modelserve.metrics.record import RequestRecord

prometheus_client.disable_created_metrics()

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_TF_MICROS_BUCKETS = tuple(b * 1e6 for b in _LATENCY_BUCKETS)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
_TF_COUNT = ":tensorflow:serving:request_count"


class _TfRequestCount:
    """TF Serving's request counter under its exact name; prometheus_client would write ``_total``."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def inc(self, model: str, status: str) -> None:
        with self._lock:
            self._counts[(model, status)] = self._counts.get((model, status), 0) + 1

    def text(self) -> bytes:
        lines = [f"# HELP {_TF_COUNT} The total number of requests.", f"# TYPE {_TF_COUNT} counter"]
        with self._lock:
            for (model, status), value in sorted(self._counts.items()):
                lines.append(f'{_TF_COUNT}{{model_name="{_escape(model)}",status="{status}"}} {value}')
        return ("\n".join(lines) + "\n").encode()


def _escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _ModelStates:
    """``modelserve_model_version_state``: 1 for each version's current state, read when scraped."""

    def __init__(self, statuses: Callable[[], Iterable[tuple[str, int, str]]]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterable[Metric]:
        metric = GaugeMetricFamily(
            "modelserve_model_version_state", "Each model version's state (1 = the current one).",
            labels=["model", "version", "state"],
        )  # fmt: skip
        for model, version, state in self._statuses():
            metric.add_metric([model, str(version), state], 1)
        yield metric


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._tf_count = _TfRequestCount()
        self._tf_request_latency = Histogram(
            ":tensorflow:serving:request_latency", "Distribution of wall time (in microseconds) for requests.",
            ["model_name", "API", "entrypoint"], buckets=_TF_MICROS_BUCKETS, registry=r,
        )  # fmt: skip
        self._tf_runtime_latency = Histogram(
            ":tensorflow:serving:runtime_latency", "Distribution of wall time (in microseconds) for model runs.",
            ["model_name", "API", "runtime"], buckets=_TF_MICROS_BUCKETS, registry=r,
        )  # fmt: skip
        labels = ["model", "version", "signature", "protocol"]
        self._requests = Counter("modelserve_requests", "Requests by outcome.", [*labels, "status"], registry=r)
        self._request_seconds = Histogram(
            "modelserve_request_duration_seconds", "Request latency, front door to answer.", [*labels, "status"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._runtime_seconds = Histogram(
            "modelserve_runtime_duration_seconds", "Model call latency.", ["model", "version", "signature", "runtime"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._queue_seconds = Histogram(
            "modelserve_queue_delay_seconds", "Wait for a model thread before the call starts.", ["model"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._batch_size = Histogram(
            "modelserve_batch_size", "Rows per model call.", ["model", "signature"], buckets=_BATCH_BUCKETS, registry=r
        )
        self._load_seconds = Histogram(
            "modelserve_model_load_seconds", "Time to load a model version.", ["model"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120), registry=r,
        )  # fmt: skip
        self._routed = Counter(
            "modelserve_routed_requests", "Requests routed by a traffic policy.", ["model", "route", "version"],
            registry=r,
        )  # fmt: skip
        self._shadow = Counter(
            "modelserve_shadow_requests", "Shadow calls by outcome (match, mismatch, error, skipped).",
            ["model", "version", "outcome"], registry=r,
        )  # fmt: skip
        self._shadow_diff = Histogram(
            "modelserve_shadow_max_abs_diff", "Largest absolute output difference, shadow vs served.",
            ["model", "version"], buckets=(0, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, float("inf")), registry=r,
        )  # fmt: skip
        self._shadow_seconds = Histogram(
            "modelserve_shadow_duration_seconds", "Model call latency of shadow calls.", ["model", "version"],
            registry=r,
        )  # fmt: skip
        self._step_seconds = Histogram(
            "modelserve_pipeline_step_seconds", "Time of one step of a pipeline.", ["pipeline", "step"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._auth_refusals = Counter(
            "modelserve_auth_refusals", "Requests refused by access control (missing_key, invalid_key, "
            "rate_limited, scope).", ["reason"], registry=r,
        )  # fmt: skip
        self.in_flight = Gauge("modelserve_in_flight_requests", "Model calls running or waiting.", registry=r)
        # Bound label children per label set (as many as Prometheus keeps anyway); see observe_request.
        self._request_children: dict[tuple[str, ...], tuple[Any, Any, Any]] = {}
        self._run_children: dict[tuple[object, ...], tuple[Any, Any, Any, Any]] = {}
        self.queued = Gauge("modelserve_queued_requests", "Model calls waiting for a thread.", registry=r)

    def watch_states(self, statuses: Callable[[], Iterable[tuple[str, int, str]]]) -> None:
        self.registry.register(_ModelStates(statuses))

    def observe_request(self, record: RequestRecord, status: str, seconds: float) -> None:
        """A request that named a model ended with ``status`` (a code name: ``OK``, ``NOT_FOUND``, ...)."""
        if not record.model:
            return
        key = (record.model, record.version, record.signature, record.protocol, status, record.api)
        children = self._request_children.get(key)
        if children is None:  # labels() costs a lock and a lookup per metric: bind the children once
            labels = key[:5]
            entrypoint = "GRPC" if record.protocol.endswith("grpc") else "REST"
            tf_latency = None
            if status == "OK":
                tf_latency = self._tf_request_latency.labels(record.model, record.api, entrypoint)
            children = (self._requests.labels(*labels), self._request_seconds.labels(*labels), tf_latency)
            self._request_children[key] = children
        count, latency, tf_latency = children
        count.inc()
        latency.observe(seconds)
        self._tf_count.inc(record.model, status)
        if tf_latency is not None:
            tf_latency.observe(seconds * 1e6)

    def observe_run(
        self, model: str, version: int, signature: str, runtime: str, api: str, rows: int, queued: float, ran: float
    ) -> None:
        """One model call: ``rows`` in its batch, ``queued`` seconds waiting for a thread, ``ran`` seconds."""
        key = (model, version, signature, runtime, api)
        children = self._run_children.get(key)
        if children is None:
            children = self._run_children[key] = (
                self._runtime_seconds.labels(model, str(version), signature, runtime),
                self._tf_runtime_latency.labels(model, api, runtime),
                self._queue_seconds.labels(model),
                self._batch_size.labels(model, signature),
            )
        runtime_seconds, tf_runtime, queue_seconds, batch_size = children
        runtime_seconds.observe(ran)
        tf_runtime.observe(ran * 1e6)
        queue_seconds.observe(queued)
        batch_size.observe(rows)

    def observe_route(self, model: str, route: str, version: int) -> None:
        self._routed.labels(model, route, str(version)).inc()

    def observe_shadow(self, model: str, version: int, outcome: str, max_abs_diff: float, seconds: float) -> None:
        """One shadow call; ``max_abs_diff`` and ``seconds`` are recorded only for calls that answered."""
        self._shadow.labels(model, str(version), outcome).inc()
        if outcome in ("match", "mismatch"):
            self._shadow_diff.labels(model, str(version)).observe(max_abs_diff)
            self._shadow_seconds.labels(model, str(version)).observe(seconds)

    def observe_step(self, pipeline: str, step: str, seconds: float) -> None:
        self._step_seconds.labels(pipeline, step).observe(seconds)

    def observe_auth_refusal(self, reason: str) -> None:
        self._auth_refusals.labels(reason).inc()

    def observe_load(self, model: str, seconds: float) -> None:
        self._load_seconds.labels(model).observe(seconds)

    def exposition(self) -> bytes:
        return self._tf_count.text() + prometheus_client.generate_latest(self.registry)


def rows_of(inputs: dict[str, Any]) -> int:
    """Rows in a call: the first dimension of the first input (1 for scalars)."""
    for array in inputs.values():
        return int(array.shape[0]) if getattr(array, "ndim", 0) else 1
    return 0
