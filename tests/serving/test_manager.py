"""ModelManager lifecycle with a fake loader (real runtimes are exercised in tests/server/)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from modelserve.config import ModelConfig
from modelserve.errors import InvalidArgument, ModelLoadError, NotFound, Unavailable
from modelserve.serving.manager import ModelManager
from modelserve.serving.state import VersionState


class FakeModel:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.closed = False
        self.signatures = {}

    def close(self) -> None:
        self.closed = True


class FakeLoader:
    """Loads any folder whose ``model.txt`` does not say ``broken``."""

    def __init__(self) -> None:
        self.loaded: list[FakeModel] = []

    def __call__(self, path: Path) -> FakeModel:
        if (path / "model.txt").read_text() == "broken":
            raise ModelLoadError(f"could not load fake model at {path}: broken")
        model = FakeModel(path)
        self.loaded.append(model)
        return model


def add_version(base: Path, version: str, content: str = "ok") -> None:
    (base / version).mkdir(parents=True)
    (base / version / "model.txt").write_text(content)


def settled_poll(manager: ModelManager) -> None:
    manager.poll()
    manager.poll()


@pytest.fixture
def loader() -> FakeLoader:
    return FakeLoader()


def manager_for(tmp_path: Path, loader: FakeLoader, **kw) -> ModelManager:
    return ModelManager(ModelConfig(name="m", base_path=tmp_path, **kw), loader, drain_timeout=5)


def states(manager: ModelManager) -> dict[int, str]:
    return {s.version: s.state.name for s in manager.statuses()}


def test_serves_the_latest_version(tmp_path: Path, loader: FakeLoader):
    add_version(tmp_path, "1")
    add_version(tmp_path, "00002")
    manager = manager_for(tmp_path, loader)
    settled_poll(manager)
    assert states(manager) == {2: "AVAILABLE"}
    with manager.borrow() as served:
        assert served.version == 2


def test_new_version_swaps_in_before_the_old_unloads(tmp_path: Path, loader: FakeLoader):
    add_version(tmp_path, "1")
    manager = manager_for(tmp_path, loader)
    settled_poll(manager)
    old = manager.borrow()  # a request in flight on version 1
    add_version(tmp_path, "2")
    manager.poll()  # first sight of 2: not ready yet
    assert states(manager) == {1: "AVAILABLE"}
    done = threading.Event()
    threading.Thread(target=lambda: (manager.poll(), done.set())).start()
    # the poll loads 2, then waits for the in-flight request on 1 before closing it
    assert not done.wait(0.3)
    with manager.borrow() as served:
        assert served.version == 2
    assert states(manager)[1] == "UNLOADING"
    old.give_back()
    assert done.wait(5)
    assert states(manager) == {2: "AVAILABLE", 1: "END"}
    assert loader.loaded[0].closed


def test_broken_new_version_keeps_the_old_one_serving(tmp_path: Path, loader: FakeLoader):
    add_version(tmp_path, "1")
    manager = manager_for(tmp_path, loader)
    settled_poll(manager)
    add_version(tmp_path, "2", "broken")
    settled_poll(manager)
    statuses = {s.version: s for s in manager.statuses()}
    assert statuses[1].state is VersionState.AVAILABLE
    assert statuses[2].state is VersionState.END
    assert statuses[2].error_code.name == "FAILED_PRECONDITION"
    assert "broken" in statuses[2].error_message
    # fixed contents are retried
    (tmp_path / "2" / "model.txt").write_text("fixed")
    settled_poll(manager)
    assert states(manager) == {2: "AVAILABLE", 1: "END"}


def test_broken_newest_at_start_serves_the_next_older(tmp_path: Path, loader: FakeLoader):
    add_version(tmp_path, "1")
    add_version(tmp_path, "2", "broken")
    manager = manager_for(tmp_path, loader)
    settled_poll(manager)
    assert manager.available_versions() == [1]


def test_removed_folder_is_unloaded(tmp_path: Path, loader: FakeLoader):
    import shutil

    add_version(tmp_path, "1")
    manager = manager_for(tmp_path, loader)
    settled_poll(manager)
    shutil.rmtree(tmp_path / "1")
    manager.poll()
    assert states(manager) == {1: "END"}
    with pytest.raises(NotFound, match=r"Servable not found for request: Latest\(m\)"):
        manager.borrow()


def test_specific_version_and_labels(tmp_path: Path, loader: FakeLoader):
    from modelserve.config import All

    add_version(tmp_path, "1")
    add_version(tmp_path, "2")
    manager = manager_for(tmp_path, loader, policy=All(), labels=(("stable", 1), ("canary", 2)))
    settled_poll(manager)
    with manager.borrow(version=1) as served:
        assert served.version == 1
    with manager.borrow(label="canary") as served:
        assert served.version == 2
    with pytest.raises(NotFound, match=r"Specific\(m, 9\)"):
        manager.borrow(version=9)
    with pytest.raises(InvalidArgument, match="Unrecognized servable version label: beta"):
        manager.borrow(label="beta")


def test_retired_version_refuses_new_borrowers(tmp_path: Path, loader: FakeLoader):
    add_version(tmp_path, "1")
    manager = manager_for(tmp_path, loader)
    settled_poll(manager)
    served = manager.borrow()
    served.give_back()
    assert served.retire(1)
    with pytest.raises(Unavailable):
        served.borrow()
