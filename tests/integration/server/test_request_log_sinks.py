"""The request log's Parquet file and CloudEvents sink on a real server: the Parquet file is complete after
the server stops, events reach a real receiver under each answer's ``x-request-id``, and a receiver that
is down costs no request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests

from factories import onnx_triton_simple
from servers import free_port

pq = pytest.importorskip("pyarrow.parquet")
pytestmark = pytest.mark.integration

ROW = np.arange(16, dtype=np.int32).reshape(1, 16)
BODY = {"instances": [{"INPUT0": ROW[0].tolist(), "INPUT1": ROW[0].tolist()}]}


class _Receiver:
    """A CloudEvents receiver on 127.0.0.1 that keeps each event's headers and JSON body."""

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, str], dict]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                events.append(({k.lower(): v for k, v in self.headers.items()}, json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ce"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    found = _Receiver()
    yield found
    found.stop()


def _predict(server, session: requests.Session, model: str = "simple", **headers: str) -> requests.Response:
    return session.post(f"{server.url}/v1/models/{model}:predict", json=BODY, headers=headers, timeout=10)


def test_a_parquet_log_is_complete_after_the_server_stops(start_server, tmp_path: Path) -> None:
    onnx_triton_simple(tmp_path / "models" / "simple" / "1")
    path = tmp_path / "logs" / "requests.parquet"
    server = start_server(
        f"--model_repository={tmp_path / 'models'}", f"--request_log={path}", "--request_log_format=parquet",
        "--request_log_sample_rate=1",
    )  # fmt: skip
    session = requests.Session()
    answers = [_predict(server, session, **{"X-Request-Id": f"pq-{n}"}) for n in range(20)]
    assert [a.status_code for a in answers] == [200] * 20
    assert _predict(server, session, model="nope").status_code == 404
    assert server.stop() == 0  # SIGTERM: the service closes the log, writing the last row group and the footer
    rows = {row["id"]: row for row in pq.read_table(path).to_pylist()}
    assert {f"pq-{n}" for n in range(20)} <= set(rows) and len(rows) == 21
    assert rows["pq-0"]["model"] == "simple" and rows["pq-0"]["version"] == 1 and rows["pq-0"]["status"] == "OK"
    assert json.loads(rows["pq-0"]["inputs"])[0]["shape"] == [1, 16]
    (refused,) = [row for row in rows.values() if row["model"] == "nope"]
    assert refused["status"] == "NOT_FOUND" and refused["protocol"] and refused["error"]


def test_cloudevents_carry_the_answers_request_ids(start_server, tmp_path: Path, receiver: _Receiver) -> None:
    """No --request_log: events only."""
    onnx_triton_simple(tmp_path / "models" / "simple" / "1")
    server = start_server(
        f"--model_repository={tmp_path / 'models'}", f"--request_log_cloudevents_url={receiver.url}",
        "--request_log_sample_rate=1",
    )  # fmt: skip
    session = requests.Session()
    answers = [_predict(server, session) for _ in range(10)] + [_predict(server, session, **{"X-Request-Id": "ce-42"})]
    ids = {answer.headers["x-request-id"] for answer in answers}
    assert [a.status_code for a in answers] == [200] * 11 and "ce-42" in ids
    deadline = time.monotonic() + 15
    while {h["ce-id"] for h, _b in receiver.events} < ids and time.monotonic() < deadline:
        time.sleep(0.05)
    events = {headers["ce-id"]: (headers, body) for headers, body in receiver.events}
    assert ids <= set(events)
    headers, body = events["ce-42"]
    assert headers["ce-specversion"] == "1.0" and headers["ce-type"] == "io.modelserve.inference.log"
    assert headers["ce-subject"] == "simple" and headers["ce-source"].startswith("modelserve/")
    assert headers["content-type"] == "application/json" and headers["ce-time"].endswith("Z")
    assert body["id"] == "ce-42" and body["model"] == "simple" and body["version"] == 1 and body["status"] == "OK"
    assert not list(tmp_path.glob("**/*.jsonl"))  # no file was asked for


def test_a_receiver_that_is_down_costs_no_request(start_server, tmp_path: Path) -> None:
    onnx_triton_simple(tmp_path / "models" / "simple" / "1")
    url = f"http://127.0.0.1:{free_port()}/ce"  # nothing listens there
    server = start_server(
        f"--model_repository={tmp_path / 'models'}", f"--request_log_cloudevents_url={url}",
        "--request_log_sample_rate=1",
    )  # fmt: skip
    session = requests.Session()
    started = time.monotonic()
    codes = [_predict(server, session).status_code for _ in range(50)]
    assert codes == [200] * 50
    assert time.monotonic() - started < 20
    deadline = time.monotonic() + 10
    while "entries are dropped and counted" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.log().count("entries are dropped and counted") == 1  # reported once
