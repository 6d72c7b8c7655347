"""Model names a client sends never reach outside the model repository: ``..``, absolute paths, URL-encoded
forms and symlinks out are refused on the repository API, and the scan serves none of them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from factories import onnx_triton_simple

pytestmark = pytest.mark.integration


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root, outside = tmp_path / "models", tmp_path / "outside"
    onnx_triton_simple(root / "simple" / "1")
    onnx_triton_simple(outside / "secret" / "1")
    onnx_triton_simple(outside / "models_sibling" / "1")
    (root / "linked_out").symlink_to(outside / "secret")
    (root / "version_out").mkdir()
    (root / "version_out" / "1").symlink_to(outside / "secret" / "1")
    (root / "file_out" / "1").mkdir(parents=True)  # a file inside a version folder links out
    (root / "file_out" / "1" / "model.onnx").symlink_to(outside / "secret" / "1" / "model.onnx")
    return root


CLIMBING = ["..", "%2e%2e", "%2E%2E", "..%2Foutside%2Fsecret", "%2e%2e%2foutside%2fsecret", "%2Ftmp", ".%2e",
            "simple%00", "..%5Coutside", "linked_out", "version_out", "file_out"]  # fmt: skip


def test_names_that_climb_out_are_refused(start_server, repository: Path) -> None:
    server = start_server(f"--model_repository={repository}", "--file_system_poll_wait_seconds=0")
    index = requests.post(server.url + "/v2/repository/index", timeout=5).json()
    assert {m["name"] for m in index} == {"simple"}  # the scan left the symlinked models out
    assert "leads outside the model repository" in server.log()
    for name in CLIMBING:
        answer = requests.post(f"{server.url}/v2/repository/models/{name}/load", timeout=10)
        assert answer.status_code in (400, 404), (name, answer.text)
        if name in ("linked_out", "version_out", "file_out"):
            assert answer.status_code == 400 and "leads outside the model repository" in answer.json()["error"]
    assert set(requests.get(server.url + "/v1/models", timeout=5).json()) <= {"models"}
    assert "secret" not in requests.get(server.url + "/v1/models", timeout=5).text


def test_a_version_linked_in_later_is_not_served(start_server, repository: Path) -> None:
    server = start_server(f"--model_repository={repository}", "--file_system_poll_wait_seconds=1")
    (repository / "simple" / "2").symlink_to(repository.parent / "outside" / "secret" / "1")
    deadline = time.monotonic() + 20
    while "simple/2: " not in server.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "leads outside the model repository" in server.log().split("simple/2: ", 1)[-1]
    status = requests.get(server.url + "/v1/models/simple", timeout=5).json()
    assert [v["version"] for v in status["model_version_status"]] == ["1"], status
