"""Version folders in object storage: ``s3://bucket/prefix/<integer>/`` and ``gs://`` the same, via fsspec.

The same rules as local folders (:mod:`modelserve.repository.filesystem`): names parse as integers, hidden
and other names are ignored, the first of two names with the same number wins, and a version is *ready* only
when its object listing (every key below it, with size and ETag) is the same in two consecutive scans. One
recursive listing per scan; nothing is downloaded by a scan.

A ready version is copied into the local cache (:mod:`modelserve.repository.cache`) when the manager reads
its entry (``scan.ready[version]``), right before loading it, so only versions the policy picks are ever
downloaded; the loader gets the complete local folder. An unchanged version reuses its cached copy.

Failures are reported, never raised out of a scan:

* the base path cannot be listed (no such bucket, wrong credentials, endpoint down): the scan keeps the
  versions it saw last (nothing is unloaded because the storage is unreachable), reports nothing new ready,
  and :attr:`RemoteVersionScanner.error` says why (logged once per new message);
* a download fails: the entry hands the loader a path that raises the error, so the version's status shows
  it like any failed load; it is tried again after 5 s, 30 s and 120 s (transient network errors), then only
  when its objects change.

Settings (cache folder, S3 endpoint) are process-wide: :func:`configure`, called from the ``serve`` flags.
Credentials come from the storage libraries' usual environment (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``,
``AWS_ENDPOINT_URL``, ``GOOGLE_APPLICATION_CREDENTIALS``, ``STORAGE_EMULATOR_HOST``, ...).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelserve.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ServingError,
    Unauthenticated,
    Unavailable,
)
from modelserve.repository.cache import VersionCache, default_cache_root
from modelserve.repository.filesystem import Fingerprint, Scan, parse_version

log = logging.getLogger(__name__)

# scheme -> the package that implements it (what to pip install)
SCHEMES: dict[str, str] = {"s3": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "memory": "fsspec"}
RETRY_DELAYS: tuple[float, ...] = (5.0, 30.0, 120.0)  # after a failed download

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$")
# Object metadata that identifies a file's contents, in order of preference (S3, GCS, others).
_CONTENT_TAGS = ("ETag", "md5Hash", "crc32c", "etag")
_TIME_TAGS = ("LastModified", "updated", "mtime", "created")


def is_url(text: object) -> bool:
    """True for ``scheme://...`` text (a base path in object storage), False for local paths."""
    return isinstance(text, str) and _URL.match(text) is not None


def check_url(url: str) -> str:
    """``url`` with trailing slashes removed; InvalidArgument for an unsupported scheme or a missing bucket."""
    match = _URL.match(url)
    if match is None:
        raise InvalidArgument(f"{url!r} is not a URL")
    scheme, rest = match.group(1).lower(), match.group(2).strip("/")
    if scheme not in SCHEMES:
        supported = ", ".join(f"{s}://" for s in SCHEMES if s != "memory")
        raise InvalidArgument(f"unsupported base path scheme in {url!r}: use a local folder, {supported}")
    if not rest:
        raise InvalidArgument(f"base path {url!r} names no bucket")
    return f"{scheme}://{rest}"


@dataclass(frozen=True)
class RemoteSettings:
    """Process-wide: where version copies go and which S3 endpoint to call (``None``: AWS, or
    ``$AWS_ENDPOINT_URL_S3`` / ``$AWS_ENDPOINT_URL`` as botocore reads them)."""

    cache_dir: Path | None = None  # None: $MODELSERVE_REMOTE_CACHE_DIR, else <temp>/modelserve-remote-cache-<uid>
    s3_endpoint: str | None = None

    def cache_root(self) -> Path:
        chosen = self.cache_dir or os.environ.get("MODELSERVE_REMOTE_CACHE_DIR")
        return Path(chosen).absolute() if chosen else default_cache_root()


_settings = RemoteSettings()


def configure(settings: RemoteSettings) -> None:
    """Set the process-wide settings; scanners made afterwards use them."""
    global _settings
    _settings = settings


def current_settings() -> RemoteSettings:
    return _settings


def open_filesystem(scheme: str, settings: RemoteSettings) -> Any:
    """A new fsspec filesystem for ``scheme`` (credentials are read now, from the environment);
    FailedPrecondition naming the package when it is missing."""
    package = SCHEMES[scheme]
    if importlib.util.find_spec(package) is None or importlib.util.find_spec("fsspec") is None:
        raise FailedPrecondition(f"{scheme}:// base paths need {package}: pip install 'modelserve[remote]'")
    import fsspec

    if scheme == "s3":
        client = {"endpoint_url": settings.s3_endpoint} if settings.s3_endpoint else {}
        return fsspec.filesystem("s3", client_kwargs=client, skip_instance_cache=True)
    if scheme in ("gs", "gcs") and os.environ.get("STORAGE_EMULATOR_HOST"):
        # gcsfs's default class first asks Google's gRPC control plane for the bucket type, which an
        # emulator does not serve (a 60 s timeout per bucket); the JSON-API class talks to the emulator.
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(skip_instance_cache=True)
    return fsspec.filesystem(scheme, skip_instance_cache=True)


def describe_error(url: str, exc: BaseException) -> ServingError:
    """A storage library's exception as a ServingError whose message says what to check."""
    if isinstance(exc, ServingError):
        return exc
    name = type(exc).__name__
    detail = str(exc) or name
    scheme = url.split("://", 1)[0]
    where = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE" if scheme == "s3" else "the credentials"
    if scheme in ("gs", "gcs"):
        where = "GOOGLE_APPLICATION_CREDENTIALS"
    if name in ("NoCredentialsError", "PartialCredentialsError", "RefreshError", "DefaultCredentialsError"):
        return Unauthenticated(f"{url}: no usable credentials ({detail}); set {where}")
    if isinstance(exc, PermissionError):
        return PermissionDenied(f"{url}: access denied ({detail}); check {where}")
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"{url}: no such bucket or object ({detail})")
    if isinstance(exc, (ConnectionError, TimeoutError, OSError)) or "Connect" in name or "Timeout" in name:
        return Unavailable(f"{url}: cannot reach the storage service ({detail})")
    return Unavailable(f"{url}: {name}: {detail}")


def _tag(info: Mapping[str, Any]) -> int:
    """A number that changes when an object's contents change (from its ETag/MD5, else its mtime)."""
    for keys in (_CONTENT_TAGS, _TIME_TAGS):
        values = [str(info[k]) for k in keys if info.get(k) is not None]
        if values:
            text = "|".join(values)
            return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return 0


def digest(fingerprint: Fingerprint) -> str:
    return hashlib.sha256(repr(fingerprint).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Listed:
    """One version as listed: its folder name under the base path and its files (relative key -> size)."""

    name: str
    files: dict[str, int]
    fingerprint: Fingerprint


class DownloadFailed(os.PathLike):
    """What a failed download hands the loader: turning it into a path raises the download's error, so the
    manager records it as the version's load failure."""

    def __init__(self, error: ServingError) -> None:
        self.error = error

    def __fspath__(self) -> str:
        raise self.error

    def __repr__(self) -> str:
        return f"DownloadFailed({self.error.message!r})"


@dataclass
class _Failure:
    fingerprint: Fingerprint  # of the version when its download failed
    attempts: int
    retry_at: float

    @property
    def marker(self) -> Fingerprint:
        """The fingerprint reported while no retry is due (differs from the real one, so a due retry is a
        change the manager acts on)."""
        return (*self.fingerprint, ("<download failed>", self.attempts, 0))


class _ReadyVersions(dict):
    """``{version: (local folder, fingerprint)}`` whose ``[]`` copies the version into the cache first.

    Iteration, ``items()``, ``in`` and ``==`` do not download (the manager reads fingerprints that way);
    ``ready[version]``, which the manager does right before loading, does. After a failed copy the entry
    holds the failure's marker fingerprint, so the manager does not try the version again in the same poll.
    """

    def __init__(self, entries: dict[int, tuple[Path, Fingerprint]], fetch: Callable[[int], tuple[Any, Any]]):
        super().__init__(entries)
        self._fetch = fetch

    def __getitem__(self, version: int) -> tuple[Any, Any]:
        folder, _fingerprint = super().__getitem__(version)  # KeyError as a dict
        path, fingerprint = self._fetch(version)
        super().__setitem__(version, (folder, fingerprint))  # a failed copy's marker, for later items()
        return path, fingerprint


class RemoteVersionScanner:
    """Scans ``url`` (``s3://bucket/prefix``) like :class:`~modelserve.repository.filesystem.VersionScanner`."""

    def __init__(
        self, url: str, settings: RemoteSettings | None = None, filesystem: Any = None, clock=time.monotonic
    ) -> None:
        """``filesystem``: an fsspec filesystem to use instead of opening one for the URL's scheme."""
        self.url = check_url(url)
        self.settings = settings or current_settings()
        scheme, rest = self.url.split("://", 1)
        self._scheme = scheme
        self._fs = filesystem
        if filesystem is None and importlib.util.find_spec(SCHEMES[scheme]) is None:
            raise FailedPrecondition(f"{scheme}:// base paths need {SCHEMES[scheme]}: pip install 'modelserve[remote]'")
        self._root: str | None = None
        self.cache = VersionCache(self.settings.cache_root(), (scheme, *rest.split("/")))
        self._clock = clock
        self._previous: dict[int, Fingerprint] = {}
        self._listed: dict[int, _Listed] = {}
        self._failures: dict[int, _Failure] = {}
        self._last = Scan({}, {})
        self.error: str | None = None  # why the last scan could not list the base path

    def __repr__(self) -> str:
        return f"RemoteVersionScanner({self.url!r})"

    # ---- listing ----

    def _filesystem(self) -> Any:
        if self._fs is None:
            self._fs = open_filesystem(self._scheme, self.settings)
        if self._root is None:
            self._root = self._fs._strip_protocol(self.url).rstrip("/")
        return self._fs

    def list_versions(self) -> dict[int, _Listed]:
        """Every integer-named version under the base path with its files. Raises the storage's errors."""
        fs = self._filesystem()
        fs.invalidate_cache(self._root)
        infos = fs.find(self._root, detail=True)
        prefix = self._root + "/"
        by_name: dict[str, list[tuple[str, int, int]]] = {}
        for name, info in infos.items():
            if not name.startswith(prefix) or name.endswith("/") or info.get("type", "file") != "file":
                continue
            folder, _, key = name[len(prefix) :].partition("/")
            if key:  # objects directly under the base path are not versions
                by_name.setdefault(folder, []).append((key, int(info.get("size") or 0), _tag(info)))
        found: dict[int, _Listed] = {}
        for folder in sorted(by_name):
            version = parse_version(folder)
            if version is None:
                continue
            if version in found:
                log.warning("ignoring %s/%s: version %d is already %s", self.url, folder, version, found[version].name)
                continue
            items = tuple(sorted(by_name[folder]))
            found[version] = _Listed(folder, {k: size for k, size, _t in items}, items)
        return found

    def scan(self) -> Scan:
        """One scan compared with the one before; never raises (see the module docstring)."""
        try:
            listed = self.list_versions()
        except Exception as exc:
            error = describe_error(self.url, exc)
            if error.message != self.error:
                log.error("cannot list the base path: %s", error.message)
            self.error = error.message
            return Scan(dict(self._last.present), {})
        if self.error is not None:
            log.info("%s can be listed again", self.url)
            self.error = None
        if not listed and self._listed:
            log.warning("no version folders under %s any more", self.url)
        self._listed = listed
        prints = {v: self._reported(v, item.fingerprint) for v, item in listed.items()}
        present = {v: self.cache.folder(v, digest(item.fingerprint)) for v, item in listed.items()}
        ready = {
            v: (present[v], fp) for v, fp in prints.items() if listed[v].fingerprint and self._previous.get(v) == fp
        }
        self._previous = prints
        self.cache.prune(set(listed))
        self._last = Scan(present, _ReadyVersions(ready, self._fetch))
        return self._last

    def _reported(self, version: int, fingerprint: Fingerprint) -> Fingerprint:
        """The real fingerprint, or a failed download's marker while its retry is not due."""
        failure = self._failures.get(version)
        if failure is None:
            return fingerprint
        if failure.fingerprint != fingerprint:  # the objects changed: a fresh start
            del self._failures[version]
            return fingerprint
        due = failure.attempts <= len(RETRY_DELAYS) and self._clock() >= failure.retry_at
        return fingerprint if due else failure.marker

    # ---- downloading ----

    def _fetch(self, version: int) -> tuple[Any, Fingerprint]:
        """Copy ``version`` into the cache: ``(local folder, fingerprint)``, or ``(DownloadFailed, marker)``."""
        listed = self._listed[version]
        try:
            folder = self.materialize(version, listed)
        except Exception as exc:
            cause = describe_error(f"{self.url}/{listed.name}", exc)
            error = type(cause)(f"cannot copy {self.url}/{listed.name} into the local cache: {cause.message}")
            attempts = self._failures[version].attempts + 1 if version in self._failures else 1
            delay = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
            failure = _Failure(listed.fingerprint, attempts, self._clock() + delay)
            self._failures[version] = failure
            log.error("%s (attempt %d)", error.message, attempts)
            return DownloadFailed(error), failure.marker
        self._failures.pop(version, None)
        return folder, listed.fingerprint

    def materialize(self, version: int, listed: _Listed) -> Path:
        """The complete local copy of ``version`` (reused or downloaded). Raises the storage's errors, or
        Unavailable when the version changed while it was being copied (the copy is then discarded)."""
        fs = self._filesystem()
        remote = f"{self._root}/{listed.name}"

        def unchanged() -> None:
            after = self.list_versions().get(version)
            if after is None or after.fingerprint != listed.fingerprint:
                raise Unavailable("its objects changed while they were being copied; it loads once they settle")

        started = time.perf_counter()
        folder, downloaded = self.cache.fill(
            version,
            digest(listed.fingerprint),
            listed.files,
            lambda key, local: fs.get_file(f"{remote}/{key}", str(local)),
            unchanged,
        )
        if downloaded:
            log.info(
                "%s/%s: copied %d files (%d bytes) to %s in %.2f s",
                self.url,
                listed.name,
                len(listed.files),
                sum(listed.files.values()),
                folder,
                time.perf_counter() - started,
            )
        else:
            log.info("%s/%s: using the cached copy %s", self.url, listed.name, folder)
        return folder


def model_folders(url: str, settings: RemoteSettings | None = None) -> list[str]:
    """Names of the folders under ``url`` that hold at least one integer version folder with a file (a
    remote ``--model_repository``); hidden names are skipped. InvalidArgument when it cannot be listed."""
    url = check_url(url)
    scheme = url.split("://", 1)[0]
    try:
        fs = open_filesystem(scheme, settings or current_settings())
        root = fs._strip_protocol(url).rstrip("/")
        fs.invalidate_cache(root)
        names = list(fs.find(root))
    except ServingError:
        raise
    except Exception as exc:
        raise InvalidArgument(f"--model_repository {describe_error(url, exc).message}") from None
    models = set()
    for name in names:
        parts = name[len(root) + 1 :].split("/") if name.startswith(root + "/") else []
        if len(parts) >= 3 and not parts[0].startswith(".") and parse_version(parts[1]) is not None:
            models.add(parts[0])
    return sorted(models)
