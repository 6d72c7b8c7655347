"""``modelserve serve --workers N``: N server processes sharing the REST and gRPC ports, kept running.

The supervisor (this module, run by the command) loads no model and serves nothing. It reserves the ports
(a bound, non-listening ``SO_REUSEPORT`` socket each, so port 0 becomes one real port for every worker and
no other program can take it), makes a private folder for the workers' sockets and change journal
(:mod:`modelserve.server.peers`), and starts each worker as ``modelserve serve`` with the same flags and
``MODELSERVE_WORKER=INDEX/COUNT/RUN_DIR/REST_PORT/GRPC_PORT`` in its environment. Every worker binds the
ports with ``SO_REUSEPORT``: the kernel spreads new connections across them.

A worker that exits while the server is not stopping is started again, after 1 s, doubling up to 30 s
while it keeps dying within a minute of its start; it loads the models from the repository and replays the
journal. SIGTERM or SIGINT is passed to every worker (each drains its requests as a single server does);
the supervisor exits 0 when they all did, 1 otherwise. Workers ask the kernel for SIGTERM if the
supervisor dies, so none is left behind by a SIGKILL.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from modelserve.config import ServerConfig
from modelserve.errors import InvalidArgument

log = logging.getLogger("modelserve")

ENVIRONMENT = "MODELSERVE_WORKER"
RESTART_FIRST, RESTART_MOST, STABLE_SECONDS = 1.0, 30.0, 60.0
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerSlot:
    """What a worker process is told by its supervisor."""

    index: int
    count: int
    run_dir: Path
    rest_port: int
    grpc_port: int

    def encode(self) -> str:
        return f"{self.index}/{self.count}/{self.rest_port}/{self.grpc_port}/{self.run_dir}"

    @classmethod
    def from_environment(cls, environ: os._Environ[str] | dict[str, str] = os.environ) -> WorkerSlot | None:
        text = environ.get(ENVIRONMENT)
        if not text:
            return None
        index, count, rest_port, grpc_port, run_dir = text.split("/", 4)
        return cls(int(index), int(count), Path(run_dir), int(rest_port), int(grpc_port))


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (not listening). InvalidArgument when
    another program holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it, as uvicorn's
    try:
        sock.bind((host or "0.0.0.0", port))
    except OSError as exc:
        sock.close()
        raise InvalidArgument(f"cannot bind {host}:{port}: {exc.strerror}") from None
    return sock


def die_with_parent(parent: int) -> None:
    """Ask Linux for SIGTERM when the supervisor ends; if it already ended, stop now."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the supervisor's SIGTERM still works
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


class _Worker:
    def __init__(self, slot: WorkerSlot, argv: list[str]) -> None:
        self.slot = slot
        self.argv = argv
        self.process: subprocess.Popen | None = None
        self.started = 0.0
        self.delay = RESTART_FIRST
        self.restart_at: float | None = 0.0
        self.restarts = 0

    def start(self) -> None:
        environment = {**os.environ, ENVIRONMENT: self.slot.encode(), "MODELSERVE_SUPERVISOR": str(os.getpid())}
        command = [sys.executable, "-c", "import sys; from modelserve.cli import main; sys.exit(main())"]
        self.process = subprocess.Popen([*command, "serve", *self.argv], env=environment)
        self.started, self.restart_at = time.monotonic(), None

    def check(self, now: float) -> None:
        """Notice an exit and plan the restart (with backoff), or start when the time has come."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                self.start()
            return
        code = self.process.poll() if self.process is not None else None
        if code is None:
            return
        lived = now - self.started
        self.delay = RESTART_FIRST if lived >= STABLE_SECONDS else min(self.delay * 2, RESTART_MOST)
        self.restart_at = now + self.delay
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"status {code}"
        log.error("worker %d (pid %d) ended with %s after %.1f s; starting it again in %.0f s",
                  self.slot.index, self.process.pid, how, lived, self.delay)  # fmt: skip


def supervise(config: ServerConfig, argv: list[str]) -> int:
    """Run ``config.workers`` workers of ``modelserve serve ARGV`` until SIGTERM/SIGINT; the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reserved = [reuse_port_socket(config.host, config.rest_api_port)]
    if config.grpc_port:
        reserved.append(reuse_port_socket(config.host, config.grpc_port))
    rest_port = reserved[0].getsockname()[1]
    grpc_port = reserved[1].getsockname()[1] if config.grpc_port else 0
    run_dir = Path(tempfile.mkdtemp(prefix="modelserve-workers-"))  # mode 0700
    slots = [WorkerSlot(i, config.workers, run_dir, rest_port, grpc_port) for i in range(config.workers)]
    workers = [_Worker(slot, argv) for slot in slots]
    stopping: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda number, _frame: stopping.append(number))
    log.info("%d workers on REST port %d%s", config.workers, rest_port, f", gRPC port {grpc_port}" if grpc_port else "")
    try:
        while not stopping:
            now = time.monotonic()
            for worker in workers:
                worker.check(now)
            time.sleep(0.1)
        log.info("%s: stopping %d workers", signal.Signals(stopping[0]).name, len(workers))
        return _stop(workers, config.graceful_shutdown_seconds + 15)
    finally:
        for sock in reserved:
            sock.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def _stop(workers: list[_Worker], limit: float) -> int:
    running = [w.process for w in workers if w.process is not None and w.restart_at is None]
    for process in running:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + limit
    status = 0
    for process in running:
        try:
            code = process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker pid %d did not stop in %.0f s: killed", process.pid, limit)
            process.kill()
            code = process.wait()
        status = status or (0 if code == 0 else 1)
    return status
