"""py-spy profiles of our server while a row is measured (``bench/run.py --profile``).

py-spy (``pip install py-spy`` into the venv) samples the server process from outside, on the load
generator's core, for the measured window, in ``--nonblocking`` mode (the server is never paused, so the
numbers are barely disturbed; a few samples may be torn). The raw collapsed stacks are kept (feed them to
flamegraph.pl or speedscope), and :func:`summarize` writes the functions with the most samples, on their own
("self") and with what they call ("total"), per thread.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
from pathlib import Path

from harness.procs import taskset


def available() -> str | None:
    """Path of py-spy next to this Python, or on PATH; None when missing."""
    import sys

    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start(pid: int, seconds: int, raw: Path, cpus: str | None, native: bool = False) -> subprocess.Popen:
    command = [*taskset(cpus), available() or "py-spy", "record", "-p", str(pid), "--duration", str(seconds)]
    command += ["--rate", "200", "--format", "raw", "--threads", "--nonblocking", "--subprocesses", "-o", str(raw)]
    if native:
        command.append("--native")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(spy: subprocess.Popen, raw: Path, top: int = 25) -> str | None:
    """Wait for py-spy, write ``<raw>.top.txt``; returns its path or py-spy's complaint."""
    _, err = spy.communicate(timeout=120)
    if not raw.is_file():
        return f"py-spy failed: {err.decode(errors='replace')[-300:]}"
    summary = raw.with_suffix(".top.txt")
    summary.write_text(summarize(raw, top))
    return str(summary)


def summarize(raw: Path, top: int = 25) -> str:
    """Top frames by self and total samples, overall and per thread, from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        threads[frames[0]] += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):
            inclusive[frame] += n
    if not total:
        return "no samples\n"
    lines = [f"{total} samples (busy threads only)", "", "threads:"]
    lines += [f"{n / total:7.1%}  {name}" for name, n in threads.most_common()]
    lines += ["", "self:"]
    lines += [f"{n / total:7.1%}  {name}" for name, n in own.most_common(top)]
    lines += ["", "total (with callees):"]
    lines += [f"{n / total:7.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"
