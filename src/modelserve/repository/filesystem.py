"""Find a model's version folders under its base path: ``base_path/<integer>/``.

Names are parsed as integers (``00000123`` is version 123); other names, hidden temporary folders
(``.123.tmp``) among them, are ignored. When two names give the same number (``1`` and ``01``), the
first in sorted order wins and the other is ignored with a warning.

Completeness: a folder is *ready* only when its contents (every file's relative path, size and
modification time) are the same in two consecutive scans. A copy in progress changes between scans and is
not loaded half-way; a folder written elsewhere and renamed into place is ready at the next scan. The
caller decides how far apart scans are (the poll interval; a short settle pause at start-up).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


def parse_version(name: str) -> int | None:
    """``"00000123"`` -> 123; ``None`` for names that are not non-negative int64 numbers."""
    if not name.isascii() or not name.isdigit():
        return None
    value = int(name)
    return value if value < 2**63 else None


def version_folders(base_path: Path) -> dict[int, Path]:
    """Integer-named subfolders of ``base_path``; empty when it is missing or unreadable."""
    try:
        entries = sorted(os.scandir(base_path), key=lambda e: e.name)
    except (OSError, ValueError):  # ValueError: a NUL byte in the path
        return {}
    found: dict[int, Path] = {}
    for entry in entries:
        version = parse_version(entry.name)
        if version is None or not entry.is_dir():
            continue
        if version in found:
            log.warning("ignoring %s: version %d is already %s", entry.path, version, found[version])
            continue
        found[version] = Path(entry.path)
    return found


def plain_model_name(name: str) -> bool:
    """A model name that can only mean a folder directly under the repository root."""
    return bool(name) and not name.startswith(".") and "/" not in name and "\\" not in name and "\x00" not in name


def repository_models(root: Path) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """The model folders of a model repository (plain names, with version folders), sorted; and those left
    out because they lead outside it, each with the first path that does."""
    models, escaped = [], []
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or not plain_model_name(folder.name) or not version_folders(folder):
            continue
        outside = escape_from(root, folder)
        if outside is None:
            models.append(folder)
        else:
            escaped.append((folder, outside))
    return models, escaped


def escape_from(root: Path, model_folder: Path) -> Path | None:
    """The first of ``model_folder``, its version folders and anything inside them that resolves outside
    ``root`` (a symlink out of a model repository), or None. Repository models are found by a name a client
    may send, so what that name reaches must stay in the repository; a base path the operator configures
    may be anywhere."""
    try:
        inside = root.resolve()
        if not model_folder.resolve().is_relative_to(inside):
            return model_folder
        for path in version_folders(model_folder).values():
            escaped = version_escape(inside, path)
            if escaped is not None:
                return escaped
    except (OSError, RuntimeError):  # a symlink loop
        return model_folder
    return None


def version_escape(inside: Path, version_folder: Path) -> Path | None:
    """The version folder, or the first symlink under it, that resolves outside ``inside`` (a resolved
    path), or None. Symlinked folders are not descended into: they are checked as links."""
    try:
        if not version_folder.resolve().is_relative_to(inside):
            return version_folder
        for folder, dirs, files in os.walk(version_folder):
            for name in (*dirs, *files):
                path = Path(folder, name)
                if path.is_symlink() and not path.resolve().is_relative_to(inside):
                    return path
    except (OSError, RuntimeError):
        return version_folder
    return None


def fingerprint(folder: Path) -> Fingerprint:
    """What changes while a folder is being written: relative paths, sizes and mtimes of its files."""
    items = []
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            items.append((os.path.relpath(path, folder), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(items))


@dataclass(frozen=True)
class Scan:
    """One look at a base path: every version folder present, and those that stopped changing."""

    present: dict[int, Path]
    ready: dict[int, tuple[Path, Fingerprint]]


@dataclass
class VersionScanner:
    """Remembers the previous scan so that only folders that stopped changing are reported ready."""

    base_path: Path
    contained_in: Path | None = None  # a repository model: versions leading outside it are left out

    def __post_init__(self) -> None:
        self._previous: dict[int, Fingerprint] = {}
        self._refused: dict[int, Fingerprint] = {}  # versions found leading outside, as they were then

    def scan(self) -> Scan:
        """Call repeatedly; each call is one scan, compared with the one before."""
        present = version_folders(self.base_path)
        prints = {v: fingerprint(p) for v, p in present.items()}
        ready = {v: (present[v], fp) for v, fp in prints.items() if fp and self._previous.get(v) == fp}
        self._previous = prints
        if self.contained_in is not None:
            ready = {v: found for v, found in ready.items() if self._contained(v, *found)}
        return Scan(present, ready)

    def _contained(self, version: int, folder: Path, print_: Fingerprint) -> bool:
        if self._refused.get(version) == print_:
            return False
        assert self.contained_in is not None
        escaped = version_escape(self.contained_in.resolve(), folder)
        if escaped is None:
            self._refused.pop(version, None)
            return True
        if version not in self._refused:
            log.warning("not serving %s: %s leads outside the model repository", folder, escaped)
        self._refused[version] = print_
        return False
