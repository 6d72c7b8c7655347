"""Land a conversion as a new integer version folder of a model base path, atomically.

Files are written into a hidden staging folder inside the base path (``.<version>.<random>``, a name the
server's repository scanner and TF Serving ignore), flushed to disk, then renamed to ``<version>`` in one
``rename(2)``: a running server sees either no folder or the complete one, never a half-written model. A
rejected candidate (accuracy gate failed) is renamed to ``<version>.rejected`` instead, which is never
served and stays for inspection. Staging folders are removed when the block fails.

    with StagedVersion(base, version=None) as staged:    # next free version number
        (staged.path / "model.tflite").write_bytes(data)
        staged.land()                                    # base/<n>, or staged.reject() -> base/<n>.rejected
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path
from types import TracebackType

from modelserve.errors import InvalidArgument
from modelserve.repository.filesystem import version_folders


def next_version(base_path: Path) -> int:
    """One more than the highest integer version folder in ``base_path``; 1 when there is none."""
    versions = version_folders(base_path)
    return max(versions) + 1 if versions else 1


class StagedVersion:
    """A staging folder that becomes ``base/<version>`` on :meth:`land` (or ``<version>.rejected``)."""

    def __init__(self, base_path: Path, version: int | None = None) -> None:
        self.base_path = Path(base_path)
        if version is not None and version < 0:
            raise InvalidArgument(f"--version must be a non-negative integer, got {version}")
        self._created_base = not self.base_path.exists()
        self.base_path.mkdir(parents=True, exist_ok=True)
        self.version = next_version(self.base_path) if version is None else version
        self._check_free(self.final_path)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.version}.", dir=self.base_path))
        os.chmod(self.path, _FOLDER_MODE & ~_umask())  # mkdtemp makes it private; a server may run as another user
        self.done: Path | None = None

    @property
    def final_path(self) -> Path:
        return self.base_path / str(self.version)

    @property
    def rejected_path(self) -> Path:
        return self.base_path / f"{self.version}.rejected"

    def _check_free(self, target: Path) -> None:
        if target.exists() or self.version in version_folders(self.base_path):
            raise InvalidArgument(f"version {self.version} already exists in {self.base_path}; pick another --version")

    def land(self) -> Path:
        """Rename the staging folder to ``base/<version>`` (fails if that version appeared meanwhile)."""
        self._check_free(self.final_path)
        return self._move(self.final_path)

    def reject(self) -> Path:
        """Keep the candidate as ``base/<version>.rejected`` (replacing an older rejected one)."""
        if self.rejected_path.exists():
            shutil.rmtree(self.rejected_path)
        return self._move(self.rejected_path)

    def _move(self, target: Path) -> Path:
        _sync_tree(self.path)
        os.rename(self.path, target)
        _sync_dir(self.base_path)
        self.done = target
        return target

    def __enter__(self) -> StagedVersion:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.done is None:
            shutil.rmtree(self.path, ignore_errors=True)
            if self._created_base:
                with suppress(OSError):  # only when still empty
                    self.base_path.rmdir()


_FOLDER_MODE = 0o777


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sync_tree(folder: Path) -> None:
    """fsync every file, then the folders, so the rename publishes complete contents."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(Path(root))


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory
        pass
    finally:
        os.close(fd)
