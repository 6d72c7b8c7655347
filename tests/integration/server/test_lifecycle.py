"""The server process under change and stress: hot swap, broken versions, overload, deadlines, SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests

from factories import onnx_slow_matmul
from servers import wait_for

HPT_PREDICT = "/v1/models/half_plus_two:predict"


def copy_models(examples_dir: Path, target: Path, *names: str) -> Path:
    for name in names:
        shutil.copytree(examples_dir / name, target / name)
    return target


def statuses(server, model: str) -> dict[str, str]:
    body = requests.get(f"{server.url}/v1/models/{model}", timeout=10).json()
    return {s["version"]: s["state"] for s in body["model_version_status"]}


def test_new_version_swaps_in_with_zero_failed_requests(start_server, examples_dir: Path, tmp_path: Path):
    repo = tmp_path / "repo"
    (repo / "half_plus_two").mkdir(parents=True)
    shutil.copytree(examples_dir / "half_plus_two/00000123", repo / "half_plus_two/00000123")
    server = start_server(f"--model_repository={repo}", "--file_system_poll_wait_seconds=0.2", ready_path="/readyz")
    results: list[tuple[int, str]] = []
    stop = threading.Event()

    def client() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                response = session.post(server.url + HPT_PREDICT, data='{"instances": [1.0, 2.0]}', timeout=30)
                ok = response.status_code == 200 and response.json() == {"predictions": [2.5, 3.0]}
                results.append((200 if ok else response.status_code, response.headers.get("x-model-version", "")))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    # a plain copy, in place and not atomic: the two-scan rule must keep it from loading half-way
    shutil.copytree(examples_dir / "half_plus_two/00000124", repo / "half_plus_two/00000124")
    wait_for(lambda: statuses(server, "half_plus_two") == {"124": "AVAILABLE", "123": "END"})
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert results, "the clients sent nothing"
    assert [r for r in results if r[0] != 200] == []
    served = {version for _, version in results}
    assert served == {"123", "124"}
    assert "failed to load" not in server.log()


def test_corrupt_version_beside_a_good_one(start_server, examples_dir: Path, tmp_path: Path):
    repo = copy_models(examples_dir, tmp_path / "repo", "digits_onnx")
    broken = repo / "digits_onnx/2"
    broken.mkdir()
    data = (repo / "digits_onnx/1/model.onnx").read_bytes()
    (broken / "model.onnx").write_bytes(data[: len(data) // 2])
    server = start_server(f"--model_repository={repo}", "--file_system_poll_wait_seconds=0.2", ready_path="/readyz")
    body = requests.get(server.url + "/v1/models/digits_onnx", timeout=10).json()
    by_version = {s["version"]: s for s in body["model_version_status"]}
    assert by_version["1"]["state"] == "AVAILABLE"
    assert by_version["2"]["state"] == "END"
    assert by_version["2"]["status"]["error_code"] == "FAILED_PRECONDITION"
    assert "could not load onnx model" in by_version["2"]["status"]["error_message"]
    response = requests.post(
        server.url + "/v1/models/digits_onnx:predict",
        data=json.dumps({"instances": np.zeros((1, 8, 8, 1)).tolist()}),
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["x-model-version"] == "1"
    # repairing the folder is noticed: version 2 loads and takes over
    shutil.copy(repo / "digits_onnx/1/model.onnx", broken / "model.onnx")
    wait_for(lambda: statuses(server, "digits_onnx") == {"2": "AVAILABLE", "1": "END"})


@pytest.fixture
def slow_repo(tmp_path: Path) -> Path:
    onnx_slow_matmul(tmp_path / "repo/slow/1")
    return tmp_path / "repo"


def slow_request(server, rows: int = 64, timeout: float = 60) -> requests.Response:
    body = json.dumps({"inputs": np.ones((rows, 1024), np.float32).tolist()})
    return requests.post(server.url + "/v1/models/slow:predict", data=body, timeout=timeout)


def test_overload_answers_503_fast(start_server, slow_repo: Path):
    server = start_server(f"--model_repository={slow_repo}", "--max_in_flight=1", ready_path="/readyz")
    with ThreadPoolExecutor(6) as pool:
        started = time.monotonic()
        futures = [pool.submit(lambda: (slow_request(server), time.monotonic() - started)) for _ in range(6)]
        results = [f.result() for f in futures]
    codes = [r.status_code for r, _ in results]
    assert 200 in codes
    assert 503 in codes
    rejected = [(r, t) for r, t in results if r.status_code == 503]
    assert all("server overloaded" in r.json()["error"] for r, _ in rejected)


def test_deadline_answers_504(start_server, slow_repo: Path):
    server = start_server(f"--model_repository={slow_repo}", "--rest_api_timeout_in_ms=20", ready_path="/readyz")
    response = slow_request(server, rows=256)
    assert response.status_code == 504
    assert "did not answer within" in response.json()["error"]


def test_sigterm_drains_in_flight_requests(start_server, slow_repo: Path):
    server = start_server(f"--model_repository={slow_repo}", ready_path="/readyz")
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(slow_request, server, 128) for _ in range(4)]
        time.sleep(0.3)  # the requests are in flight
        server.process.send_signal(signal.SIGTERM)
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200] * 4
    assert server.process.wait(60) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/healthz", timeout=2)
