"""Test scaffolding shared by the Beam tests: free ports, small real ONNX models, a real server process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

MODELSERVE = str(Path(sys.executable).parent / "modelserve")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_scale_model(path: Path, factor: float) -> Path:
    """A real ONNX graph ``y = x * factor`` (x, y: float32 [N, 1]) written with the onnx package."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    k = helper.make_tensor("k", TensorProto.FLOAT, [1], [float(factor)])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "k"], ["y"])], "scale", [x], [y], [k])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


class ServerProcess:
    """One real ``modelserve serve`` on 127.0.0.1: free ports, bounded readiness wait, SIGTERM or SIGKILL."""

    def __init__(self, repo: Path, log_path: Path, port: int | None = None, grpc_port: int | None = None) -> None:
        self.port = port or free_port()
        self.grpc_port = grpc_port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc = f"grpc://127.0.0.1:{self.grpc_port}"
        self.repo = repo
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                MODELSERVE,
                "serve",
                "--host=127.0.0.1",
                f"--rest_api_port={self.port}",
                f"--port={self.grpc_port}",
                f"--model_repository={repo}",
                "--file_system_poll_wait_seconds=0",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                if requests.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready after {timeout} s:\n{self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no draining, connections reset, exactly what a crash looks like to clients."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
