"""The request log: sampling, summaries instead of tensors, a bounded queue, rotation that caps the disk."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from modelserve.errors import NotFound
from modelserve.monitoring.request_log import LogSettings, RequestLog, entry_for, request_id, summarize
from modelserve.types import InferRequest, InferResponse, ModelRef


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _wait_written(log: RequestLog, count: int) -> None:
    deadline = time.monotonic() + 10
    while log.written + log.dropped < count and time.monotonic() < deadline:
        time.sleep(0.01)


def test_sampling_by_model_and_failures_always(tmp_path: Path) -> None:
    log = RequestLog(LogSettings(path=tmp_path / "r.jsonl", sample_rate=0.0, rates={"digits": 1.0, "half": 0.25}))
    try:
        assert log.wants("digits", failed=False) and not log.wants("other", failed=False)
        assert log.wants("other", failed=True)
        share = sum(log.wants("half", failed=False) for _ in range(4000)) / 4000
        assert 0.2 < share < 0.3
    finally:
        log.close()
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        RequestLog(LogSettings(path=tmp_path / "bad.jsonl", sample_rate=1.5))


def test_entries_summarize_inputs_and_outputs(tmp_path: Path) -> None:
    request = InferRequest(ModelRef("digits"), {"x": np.arange(6, dtype=np.float32).reshape(3, 2)}, request_id="r1")
    probabilities = np.array([[0.1, 0.7, 0.2], [0.5, 0.25, 0.25], [0.0, 0.0, 1.0]], np.float32)
    response = InferResponse("digits", 2, "serving_default", {"p": probabilities}, route="canary")
    entry = entry_for(request, response, None, 0.0042, LogSettings(top_k=2))
    assert (entry["id"], entry["model"], entry["version"], entry["route"], entry["status"]) == (
        "r1", "digits", 2, "canary", "OK"
    )  # fmt: skip
    assert entry["latency_ms"] == 4.2
    (x,) = entry["inputs"]
    assert x["shape"] == [3, 2] and x["stats"]["max"] == 5.0 and x["features"]["mean"] == [2.0, 3.0]
    assert "values" not in x  # no raw tensors unless asked
    (p,) = entry["outputs"]
    assert p["top_k"][0] == [[1, pytest.approx(0.7)], [2, pytest.approx(0.2)]]
    failed = entry_for(request, None, NotFound("no model digits"), 0.001, LogSettings())
    assert failed["status"] == "NOT_FOUND" and failed["error"] == "no model digits" and "outputs" not in failed


def test_strings_are_summarized_by_length() -> None:
    strings = np.array([b"ab", b"abcd"], dtype=object)
    assert summarize("s", strings)["lengths"]["mean"] == 3.0


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    log = RequestLog(LogSettings(path=tmp_path / "r.jsonl", queue_size=1))
    log.close()  # no writer any more: the queue fills at once
    log.record({"n": 1})
    log.record({"n": 2})
    assert log.dropped == 1


def test_rotation_caps_the_files(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    log = RequestLog(LogSettings(path=path, max_bytes=2000, backups=2))
    for number in range(200):
        log.record({"n": number, "pad": "x" * 50})
    _wait_written(log, 200)
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]
    assert all((tmp_path / name).stat().st_size <= 2000 for name in files)
    assert _lines(path)[-1]["n"] == 199  # the newest entries are in the current file


def test_a_sink_that_fails_is_counted_not_raised(tmp_path: Path) -> None:
    folder = tmp_path / "gone"
    log = RequestLog(LogSettings(path=folder / "r.jsonl"))
    folder.rmdir()
    folder.write_text("a file where the folder was")  # the log cannot be opened any more
    log.record({"n": 1})
    _wait_written(log, 1)
    log.close()
    assert log.dropped == 1 and log.written == 0


def test_request_ids() -> None:
    assert request_id("abc-123") == "abc-123"
    for bad in (None, "", "x" * 200, "has space", "new\nline"):
        generated = request_id(bad)
        assert len(generated) == 16 and int(generated, 16) >= 0
