"""The request log under a load loop on a real server: every request logged, the files rotate at their
size and never exceed the cap, and nothing is lost or refused on the way."""

from __future__ import annotations

import concurrent.futures
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import requests

pytestmark = pytest.mark.integration

MAX_BYTES = 64 * 1024
BACKUPS = 3


def test_rotation_and_the_cap_hold_under_load(start_server, examples_dir: Path, tmp_path: Path, digits_test) -> None:
    shutil.copytree(examples_dir / "digits_onnx", tmp_path / "models" / "digits_onnx")
    log_path = tmp_path / "logs" / "requests.jsonl"
    server = start_server(
        f"--model_repository={tmp_path / 'models'}", f"--request_log={log_path}", "--request_log_sample_rate=1",
        f"--request_log_max_bytes={MAX_BYTES}", f"--request_log_backups={BACKUPS}",
    )  # fmt: skip
    url = f"{server.url}/v1/models/digits_onnx:predict"
    body = {"instances": np.asarray(digits_test[0][:4]).tolist()}

    def call(_: int) -> int:
        with requests.Session() as session:
            return [session.post(url, json=body, timeout=30).status_code for _ in range(100)].count(200)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answered = sum(pool.map(call, range(8)))
    assert answered == 800

    files = sorted(log_path.parent.iterdir())
    deadline = time.monotonic() + 15
    while len(files) < BACKUPS + 1 and time.monotonic() < deadline:  # the writer thread may still be behind
        time.sleep(0.1)
        files = sorted(log_path.parent.iterdir())
    names = {f.name for f in files}
    assert names == {"requests.jsonl", *(f"requests.jsonl.{n}" for n in range(1, BACKUPS + 1))}
    assert all(f.stat().st_size <= MAX_BYTES for f in files)
    lines = sum(len(f.read_bytes().splitlines()) for f in files)
    assert 0 < lines < 800  # the oldest entries were rotated away: the cap holds
    metrics = requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=10).text
    assert 'status="OK"' in metrics
