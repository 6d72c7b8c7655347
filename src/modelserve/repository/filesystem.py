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


def escape_from(root: Path, model_folder: Path) -> Path | None:
    """The first of ``model_folder`` and its version folders that resolves outside ``root`` (a symlink out of
    a model repository), or None. Repository models are found by a name a client may send, so what that
    name reaches must stay in the repository; a base path the operator configures may be anywhere."""
    try:
        inside = root.resolve()
        for path in (model_folder, *version_folders(model_folder).values()):
            if not path.resolve().is_relative_to(inside):
                return path
    except (OSError, RuntimeError):  # a symlink loop
        return model_folder
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

    def __post_init__(self) -> None:
        self._previous: dict[int, Fingerprint] = {}

    def scan(self) -> Scan:
        """Call repeatedly; each call is one scan, compared with the one before."""
        present = version_folders(self.base_path)
        prints = {v: fingerprint(p) for v, p in present.items()}
        ready = {v: (present[v], fp) for v, fp in prints.items() if fp and self._previous.get(v) == fp}
        self._previous = prints
        return Scan(present, ready)
