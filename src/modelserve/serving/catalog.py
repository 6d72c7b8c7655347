"""The models a server serves: one :class:`ModelManager` per model, their pollers, and reconfiguration.

:class:`ModelCatalog` is the lifecycle half of the serving core (:class:`~modelserve.serving.service.ModelService`
is the request half and owns one). It loads what is on disk at :meth:`start`, polls each model's base path
in the background, applies new model configs (:meth:`reload_config`, V2 load/unload) one at a time, and
answers the lookups requests make (:meth:`borrow`, :meth:`resolve`, :meth:`statuses`).

Guarantees: a reload is atomic per model (a new model is loaded before it becomes visible; a model whose
base path or platform changed is replaced only after the new one loaded); labels are assigned after a
reload's loads, all or none; a model that fails to load never disturbs the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from modelserve.config import ModelConfig, ModelOverride, ServerConfig
from modelserve.errors import (
    FailedPrecondition,
    InvalidArgument,
    ModelLoadError,
    NotFound,
    ServingError,
)
from modelserve.repository.filesystem import escape_from, plain_model_name, repository_models, version_folders
from modelserve.runtimes import registry
from modelserve.runtimes.base import LoadedModel, RuntimeOptions
from modelserve.serving.handle import ServedVersion
from modelserve.serving.manager import ModelManager, Warmup, unknown_model
from modelserve.serving.state import VersionState, VersionStatus

log = logging.getLogger(__name__)

#: Builds a model's loader: ``(model config, runtime options) -> (version folder -> loaded model)``.
LoaderFactory = Callable[[ModelConfig, RuntimeOptions], Callable[[Path], LoadedModel]]


def runtime_loader(model: ModelConfig, options: RuntimeOptions) -> Callable[[Path], LoadedModel]:
    """The default :data:`LoaderFactory`: the runtime registry, by the model's platform (or detection)."""
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
            from modelserve.config_io import read_batching_parameters

            try:
                model.batching = read_batching_parameters(params)
            except ServingError as exc:
                model.close()
                raise ModelLoadError(f"per-model batching parameters: {exc.message}") from None
        return model

    return load_with_params


class ModelCatalog:
    """Every served model's manager. Request threads call the lookups; reloads run on caller threads (off
    the event loop), one at a time; pollers run on their own daemon threads."""

    def __init__(
        self,
        config: ServerConfig,
        loader: LoaderFactory = runtime_loader,
        on_loaded: Callable[[str, float], None] | None = None,
        warmup: Warmup | None = None,
    ) -> None:
        self.config = config
        self._loader = loader
        self._on_loaded = on_loaded
        self._warmup = warmup
        self._options = RuntimeOptions(
            intra_op_threads=config.intra_op_threads,
            inter_op_threads=config.inter_op_threads,
            saved_model_tags=config.saved_model_tags,
            allow_code_models=config.allow_code_models,
            prefer_tflite_model=config.prefer_tflite_model,
        )
        self._managers = {m.name: self._new_manager(m) for m in config.models}
        self._stop = threading.Event()
        self._pollers: dict[str, tuple[threading.Thread, threading.Event]] = {}
        self._reload_lock = threading.Lock()
        self._known: dict[str, ModelConfig] = {m.name: m for m in config.models}  # loadable by name

    def _new_manager(self, model: ModelConfig) -> ModelManager:
        load = self._loader(model, self._options)
        if self.config.batching is not None and self.config.per_model_batching:
            load = with_batching_params(load)
        root = self.config.model_repository
        contained_in = root if root is not None and model.base_path == root / model.name else None
        return ModelManager(
            model, load, self.config.graceful_shutdown_seconds, on_loaded=self._on_loaded, warmup=self._warmup,
            contained_in=contained_in,
        )  # fmt: skip

    # ---- lifecycle ----

    def start(self) -> None:
        """Load what is on disk now (two scans ``settle_seconds`` apart), assign the configured labels, then
        poll in the background. A label that may not be assigned fails start-up (FailedPrecondition)."""
        self._settle(list(self._managers.values()))
        self._assign_labels(self._managers, {name: {} for name in self._managers})
        for manager in self._managers.values():
            self._start_poller(manager)

    def stop(self) -> None:
        """Stop polling and unload everything (each unload waits for its version's borrowers)."""
        self._stop.set()
        for name in list(self._pollers):
            self._stop_poller(name)
        for manager in self._managers.values():
            manager.unload_all()

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

    # ---- the model repository API (V2 load / unload / index) ----

    def _loadable(self, name: str) -> ModelConfig:
        root = self.config.model_repository
        known = self._known.get(name)
        if known is not None and not (root is not None and known.base_path == root / name):
            return known  # the operator's config: its base path may be anywhere
        if root is not None and plain_model_name(name) and (known is not None or version_folders(root / name)):
            escaped = escape_from(root, root / name)  # checked on every load: the folder may have changed
            if escaped is not None:
                raise FailedPrecondition(f"model {name} is not served: {escaped} leads outside the model repository")
            return known or ModelConfig(name=name, base_path=root / name, platform=self.config.default_platform)
        raise NotFound(f"model {name} is not in the model repository")

    def load_model(self, name: str, override: ModelOverride | None = None) -> None:
        """Serve ``name`` (known from the config or found in ``--model_repository``), under ``override`` if
        given; a served model with its own config is rescanned. The override is not remembered as the model's
        config: a later load without one goes back to it."""
        base = self._loadable(name)
        config = base
        if override is not None:
            config = replace(
                base,
                policy=override.policy or base.policy,
                max_batch_size=override.max_batch_size,
                batching=override.batching,
            )
        manager = self._managers.get(name)
        if manager is not None and manager.config == config:
            manager.poll()
            return
        try:
            self._reconfigure(lambda current: (*[m for m in current if m.name != name], config))
        finally:
            self._known[name] = base

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
            names |= {folder.name for folder in repository_models(root)[0]}
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

    # ---- queries ----

    def model_names(self) -> list[str]:
        return list(self._managers)

    def manager(self, name: str) -> ModelManager:
        """The manager of ``name``, or NotFound with TF Serving's message."""
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
        manager = self._managers.get(name)
        if manager is None:
            raise unknown_model(name, version, label)
        return manager.borrow(version, label)

    def find(self, name: str, version: int | None = None, label: str | None = None) -> ServedVersion:
        """:meth:`borrow` without counting in, for reading a version's signatures (same errors)."""
        manager = self._managers.get(name)
        if manager is None:
            raise unknown_model(name, version, label)
        return manager.find(version, label)

    def labels(self, name: str) -> dict[str, int]:
        """The labels of ``name`` (empty for an unknown model)."""
        manager = self._managers.get(name)
        return manager.labels if manager is not None else {}

    def version_states(self) -> list[tuple[str, int, str]]:
        """``(model, version, state name)`` of every version seen (the metrics' state gauge)."""
        return [(n, s.version, s.state.name) for n, m in list(self._managers.items()) for s in m.statuses()]

    def resolver(self, name: str) -> Callable[[str], int | None]:
        """``target -> AVAILABLE version or None`` for model ``name`` (a label or a version number as text)."""
        manager = self._managers.get(name)
        return manager.resolve if manager is not None else (lambda _target: None)

    def loaded_versions(self, name: str) -> list[tuple[int, ServedVersion]]:
        """The AVAILABLE versions of ``name`` with their handles; NotFound for an unknown model."""
        return self.manager(name).serving()

    def available_versions(self, name: str) -> list[int]:
        """The AVAILABLE versions of ``name``, oldest first (empty for an unknown model)."""
        manager = self._managers.get(name)
        return manager.available_versions() if manager is not None else []
