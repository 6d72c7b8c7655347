"""Start the real ``modelserve serve`` process on 127.0.0.1 and talk HTTP to it.

``ServerProcess`` (tests/servers.py) owns one server: free ports, bounded readiness waits, SIGTERM to stop.
``start_server`` starts servers a test may change; ``examples_server`` is one shared read-only server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from servers import ServerProcess


@pytest.fixture
def start_server(tmp_path: Path):
    servers: list[ServerProcess] = []

    def start(*args: str, ready_path: str = "/healthz") -> ServerProcess:
        server = ServerProcess(*args, log_path=tmp_path / f"server-{len(servers)}.log")
        servers.append(server)
        server.wait_ready(path=ready_path)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def examples_server(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One server for read-only API tests: every example model, polling off."""
    logs = tmp_path_factory.mktemp("server")
    server = ServerProcess(
        f"--model_repository={examples_dir}",
        "--file_system_poll_wait_seconds=0",
        log_path=logs / "server.log",
    )
    server.wait_ready(path="/readyz")
    yield server
    server.stop()
