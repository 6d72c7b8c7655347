"""A catalog of one model already in memory, for a local :class:`ModelService` with no network.

The in-memory API (``Model.predict``), the Beam handler and the stream worker serve one loaded model through
the same core as the server (:meth:`ModelService.infer`: one input gate, one dispatcher, one batcher);
:class:`SingleModelCatalog` gives that core the lookups it needs. It never loads, polls or reloads: the
caller owns the model's lifetime (:meth:`stop` closes it once its borrowers are done).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modelserve.errors import NotFound, Unimplemented
from modelserve.runtimes.base import LoadedModel
from modelserve.serving.handle import ServedVersion
from modelserve.serving.manager import unknown_model
from modelserve.serving.state import VersionState, VersionStatus


class SingleModelCatalog:
    """Version ``version`` of model ``name``, and nothing else. Thread-safe."""

    def __init__(self, model: LoadedModel, name: str, version: int = 1, path: Path | None = None) -> None:
        self.name = name
        self.version = version
        self._served = ServedVersion(name, version, path or model.path, model)

    def borrow(self, name: str, version: int | None = None, label: str | None = None) -> ServedVersion:
        """The one version, counted in; TF Serving's errors for anything else."""
        return self.find(name, version, label).borrow()

    def find(self, name: str, version: int | None = None, label: str | None = None) -> ServedVersion:
        """The one version, not counted in (for reading its signatures)."""
        if name != self.name or label is not None or version not in (None, self.version):
            raise unknown_model(name, version, label)
        return self._served

    def resolver(self, name: str) -> Callable[[str], int | None]:
        return lambda target: self.version if name == self.name and target == str(self.version) else None

    def loaded_versions(self, name: str) -> list[tuple[int, ServedVersion]]:
        if name != self.name:
            raise unknown_model(name, None, None)
        return [(self.version, self._served)]

    def available_versions(self, name: str) -> list[int]:
        return [self.version] if name == self.name else []

    def statuses(self, name: str, version: int | None = None) -> list[VersionStatus]:
        if name != self.name or version not in (None, self.version):
            raise NotFound(f"Could not find any versions of model {name}")
        return [VersionStatus(self.version, VersionState.AVAILABLE)]

    def labels(self, name: str) -> dict[str, int]:
        return {}

    def model_names(self) -> list[str]:
        return [self.name]

    def ready(self) -> bool:
        return True

    def start(self) -> None:
        """Nothing to load: the model is in memory already."""

    def stop(self, timeout: float = 30.0) -> None:
        """Wait up to ``timeout`` s for calls in flight, then close the model."""
        self._served.retire(timeout)

    def _fixed(self, *_args: object) -> None:
        raise Unimplemented(f"a local service serves model {self.name} only; it cannot load, unload or reload")

    reload_config = load_model = unload_model = _fixed

    def repository_index(self) -> list[dict[str, str]]:
        return [{"name": self.name, "version": str(self.version), "state": "READY", "reason": ""}]
