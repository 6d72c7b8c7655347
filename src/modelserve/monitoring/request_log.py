"""The request log: a sample of what was asked and answered (JSON lines, Parquet, CloudEvents over HTTP),
never on the request's path.

    log = RequestLog(LogSettings(path=Path("requests.jsonl"), sample_rate=0.05))
    if log.wants("digits", failed=False):
        log.record(entry)          # returns at once; a writer thread encodes and writes

Contract:

* **Sampled**: each model's rate (``LogSettings.rates``, else ``sample_rate``) decides per request; a failed
  request is always logged. Deciding costs one random draw; nothing else runs for a request not sampled.
* **Never blocking**: :meth:`RequestLog.record` puts the entry on a bounded queue (one per sink); when it
  is full the entry is dropped and counted (:attr:`RequestLog.dropped`), never waited for. A writer that
  cannot write (disk full, a removed folder, a receiver that is down) counts the loss and keeps serving.
* **Bounded disk**: the file rotates at ``max_bytes`` (and, with ``rotate_seconds``, by age) keeping
  ``backups`` old files (``requests.jsonl.1``...,
  Parquet: ``requests.1.parquet``...), so the log holds about ``(backups + 1) * max_bytes`` at most.
* **Sinks** (:mod:`modelserve.monitoring.log_sinks`): the file at ``path`` in ``format`` (``jsonl`` or
  ``parquet``), and/or each entry POSTed as a CloudEvent to ``cloudevents_url``. Each sink has its own
  queue and writer thread (a slow receiver never holds up the file); :attr:`RequestLog.written` and
  :attr:`RequestLog.dropped` are summed over the sinks. A sink that fails is reported once per outage.
* **Summaries, not tensors**: entries carry each input's dtype, shape and statistics (count, mean, std, min,
  max, and per feature for 2-D inputs of up to 64 features; see :func:`summarize`), and outputs as top-k
  classes for class scores, values for small outputs, else shape and statistics. Raw tensors only with
  ``include_tensors``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import re
import threading
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.access.scopes import PRINCIPAL
from modelserve.errors import ServingError
from modelserve.monitoring.log_sinks import CloudEventsSink, JsonLinesSink, ParquetSink, Sink, SinkError
from modelserve.types import InferRequest, InferResponse

__all__ = [
    "REQUEST_ID",
    "REQUEST_ID_HEADER",
    "LogSettings",
    "RequestLog",
    "entry_for",
    "request_id",
    "summarize",
    "summarize_outputs",
]

log = logging.getLogger(__name__)

# The id of the request being served, set by the door that received it (and sent back on its answer).
REQUEST_ID: ContextVar[str] = ContextVar("modelserve_request_id", default="")
REQUEST_ID_HEADER = "x-request-id"
# Whether the serving core logged the request being served (a door logs the failures that never reached it).
LOGGED: ContextVar[bool] = ContextVar("modelserve_request_logged", default=False)
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def request_id(given: str | None) -> str:
    """The id of a request: the caller's ``x-request-id`` when it is a sane token (1-128 characters of
    letters, digits and ``._:@/+=-``), else 16 new hex digits."""
    if given and _CLIENT_ID.fullmatch(given):
        return given
    return os.urandom(8).hex()


_INFERENCE_APIS = {"predict", "classify", "regress", "multi_inference", "infer", "model_infer"}
_MAX_FEATURES = 64
_SMALL_OUTPUT = 16
_STOP = object()
_IDLE_SECONDS = 1.0  # how often an idle writer lets its sinks write what is due
FORMATS = ("jsonl", "parquet")


@dataclass(frozen=True)
class LogSettings:
    """``path`` None: no file. ``rates``: per-model sample rates overriding ``sample_rate`` (0..1).
    ``format``: the file's, ``jsonl`` or ``parquet`` (needs pyarrow). ``cloudevents_url``: also (or, without
    ``path``, only) POST each entry there as a CloudEvent, with ``cloudevents_source`` as its ``ce-source``
    (None: ``modelserve/<hostname>``)."""

    path: Path | None = None
    sample_rate: float = 0.01
    rates: Mapping[str, float] = field(default_factory=dict)
    max_bytes: int = 64 * 2**20
    rotate_seconds: float = 0  # also rotate a file this long after it was opened (0: by size only)
    backups: int = 5
    queue_size: int = 10_000
    top_k: int = 5
    include_tensors: bool = False
    format: str = "jsonl"
    cloudevents_url: str | None = None
    cloudevents_source: str | None = None


def _stats(values: np.ndarray) -> dict[str, float]:
    flat = values.astype(np.float64, copy=False).reshape(-1)
    if flat.size == 0:
        return {"count": 0}
    return {
        "count": int(flat.size),
        "mean": float(flat.mean()),
        "std": float(flat.std()),
        "min": float(flat.min()),
        "max": float(flat.max()),
    }


def _numeric(array: np.ndarray) -> bool:
    return array.dtype.kind in "biuf"


def summarize(name: str, array: Any, include_tensor: bool = False) -> dict[str, Any]:
    """``{"dtype", "shape", "stats", "features"?, "values"?}`` of one tensor (strings: lengths only)."""
    array = np.asarray(array)
    found: dict[str, Any] = {"name": name, "dtype": str(array.dtype), "shape": list(array.shape)}
    if _numeric(array):
        found["stats"] = _stats(array)
        if array.ndim == 2 and 0 < array.shape[1] <= _MAX_FEATURES and array.shape[0] > 0:
            columns = array.astype(np.float64, copy=False)
            found["features"] = {"mean": columns.mean(axis=0).tolist(), "std": columns.std(axis=0).tolist()}
    elif array.dtype == object or array.dtype.kind in "SU":
        lengths = np.array([len(x) if isinstance(x, (bytes, str)) else 0 for x in array.reshape(-1)], np.float64)
        found["lengths"] = _stats(lengths)
    if include_tensor and array.dtype != object:
        found["values"] = array.tolist()
    return found


def summarize_outputs(outputs: Mapping[str, Any], top_k: int, include_tensors: bool = False) -> list[dict]:
    """Outputs for the log: top-k classes per row for class scores ([n, K] floats in [0, 1], K >= 2, first
    8 rows), the values of small outputs, else shape and statistics."""
    found = []
    for name, value in outputs.items():
        array = np.asarray(value)
        entry = summarize(name, array, include_tensors)
        if array.dtype.kind == "f" and array.ndim == 2 and array.shape[1] >= 2 and array.size:
            rows = array[:8]
            if float(rows.min()) >= 0 and float(rows.max()) <= 1:
                k = min(top_k, array.shape[1])
                top = np.argsort(-rows, axis=1, kind="stable")[:, :k]
                entry["top_k"] = [
                    [[int(i), float(row[i])] for i in indices] for row, indices in zip(rows, top)
                ]  # fmt: skip
        if array.size <= _SMALL_OUTPUT and array.dtype != object and "values" not in entry:
            entry["values"] = array.tolist()
        found.append(entry)
    return found


class RequestLog:
    def __init__(self, settings: LogSettings) -> None:
        if settings.path is None and not settings.cloudevents_url:
            raise ValueError("a request log needs a path or a CloudEvents URL")
        if settings.format not in FORMATS:
            raise ValueError(f"request log format {settings.format!r}: expected one of {', '.join(FORMATS)}")
        for model, rate in {"": settings.sample_rate, **settings.rates}.items():
            if not 0 <= rate <= 1:
                raise ValueError(f"request log sample rate{' of ' + model if model else ''} must be in [0, 1]")
        self.settings = settings
        self._random = random.Random()
        self._lanes = [_Lane(sink, settings.queue_size) for sink in _sinks_for(settings)]
        self._closed = False

    @property
    def dropped(self) -> int:
        """Entries lost (a full queue, a write that failed), summed over the sinks."""
        return sum(lane.dropped for lane in self._lanes)

    @property
    def written(self) -> int:
        """Entries the sinks took (a Parquet sink: into its batch), summed over the sinks."""
        return sum(lane.written for lane in self._lanes)

    def wants(self, model: str, failed: bool) -> bool:
        """Whether to log this request: always when it failed, else by the model's sample rate."""
        if failed:
            return True
        rate = self.settings.rates.get(model, self.settings.sample_rate)
        return rate > 0 and (rate >= 1 or self._random.random() < rate)

    def record_refusal(self, model: str, api: str, protocol: str, status: str, message: str, seconds: float) -> None:
        """A failed request the serving core never saw (refused while decoding, or its model unknown): the
        door logs it, once, unless the core already did."""
        if LOGGED.get() or api.lower() not in _INFERENCE_APIS:  # status and metadata calls are not logged
            return
        caller = PRINCIPAL.get()
        self.record({
            "id": REQUEST_ID.get(), "time": time.time(), "model": model, "api": api, "protocol": protocol,
            "latency_ms": round(seconds * 1000, 3), "status": status, "error": message,
            "caller": caller.name if caller is not None else None,
        })  # fmt: skip

    def record(self, entry: dict[str, Any]) -> None:
        """Queue one entry for each sink's writer; dropped (and counted) by a sink whose queue is full."""
        LOGGED.set(True)
        for lane in self._lanes:
            lane.put(entry)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to ``timeout`` seconds in all), then close the sinks and stop."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        for lane in self._lanes:
            lane.stop(max(0.0, deadline - time.monotonic()))
        for lane in self._lanes:
            lane.thread.join(max(0.0, deadline - time.monotonic()))


class _Lane:
    """One sink with its own bounded queue and writer thread, so that a slow sink (a receiver that answers
    slowly) never holds up another. Counts what its sink took and lost."""

    def __init__(self, sink: Sink, queue_size: int) -> None:
        self.sink = sink
        self.written = 0
        self.dropped = 0
        self._failing = False  # whether the sink's last write failed (reported once per outage)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.thread = threading.Thread(target=self._write_all, name="modelserve-request-log", daemon=True)
        self.thread.start()

    def put(self, entry: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1

    def stop(self, timeout: float) -> None:
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)

    def _write_all(self) -> None:
        """The writer thread: each entry to the sink; when idle, lets it write what is due; at ``_STOP``
        closes it (so a Parquet file gets its last row group and its footer)."""
        sink = self.sink
        while True:
            try:
                entry = self._queue.get(timeout=_IDLE_SECONDS)
            except queue.Empty:
                self.dropped += self._attempt(sink.flush)
                continue
            if entry is _STOP:
                self.dropped += self._attempt(sink.close)
                return
            lost = self._attempt(sink.write, entry)
            if lost:
                self.dropped += lost
            else:
                self.written += 1

    def _attempt(self, step: Any, *args: Any) -> int:
        """Run one sink step; the number of entries it lost (0: none). A full disk, a removed folder or a
        receiver that is down is counted and reported once per outage, never raised."""
        sink = self.sink
        pending = sink.pending
        try:
            step(*args)
        except Exception as exc:
            if not self._failing:
                self._failing = True
                log.error("request log %s: %s (entries are dropped and counted)", sink.name, exc)
            return exc.lost if isinstance(exc, SinkError) else 1
        wrote = sink.pending == 0 and (pending > 0 or step == sink.write)  # reached the file or the receiver
        if wrote and self._failing:
            self._failing = False
            log.warning("request log %s: writing again (%d entries dropped so far)", sink.name, self.dropped)
        return 0


def _sinks_for(settings: LogSettings) -> list[Sink]:
    """The file sink (``path`` in ``format``) and the CloudEvents sink, each when configured."""
    sinks: list[Sink] = []
    if settings.path is not None:
        settings.path.parent.mkdir(parents=True, exist_ok=True)
        kind = ParquetSink if settings.format == "parquet" else JsonLinesSink
        sinks.append(kind(settings.path, settings.max_bytes, settings.backups, settings.rotate_seconds))
    if settings.cloudevents_url:
        sinks.append(CloudEventsSink(settings.cloudevents_url, settings.cloudevents_source))
    return sinks


def entry_for(
    request: InferRequest,
    response: InferResponse | None,
    error: BaseException | None,
    seconds: float,
    settings: LogSettings,
) -> dict[str, Any]:
    """One log entry: ids, time, what was asked and what answered (or the error), latency, status, caller."""
    caller = PRINCIPAL.get()
    entry: dict[str, Any] = {
        "id": REQUEST_ID.get() or request.request_id or "",
        "time": time.time(),
        "model": request.ref.name,
        "version": response.version if response is not None else request.ref.version,
        "label": request.ref.label,
        "route": response.route if response is not None else "",
        "signature": response.signature if response is not None else request.signature,
        "api": request.api,
        "latency_ms": round(seconds * 1000, 3),
        "status": "OK" if error is None else (error.code.name if isinstance(error, ServingError) else "INTERNAL"),
        "caller": caller.name if caller is not None else None,
        "inputs": [summarize(name, value, settings.include_tensors) for name, value in request.inputs.items()],
    }
    if error is not None:
        entry["error"] = error.message if isinstance(error, ServingError) else f"{type(error).__name__}: {error}"
    if response is not None:
        entry["outputs"] = summarize_outputs(response.outputs, settings.top_k, settings.include_tensors)
    return entry
