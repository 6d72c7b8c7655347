"""What the Redis and Kafka stream tests share: a bounded poll and one ``modelserve stream`` process.

(A module with a name no other folder uses, so test helpers in any folder can import it.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from servers import free_port

MODELSERVE = str(Path(sys.executable).parent / "modelserve")

__all__ = ["MODELSERVE", "StreamProcess", "free_port", "wait_for"]


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class StreamProcess:
    """One ``modelserve stream ARGS`` process named ``consumer``; its log goes to a file the test can read."""

    def __init__(self, consumer: str, args: list[str], log: Path) -> None:
        self.consumer = consumer
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in wait()
        self.process = subprocess.Popen([MODELSERVE, "stream", *args], stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_logged(self, marker: str, timeout: float, what: str, interval: float) -> None:
        """Until the log holds ``marker``; fail at once if the process exits."""

        def logged() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker {self.consumer} exited with {self.process.returncode}:\n{self.log()}")
            return marker in self.log()

        wait_for(logged, timeout, f"worker {self.consumer} {what}", interval=interval)

    def signal(self, number: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(number)

    def wait(self, timeout: float = 30) -> int:
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()
        return code
