"""Audit lines: JSON, one per event, in a file only its owner reads."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from modelserve.access.audit import AuditLog


def test_lines_are_json_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "audit.jsonl"
    audit = AuditLog(path)
    try:
        audit.write(who="ops", client="10.0.0.7", door="rest", action="POST /admin/reload", outcome="ok")
        audit.write(who="", client="10.0.0.8", door="grpc", action="authenticate", outcome="missing_key")
    finally:
        audit.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["who"] for line in lines] == ["ops", ""]
    assert lines[1] == {**lines[1], "from": "10.0.0.8", "door": "grpc", "outcome": "missing_key"}
    assert lines[0]["time"].endswith("+00:00")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
