"""A loaded version that requests borrow: reference counted so unloading waits for them.

Callers use :meth:`ServedVersion.borrow` (through the manager); the manager's unloader calls
:meth:`retire`, which refuses new borrowers, waits until the last one returns, then closes the model.
"""

from __future__ import annotations

import threading
from pathlib import Path

from modelserve.config import BatchingConfig
from modelserve.errors import Unavailable
from modelserve.runtimes.base import LoadedModel
from modelserve.serving.statistics import VersionStatistics


class ServedVersion:
    def __init__(self, model_name: str, version: int, path: Path, model: LoadedModel) -> None:
        self.model_name = model_name
        self.version = version
        self.path = path
        self.model = model
        self.batchers: dict[str, object] = {}  # signature -> DynamicBatcher, made by the service on demand
        self.statistics = VersionStatistics()
        self.max_batch_size = 0  # rows a request may have (0: any), from the model's config override
        self.batching: BatchingConfig | None = None  # the model's own batching, from its config override
        self._call_seconds: dict[str, float] = {}  # signature -> typical time of one small model call
        self._calls: dict[str, int] = {}
        self._held_off: dict[str, int] = {}  # signature -> calls left before it may run inline again
        self._borrowers = 0
        self._retiring = False
        self._idle = threading.Condition()

    def configure(self, max_batch_size: int, batching: BatchingConfig | None) -> None:
        """Apply the model's config override; batchers made for other parameters are dropped (new calls make
        new ones; calls already queued finish in the old ones)."""
        if batching != self.batching:
            self.batchers = {}
        self.max_batch_size, self.batching = max_batch_size, batching

    def borrow(self) -> ServedVersion:
        """Count a request in; pair with :meth:`give_back`. Raises Unavailable once retiring."""
        with self._idle:
            if self._retiring:
                raise Unavailable(f"version {self.version} of model {self.model_name} is unloading")
            self._borrowers += 1
        return self

    def observe_call(self, signature: str, seconds: float) -> None:
        """Feed the typical call time of ``signature``, a slowly rising minimum: it follows a faster call at
        once and otherwise grows 1% per call, so calls slowed by waiting for the GIL or a thread wake-up do
        not hide the model's own cost, while a model that really became slower is noticed within ~70 calls
        (the estimate doubles). Racy across threads, harmlessly (a lost update)."""
        typical = self._call_seconds.get(signature)
        self._call_seconds[signature] = seconds if typical is None else min(seconds, typical * 1.01)
        self._calls[signature] = self._calls.get(signature, 0) + 1
        if self._held_off.get(signature):
            self._held_off[signature] -= 1

    def hold_off(self, signature: str, calls: int) -> None:
        """No typical time for the next ``calls`` calls (an inline call was far slower than typical)."""
        self._held_off[signature] = calls
        self._calls[signature] = self._calls.get(signature, 0) + 1

    def typical_call(self, signature: str, min_calls: int = 8) -> float | None:
        """The typical call time of ``signature`` once ``min_calls`` calls were seen, else None."""
        if self._calls.get(signature, 0) < min_calls or self._held_off.get(signature, 0) > 0:
            return None
        return self._call_seconds.get(signature)

    def give_back(self) -> None:
        with self._idle:
            self._borrowers -= 1
            if self._borrowers == 0:
                self._idle.notify_all()

    def __enter__(self) -> ServedVersion:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.give_back()

    def retire(self, timeout: float) -> bool:
        """Refuse new borrowers, wait up to ``timeout`` s for current ones, close. True if all finished."""
        with self._idle:
            self._retiring = True
            drained = self._idle.wait_for(lambda: self._borrowers == 0, timeout)
        self.model.close()
        return drained
