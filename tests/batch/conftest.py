"""Fixtures for the Beam tests: small real models, a real ``modelserve serve``, and a fault-injecting proxy.

* ``scale_repo``: a model repository built here with the ``onnx`` package: ``scale`` version 1 computes
  ``y = 2x`` and version 2 ``y = 3x`` (``x``, ``y``: float32 [-1, 1]), plus a link to the example
  ``digits_onnx``. ONNX models load in milliseconds, so most pipeline tests stay fast.
* ``server``: one ``modelserve serve`` process over ``scale_repo`` on free ports (module scope, read-only);
  ``start_server`` starts servers a test may kill.
* ``proxy``: a :class:`~faulty_proxy.FaultyProxy` in front of ``server`` (503 bursts, slow replies, ...).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # faulty_proxy, scaffolding

from scaffolding import ServerProcess, write_scale_model


@pytest.fixture(scope="session")
def scale_repo(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    write_scale_model(repo / "scale" / "1" / "model.onnx", 2.0)
    write_scale_model(repo / "scale" / "2" / "model.onnx", 3.0)
    shutil.copytree(examples_dir / "digits_onnx", repo / "digits_onnx")  # a link out would be refused
    return repo


@pytest.fixture(scope="session")
def digits(examples_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(examples_dir / "digits_test.npz") as data:
        return data["images"], data["labels"]


@pytest.fixture(scope="module")
def server(scale_repo: Path, tmp_path_factory: pytest.TempPathFactory):
    process = ServerProcess(scale_repo, tmp_path_factory.mktemp("server") / "server.log").wait_ready()
    yield process
    process.stop()


@pytest.fixture
def start_server(scale_repo: Path, tmp_path: Path):
    started: list[ServerProcess] = []

    def start(port: int | None = None, grpc_port: int | None = None, wait: bool = True) -> ServerProcess:
        process = ServerProcess(scale_repo, tmp_path / f"server-{len(started)}.log", port, grpc_port)
        started.append(process)
        return process.wait_ready() if wait else process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def proxy(server: ServerProcess):
    from faulty_proxy import FaultyProxy

    with FaultyProxy(server.url) as running:
        yield running
