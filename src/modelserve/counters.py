"""Business counters: named counts a model or pipeline step emits itself ("fraud_flagged", "upsell_shown"),
exported as ``modelserve_business_events_total{model, version, name}``.

    # in a Python model (modelserve.python_model.PythonModel):
    self.count("fraud_flagged", int(flags.sum()))
    # in a pipeline's steps.py function:
    from modelserve.counters import count
    count("long_prompt")

Contract: ``name`` is 1-64 characters of letters, digits and ``_.:-`` starting with a letter (ValueError
otherwise); ``amount`` is a finite number >= 0. Counts belong to the version folder of the code that emits
them: a Python model passes its own folder; a pipeline step inherits its pipeline's (set while its steps
run); a call outside both raises ValueError. Thread-safe, a dict update under a lock (~1 µs).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = ["count", "counted", "emitting_for"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
_FOLDER: ContextVar[Path | None] = ContextVar("modelserve_counting_folder", default=None)
_COUNTS: dict[tuple[Path, str], float] = {}
_LOCK = threading.Lock()


def count(name: str, amount: float = 1, *, folder: Path | None = None) -> None:
    """Add ``amount`` to counter ``name`` of ``folder`` (default: the pipeline running this step)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"counter name {name!r}: 1-64 letters, digits or _.:- starting with a letter")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) or amount < 0:
        raise ValueError(f"counter {name}: amount must be a finite number >= 0, got {amount!r}")
    folder = folder if folder is not None else _FOLDER.get()
    if folder is None:
        raise ValueError(f"counter {name}: counted outside a model or pipeline step")
    with _LOCK:
        _COUNTS[(folder, name)] = _COUNTS.get((folder, name), 0) + amount


@contextmanager
def emitting_for(folder: Path) -> Iterator[None]:
    """Counts made inside (on this thread or task) belong to ``folder``."""
    token = _FOLDER.set(folder)
    try:
        yield
    finally:
        _FOLDER.reset(token)


def counted() -> dict[tuple[Path, str], float]:
    """Every count so far: ``{(version folder, name): total}``."""
    with _LOCK:
        return dict(_COUNTS)
