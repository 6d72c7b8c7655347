"""A live progress line for local runs: counts sent by the workers over loopback UDP, drawn by the launcher.

Beam's metrics are read only when a local pipeline has finished, and the local runner may run its workers
as subprocesses, so each worker step that counts records (:class:`CountProgress`) sends small datagrams
(``"out 128"``) to the launcher at most every ``interval`` seconds and when a bundle finishes.
:class:`ProgressDisplay` adds them up and redraws one line on stderr:

    batch-predict: read 1200 · predicted 1180 · failed 20 · 2310 records/s

The exact totals of the summary come from Beam's counters, not from these (best-effort) datagrams. On a
remote runner the address is unreachable and nothing is sent; the runner's own UI shows progress.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, TextIO

import apache_beam as beam


class CountProgress(beam.DoFn):
    """Passes elements through unchanged and reports how many went by under ``label``."""

    def __init__(self, label: str, address: tuple[str, int] | None, interval: float = 0.25) -> None:
        self._label = label
        self._address = address
        self._interval = interval

    def setup(self) -> None:
        self._socket = None
        if self._address is not None:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._pending = 0
        self._last = time.monotonic()

    def process(self, element: Any):
        self._pending += 1
        if self._socket is not None and time.monotonic() - self._last >= self._interval:
            self._flush()
        yield element

    def finish_bundle(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._pending and self._socket is not None:
            with contextlib.suppress(OSError):  # progress is best-effort
                self._socket.sendto(f"{self._label} {self._pending}".encode(), self._address)
        self._pending = 0
        self._last = time.monotonic()

    def teardown(self) -> None:
        if self._socket is not None:
            self._socket.close()


class ProgressDisplay:
    """Listens on 127.0.0.1 (an ephemeral UDP port: :attr:`address`) and redraws a line on ``stream``."""

    LABELS = (("read", "read"), ("out", "predicted"), ("failed", "failed"))

    def __init__(self, stream: TextIO | None = None, interval: float = 0.5, enabled: bool = True) -> None:
        self.counts: Counter[str] = Counter()
        self._stream = stream or sys.stderr
        self._interval = interval
        self._enabled = enabled
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.1)
        self.address: tuple[str, int] = self._socket.getsockname()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="batch-progress", daemon=True)
        self._drawn = False

    def __enter__(self) -> ProgressDisplay:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.setblocking(False)
        while self._receive():  # what the last bundles sent
            pass
        self._socket.close()
        if self._enabled:
            self._draw()
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()

    def _loop(self) -> None:
        last_draw = 0.0
        while not self._stop.is_set():
            self._receive()
            if self._enabled and time.monotonic() - last_draw >= self._interval:
                self._draw()
                last_draw = time.monotonic()

    def _receive(self) -> bool:
        try:
            data = self._socket.recv(256)
        except (TimeoutError, BlockingIOError, OSError):
            return False
        label, _, count = data.decode(errors="replace").partition(" ")
        if count.isdigit():
            self.counts[label] += int(count)
        return True

    def line(self) -> str:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        parts = [f"{title} {self.counts[label]}" for label, title in self.LABELS]
        rate = self.counts["out"] / elapsed
        return "batch-predict: " + " · ".join(parts) + f" · {rate:.0f} records/s"

    def _draw(self) -> None:
        if not self.counts:
            return
        self._stream.write("\r" + self.line())
        self._stream.flush()
        self._drawn = True


@contextlib.contextmanager
def stderr_to_file(path: str) -> Iterator[TextIO]:
    """Point file descriptor 2 at ``path`` while the block runs, and yield a stream on the real stderr.

    Beam's local runner starts its worker processes with this process's stderr and without the pipeline's
    options, so they log every bundle at INFO there; this sends those lines to a file instead, while the
    progress line and errors still reach the terminal.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield terminal
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()
