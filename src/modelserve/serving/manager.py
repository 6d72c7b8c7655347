"""One model's versions: scan, load, serve, unload. TF Serving's availability-preserving lifecycle.

A poller thread calls :meth:`ModelManager.poll`; request threads call :meth:`ModelManager.borrow`.

Each poll: scan the base path (only folders that stopped changing are candidates); drop versions that
failed to load with the same contents (a changed folder is retried); let the policy pick the aspired
versions; load the missing ones, newest first, each becoming AVAILABLE at once; if a load fails, pick again
(the next older version steps in); only then unload serving versions that are no longer aspired, waiting
for their in-flight requests. A serving version whose folder still exists is never unloaded in favour of
a version that did not load, and a failed load never touches the versions that serve.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from modelserve.config import ModelConfig
from modelserve.errors import Code, FailedPrecondition, InvalidArgument, NotFound, ServingError
from modelserve.repository.filesystem import Fingerprint, Scan
from modelserve.repository.scanners import scanner_for
from modelserve.runtimes.base import LoadedModel
from modelserve.serving.handle import ServedVersion
from modelserve.serving.policy import aspired_versions
from modelserve.serving.state import VersionState, VersionStatus
from modelserve.serving.warmup import Warmup

log = logging.getLogger(__name__)

Loader = Callable[[Path], LoadedModel]


class ModelManager:
    def __init__(
        self,
        config: ModelConfig,
        loader: Loader,
        drain_timeout: float = 30.0,
        on_loaded: Callable[[str, float], None] | None = None,
        warmup: Warmup | None = None,
        contained_in: Path | None = None,
    ) -> None:
        """``contained_in``: the model repository the model was found in, which its versions may not leave."""
        self.config = config
        self.name = config.name
        self._loader = loader
        self._drain_timeout = drain_timeout
        self._contained_in = contained_in
        self._scanner = scanner_for(config.base_path, contained_in=contained_in)
        self._lock = threading.Lock()
        self._statuses: dict[int, VersionStatus] = {}
        self._serving: dict[int, ServedVersion] = {}
        self._failed: dict[int, Fingerprint] = {}
        self._labels = dict(config.labels)
        self._lifecycle = threading.Lock()  # one poll or reconfiguration at a time
        self._on_loaded = on_loaded
        self._warmup = warmup  # replays the version's warmup requests before it serves (None: no warmup)

    # ---- request side (any thread) ----

    def borrow(self, version: int | None = None, label: str | None = None) -> ServedVersion:
        """The requested AVAILABLE version, counted in (under the lock, so an unload cannot slip between);
        use it in a ``with`` block. Raises NotFound with TF Serving's messages, or InvalidArgument for an
        unknown label.
        """
        with self._lock:
            return self._find(version, label).borrow()

    def find(self, version: int | None = None, label: str | None = None) -> ServedVersion:
        """:meth:`borrow` without counting in: only for reading what a version never changes (signatures)."""
        with self._lock:
            return self._find(version, label)

    def _find(self, version: int | None, label: str | None) -> ServedVersion:
        if label is not None:
            if label not in self._labels:
                raise InvalidArgument(f"Unrecognized servable version label: {label}")
            version = self._labels[label]
        if version is None:
            if not self._serving:
                raise NotFound(f"Servable not found for request: Latest({self.name})")
            return self._serving[max(self._serving)]
        served = self._serving.get(version)
        if served is None:
            raise NotFound(f"Servable not found for request: Specific({self.name}, {version})")
        return served

    def statuses(self) -> list[VersionStatus]:
        """Every version ever seen, newest first (unloaded ones as END)."""
        with self._lock:
            return [self._statuses[v] for v in sorted(self._statuses, reverse=True)]

    def available_versions(self) -> list[int]:
        with self._lock:
            return sorted(self._serving)

    def serving(self) -> list[tuple[int, ServedVersion]]:
        """The AVAILABLE versions and their handles, oldest first (not borrowed: for reading statistics)."""
        with self._lock:
            return sorted(self._serving.items())

    def storage_error(self) -> str | None:
        """Why the base path could not be listed at the last scan (remote storage), else None."""
        return getattr(self._scanner, "error", None)

    @property
    def labels(self) -> dict[str, int]:
        with self._lock:
            return dict(self._labels)

    def resolve(self, target: str) -> int | None:
        """A label or a version number (as text) -> that version if it is AVAILABLE, else None."""
        with self._lock:
            version = self._labels.get(target)
            if version is None and target.isascii() and target.isdigit():
                version = int(target)
            return version if version in self._serving else None

    def check_labels(
        self, labels: Mapping[str, int], allow_unavailable: bool = False, current: Mapping[str, int] | None = None
    ) -> None:
        """Raise FailedPrecondition (TF Serving's message) unless every label may point where it asks.

        A label may point at an AVAILABLE version; with ``allow_unavailable`` a label that does not exist
        yet may point at any version, but moving an existing label still needs an AVAILABLE target (so a
        label never moves onto a version that cannot answer). ``current``: the labels the change starts
        from (default: the labels in force; ``{}`` at start-up, when every label is new)."""
        with self._lock:
            before = self._labels if current is None else current
            for label, version in sorted(labels.items()):
                if version in self._serving or before.get(label) == version:
                    continue
                if allow_unavailable and label not in before:
                    continue
                raise FailedPrecondition(
                    f"Request to assign label to version {version} of model {self.name}, which is not "
                    "currently available for inference"
                )

    def set_labels(self, labels: Mapping[str, int]) -> None:
        """Replace the label map (after :meth:`check_labels`)."""
        with self._lock:
            self._labels = dict(labels)

    # ---- lifecycle side (the poller thread) ----

    def reconfigure(self, config: ModelConfig) -> None:
        """Take a new config for the same model name (policy, labels, base path); the next poll applies it."""
        with self._lifecycle:
            if config.base_path != self.config.base_path:
                self._scanner = scanner_for(config.base_path, contained_in=self._contained_in)
            self.config = config
            with self._lock:
                for served in self._serving.values():
                    served.configure(config.max_batch_size, config.batching)

    def poll(self) -> None:
        """One scan-load-unload round. Never raises for a bad version; logs and records it."""
        with self._lifecycle:
            self._poll()

    def _poll(self) -> None:
        scan = self._scanner.scan()
        while True:
            aspired = self._aspired(scan)
            missing = sorted(aspired - set(self._serving), reverse=True)
            if not missing:
                break
            for version in missing:
                path, print_ = scan.ready[version]
                if not self._load(version, path, print_):
                    break  # pick again without it
        for version in sorted(set(self._serving) - aspired):
            self._unload(version)

    def unload_all(self) -> None:
        with self._lifecycle:
            for version in sorted(self._serving):
                self._unload(version)

    def _aspired(self, scan: Scan) -> set[int]:
        candidates = {v for v, (_p, fp) in scan.ready.items() if self._failed.get(v) != fp}
        candidates |= {v for v in self._serving if v in scan.present}
        # A labelled version stays (or becomes) loaded even when the policy alone would drop it, so a label
        # never dangles because a newer version arrived; it goes when its label moves or its folder goes.
        # The config's labels count before they are assigned, so a reload can load what it labels, as a
        # fresh start does.
        with self._lock:
            labelled = {v for v in (*self._labels.values(), *(v for _, v in self.config.labels)) if v in candidates}
        return aspired_versions(candidates, self.config.policy) | labelled

    def _set(self, version: int, state: VersionState, error: ServingError | None = None) -> None:
        code, message = (error.code, error.message) if error else (Code.OK, "")
        with self._lock:
            self._statuses[version] = VersionStatus(version, state, code, message)

    def _load(self, version: int, path: Path, print_: Fingerprint) -> bool:
        self._set(version, VersionState.LOADING)
        started = time.perf_counter()
        try:
            model = self._loader(path)
            try:  # replay the version's warmup requests before it serves; a failure fails the load
                warmed = self._warmup(model, path) if self._warmup is not None else None
            except BaseException:
                model.close()
                raise
        except ServingError as exc:
            log.error("model %s version %d failed to load: %s", self.name, version, exc.message)
            self._failed[version] = print_
            self._set(version, VersionState.END, exc)
            return False
        except Exception as exc:  # a runtime bug must not stop the poller
            log.exception("model %s version %d failed to load", self.name, version)
            self._failed[version] = print_
            self._set(version, VersionState.END, ServingError(f"{type(exc).__name__}: {exc}"))
            return False
        if warmed is not None:
            files, ms = ", ".join(f.name for f in warmed.files), 1000 * warmed.seconds
            log.info(
                "model %s version %d warmed up: %d requests from %d records of %s in %.0f ms",
                self.name,
                version,
                warmed.requests,
                warmed.records,
                files,
                ms,
            )
        self._failed.pop(version, None)
        with self._lock:
            served = self._serving[version] = ServedVersion(self.name, version, path, model)
            served.configure(self.config.max_batch_size, self.config.batching)
            self._statuses[version] = VersionStatus(version, VersionState.AVAILABLE)
        seconds = time.perf_counter() - started
        if self._on_loaded is not None:
            self._on_loaded(self.name, seconds)
        log.info("model %s version %d AVAILABLE (%.0f ms)", self.name, version, 1000 * seconds)
        return True

    def _unload(self, version: int) -> None:
        with self._lock:
            served = self._serving.pop(version)
            self._statuses[version] = VersionStatus(version, VersionState.UNLOADING)
        drained = served.retire(self._drain_timeout)
        if not drained:
            log.warning("model %s version %d closed with requests still running", self.name, version)
        del served
        gc.collect()
        self._set(version, VersionState.END)
        log.info("model %s version %d unloaded", self.name, version)


def unknown_model(name: str, version: int | None, label: str | None) -> ServingError:
    """TF Serving's error for a request to a model that is not served (an unknown label is named first)."""
    if label is not None:
        return InvalidArgument(f"Unrecognized servable version label: {label}")
    request = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
    return NotFound(f"Servable not found for request: {request}")
