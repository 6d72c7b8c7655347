"""Start-up to ready for an ONNX model: process start → ``GET /v1/models/mlp`` says AVAILABLE.

The clock starts just before the process is spawned (interpreter start, imports and the model load are
all inside) and stops at the first status answer whose version state is AVAILABLE, polled every 5 ms.
At that moment the server's memory maps are read: any file under a ``tensorflow/`` package folder
(``libtensorflow_framework.so``, ``_pywrap_tensorflow_internal.so``) means TensorFlow was imported.
"""

from __future__ import annotations

import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness import paths
from harness.log import log
from harness.procs import Server
from harness.servers import free_port


def _available(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200 and b"AVAILABLE" in response.read()
    except (OSError, urllib.error.URLError):
        return False


def _tensorflow_mapped(server: Server) -> bool:
    for pid in server.pids():
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        if "/tensorflow/" in maps:
            return True
    return False


def _rss_mib(server: Server) -> float:
    total = 0
    for pid in server.pids():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def measure(model_base_path: Path, runs: int, cpus: str | None, timeout: float = 60) -> dict:
    """Median (and every run's) seconds from spawn to AVAILABLE, TensorFlow mapped or not, RSS at ready."""
    executable = str(Path(sys.executable).parent / "modelserve")
    times, tensorflow, rss = [], False, 0.0
    for i in range(runs):
        port = free_port()
        argv = [executable, "serve", "--model_name=mlp", f"--model_base_path={model_base_path}", "--host=127.0.0.1"]
        argv += [f"--rest_api_port={port}", "--port=0", "--file_system_poll_wait_seconds=0"]
        url = f"http://127.0.0.1:{port}/v1/models/mlp"
        start = time.perf_counter()
        server = Server(f"startup-{i}", argv, paths.work("logs") / "server-startup.log", cpus)
        ready = None
        try:
            while time.perf_counter() - start < timeout and server.alive():
                if _available(url):
                    ready = time.perf_counter() - start
                    break
                time.sleep(0.005)
            if ready is None:
                log(f"start-up run {i}: not ready; last lines:\n{server.tail()}")
                continue
            times.append(ready)
            tensorflow = tensorflow or _tensorflow_mapped(server)
            rss = max(rss, _rss_mib(server))
        finally:
            server.stop()
        log(f"start-up run {i}: ready after {ready:.3f} s")
    return {
        "runs_s": times,
        "median_s": statistics.median(times) if times else None,
        "tensorflow_imported": tensorflow,
        "rss_mib": round(rss, 1),
    }
