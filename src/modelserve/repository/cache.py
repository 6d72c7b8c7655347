"""Local copies of remote version folders, written atomically and reused while their contents are unchanged.

Layout under the cache root (``--remote_cache_dir``)::

    <root>/<scheme>/<bucket>/<prefix...>/<version>-<digest>/<the version's files>

``digest`` is derived from the version's object listing (keys, sizes, ETags), so an unchanged version maps
to the same folder across polls and restarts, and a changed one to a new folder. A folder only ever appears
complete: files are written into a hidden sibling ``.<version>-<digest>.tmp-<pid>-<random>`` that is
renamed into place once every file is there with the size the listing gave. A process that dies half-way
leaves only a temporary folder, which a later process removes.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from modelserve.errors import PermissionDenied, Unavailable

log = logging.getLogger(__name__)

_FOLDER = re.compile(r"^(\d+)-([0-9a-f]+)$")
_TEMP = re.compile(r"^\.\d+-[0-9a-f]+\.tmp-(\d+)-[0-9a-f]+$")


def default_cache_root() -> Path:
    """``<temp dir>/modelserve-remote-cache-<uid>``: private to the user, gone after a reboot."""
    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return Path(tempfile.gettempdir()) / f"modelserve-remote-cache-{uid}"


def ensure_root(root: Path) -> Path:
    """Create the cache root (mode 0700). Refuse a root another user owns: it could plant model files."""
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = root.stat().st_uid
    except OSError as exc:
        raise Unavailable(f"cannot create the remote cache folder {root}: {exc.strerror or exc}") from None
    if hasattr(os, "getuid") and owner != os.getuid():
        raise PermissionDenied(
            f"the remote cache folder {root} belongs to another user (uid {owner}); pass --remote_cache_dir"
        )
    return root


def safe_part(part: str) -> str:
    """One URL path component as a folder name that cannot climb out of the cache ('..' is escaped)."""
    if part in ("", ".", ".."):
        return part.replace(".", "%2E") or "%"
    return quote(part, safe="-_.=+@,")


def check_relative_key(key: str) -> None:
    """Raise for an object key that would write outside its version folder (``..``, absolute, empty parts)."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise PermissionDenied(f"refusing object key {key!r}: it would not stay inside the version folder")


class VersionCache:
    """The cache folder of one remote base path; ``root`` is created on first use."""

    def __init__(self, root: Path, location: tuple[str, ...]) -> None:
        """``location``: the scheme and the path components of the base URL (``("s3", "bucket", "models")``)."""
        self.root = root
        self.base = root.joinpath(*(safe_part(p) for p in location))

    def folder(self, version: int, digest: str) -> Path:
        return self.base / f"{version}-{digest}"

    def is_complete(self, folder: Path, files: Mapping[str, int]) -> bool:
        """True when ``folder`` holds every file of ``files`` (relative key -> size) with its size."""
        try:
            return all((folder / key).stat().st_size == size for key, size in files.items())
        except OSError:
            return False

    def fill(
        self,
        version: int,
        digest: str,
        files: Mapping[str, int],
        download: Callable[[str, Path], None],
        verify: Callable[[], None] = lambda: None,
    ) -> tuple[Path, bool]:
        """The complete folder for ``(version, digest)``: reused when present, else downloaded atomically.

        ``download(key, local_path)`` writes one file; ``verify()`` runs once every file is there, before the
        folder is renamed into place (raise to discard the copy). Returns ``(folder, downloaded)``. Errors from
        ``download`` and ``verify``, or a size that does not match the listing, remove the temporary folder and
        propagate; a local filesystem problem is an Unavailable that names the cache folder.
        """
        folder = self.folder(version, digest)
        if self.is_complete(folder, files):
            return folder, False
        for key in files:
            check_relative_key(key)
        ensure_root(self.root)
        temp = self.base / f".{version}-{digest}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        with _local(self.base):
            temp.mkdir(parents=True)
        try:
            for key, size in sorted(files.items()):
                target = temp / key
                with _local(target.parent):
                    target.parent.mkdir(parents=True, exist_ok=True)
                download(key, target)
                got = target.stat().st_size
                if got != size:
                    raise Unavailable(f"{key}: got {got} bytes, the listing said {size} (it changed meanwhile?)")
            verify()
            with _local(folder):
                if folder.exists():  # a partial folder (someone deleted files in it): replace it
                    shutil.rmtree(folder)
                try:
                    os.rename(temp, folder)
                except OSError:
                    if not self.is_complete(folder, files):  # unless another writer got there first
                        raise
        finally:
            if temp.exists():
                shutil.rmtree(temp, ignore_errors=True)
        return folder, True

    def prune(self, keep_versions: set[int]) -> None:
        """Remove cached folders of versions not in ``keep_versions`` and temporary folders of dead processes."""
        try:
            entries = list(os.scandir(self.base))
        except OSError:
            return
        for entry in entries:
            folder = _FOLDER.match(entry.name)
            temp = _TEMP.match(entry.name)
            stale = (folder is not None and int(folder.group(1)) not in keep_versions) or (
                temp is not None and not _alive(int(temp.group(1)))
            )
            if stale and entry.is_dir(follow_symlinks=False):
                log.info("removing %s from the remote cache", entry.path)
                shutil.rmtree(entry.path, ignore_errors=True)


@contextmanager
def _local(path: Path) -> Iterator[None]:
    """Turn a local filesystem error (disk full, permissions) into an Unavailable that names the cache."""
    try:
        yield
    except OSError as exc:
        raise Unavailable(f"cannot write the remote cache folder {path}: {exc.strerror or exc}") from None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
