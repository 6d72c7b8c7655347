"""The serving core every front door calls: models by name, versions by number or label, bounded work.

Composition (``server/main.py``) builds one :class:`ModelService` from a :class:`ServerConfig`, calls
:meth:`start` (first scan and loads, then one poller thread per model) and :meth:`stop`. Protocols call
:meth:`borrow` to pin a version and :meth:`run` to execute a signature off the event loop.

Limits: at most ``max_in_flight`` model calls run or wait at once; beyond that :meth:`run` fails at once
with ``Unavailable`` (HTTP 503) instead of queueing without bound. A call that outlives its deadline fails
with ``DeadlineExceeded`` (504); its thread finishes in the background and still counts as in flight.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from modelserve.batching.dynamic import BatchRunner, DynamicBatcher
from modelserve.config import ModelConfig, ServerConfig
from modelserve.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    ModelLoadError,
    NotFound,
    ServingError,
    Unavailable,
)
from modelserve.metrics.collectors import ServingMetrics, rows_of
from modelserve.metrics.record import CURRENT, RequestRecord, note
from modelserve.repository.filesystem import version_folders
from modelserve.runtimes import registry
from modelserve.runtimes.base import LoadedModel, RuntimeOptions
from modelserve.serving.handle import ServedVersion
from modelserve.serving.manager import ModelManager
from modelserve.serving.state import VersionState, VersionStatus
from modelserve.serving.traffic import Router, TrafficConfig, TrafficStats, compare_outputs, read_traffic_file
from modelserve.serving.warmup import WarmupOptions

log = logging.getLogger(__name__)

#: Requests with more rows than this always run on the model threads (their call grows with the rows).
INLINE_MAX_ROWS = 8
#: An inline call slower than this many times ``inline_call_micros`` sends the next
#: ``INLINE_HOLD_OFF_CALLS`` calls of its signature to the model threads (input-dependent cost).
INLINE_SLOW_FACTOR = 4
INLINE_HOLD_OFF_CALLS = 100


def _plain_name(name: str) -> bool:
    """A model name that can only mean a folder directly under the repository root."""
    return bool(name) and not name.startswith(".") and "/" not in name and "\\" not in name and "\x00" not in name


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def runtime_loader(model: ModelConfig, options: RuntimeOptions) -> Callable[[Path], LoadedModel]:
    return lambda path: registry.load(path, model.platform, options)


PER_MODEL_BATCHING_FILE = "batching_params.pbtxt"


def with_batching_params(load: Callable[[Path], LoadedModel]) -> Callable[[Path], LoadedModel]:
    """TF Serving's ``--enable_per_model_batching_parameters``: a version folder's ``batching_params.pbtxt``
    replaces the server's batching parameters for that version (kept as ``model.batching``). A file with
    an error fails the load with the file's message."""

    def load_with_params(path: Path) -> LoadedModel:
        model = load(path)
        params = path / PER_MODEL_BATCHING_FILE
        if params.is_file():
            from modelserve.batching.config import read_batching_parameters

            try:
                model.batching = read_batching_parameters(params)
            except ServingError as exc:
                model.close()
                raise ModelLoadError(f"per-model batching parameters: {exc.message}") from None
        return model

    return load_with_params


class ModelService:
    def __init__(self, config: ServerConfig, metrics: ServingMetrics | None = None) -> None:
        self.config = config
        self.metrics = metrics or ServingMetrics()
        self._options = RuntimeOptions(
            intra_op_threads=config.intra_op_threads,
            inter_op_threads=config.inter_op_threads,
            saved_model_tags=config.saved_model_tags,
        )
        self._managers = {m.name: self._new_manager(m) for m in config.models}
        workers = config.model_threads or max(4, 2 * (os.cpu_count() or 1))
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="model")
        self._in_flight = 0
        self._shadows = 0  # shadow calls running or waiting (not counted against max_in_flight)
        self._in_flight_lock = threading.Lock()
        self._stop = threading.Event()
        self._pollers: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._reload_lock = threading.Lock()
        self._known: dict[str, ModelConfig] = {m.name: m for m in config.models}  # loadable by name
        self._running = 0
        self.metrics.in_flight.set_function(lambda: self._in_flight)
        self.metrics.queued.set_function(lambda: max(0, self._in_flight - self._running))
        self._traffic = TrafficConfig()
        self._routers: dict[str, Router] = {}
        self.traffic_stats = TrafficStats()
        self.last_reload: dict[str, object] | None = None
        self._watched_at_start = tuple(
            _read_or_none(f) for f in (config.model_config_file, config.traffic_config_file) if f is not None
        )
        if config.traffic_config_file is not None:
            self.set_traffic(read_traffic_file(config.traffic_config_file))
        self.metrics.watch_states(
            lambda: [(n, s.version, s.state.name) for n, m in list(self._managers.items()) for s in m.statuses()]
        )

    def _new_manager(self, model: ModelConfig) -> ModelManager:
        load = runtime_loader(model, self._options)
        if self.config.batching is not None and self.config.per_model_batching:
            load = with_batching_params(load)
        return ModelManager(
            model,
            load,
            self.config.graceful_shutdown_seconds,
            on_loaded=self.metrics.observe_load,
            warmup=WarmupOptions(self.config.enable_model_warmup, self.config.num_request_iterations_for_warmup),
        )

    # ---- lifecycle ----

    def start(self) -> None:
        """Load what is on disk now (two scans ``settle_seconds`` apart), assign the configured labels, then
        poll in the background. A label that may not be assigned fails start-up (FailedPrecondition)."""
        self._settle(list(self._managers.values()))
        self._assign_labels(self._managers, {name: {} for name in self._managers})
        for manager in self._managers.values():
            self._start_poller(manager)
        watched = self.config.model_config_file or self.config.traffic_config_file
        if watched is not None and self.config.model_config_file_poll_wait_seconds > 0:
            watcher = threading.Thread(target=self._watch_files, name="config-watch", daemon=True)
            watcher.start()

    def _assign_labels(self, managers: Mapping[str, ModelManager], before: Mapping[str, Mapping[str, int]]) -> None:
        """Give every manager named in ``before`` its config's labels, all or none: each label is checked
        against ``before[name]`` (the labels it replaces) first; on the first refusal (FailedPrecondition, TF
        Serving's message) no label changes anywhere."""
        wanted = {name: dict(managers[name].config.labels) for name in before}
        allow = self.config.allow_version_labels_for_unavailable_models
        for name, labels in wanted.items():
            managers[name].check_labels(labels, allow, current=before[name])
        for name, labels in wanted.items():
            managers[name].set_labels(labels)

    def _settle(self, managers: list[ModelManager]) -> None:
        for manager in managers:
            manager.poll()
        time.sleep(self.config.settle_seconds)
        for manager in managers:
            manager.poll()

    def _start_poller(self, manager: ModelManager) -> None:
        if self.config.file_system_poll_wait_seconds <= 0:
            return
        stop = threading.Event()
        thread = threading.Thread(target=self._poll_loop, args=(manager, stop), name=f"poll-{manager.name}")
        thread.daemon = True
        thread.start()
        self._pollers[manager.name] = (thread, stop)

    def _poll_loop(self, manager: ModelManager, stop: threading.Event) -> None:
        while not (stop.wait(self.config.file_system_poll_wait_seconds) or self._stop.is_set()):
            try:
                manager.poll()
            except Exception:  # the poller must survive anything a scan meets
                log.exception("polling model %s failed", manager.name)

    def _stop_poller(self, name: str) -> None:
        thread, stop = self._pollers.pop(name, (None, None))
        if thread is not None:
            stop.set()
            thread.join()

    def reload_config(self, models: tuple[ModelConfig, ...]) -> None:
        """Match ``models`` exactly: add new models (loaded before they become visible), apply changed
        policies and labels in place, replace a model whose base path or platform changed (the new one
        loads before the old one goes), unload models left out. Blocking: call it off the event loop."""
        self._reconfigure(lambda _current: models)

    def _reconfigure(self, target: Callable[[tuple[ModelConfig, ...]], tuple[ModelConfig, ...]]) -> None:
        """One reload at a time; ``target`` maps the current configs to the wanted ones inside the lock, so
        concurrent loads, unloads and reloads compose instead of undoing each other."""
        with self._reload_lock:
            current = {name: m.config for name, m in self._managers.items()}
            models = target(tuple(current.values()))
            wanted = {m.name: m for m in models}
            if len(wanted) != len(models):
                duplicate = next(m.name for m in models if sum(n.name == m.name for n in models) > 1)
                raise InvalidArgument(f"Illegal to list model {duplicate} multiple times in config list")
            fresh = {
                name: self._new_manager(m)
                for name, m in wanted.items()
                if name not in current or (current[name].base_path, current[name].platform) != (m.base_path, m.platform)
            }
            labels_before: dict[str, Mapping[str, int]] = {name: {} for name in fresh}
            changed = []
            for name, model in wanted.items():
                if name not in fresh and current[name] != model:
                    labels_before[name] = self._managers[name].labels
                    self._managers[name].reconfigure(model)
                    changed.append(self._managers[name])
            # Two scans, as at start-up, so a version folder written just before the reload is loaded by it
            # (and may be labelled by it).
            self._settle([*fresh.values(), *changed])
            old = self._managers
            managers = {name: fresh.get(name) or old[name] for name in wanted}
            # Labels after the loads, as TF Serving: they may point at versions this reload just loaded. A
            # refused label leaves every label as it was (none on new models) and fails the reload after the
            # model changes, which stay applied.
            refused = None
            try:
                self._assign_labels(managers, labels_before)
            except FailedPrecondition as exc:
                refused = exc
                for manager in fresh.values():
                    manager.set_labels({})
            self._managers = managers
            self._known.update(wanted)
            for name, manager in old.items():
                if self._managers.get(name) is not manager:
                    self._stop_poller(name)
                    manager.unload_all()
            for manager in fresh.values():
                self._start_poller(manager)
            if refused is not None:
                raise refused

    def reload_from_files(self) -> dict[str, str]:
        """Re-read ``--model_config_file`` and ``--traffic_config_file`` (those configured) and apply them.

        Both files are parsed before anything changes, so a file with an error leaves everything in force
        and raises InvalidArgument naming the file and line. Returns what was reloaded; the outcome, good or
        bad, is kept in :attr:`last_reload` for the admin API."""
        try:
            done = self._reload_from_files()
        except ServingError as exc:
            self.last_reload = {"time": time.time(), "ok": False, "code": exc.code.name, "error": exc.message}
            raise
        except Exception as exc:  # a bug, not a bad file: still reported where the admin API looks
            self.last_reload = {"time": time.time(), "ok": False, "code": "INTERNAL", "error": repr(exc)}
            raise
        self.last_reload = {"time": time.time(), "ok": True, "reloaded": done}
        return done

    def _watch_files(self) -> None:
        """The ``--model_config_file_poll_wait_seconds`` loop: reload when a watched file's bytes change."""
        files = [f for f in (self.config.model_config_file, self.config.traffic_config_file) if f is not None]

        def contents() -> tuple[bytes | None, ...]:
            return tuple(_read_or_none(path) for path in files)

        seen = self._watched_at_start  # the bytes the server started from: edits made during start-up count
        while not self._stop.wait(self.config.model_config_file_poll_wait_seconds):
            now = contents()
            if now == seen:
                continue
            try:
                done = self.reload_from_files()
                log.info("reloaded %s", ", ".join(done.values()))
                seen = now
            except FailedPrecondition as exc:  # e.g. a label on a version still arriving: retried next poll
                log.warning("config reload refused for now, retrying: %s", exc.message)
            except ServingError as exc:  # a broken file: waits for the file to change
                seen = now
                log.error("config reload refused, the previous config stays in force: %s", exc.message)
            except Exception:
                seen = now
                log.exception("config reload failed")

    def _reload_from_files(self) -> dict[str, str]:
        models = traffic = None
        if self.config.model_config_file is not None:
            from modelserve.config_io import read_model_config_file

            models = read_model_config_file(self.config.model_config_file)
        if self.config.traffic_config_file is not None:
            traffic = read_traffic_file(self.config.traffic_config_file)
        done = {}
        if models is not None:
            self.reload_config(models)
            done["model_config_file"] = str(self.config.model_config_file)
        if traffic is not None:
            self.set_traffic(traffic)
            done["traffic_config_file"] = str(self.config.traffic_config_file)
        return done

    # ---- traffic for releases ----

    @property
    def traffic(self) -> TrafficConfig:
        return self._traffic

    def set_traffic(self, traffic: TrafficConfig) -> None:
        """Route by ``traffic`` from now on. Routers whose policy did not change keep their random state."""
        routers = {}
        for name, policy in traffic.policies.items():
            router = self._routers.get(name)
            routers[name] = router if router is not None and router.policy == policy else Router(policy)
        self._traffic, self._routers = traffic, routers

    def traffic_report(self) -> dict[str, object]:
        """Policies with where each route resolves now, and the counts so far (the admin API's view)."""
        models = {}
        for name in sorted(set(self._traffic.policies) | set(self._managers)):
            policy = self._traffic.policies.get(name)
            manager = self._managers.get(name)
            resolve = manager.resolve if manager else (lambda _t: None)
            entry: dict[str, object] = {"labels": manager.labels if manager else {}}
            if policy is not None:
                entry["routes"] = [
                    {"target": r.target, "weight": r.weight, "version": resolve(r.target)} for r in policy.routes
                ]
                if policy.shadow is not None:
                    target = policy.shadow.target
                    entry["shadow"] = {"target": target, "fraction": policy.shadow.fraction, "version": resolve(target)}
            entry.update(self.traffic_stats.report(name))
            models[name] = entry
        return {"routing_header": self._traffic.routing_header, "models": models}

    # ---- the model repository API (V2 load / unload / index) ----

    def _loadable(self, name: str) -> ModelConfig:
        if name in self._known:
            return self._known[name]
        root = self.config.model_repository
        if root is not None and _plain_name(name) and version_folders(root / name):
            return ModelConfig(name=name, base_path=root / name, platform=self.config.default_platform)
        raise NotFound(f"model {name} is not in the model repository")

    def load_model(self, name: str) -> None:
        """Serve ``name`` (known from the config or found in ``--model_repository``); rescan if served."""
        if name in self._managers:
            self._managers[name].poll()
            return
        config = self._loadable(name)
        self._reconfigure(lambda current: (*[m for m in current if m.name != name], config))

    def unload_model(self, name: str) -> None:
        """Stop serving ``name``; it stays known, so :meth:`load_model` can bring it back."""
        if name not in self._managers:
            raise NotFound(f"model {name} is not loaded")
        self._reconfigure(lambda current: tuple(m for m in current if m.name != name))

    def repository_index(self) -> list[dict[str, str]]:
        """Every model this server can serve, Triton's index form: name, version, state, reason."""
        names = set(list(self._known)) | set(list(self._managers))
        root = self.config.model_repository
        if root is not None and root.is_dir():
            names |= {p.name for p in root.iterdir() if p.is_dir() and _plain_name(p.name) and version_folders(p)}
        index = []
        for name in sorted(names):
            manager = self._managers.get(name)
            statuses = manager.statuses() if manager else []
            if not statuses:
                reason = (manager.storage_error() or "no version loaded") if manager else "unloaded"
                index.append({"name": name, "version": "", "state": "UNAVAILABLE", "reason": reason})
            for status in statuses:
                ready = status.state is VersionState.AVAILABLE
                index.append(
                    {
                        "name": name,
                        "version": str(status.version),
                        "state": "READY" if ready else "UNAVAILABLE",
                        "reason": status.error_message,
                    }
                )
        return index

    def stop(self) -> None:
        """Stop polling, finish running model calls, unload everything."""
        self._stop.set()
        for name in list(self._pollers):
            self._stop_poller(name)
        self._executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + self.config.graceful_shutdown_seconds
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        for manager in self._managers.values():
            manager.unload_all()

    # ---- queries ----

    def model_names(self) -> list[str]:
        return list(self._managers)

    def manager(self, name: str) -> ModelManager:
        try:
            return self._managers[name]
        except KeyError:
            raise NotFound(f"Servable not found for request: Latest({name})") from None

    def statuses(self, name: str, version: int | None = None) -> list[VersionStatus]:
        """TF Serving's GetModelStatus: every version ever seen, or one."""
        manager = self._managers.get(name)
        statuses = manager.statuses() if manager else []
        if not statuses:
            detail = manager.storage_error() if manager else None
            raise NotFound(f"Could not find any versions of model {name}" + (f": {detail}" if detail else ""))
        if version is None:
            return statuses
        for status in statuses:
            if status.version == version:
                return [status]
        raise NotFound(f"Could not find version {version} of model {name}")

    def ready(self) -> bool:
        """True when every configured model has an AVAILABLE version."""
        return all(m.available_versions() for m in self._managers.values())

    def borrow(self, name: str, version: int | None = None, label: str | None = None) -> ServedVersion:
        """Pin a version for one request; use the result in a ``with`` block.

        Errors use TF Serving's messages: ``Servable not found for request: Latest(m)`` or
        ``Specific(m, 3)``; an unknown label is ``Unrecognized servable version label: l``."""
        note(model=name)
        manager = self._managers.get(name)
        if manager is None:
            if label is not None:
                raise InvalidArgument(f"Unrecognized servable version label: {label}")
            request = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            raise NotFound(f"Servable not found for request: {request}")
        if version is None and label is None and name in self._routers:
            record = CURRENT.get()
            chosen = self._routers[name].choose(manager.resolve, record.routing_key if record else None)
            if chosen is not None:
                route, version = chosen
                if record is not None:
                    record.route = route
        served = manager.borrow(version, label)
        note(version=str(served.version))
        return served

    # ---- running ----

    async def run(
        self,
        served: ServedVersion,
        signature: str,
        inputs: Mapping[str, np.ndarray],
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        """Run ``signature`` of a borrowed version on the model thread pool, within the in-flight bound."""
        with self._in_flight_lock:
            if self._in_flight >= self.config.max_in_flight:
                limit = self.config.max_in_flight
                raise Unavailable(f"server overloaded: {limit} requests in flight (the limit); retry later")
            self._in_flight += 1
        note(signature=signature)
        record = CURRENT.get()
        api = record.api if record is not None and record.api else "predict"
        submitted = time.perf_counter()

        def call(batch: Mapping[str, np.ndarray], enqueued: float) -> dict[str, np.ndarray]:
            started = time.perf_counter()
            with self._in_flight_lock:
                self._running += 1
            try:
                return served.model.run(signature, batch)
            finally:
                ended = time.perf_counter()
                served.observe_call(signature, ended - started)
                with self._in_flight_lock:
                    self._running -= 1
                self.metrics.observe_run(
                    served.model_name, served.version, signature, served.model.platform, api,
                    rows_of(batch), started - enqueued, ended - started,
                )  # fmt: skip

        try:
            served.borrow()  # held until the call ends, even if the request gives up first (timeout, cancel)
        except Unavailable:
            self._leave()
            raise
        if self.config.batching is not None:
            future = asyncio.ensure_future(self._batcher(served, signature, call).submit(inputs))
        elif self._runs_inline(served, signature, inputs):
            cpu_before = time.thread_time()  # CPU time: being descheduled on a busy machine does not count
            try:
                outputs = call(inputs, submitted)
            finally:
                served.give_back()
                self._leave()
                if time.thread_time() - cpu_before > INLINE_SLOW_FACTOR * self.config.inline_call_micros / 1e6:
                    served.hold_off(signature, INLINE_HOLD_OFF_CALLS)  # inputs that cost more: stop blocking
            self._after_run(served, signature, inputs, outputs, submitted, record)
            return outputs
        else:
            try:
                future = asyncio.wrap_future(self._executor.submit(call, inputs, submitted))
            except RuntimeError:
                served.give_back()
                self._leave()
                raise Unavailable("server is shutting down") from None
        future.add_done_callback(lambda _f: (served.give_back(), self._leave()))
        try:
            outputs = await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(f"model {served.model_name} did not answer within {timeout:.3f} s") from None
        self._after_run(served, signature, inputs, outputs, submitted, record)
        return outputs

    def _runs_inline(self, served: ServedVersion, signature: str, inputs: Mapping[str, np.ndarray]) -> bool:
        """Whether this call may run on the event loop: a small request (at most ``INLINE_MAX_ROWS`` rows)
        to a signature whose typical call takes under ``inline_call_micros``. A model that became slower
        goes back to the model threads (every call feeds the typical time)."""
        limit = self.config.inline_call_micros
        if limit <= 0 or rows_of(inputs) > INLINE_MAX_ROWS:
            return False
        typical = served.typical_call(signature)
        return typical is not None and typical * 1e6 < limit

    def _after_run(
        self,
        served: ServedVersion,
        signature: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        submitted: float,
        record: RequestRecord | None,
    ) -> None:
        if record is not None and record.route:
            self.metrics.observe_route(served.model_name, record.route, served.version)
            self.traffic_stats.routed(served.model_name, record.route, served.version)
            self._mirror(served, signature, inputs, outputs, time.perf_counter() - submitted)

    def _mirror(
        self,
        served: ServedVersion,
        signature: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        served_seconds: float,
    ) -> None:
        """Shadow traffic: maybe send the same inputs to the policy's shadow version in the background,
        compare its answer with ``outputs`` and record the outcome; its answer is never returned. Shadow
        calls run only while requests and shadows in flight together are fewer than half of ``max_in_flight``
        (else they are counted as skipped); they have their own count, so they never cost a request its
        place under ``max_in_flight``."""
        router = self._routers.get(served.model_name)
        manager = self._managers.get(served.model_name)
        if router is None or manager is None:
            return
        version = router.shadow_version(manager.resolve, served.version)
        if version is None:
            return
        name = served.model_name
        with self._in_flight_lock:  # shadows have their own count: they never take a request's slot
            busy = self._in_flight + self._shadows >= max(1, self.config.max_in_flight // 2)
            if not busy:
                self._shadows += 1
        if busy:
            self.traffic_stats.shadowed(name, version, "skipped")
            self.metrics.observe_shadow(name, version, "skipped", 0.0, 0.0)
            return
        try:
            shadow = manager.borrow(version)
        except ServingError:
            self._shadow_done()
            return

        def call() -> None:
            started = time.perf_counter()
            try:
                answer = shadow.model.run(signature, inputs)
            except Exception as exc:  # a shadow's failure is recorded, never raised
                log.warning("shadow call to %s version %d failed: %s", name, version, exc)
                self.traffic_stats.shadowed(name, version, "error")
                self.metrics.observe_shadow(name, version, "error", 0.0, 0.0)
                return
            finally:
                shadow.give_back()
                self._shadow_done()
            seconds = time.perf_counter() - started
            outcome, diff = compare_outputs(outputs, answer)
            self.traffic_stats.shadowed(name, version, outcome, diff, served_seconds, seconds)
            self.metrics.observe_shadow(name, version, outcome, diff, seconds)

        try:
            self._executor.submit(call)
        except RuntimeError:  # shutting down
            shadow.give_back()
            self._shadow_done()

    def _batcher(self, served: ServedVersion, signature: str, call: BatchRunner) -> DynamicBatcher:
        """One batcher per (model version, signature), kept on the version so it goes when the version goes.
        Called on the event loop only."""
        batcher = served.batchers.get(signature)
        if batcher is None:
            config = getattr(served.model, "batching", None) or self.config.batching
            batcher = served.batchers[signature] = DynamicBatcher(call, config, self._executor)
        return batcher

    def _shadow_done(self) -> None:
        with self._in_flight_lock:
            self._shadows -= 1

    def _leave(self) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1
