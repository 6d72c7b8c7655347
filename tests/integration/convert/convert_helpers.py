"""Helpers for the conversion tests: the CLI as a subprocess (servers come from tests/servers.py).

(A module of its own, not conftest.py, so test modules can import it by a name no other folder uses.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODELSERVE = str(Path(sys.executable).parent / "modelserve")


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``modelserve ARGS`` as a user runs it."""
    return subprocess.run([MODELSERVE, *args], capture_output=True, text=True, timeout=timeout)
