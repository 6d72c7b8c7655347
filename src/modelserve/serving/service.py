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

from modelserve.config import ModelConfig, ServerConfig
from modelserve.errors import DeadlineExceeded, NotFound, Unavailable
from modelserve.runtimes import registry
from modelserve.runtimes.base import LoadedModel, RuntimeOptions
from modelserve.serving.handle import ServedVersion
from modelserve.serving.manager import ModelManager
from modelserve.serving.state import VersionStatus

log = logging.getLogger(__name__)


def runtime_loader(model: ModelConfig, options: RuntimeOptions) -> Callable[[Path], LoadedModel]:
    return lambda path: registry.load(path, model.platform, options)


class ModelService:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        options = RuntimeOptions(
            intra_op_threads=config.intra_op_threads,
            inter_op_threads=config.inter_op_threads,
            saved_model_tags=config.saved_model_tags,
        )
        self._managers = {
            m.name: ModelManager(m, runtime_loader(m, options), config.graceful_shutdown_seconds) for m in config.models
        }
        workers = config.model_threads or max(4, 2 * (os.cpu_count() or 1))
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="model")
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._stop = threading.Event()
        self._pollers: list[threading.Thread] = []

    # ---- lifecycle ----

    def start(self) -> None:
        """Load what is on disk now (two scans ``settle_seconds`` apart), then poll in the background."""
        for manager in self._managers.values():
            manager.poll()
        time.sleep(self.config.settle_seconds)
        for manager in self._managers.values():
            manager.poll()
        if self.config.file_system_poll_wait_seconds > 0:
            for manager in self._managers.values():
                thread = threading.Thread(target=self._poll_loop, args=(manager,), name=f"poll-{manager.name}")
                thread.daemon = True
                thread.start()
                self._pollers.append(thread)

    def _poll_loop(self, manager: ModelManager) -> None:
        while not self._stop.wait(self.config.file_system_poll_wait_seconds):
            try:
                manager.poll()
            except Exception:  # the poller must survive anything a scan meets
                log.exception("polling model %s failed", manager.name)

    def stop(self) -> None:
        """Stop polling, finish running model calls, unload everything."""
        self._stop.set()
        for thread in self._pollers:
            thread.join()
        self._executor.shutdown(wait=True)
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
            raise NotFound(f"Could not find any versions of model {name}")
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
        """Pin a version for one request; use the result in a ``with`` block."""
        return self.manager(name).borrow(version, label)

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
        try:
            future = self._executor.submit(served.model.run, signature, inputs)
        except RuntimeError:
            self._leave()
            raise Unavailable("server is shutting down") from None
        future.add_done_callback(lambda _f: self._leave())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(f"model {served.model_name} did not answer within {timeout:.3f} s") from None

    def _leave(self) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        return self._in_flight
