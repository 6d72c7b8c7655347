"""Pick the version scanner for a model's base path: a local folder or a URL in object storage.

``scanner_for(config.base_path).scan()`` returns a :class:`~modelserve.repository.filesystem.Scan` either
way: the manager does not know where the versions live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from modelserve.repository.filesystem import Scan, VersionScanner
from modelserve.repository.remote import RemoteSettings, RemoteVersionScanner, is_url


class Scanner(Protocol):
    def scan(self) -> Scan: ...


def scanner_for(
    base_path: Path | str, settings: RemoteSettings | None = None, contained_in: Path | None = None
) -> Scanner:
    """A :class:`RemoteVersionScanner` for ``s3://``, ``gs://`` (and ``memory://``) URLs, else a local
    :class:`VersionScanner`. ``settings``: the remote cache and endpoint (default: the process-wide ones);
    ``contained_in``: the model repository a local model was found in (its versions may not lead outside).
    Raises InvalidArgument for an unsupported URL scheme, FailedPrecondition when its package is missing."""
    if is_url(base_path):
        return RemoteVersionScanner(str(base_path), settings)
    return VersionScanner(Path(base_path), contained_in)
