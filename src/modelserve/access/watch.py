"""Whether a file changed since it was last read: the keys file and TLS material are re-read on change."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FileSignature", "file_signature"]

FileSignature = tuple[int, int, int] | None


def file_signature(path: Path) -> FileSignature:
    """Inode, size and mtime of ``path`` (a replaced, rewritten or touched file differs), or None when it
    cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns
