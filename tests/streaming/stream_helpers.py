"""Helpers for the streaming tests: a real ``redis-server`` (127.0.0.1, a free port, a temp dir, no
persistence), real ``modelserve stream`` worker processes, bounded waits, and entries for the ONNX doubler
(``y = 2x``, ``tag_out = tag``) in every payload form with their exact expected results."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from stream_processes import StreamProcess, free_port, wait_for

redis = pytest.importorskip("redis")

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, folder: Path) -> None:
        if not Path(REDIS_SERVER).exists():
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._log = open(folder / "redis.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.client = redis.Redis(port=self.port, socket_timeout=10)
        wait_for(self._ping, 10, "redis-server to answer PING")

    def _ping(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {self.process.returncode}")
        try:
            return bool(self.client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


class Worker(StreamProcess):
    """One ``modelserve stream --redis`` process."""

    def __init__(self, url: str, stream: str, group: str, consumer: str, model: Path | None, args: tuple, log: Path):
        model_args = ("--model", str(model)) if model is not None else ()
        argv = ["--redis", url, "--stream", stream, "--group", group, "--consumer", consumer, *model_args, *args]
        super().__init__(consumer, argv, log)

    def wait_consuming(self, timeout: float = 60) -> None:
        self.wait_logged("consuming stream", timeout, "to start consuming", interval=0.1)


def results_by_input(client: Any, stream: str) -> dict[bytes, list[dict[bytes, bytes]]]:
    """Every result entry of ``stream``, grouped by the input entry id it answers."""
    grouped: dict[bytes, list[dict[bytes, bytes]]] = {}
    for _result_id, fields in client.xrange(stream):
        grouped.setdefault(fields[b"id"], []).append(fields)
    return grouped


def pending_of(client: Any, stream: str, group: str, consumer: str) -> int:
    """How many entries ``consumer`` holds unacknowledged (its share of the group's pending list); 0 before
    the group exists."""
    try:
        summary = client.xpending(stream, group)
    except redis.ResponseError as exc:
        if "NOGROUP" in str(exc):
            return 0
        raise
    for row in summary["consumers"]:
        if row["name"] in (consumer, consumer.encode()):
            return int(row["pending"])
    return 0


FAST = ("--block-ms", "200", "--log-level", "info")
CLAIM_FAST = ("--claim-idle-ms", "300", "--claim-interval-ms", "100", "--metrics-host", "127.0.0.1")


def row_body(rows: np.ndarray, tags: list[str]) -> bytes:
    return json.dumps({"instances": [{"x": r.tolist(), "tag": t} for r, t in zip(rows, tags)]}).encode()


def add_doubler_entries(client, stream: str, count: int, start: int = 0) -> dict[bytes, np.ndarray]:
    """``count`` entries of 1-3 rows each, in the four payload forms; returns id -> x."""
    sent: dict[bytes, np.ndarray] = {}
    pipe = client.pipeline(transaction=False)
    xs = []
    for i in range(start, start + count):
        rows = 1 + i % 3
        x = (np.arange(rows * 3, dtype=np.float32).reshape(rows, 3) + i) * 0.25
        tags = [f"t{i}-{r}" for r in range(rows)]
        form = i % 4
        if form == 0:
            fields = {"request": row_body(x, tags)}
        elif form == 1:
            fields = {"request": json.dumps({"inputs": {"x": x.tolist(), "tag": tags}}).encode()}
        elif form == 2:
            buffer = io.BytesIO()
            np.savez(buffer, x=x, tag=np.array(tags, dtype=np.bytes_))
            fields = {"npz": buffer.getvalue()}
        else:
            tensors = [
                {"name": "x", "shape": list(x.shape), "datatype": "FP32", "data": x.ravel().tolist()},
                {"name": "tag", "shape": [rows], "datatype": "BYTES", "data": tags},
            ]
            fields = {"request": json.dumps({"id": f"r{i}", "inputs": tensors}).encode()}
        pipe.xadd(stream, {"key": f"k{i}", **fields})
        xs.append(x)
    for entry_id, x in zip(pipe.execute(), xs):
        sent[entry_id] = x
    return sent


def decoded_outputs(fields: dict[bytes, bytes]) -> tuple[np.ndarray, list[str]]:
    """y and tag_out from any result form."""
    if b"npz" in fields:
        with np.load(io.BytesIO(fields[b"npz"]), allow_pickle=False) as archive:
            return archive["y"], [t.decode() for t in archive["tag_out"].tolist()]
    response = json.loads(fields[b"response"])
    if "predictions" in response:
        rows = response["predictions"]
        return np.array([r["y"] for r in rows], np.float32), [r["tag_out"] for r in rows]
    if "model_name" in response:
        tensors = {t["name"]: t for t in response["outputs"]}
        y = np.array(tensors["y"]["data"], np.float32).reshape(tensors["y"]["shape"])
        return y, tensors["tag_out"]["data"]
    return np.array(response["outputs"]["y"], np.float32), response["outputs"]["tag_out"]


def check_exact(results: dict[bytes, list[dict]], sent: dict[bytes, np.ndarray]) -> None:
    for entry_id, x in sent.items():
        fields = results[entry_id][0]
        i = int(fields[b"key"][1:])
        y, tags = decoded_outputs(fields)
        np.testing.assert_array_equal(y, 2 * x)
        assert y.dtype == np.float32
        assert tags == [f"t{i}-{r}" for r in range(len(x))]


def count_delivery(results: dict[bytes, list[dict]], sent) -> tuple[list[bytes], int]:
    """Inputs with no result, and how many results beyond one per input (duplicates)."""
    missing = [i for i in sent if i not in results]
    duplicates = sum(len(results[i]) - 1 for i in sent if i in results)
    return missing, duplicates


def outcomes(port: int) -> dict[str, float]:
    """A worker's ``modelserve_stream_messages_total`` by outcome, from its metrics port."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found = re.findall(r'modelserve_stream_messages_total\{outcome="(\w+)"\} (\S+)', text)
    return {outcome: float(value) for outcome, value in found}


class Producer(threading.Thread):
    """Adds doubler entries at a steady rate, so that a worker is killed mid-stream."""

    def __init__(self, client, stream: str, count: int, per_second: float) -> None:
        super().__init__(daemon=True)
        self.client, self.stream, self.count, self.per_second = client, stream, count, per_second
        self.sent: dict[bytes, np.ndarray] = {}

    def run(self) -> None:
        chunk = 10
        for start in range(0, self.count, chunk):
            self.sent |= add_doubler_entries(self.client, self.stream, chunk, start)
            time.sleep(chunk / self.per_second)
