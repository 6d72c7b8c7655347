"""The Manage tab's actions on a real serving core over real (ONNX) model folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factories import onnx_triton_simple
from modelserve.config import ModelConfig, ServerConfig
from modelserve.config_io import parse_traffic_config
from modelserve.console import actions
from modelserve.errors import InvalidArgument, NotFound
from modelserve.serving.service import ModelService


@pytest.fixture
def service(tmp_path: Path):
    for version in ("1", "2"):
        onnx_triton_simple(tmp_path / "simple" / version)
    config = ServerConfig(
        models=(ModelConfig(name="simple", base_path=tmp_path / "simple", platform="onnx"),),
        settle_seconds=0.01, file_system_poll_wait_seconds=0,
    )  # fmt: skip
    found = ModelService(config)
    found.start()
    yield found
    found.stop()


def test_labels_move_and_go(service: ModelService) -> None:
    assert actions.move_label(service, "simple", "stable", "2") == "label 'stable' of simple now points at version 2"
    assert service.labels("simple") == {"stable": 2}
    assert actions.move_label(service, "simple", "stable", "") == "label 'stable' of simple removed"
    assert service.labels("simple") == {}
    with pytest.raises(InvalidArgument, match="version number"):
        actions.move_label(service, "simple", "stable", "two")
    with pytest.raises(NotFound):
        actions.move_label(service, "nope", "stable", "1")


def test_traffic_shown_is_the_traffic_file_schema(service: ModelService) -> None:
    actions.move_label(service, "simple", "canary", "2")
    simple = {"routes": {"1": 90, "canary": 10}, "shadow": {"target": "2", "fraction": 0.5}}
    policy = {"routing_header": "x-user", "models": {"simple": simple}}
    assert actions.set_traffic(service, json.dumps(policy)) == "traffic policies replaced"
    shown = actions.current_traffic(service)
    assert parse_traffic_config(json.loads(shown)) == service.traffic
    with pytest.raises(InvalidArgument, match="not JSON"):
        actions.set_traffic(service, "{")


def test_unload_load_and_a_reload_without_files(service: ModelService) -> None:
    assert actions.unload(service, "simple") == "simple unloaded"
    assert "simple" not in service.model_names()
    assert actions.load(service, "simple").startswith("simple loaded: versions [2]")
    with pytest.raises(InvalidArgument, match="nothing to reload"):
        actions.reload_files(service)
