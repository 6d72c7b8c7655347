"""The audit log: admin actions and refusals as JSON lines (who, what, when, from where, outcome).

One line per event, never a key or a token::

    {"time": "2026-12-03T09:14:02.117+00:00", "who": "ops", "from": "10.0.0.7", "door": "rest",
     "action": "admin.reload", "target": "", "outcome": "ok", "detail": ""}

Lines go to ``--audit_log=FILE`` (appended, created with mode 0600), or else to the ``modelserve.audit``
logger (stderr by default). Refusals of one client address stop being written once it is rate-limited,
so a flood of bad keys cannot fill the disk (the metric still counts them).
"""

from __future__ import annotations

import datetime
import logging
import logging.handlers
import os
from pathlib import Path

import orjson

__all__ = ["AuditLog"]


class AuditLog:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._log = logging.getLogger("modelserve.audit")
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")  # reopens after logrotate
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._handler: logging.Handler | None = handler
            self._log.addHandler(handler)
            self._log.setLevel(logging.INFO)
            self._log.propagate = False
        else:
            self._handler = None

    def write(
        self, *, who: str, client: str, door: str, action: str, outcome: str, target: str = "", detail: str = ""
    ) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        line = {"time": now, "who": who, "from": client, "door": door, "action": action, "target": target,
                "outcome": outcome, "detail": detail}  # fmt: skip
        self._log.info("%s", orjson.dumps(line).decode())

    def close(self) -> None:
        if self._handler is not None:
            self._log.removeHandler(self._handler)
            self._handler.close()
            self._log.propagate = True
