"""``modelserve serve --workers 2`` for real: two processes on one port pair, kept alike and kept alive.

Each test starts a supervisor over a copy of the digits ONNX and TFLite models, finds its
workers through ``/proc`` (their ``MODELSERVE_WORKER`` environment names the slot), and talks to the public
ports with a new connection per request, so the kernel spreads them across both workers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from servers import ServerProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def repository(examples_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "models"
    for name in ("digits_onnx", "digits_tflite"):
        shutil.copytree(examples_dir / name, root / name)
    return root


@pytest.fixture
def workers(repository: Path, tmp_path: Path):
    server = ServerProcess(
        f"--model_repository={repository}", "--workers=2", "--allow_code_models", log_path=tmp_path / "server.log"
    )
    try:
        server.wait_ready(path="/readyz")
        _wait(lambda: server.log().count("REST API on") == 2, "both workers listening", server)
        yield server
    finally:
        server.stop()


def _worker_pids(server: ServerProcess) -> dict[int, int]:
    """Slot index -> pid of the supervisor's live workers."""
    pid = server.process.pid
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return {}
    slots = {}
    for child in map(int, children):
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"MODELSERVE_WORKER="):
                slots[int(entry.split(b"=", 1)[1].split(b"/")[0])] = child
    return slots


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie (after a clean exit, every thread has ended by then)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _run_dir(server: ServerProcess) -> Path:
    pid = next(iter(_worker_pids(server).values()))
    for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
        if entry.startswith(b"MODELSERVE_WORKER="):
            return Path(entry.split(b"=", 1)[1].decode().split("/", 4)[4])
    raise AssertionError("no MODELSERVE_WORKER")


def _peer_metrics(server: ServerProcess, index: int) -> str:
    """One worker's own metrics, read from its peer socket."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(_run_dir(server) / f"worker-{index}.sock"))
        sock.sendall(b"GET /peer/metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def _ok_count(text: str, model: str) -> float:
    line = f':tensorflow:serving:request_count{{model_name="{model}",status="OK"}} '
    return sum(float(row[len(line) :]) for row in text.splitlines() if row.startswith(line))


def _get(server: ServerProcess, path: str) -> requests.Response:
    return requests.get(server.url + path, timeout=10, headers={"Connection": "close"})


def _statuses(server: ServerProcess, path: str, times: int = 20) -> set[int]:
    return {_get(server, path).status_code for _ in range(times)}


def _all_ready(server: ServerProcess) -> bool:
    try:
        return all(_get(server, "/readyz").status_code == 200 for _ in range(10))
    except requests.ConnectionError:
        return False


def _wait(condition, what: str, server: ServerProcess, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what}: not after {timeout} s\n{server.log()}")


def _predict(server: ServerProcess, rows: int = 1) -> requests.Response:
    body = {"instances": np.zeros((rows, 8, 8, 1)).tolist()}
    return requests.post(
        server.url + "/v1/models/digits_onnx:predict", json=body, timeout=10, headers={"Connection": "close"}
    )


def test_both_workers_serve_and_a_scrape_counts_them_all(workers: ServerProcess) -> None:
    for _ in range(60):
        assert _predict(workers).status_code == 200
    own = [_ok_count(_peer_metrics(workers, index), "digits_onnx") for index in (0, 1)]
    assert sum(own) == 60 and min(own) > 0, f"the kernel gave the workers {own} of 60 requests"
    merged = _get(workers, "/monitoring/prometheus/metrics").text
    assert _ok_count(merged, "digits_onnx") == 60
    assert "modelserve_workers 2.0" in merged


def test_an_unload_and_a_traffic_change_reach_every_worker(workers: ServerProcess) -> None:
    assert requests.post(workers.url + "/v2/repository/models/digits_tflite/unload", timeout=30).status_code == 200
    assert _statuses(workers, "/v1/models/digits_tflite") == {404}  # "Could not find any versions"
    policy = {"models": {"digits_onnx": {"routes": {"1": 100}}}}
    assert requests.put(workers.url + "/admin/traffic", json=policy, timeout=30).status_code == 200
    seen = [_get(workers, "/admin/traffic").json()["models"]["digits_onnx"].get("routes") for _ in range(20)]
    assert all(routes == [{"target": "1", "weight": 100, "version": 1}] for routes in seen), seen


def test_a_killed_worker_is_restarted_and_replays_the_changes(workers: ServerProcess) -> None:
    assert requests.post(workers.url + "/v2/repository/models/digits_tflite/unload", timeout=30).status_code == 200
    before = _worker_pids(workers)
    os.kill(before[1], signal.SIGKILL)
    # reaped by the supervisor: every thread gone, its sockets closed (its main thread is a zombie sooner)
    _wait(lambda: "ended with signal SIGKILL" in workers.log(), "the supervisor noticed", workers, timeout=10)
    answered = [_predict(workers).status_code for _ in range(30)]  # the other worker serves meanwhile
    assert answered == [200] * 30
    _wait(lambda: workers.log().count("REST API on") == 3, "the restarted worker listening", workers)
    unloaded = _statuses(workers, "/v1/models/digits_tflite")
    assert unloaded == {404}, "the restarted worker serves a model the others unloaded"


def test_sigterm_stops_every_worker_and_exits_zero(workers: ServerProcess) -> None:
    pids, run_dir = list(_worker_pids(workers).values()), _run_dir(workers)
    assert workers.stop() == 0
    assert all(_gone(pid) for pid in pids)
    assert not run_dir.exists()


def test_grpc_is_shared_too(workers: ServerProcess) -> None:
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(workers.grpc_target)
    images = triton.InferInput("images", [2, 8, 8, 1], "FP32")
    images.set_data_from_numpy(np.zeros((2, 8, 8, 1), np.float32))
    for _ in range(10):
        result = client.infer("digits_onnx", [images])
        assert result.as_numpy(result.get_response().outputs[0].name).shape[0] == 2


def test_ui_needs_one_worker(repository: Path, tmp_path: Path) -> None:
    server = ServerProcess(f"--model_repository={repository}", "--workers=2", "--ui", log_path=tmp_path / "ui.log")
    assert server.process.wait(60) == 1
    assert "--ui needs --workers=1" in server.log()


def test_feedback_joins_answers_whichever_worker_gave_them(workers: ServerProcess) -> None:
    body = {"instances": np.zeros((1, 8, 8, 1)).tolist()}
    for n in range(40):  # a new connection each: both workers answer some
        answer = requests.post(
            workers.url + "/v1/models/digits_onnx:predict", json=body, timeout=10,
            headers={"Connection": "close", "X-Request-Id": f"order-{n}"},
        )  # fmt: skip
        assert answer.status_code == 200
    items = [{"request_id": f"order-{n}", "labels": [0]} for n in range(40)]
    items.append({"request_id": "never-asked", "labels": [0]})
    judged = requests.post(workers.url + "/v1/models/digits_onnx:feedback", json={"feedback": items}, timeout=30)
    assert judged.status_code == 200, judged.text
    assert judged.json()["matched"] == 40 and [u["request_id"] for u in judged.json()["unmatched"]] == ["never-asked"]
    again = requests.post(workers.url + "/v1/models/digits_onnx:feedback", json={"feedback": items[:1]}, timeout=30)
    assert again.json()["unmatched"][0]["reason"] == "a row of this answer already has feedback"
    merged = _get(workers, "/monitoring/prometheus/metrics").text
    rows = [r for r in merged.splitlines() if r.startswith('modelserve_feedback_rows_total{model="digits_onnx"')]
    assert sum(float(r.rsplit(" ", 1)[1]) for r in rows) == 40, rows
