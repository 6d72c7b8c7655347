"""The monitor: what every answered request adds to drift and ground-truth memory, off the request's path.

    monitor = Monitor(MonitorSettings(...), run_reference=service_run)
    monitor.observe("digits", 3, folder, "canary", "req-1", "serving_default", inputs, outputs)  # ~0.3 µs
    await monitor.judge("digits", None, parse_feedback(body))   # ground truth joined with what was answered
    monitor.report("digits")                                    # GET /v1/models/NAME/monitoring
    registry.register(MonitorCollector(monitor, loaded_versions))

Contract:

* :meth:`observe` is the only call on a request's path: it appends a tuple to a bounded deque, or counts
  the observation as dropped when the monitor's thread is ``queue_size`` behind. Everything else (features,
  predictions, baselines, windows, statistics, joins) runs on the monitor's one thread.
* A version's drift follows the first signature it is asked for (usually ``serving_default``); its baseline
  comes from a reference dataset (the model's ``reference`` setting, else ``reference.npz|parquet`` in the
  version folder; the model is run on it here, in chunks, when the file has no outputs), else from its first
  requests (:mod:`modelserve.monitoring.drift`). A reference that cannot be read is reported and the
  baseline learned instead.
* :meth:`judge` is ordered after every observation made before it, so feedback sent right after an answer
  finds it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.monitoring.drift import DriftSettings, VersionDrift
from modelserve.monitoring.features import features, predictions, rows
from modelserve.monitoring.feedback import Feedback, FeedbackItem
from modelserve.monitoring.reference import find_reference, read_reference

__all__ = ["Monitor", "MonitorSettings", "RunReference"]

log = logging.getLogger(__name__)

# Runs a version on reference inputs: (model, version, signature, inputs) -> outputs.
RunReference = Callable[[str, int, str, Mapping[str, np.ndarray]], Mapping[str, np.ndarray]]
_REFERENCE_CHUNK = 100
_IDLE_WAIT = 0.02
_DRAIN = 256  # observations taken from the queue at once (joined by version and signature)
_TICK_SECONDS = 0.25


@dataclass(frozen=True)
class MonitorSettings:
    drift: DriftSettings = field(default_factory=DriftSettings)
    per_model: Mapping[str, DriftSettings] = field(default_factory=dict)
    feedback_memory_requests: int = 100_000  # 0: no ground-truth memory
    feedback_window_rows: int = 1000
    queue_size: int = 10_000

    def drift_of(self, model: str) -> DriftSettings:
        return self.per_model.get(model, self.drift)


@dataclass
class _Tracked:
    drift: VersionDrift
    signature: str
    folder: Path


class Monitor:
    def __init__(self, settings: MonitorSettings, run_reference: RunReference | None = None) -> None:
        self.settings = settings
        self.dropped = 0
        self._run_reference = run_reference
        self._queue: deque = deque()
        self._tracked: dict[tuple[str, int], _Tracked] = {}
        self.feedback = Feedback(settings.feedback_memory_requests, settings.feedback_window_rows)
        self.lock = threading.Lock()  # held while state changes and while it is read
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._work, name="modelserve-monitor", daemon=True)
        self._thread.start()

    def observe(
        self, model: str, version: int, folder: Path, route: str, request_id: str, signature: str,
        inputs: Mapping[str, Any], outputs: Mapping[str, Any],
    ) -> None:  # fmt: skip
        """One answered request (see the module contract)."""
        queue = self._queue
        if len(queue) >= self.settings.queue_size:
            self.dropped += 1
            return
        queue.append((model, version, folder, route, request_id, signature, inputs, outputs))

    async def judge(self, model: str, version: int | None, items: list[FeedbackItem]) -> dict[str, Any]:
        """Join ground truth with the remembered answers (after every observation made so far)."""
        return await self._ask(self.feedback.judge, model, version, items)

    async def reasons(self, model: str, version: int | None, items: list[FeedbackItem]) -> list[dict[str, Any] | None]:
        """Each item joined (None) or why not, nothing counted (:meth:`Feedback.reasons`), in the same order."""
        return await self._ask(self.feedback.reasons, model, version, items)

    def summary(self, model: str, items: list[FeedbackItem], reasons: list[dict[str, Any] | None]) -> dict[str, Any]:
        with self.lock:
            return self.feedback.summary(model, items, reasons)

    async def _ask(self, method: Callable[..., Any], *arguments: Any) -> Any:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.append((future, method, arguments))
        return await asyncio.wrap_future(future)

    def report(self, model: str) -> dict[str, Any]:
        """Drift per version and feedback scores per version and route of ``model``."""
        with self.lock:
            versions: dict[int, dict[str, Any]] = {}
            for (name, version), tracked in sorted(self._tracked.items()):
                if name == model:
                    entry = versions.setdefault(version, {"version": version})
                    entry["drift"] = {"signature": tracked.signature, **tracked.drift.report()}
            for (_model, version, route), scores in sorted(self.feedback.scores(model).items()):
                entry = versions.setdefault(version, {"version": version})
                entry.setdefault("feedback", {})[route] = scores
            return {
                "model": model,
                "drift_enabled": self.settings.drift_of(model).enabled,
                "versions": [versions[v] for v in sorted(versions)],
                "feedback_unmatched_rows": self.feedback.unmatched.get(model, 0),
            }

    def tracked(self) -> list[tuple[str, int, Path, VersionDrift]]:
        """``(model, version, folder, drift)`` of every version seen; read under :attr:`lock`."""
        return [(m, v, t.folder, t.drift) for (m, v), t in self._tracked.items()]

    def close(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self._thread.join(timeout)

    # ---- the monitor's thread ----

    def _work(self) -> None:
        queue = self._queue
        next_tick = time.monotonic() + _TICK_SECONDS
        while not self._stopped.is_set():
            drained: list[tuple] = []
            with contextlib.suppress(IndexError):
                while len(drained) < _DRAIN:
                    drained.append(queue.popleft())
            try:
                self._handle_all(drained)
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = now + _TICK_SECONDS
                    with self.lock:
                        for tracked in self._tracked.values():
                            tracked.drift.tick(now)
            except Exception:  # a monitoring bug must never stop monitoring (nor touch a request)
                log.exception("monitor: observations could not be processed")
            if len(drained) < _DRAIN:  # no backlog: let the next block of requests gather (numpy per block)
                self._stopped.wait(_IDLE_WAIT)

    def _handle_all(self, items: list[tuple]) -> None:
        """Observations in order; each feedback after the observations queued before it."""
        observations: list[tuple] = []
        for item in items:
            if isinstance(item[0], concurrent.futures.Future):
                self._observe_all(observations)
                observations = []
                self._judge(*item)
            else:
                observations.append(item)
        self._observe_all(observations)

    def _judge(self, future: concurrent.futures.Future, method: Callable[..., Any], arguments: tuple) -> None:
        try:
            with self.lock:
                result = method(*arguments)
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)

    def _observe_all(self, observations: list[tuple]) -> None:
        """Requests of the same version and signature are joined into one block of rows (numpy's cost per
        call, not per request: ~60 µs once instead of per request); rows that do not join (different
        shapes) are taken one request at a time."""
        groups: dict[tuple[str, int, str], list[tuple]] = {}
        for item in observations:
            groups.setdefault((item[0], item[1], item[5]), []).append(item)
        for group in groups.values():
            try:
                self._observe(group)
            except ValueError:
                if len(group) == 1:
                    raise
                for item in group:
                    self._observe([item])

    def _observe(self, group: list[tuple]) -> None:
        model, version, folder, _route, _id, signature, inputs, outputs = group[0]
        sizes = [rows(item[6]) for item in group]
        if len(group) > 1:
            inputs = {name: np.concatenate([np.asarray(item[6][name]) for item in group]) for name in inputs}
            outputs = {name: np.concatenate([np.asarray(item[7][name]) for item in group]) for name in outputs}
        n = sum(sizes)
        predicted = predictions(outputs, n)
        if predicted is not None and self.settings.feedback_memory_requests:
            answers = [(item[4], item[3], size) for item, size in zip(group, sizes)]
            with self.lock:
                self.feedback.remember_block(model, version, predicted, answers)
        settings = self.settings.drift_of(model)
        if not settings.enabled or n == 0:
            return
        tracked = self._tracked.get((model, version))
        if tracked is None:
            tracked = self._track(model, version, folder, signature, inputs, settings)
        if tracked.signature != signature:
            return
        found = features(inputs, outputs, settings.categorical, settings.embedding_output, predicted, settings.mmd)
        with self.lock:
            tracked.drift.add(found, n, time.monotonic())

    def _track(
        self, model: str, version: int, folder: Path, signature: str, inputs: Mapping[str, Any],
        settings: DriftSettings,
    ) -> _Tracked:  # fmt: skip
        drift = VersionDrift(settings)
        path = Path(settings.reference) if settings.reference else find_reference(folder)
        if path is not None:
            try:
                baseline = self._reference_features(model, version, signature, path, list(inputs), settings)
                drift.set_baseline(baseline, f"reference: {path}")
            except Exception as exc:
                drift.baseline_error = f"{path}: {exc}"
                log.warning("monitor: %s version %d: reference %s not used: %s", model, version, path, exc)
        tracked = _Tracked(drift, signature, folder)
        with self.lock:
            self._tracked[(model, version)] = tracked
        return tracked

    def _reference_features(
        self, model: str, version: int, signature: str, path: Path, input_names: list[str], settings: DriftSettings
    ) -> dict[str, np.ndarray]:
        arrays = read_reference(path, input_names)
        n = len(next(iter(arrays.values())))
        if n > settings.baseline_rows:  # a fixed random subset, so a restart draws the same baseline
            chosen = np.sort(np.random.default_rng(0).choice(n, settings.baseline_rows, replace=False))
            arrays = {name: value[chosen] for name, value in arrays.items()}
        inputs = {name: arrays[name] for name in input_names}
        outputs = {name: value for name, value in arrays.items() if name not in inputs} or None
        if outputs is None and self._run_reference is not None and rows(inputs):
            parts = []
            for start in range(0, rows(inputs), _REFERENCE_CHUNK):
                chunk = {name: value[start : start + _REFERENCE_CHUNK] for name, value in inputs.items()}
                parts.append(self._run_reference(model, version, signature, chunk))
            outputs = {name: np.concatenate([np.asarray(part[name]) for part in parts]) for name in parts[0]}
        return features(inputs, outputs, settings.categorical, settings.embedding_output, whole_rows=settings.mmd)
