"""A real standalone Spark cluster on this machine (a master and one worker on 127.0.0.1), for trying a job
the way a cluster runs it, and for the tests and benchmarks that do.

    with StandaloneCluster(cores=2, memory="2g", folder=Path("/tmp/spark")) as cluster:
        ...  # modelserve batch-predict --engine spark --master {cluster.master_url}

PySpark's wheel ships ``spark-class`` (not ``start-master.sh``); both daemons are started with it, on free
ports (master, master web UI, worker web UI), with ``SPARK_LOCAL_IP=127.0.0.1`` and ``SPARK_HOME`` set to the
wheel. :meth:`StandaloneCluster.start` waits (bounded) until the master reports the worker ALIVE, reading its
web UI's ``/json/``; :meth:`StandaloneCluster.stop` ends both (SIGTERM, then SIGKILL). Java must be on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from modelserve.errors import FailedPrecondition


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spark_home() -> Path:
    """The Spark distribution inside the installed PySpark wheel."""
    import pyspark

    return Path(pyspark.__file__).parent


class StandaloneCluster:
    """A master and one worker (``cores``, ``memory``) on 127.0.0.1; logs and work files under ``folder``."""

    def __init__(self, folder: Path, cores: int = 2, memory: str = "2g") -> None:
        self.folder = Path(folder)
        self.cores = cores
        self.memory = memory
        self.port = free_port()
        self.ui_port = free_port()
        self.worker_ui_port = free_port()
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self._processes: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 90) -> StandaloneCluster:
        """Start the master, then the worker; wait until the worker is registered and ALIVE."""
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            raise FailedPrecondition("a standalone Spark cluster needs Java (java on PATH, or JAVA_HOME)")
        self.folder.mkdir(parents=True, exist_ok=True)
        home = spark_home()
        env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_NO_DAEMONIZE": "1"}
        spark_class = str(home / "bin" / "spark-class")
        try:
            master = ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(self.port)]
            self._spawn("master", [spark_class, *master, "--webui-port", str(self.ui_port)], env)
            worker = ["org.apache.spark.deploy.worker.Worker", self.master_url, "--host", "127.0.0.1"]
            resources = ["--cores", str(self.cores), "--memory", self.memory, "--work-dir", str(self.folder / "work")]
            self._spawn("worker", [spark_class, *worker, *resources, "--webui-port", str(self.worker_ui_port)], env)
            self._wait_for_worker(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def status(self) -> dict[str, Any]:
        """The master's view of the cluster (its web UI's ``/json/``)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=2) as response:
            return json.loads(response.read())

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self._processes.append((process, log))

    def _wait_for_worker(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process, _ in self._processes:
                if process.poll() is not None:
                    raise FailedPrecondition(f"a Spark daemon exited with {process.returncode}:\n{self.logs()}")
            try:
                workers = self.status().get("workers", [])
                if any(w.get("state") == "ALIVE" for w in workers):
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass  # the master's web UI is not up yet
            time.sleep(0.25)
        raise FailedPrecondition(f"no ALIVE Spark worker after {timeout:.0f} s:\n{self.logs()}")

    def logs(self, tail: int = 30) -> str:
        texts = []
        for name in ("master", "worker"):
            path = self.folder / f"{name}.log"
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-tail:]
                texts.append(f"--- {name}.log\n" + "\n".join(lines))
        return "\n".join(texts)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the worker, then the master (each with its children); SIGKILL what is left after ``timeout``."""
        for process, log in reversed(self._processes):
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(process, signal.SIGKILL)
                    process.wait(timeout)
            log.close()
        self._processes.clear()


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # the daemon's own session: spark-class's java and any executors it started
