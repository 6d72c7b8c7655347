"""A loaded version that requests borrow: reference counted so unloading waits for them.

Callers use :meth:`ServedVersion.borrow` (through the manager); the manager's unloader calls
:meth:`retire`, which refuses new borrowers, waits until the last one returns, then closes the model.
"""

from __future__ import annotations

import threading
from pathlib import Path

from modelserve.errors import Unavailable
from modelserve.runtimes.base import LoadedModel


class ServedVersion:
    def __init__(self, model_name: str, version: int, path: Path, model: LoadedModel) -> None:
        self.model_name = model_name
        self.version = version
        self.path = path
        self.model = model
        self.batchers: dict[str, object] = {}  # signature -> DynamicBatcher, made by the service on demand
        self._borrowers = 0
        self._retiring = False
        self._idle = threading.Condition()

    def borrow(self) -> ServedVersion:
        """Count a request in; pair with :meth:`give_back`. Raises Unavailable once retiring."""
        with self._idle:
            if self._retiring:
                raise Unavailable(f"version {self.version} of model {self.model_name} is unloading")
            self._borrowers += 1
        return self

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
