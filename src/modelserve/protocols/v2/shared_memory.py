"""The system shared-memory extension (Triton's): tensors read from and written to POSIX shared memory.

A client on the same host creates a POSIX shared-memory object (``shm_open("/input_simple")``, which Linux
keeps at ``/dev/shm/input_simple``), registers a region of it under a name (``register(name, key, offset,
byte_size)``), and then names the region, an offset in it and a byte size in an input's or output's
``parameters`` (``shared_memory_region``, ``shared_memory_offset``, ``shared_memory_byte_size``) instead of
sending the data: the tensor bytes never cross the socket.

Safety: a key must be one path component (``/name`` or ``name``; no ``/`` inside, not ``.``/``..``), opened
without following symlinks, and must be a regular file under ``/dev/shm``; a region must lie inside the
object, and every tensor inside its region (offset and size checked before any byte is read or written).
:class:`SharedMemoryRegions` is one per server, shared by the REST and gRPC doors, thread-safe. With API
keys, a region belongs to the key that registered it: other keys (except admin ones) can neither see,
unregister nor name it in a request (to them it does not exist), so one client cannot read or overwrite
another's tensors.

Triton's conventions kept: registering a name twice is ``ALREADY_EXISTS``; unregistering an unknown name (or
all, with none) succeeds; the status of an unknown name is NOT_FOUND. Input arrays are zero-copy views of the
mapping while the request runs (the client must not rewrite a region until its answer arrives, as with
Triton).
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.access.scopes import PRINCIPAL
from modelserve.errors import AlreadyExists, InvalidArgument, NotFound
from modelserve.protocols.v2.binary import from_raw, to_raw

__all__ = ["SHM_ROOT", "SharedMemoryRegions", "ShmRef", "shm_ref"]

SHM_ROOT = Path("/dev/shm")
_KEY = re.compile(r"/?([^/\x00]+)")


@dataclass(frozen=True)
class ShmRef:
    """Where one tensor lives: ``byte_size`` bytes at ``offset`` in the registered region ``region``."""

    region: str
    offset: int
    byte_size: int


@dataclass
class _Region:
    name: str
    key: str
    offset: int
    byte_size: int
    mapping: mmap.mmap
    owner: str | None = None  # the key that registered it (None: keys off)

    def visible(self) -> bool:
        """Whether the request's caller may use this region (see the module docstring)."""
        caller = PRINCIPAL.get()
        return caller is None or caller.scopes.admin or caller.name == self.owner


def shm_ref(name: str, parameters: dict[str, Any]) -> ShmRef | None:
    """The shared-memory reference in a tensor's parameters (plain values), or None when it has none."""
    region = parameters.get("shared_memory_region")
    offset = parameters.get("shared_memory_offset")
    size = parameters.get("shared_memory_byte_size")
    if region is None:
        for key, value in (("shared_memory_offset", offset), ("shared_memory_byte_size", size)):
            if value is not None:
                raise InvalidArgument(
                    f"'{key}' can not be specified without 'shared_memory_region' for tensor '{name}'"
                )
        return None
    if not isinstance(region, str) or not region:
        raise InvalidArgument(f"'shared_memory_region' of tensor '{name}' must be a non-empty string")
    if size is None:
        raise InvalidArgument(
            f"'shared_memory_byte_size' must be specified along with 'shared_memory_region' for tensor '{name}'"
        )
    offset = 0 if offset is None else offset
    for key, value in (("shared_memory_offset", offset), ("shared_memory_byte_size", size)):
        if type(value) is not int or value < 0:
            raise InvalidArgument(f"'{key}' of tensor '{name}' must be a non-negative integer")
    return ShmRef(region, offset, size)


class SharedMemoryRegions:
    def __init__(self, root: Path = SHM_ROOT) -> None:
        self._root = root
        self._regions: dict[str, _Region] = {}
        self._lock = threading.Lock()

    # ---- the extension's calls ----

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        if not name:
            raise InvalidArgument("'region name' is necessary to register system shared memory region")
        match = _KEY.fullmatch(key or "")
        if match is None or match.group(1) in (".", ".."):
            raise InvalidArgument(f"cannot register shared memory region '{name}' - invalid shm key '{key}'")
        for label, value in (("offset", offset), ("byte_size", byte_size)):
            if type(value) is not int or value < 0:
                raise InvalidArgument(f"shared memory region '{name}': '{label}' must be a non-negative integer")
        caller = PRINCIPAL.get()
        with self._lock:
            if name in self._regions:
                raise AlreadyExists(f"shared memory region '{name}' already in manager")
            mapping = self._map(name, key, match.group(1), offset, byte_size)
            owner = caller.name if caller is not None else None
            self._regions[name] = _Region(name, key, offset, byte_size, mapping, owner)

    def _map(self, name: str, key: str, file_name: str, offset: int, byte_size: int) -> mmap.mmap:
        try:
            fd = os.open(self._root / file_name, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            raise NotFound(f"Unable to open shared memory region: '{key}'") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise InvalidArgument(f"cannot register shared memory region '{name}': '{key}' is not a file")
            if byte_size == 0 or offset + byte_size > info.st_size:
                raise InvalidArgument(
                    f"failed to register shared memory region '{name}': offset {offset} + byte_size {byte_size} "
                    f"is outside the {info.st_size} bytes of '{key}'"
                )
            return mmap.mmap(fd, info.st_size)
        finally:
            os.close(fd)

    def unregister(self, name: str = "") -> None:
        """Forget ``name`` (every region the caller may use when empty); unknown names are fine."""
        with self._lock:
            names = [name] if name else list(self._regions)
            regions = [self._regions.pop(n) for n in names if n in self._regions and self._regions[n].visible()]
        _close(regions)

    def status(self, name: str = "") -> list[dict[str, Any]]:
        with self._lock:
            if name and (name not in self._regions or not self._regions[name].visible()):
                raise NotFound(f"Unable to find system shared memory region: '{name}'")
            regions = [self._regions[name]] if name else [r for r in self._regions.values() if r.visible()]
            return [{"name": r.name, "key": r.key, "offset": r.offset, "byte_size": r.byte_size} for r in regions]

    def close(self) -> None:
        """Forget every region, whoever registered it (the server stops)."""
        with self._lock:
            regions, self._regions = list(self._regions.values()), {}
        _close(regions)

    # ---- tensors ----

    def _window(self, ref: ShmRef, tensor: str) -> tuple[_Region, int]:
        with self._lock:
            region = self._regions.get(ref.region)
        if region is None or not region.visible():
            raise NotFound(f"Unable to find shared memory region: '{ref.region}'")
        if ref.offset >= region.byte_size and ref.byte_size:
            raise InvalidArgument(f"Invalid offset for shared memory region: '{ref.region}' (tensor '{tensor}')")
        if ref.offset + ref.byte_size > region.byte_size:
            raise InvalidArgument(
                f"Invalid offset + byte size for shared memory region: '{ref.region}' (tensor '{tensor}': "
                f"{ref.offset} + {ref.byte_size} > {region.byte_size})"
            )
        return region, region.offset + ref.offset

    def read(self, name: str, datatype: str, shape: tuple[int, ...], ref: ShmRef) -> np.ndarray:
        """Input ``name`` from its region, checked against ``datatype`` and ``shape`` like binary data."""
        region, start = self._window(ref, name)
        chunk = memoryview(region.mapping)[start : start + ref.byte_size]
        return from_raw(name, datatype, shape, chunk, f"shared memory region '{ref.region}'")

    def write(self, name: str, array: np.ndarray, ref: ShmRef) -> str:
        """Output ``name`` into its region; returns its V2 datatype. Refused when it does not fit."""
        datatype, raw = to_raw(name, array)
        if len(raw) > ref.byte_size:
            raise InvalidArgument(
                f"shared memory size specified with the request for output '{name}' ({ref.byte_size} bytes) "
                f"should be at least {len(raw)} bytes to hold the results"
            )
        region, start = self._window(ref, name)
        region.mapping[start : start + len(raw)] = raw
        return datatype


def _close(regions: list[_Region]) -> None:
    for region in regions:
        with contextlib.suppress(BufferError):  # a request still holds a view: it goes with the last view
            region.mapping.close()
