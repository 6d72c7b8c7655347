"""Shared-memory regions: registration checks and, with API keys, regions that belong to their key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelserve.access.scopes import PRINCIPAL, Identity, Scopes
from modelserve.errors import AlreadyExists, InvalidArgument, NotFound
from modelserve.protocols.v2.shared_memory import SharedMemoryRegions, ShmRef


@pytest.fixture
def regions(tmp_path: Path):
    (tmp_path / "input_a").write_bytes(np.arange(4, dtype=np.int32).tobytes())
    found = SharedMemoryRegions(root=tmp_path)
    yield found
    found.close()


def _as(name: str, scopes: str):
    return PRINCIPAL.set(Identity(name, Scopes.parse(scopes)))


def test_registration_is_checked(regions: SharedMemoryRegions, tmp_path: Path) -> None:
    regions.register("a", "/input_a", 0, 16)
    with pytest.raises(AlreadyExists):
        regions.register("a", "/input_a", 0, 16)
    with pytest.raises(InvalidArgument, match="invalid shm key"):
        regions.register("b", "/../etc/passwd", 0, 16)
    with pytest.raises(InvalidArgument, match="outside the 16 bytes"):
        regions.register("b", "input_a", 8, 16)
    (tmp_path / "linked").symlink_to(tmp_path / "input_a")
    with pytest.raises(NotFound):
        regions.register("b", "linked", 0, 16)  # symlinks are not followed
    read = regions.read("x", "INT32", (4,), ShmRef("a", 0, 16))
    assert read.tolist() == [0, 1, 2, 3]


def test_a_region_belongs_to_the_key_that_registered_it(regions: SharedMemoryRegions) -> None:
    token = _as("app", "predict")
    try:
        regions.register("mine", "/input_a", 0, 16)
    finally:
        PRINCIPAL.reset(token)
    token = _as("other", "predict")
    try:
        assert regions.status() == []
        with pytest.raises(NotFound):
            regions.status("mine")
        with pytest.raises(NotFound):
            regions.read("x", "INT32", (4,), ShmRef("mine", 0, 16))
        regions.unregister()  # all of its own: none
    finally:
        PRINCIPAL.reset(token)
    token = _as("app", "predict")
    try:
        assert [r["name"] for r in regions.status()] == ["mine"]
    finally:
        PRINCIPAL.reset(token)
    token = _as("ops", "admin")
    try:
        assert regions.read("x", "INT32", (4,), ShmRef("mine", 0, 16)).tolist() == [0, 1, 2, 3]
        regions.unregister("mine")
        assert regions.status() == []
    finally:
        PRINCIPAL.reset(token)
