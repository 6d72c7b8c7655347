"""A change to what a service serves is applied here first, then announced; an announcement runs as a plain
change on the peer and announces nothing (two real services standing in for two workers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_services import make_repository, make_service
from modelserve.config import ModelConfig, Route, TrafficConfig, TrafficPolicy
from modelserve.errors import NotFound
from modelserve.serving.service import ModelService


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repository(tmp_path)


class Wire:
    """Passes every announcement to the other service, as WorkerPeers does across processes."""

    def __init__(self, other: ModelService) -> None:
        self.other = other
        self.sent: list[str] = []

    def announce(self, operation: str, arguments: tuple) -> None:
        self.sent.append(operation)
        self.other.apply_change(operation, arguments)


@pytest.fixture
def pair(repo: Path):
    first, second = make_service(repo, "a", "b"), make_service(repo, "a", "b")
    first.peers, second.peers = Wire(second), Wire(first)
    yield first, second
    first.stop()
    second.stop()


def test_unload_load_and_reload_reach_the_peer_once(pair, repo: Path) -> None:
    first, second = pair
    first.unload_model("b")
    assert second.available_versions("b") == [] and first.available_versions("b") == []
    first.load_model("b")
    assert second.available_versions("b") == [1]
    second.reload_config((ModelConfig(name="c", base_path=repo / "c"),))
    assert first.model_names() == second.model_names() == ["c"]
    assert first.peers.sent == ["unload_model", "load_model"] and second.peers.sent == ["reload_config"]


def test_traffic_reaches_the_peer(pair) -> None:
    first, second = pair
    traffic = TrafficConfig(policies={"a": TrafficPolicy(routes=(Route("1", 1.0),))})
    first.set_traffic(traffic)
    assert second.traffic == traffic


def test_a_failed_change_is_not_announced(pair) -> None:
    first, _second = pair
    with pytest.raises(NotFound):
        first.load_model("no_such_model")
    assert first.peers.sent == []


def test_an_unknown_change_is_refused(pair) -> None:
    with pytest.raises(Exception, match="unknown change"):
        pair[0].apply_change("format_disk", ())
