"""Atomic version folders: staged hidden, renamed into place, never half there."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelserve.convert.versioning import StagedVersion, next_version
from modelserve.errors import InvalidArgument
from modelserve.repository.filesystem import version_folders


def test_next_version_follows_the_highest(tmp_path: Path):
    assert next_version(tmp_path / "missing") == 1
    for name in ("1", "00000123", "7.rejected", ".9.tmp", "notes"):
        (tmp_path / name).mkdir()
    assert next_version(tmp_path) == 124


def test_staging_is_invisible_to_the_scanner_until_landed(tmp_path: Path):
    with StagedVersion(tmp_path) as staged:
        (staged.path / "model.tflite").write_bytes(b"x")
        assert staged.path.name.startswith(".1.")
        assert version_folders(tmp_path) == {}
        landed = staged.land()
    assert landed == tmp_path / "1"
    assert (landed / "model.tflite").read_bytes() == b"x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1"]


def test_failure_removes_the_staging_folder_and_a_new_base(tmp_path: Path):
    base = tmp_path / "new_base"
    with pytest.raises(RuntimeError), StagedVersion(base) as staged:
        (staged.path / "partial").write_bytes(b"x")
        raise RuntimeError("conversion failed")
    assert not base.exists()


def test_reject_keeps_the_candidate_aside(tmp_path: Path):
    with StagedVersion(tmp_path, version=5) as staged:
        staged.reject()
    with StagedVersion(tmp_path, version=5) as staged:  # a second try replaces the old rejected one
        (staged.path / "new").write_bytes(b"y")
        staged.reject()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["5.rejected"]
    assert (tmp_path / "5.rejected" / "new").exists()


def test_existing_version_is_refused(tmp_path: Path):
    (tmp_path / "0003").mkdir()
    with pytest.raises(InvalidArgument, match="version 3 already exists"):
        StagedVersion(tmp_path, version=3)
    with pytest.raises(InvalidArgument, match="non-negative"):
        StagedVersion(tmp_path, version=-1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0003"]
