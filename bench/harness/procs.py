"""Server processes for the bench: pinned start in their own session, readiness, CPU accounting, stop.

Mirrors ``../shared/bench/peers/lib.sh`` (``start_server``, ``wait_ready``/``wait_up``/``wait_log``,
``group_cpu_s``, ``wait_idle``, ``stop_server``) so that our server and the peers are started, warmed,
idled and stopped the same way. Every process the server starts stays in its session (``setsid``), so the
whole tree is found, measured and stopped by session id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.log import log

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def taskset(cpus: str | None) -> list[str]:
    """``taskset -c CPUS`` as a command prefix, or nothing when ``cpus`` is None (unpinned)."""
    return ["taskset", "-c", cpus] if cpus else []


def http_status(url: str, timeout: float = 2.0, data: bytes | None = None, headers: Mapping[str, str] = {}) -> int:
    """The HTTP status of one request (GET, or POST with ``data``); 0 when nothing answers."""
    request = urllib.request.Request(url, data=data, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, urllib.error.URLError):
        return 0


class Server:
    """One server process tree, started pinned (or not) in a new session, output to ``log_path``."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, cpus: str | None, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.argv = [*taskset(cpus), *argv]
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        self.started = time.monotonic()
        log(f"started {name} pid={self.process.pid} cpus={cpus or 'any'}: {' '.join(argv)}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def pids(self) -> list[int]:
        """Every live process of the server's session (Ray actors open process groups but keep the session)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == self.pid:  # field 6 (session id); fields[0] is field 3 (state)
                found.append(int(entry))
        return found

    def cpu_seconds(self) -> float:
        """utime + stime used so far by every live process of the session."""
        ticks = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15
        return ticks / CLOCK_TICKS

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait(self, check, what: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            if not self.alive():
                log(f"{self.name} died while waiting for {what}; last lines of {self.log_path}:\n{self.tail()}")
                return False
            time.sleep(0.1)
        log(f"{self.name}: no {what} after {timeout:.0f} s; last lines of {self.log_path}:\n{self.tail()}")
        return False

    def wait_ready(self, url: str, timeout: float = 120) -> bool:
        """Until GET ``url`` answers 200."""
        return self._wait(lambda: http_status(url) == 200, f"200 from {url}", timeout)

    def wait_up(self, url: str, timeout: float = 60) -> bool:
        """Until GET ``url`` answers anything at all (404/405 count)."""
        return self._wait(lambda: http_status(url) != 0, f"answer from {url}", timeout)

    def wait_log(self, pattern: str, timeout: float = 180) -> bool:
        return self._wait(lambda: pattern in self.log_path.read_text(errors="replace"), repr(pattern), timeout)

    def wait_idle(self, limit: float = 90) -> None:
        """After a warm-up, clients that the load generator abandoned may still be queued in the server: wait
        until its processes use under 5% of a core over 1 s (at most ``limit`` seconds), as lib.sh does."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = self.cpu_seconds()
            time.sleep(1)
            if self.cpu_seconds() - before < 0.05:
                return
        log(f"{self.name} still busy after {limit:.0f} s")

    def stop(self, grace: float = 30) -> None:
        """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL to whatever is left of the session."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        for pid in self.pids():
            log(f"killing leftover pid {pid} of {self.name}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.alive():
            self.process.kill()
        self.process.wait(10)
        log(f"stopped {self.name}")
