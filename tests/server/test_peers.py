"""The workers' change journal: what is announced while a peer is down is replayed when it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_services import make_repository, make_service
from modelserve.server.peers import WorkerPeers


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repository(tmp_path / "models")


def test_an_announcement_no_peer_heard_is_replayed_by_a_late_worker(repo: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    early = make_service(repo, "a", "b")
    early.peers = WorkerPeers(run_dir, 0, 2)  # worker 1 has no socket yet: the post fails, the journal keeps it
    early.unload_model("b")
    early.load_model("c")
    late = make_service(repo, "a", "b")
    try:
        assert WorkerPeers(run_dir, 1, 2).replay(late) == 2
        assert late.available_versions("b") == [] and late.available_versions("c") == [1]
    finally:
        early.stop()
        late.stop()


def test_no_journal_replays_nothing(tmp_path: Path, repo: Path) -> None:
    service = make_service(repo, "a")
    try:
        assert WorkerPeers(tmp_path, 1, 2).replay(service) == 0
    finally:
        service.stop()
