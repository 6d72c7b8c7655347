"""Helpers for the conversion tests: the CLI as a subprocess, and a real server process.

``ServerProcess`` follows tests/server/conftest.py: free port on 127.0.0.1, bounded readiness wait, SIGTERM.
(A module of its own, not conftest.py, so test modules can import it by a name no other folder uses.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

MODELSERVE = str(Path(sys.executable).parent / "modelserve")


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``modelserve ARGS`` as a user runs it."""
    return subprocess.run([MODELSERVE, *args], capture_output=True, text=True, timeout=timeout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One ``modelserve serve`` process: free ports, bounded readiness wait, SIGTERM to stop."""

    def __init__(self, *args: str, log_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [MODELSERVE, "serve", "--host", "127.0.0.1", f"--rest_api_port={self.port}", "--port=0", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"server not ready after {timeout} s:\n{self.log()}")

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
