"""Real ``modelserve serve`` processes on 127.0.0.1 for any test folder, and a bounded wait.

``ServerProcess`` owns one server: free REST and gRPC ports, bounded waits for readiness, SIGTERM to stop
(``ServedProcess``: the same for any command, e.g. the image's entrypoint script).
(A module with a name no other folder uses, so test modules and conftest files can import it.)
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

MODELSERVE = str(Path(sys.executable).parent / "modelserve")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedProcess:
    """A server process writing its log to ``log_path``, reached at ``url``: bounded readiness waits, SIGTERM
    to stop. ``probe``: keyword arguments of the readiness probe's ``requests.get`` (TLS ``verify=``, ``cert=``)."""

    def __init__(
        self, command: list[str], url: str, log_path: Path, env: dict[str, str] | None = None, probe: dict | None = None
    ) -> None:
        self.url = url
        self._probe = probe or {}
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90, path: str = "/healthz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + path, timeout=1, **self._probe).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{path} not 200 after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


class ServerProcess(ServedProcess):
    """``modelserve serve ARGS`` on 127.0.0.1 with free REST and gRPC ports."""

    def __init__(self, *args: str, log_path: Path, scheme: str = "http", probe: dict | None = None) -> None:
        """``scheme``: ``https`` for a server with ``--ssl_config_file``."""
        self.port = free_port()
        self.grpc_port = free_port()
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        command = [
            MODELSERVE,
            "serve",
            "--host",
            "127.0.0.1",
            f"--rest_api_port={self.port}",
            f"--port={self.grpc_port}",
        ]
        super().__init__([*command, *args], f"{scheme}://127.0.0.1:{self.port}", log_path, probe=probe)


@contextmanager
def serving(*args: str, log_path: Path, ready_path: str = "/readyz") -> Iterator[ServerProcess]:
    """``modelserve serve ARGS`` (polling off), ready on ``ready_path`` inside the block, stopped after it."""
    process = ServerProcess(*args, "--file_system_poll_wait_seconds=0", log_path=log_path)
    try:
        process.wait_ready(path=ready_path)
        yield process
    finally:
        process.stop()


def wait_for(condition: Callable[[], object], timeout: float = 60, interval: float = 0.1) -> None:
    """Poll ``condition`` until it is true; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError("condition not met")
