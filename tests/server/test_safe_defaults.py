"""Safe defaults: an open server beyond loopback says so loudly, --require_auth refuses to start without
keys, and V2 server metadata tells clients whether auth is on."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from modelserve.access.keys import add_entry
from modelserve.access.scopes import Scopes
from modelserve.cli import main
from modelserve.config import ServerConfig
from modelserve.server.main import build_access
from modelserve.serving.service import ModelService


def _service(**fields: object) -> ModelService:
    return ModelService(ServerConfig(models=(), **fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(("host", "loud"), [("0.0.0.0", True), ("::", True), ("10.1.2.3", True),
                                            ("127.0.0.1", False), ("::1", False), ("localhost", False)])  # fmt: skip
def test_an_open_server_beyond_loopback_says_so(caplog: pytest.LogCaptureFixture, host: str, loud: bool) -> None:
    with caplog.at_level(logging.WARNING, logger="modelserve"):
        access = build_access(_service(host=host), ServerConfig(models=(), host=host))
    assert not access.enabled
    assert ("NO AUTHENTICATION" in caplog.text) is loud


def test_keys_turn_access_control_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    add_entry(tmp_path / "keys.json", "app", Scopes.parse("predict"))
    config = ServerConfig(models=(), host="0.0.0.0", api_keys_file=tmp_path / "keys.json")
    with caplog.at_level(logging.WARNING, logger="modelserve"):
        assert build_access(_service(), config).enabled
    assert "NO AUTHENTICATION" not in caplog.text


def test_require_auth_refuses_to_start_without_keys(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["serve", f"--model_base_path={tmp_path}", "--require_auth"]) == 1
    assert "--require_auth: no --api_keys_file given" in capsys.readouterr().err


def test_v2_server_metadata_says_whether_auth_is_on(tmp_path: Path) -> None:
    import asyncio

    from modelserve.protocols.v2 import rest

    for keys, expected in ((None, "off"), (tmp_path / "keys.json", "api_keys")):
        service = _service(api_keys_file=keys)
        answer = asyncio.run(rest.handle(service, "GET", "/v2", {}, b"", None, None, None))
        assert orjson.loads(answer.body)["auth"] == expected
