"""Where a conversion talks to its user: progress bars and notes on the terminal, framework noise elsewhere.

TensorFlow's C++ logs, MLIR diagnostics, the TFLite calibrator's ``fully_quantize: ...`` lines and absl
warnings are written straight to file descriptors 1 and 2, so Python-level redirection cannot hide them.
While :meth:`Console.hush` is active (and ``verbose`` is off) both descriptors point at a temporary file;
progress bars and notes go to a duplicate of the original stderr made beforehand, so they still reach the
terminal. ``verbose=True`` leaves every descriptor alone.

    console = Console(verbose=False)
    with console.hush():
        for sample in console.progress(samples, "calibrating"):
            ...
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO, TypeVar

T = TypeVar("T")

_LOG_TAIL_BYTES = 64 * 1024


class Console:
    """Progress bars, notes, and the hush. Used by one thread (the command's)."""

    def __init__(self, verbose: bool = False, progress: bool | None = None) -> None:
        """``progress``: show bars; ``None`` shows them only when stderr is a terminal (tqdm's rule)."""
        self.verbose = verbose
        self._progress = progress
        self._err: TextIO = sys.stderr
        self._depth = 0
        #: The last 64 KiB the frameworks wrote while hushed (for bug reports; ``--verbose`` shows it live).
        self.framework_log = ""

    def note(self, text: str) -> None:
        """One line for the user (on the real stderr, even while hushed)."""
        print(text, file=self._err, flush=True)

    def progress(self, items: Iterable[T], description: str, total: int | None = None, unit: str = "it") -> Iterable[T]:
        """``items`` wrapped in a tqdm bar on the real stderr."""
        from tqdm.auto import tqdm

        return tqdm(items, desc=description, total=total, unit=unit, file=self._err, disable=self._disabled())

    def _disabled(self) -> bool | None:
        if self._progress is None:
            return None  # tqdm: off when the stream is not a terminal
        return not self._progress

    @contextmanager
    def hush(self) -> Iterator[None]:
        """Send what frameworks write to fds 1 and 2 to a temporary file until the block ends (nestable)."""
        if self.verbose or self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        previous_err = self._err
        self._err = _reopen(saved[2])
        sink = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally block below
        self._depth += 1
        try:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the frameworks' deprecation notices
                yield
        finally:
            self._depth -= 1
            for stream in (sys.stdout, sys.stderr):
                with suppress(OSError, ValueError):
                    stream.flush()
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            self._err.flush()
            self._err.close()
            self._err = previous_err
            self.framework_log = _tail(sink)
            sink.close()


def _reopen(fd: int) -> TextIO:
    """A text stream on a duplicate of ``fd`` (line buffered), so closing it leaves ``fd`` open."""
    return io.TextIOWrapper(io.FileIO(os.dup(fd), "w"), line_buffering=True, errors="replace")


def _tail(sink: Any) -> str:
    size = sink.seek(0, os.SEEK_END)
    sink.seek(max(0, size - _LOG_TAIL_BYTES))
    return sink.read().decode("utf-8", errors="replace")
