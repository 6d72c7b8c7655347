"""The request log's sinks without a server: Parquet (typed columns, row groups, rotation that caps the disk,
every file readable) and CloudEvents over HTTP against a real local receiver (binary-mode headers, one
kept-alive connection, a receiver that is down or failing costs nothing but counted entries)."""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from modelserve.errors import InvalidArgument
from modelserve.monitoring.log_sinks import CLOUDEVENT_TYPE, CloudEventsSink, ParquetSink, SinkError
from modelserve.monitoring.request_log import LogSettings, RequestLog, entry_for
from modelserve.server.operations_flags import add_operations_flags, operations_config
from modelserve.types import InferRequest, InferResponse, ModelRef

pq = pytest.importorskip("pyarrow.parquet")


def _wait(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def _entry(number: int = 0) -> dict:
    inputs = {"x": np.arange(6, dtype=np.float32).reshape(3, 2)}
    request = InferRequest(ModelRef("digits"), inputs, request_id=f"r{number}")
    response = InferResponse("digits", 2, "serving_default", {"p": np.array([[0.2, 0.8]], np.float32)}, route="canary")
    return entry_for(request, response, None, 0.0042, LogSettings())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_parquet_round_trip_has_typed_columns(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "requests.parquet"
    log = RequestLog(LogSettings(path=path, format="parquet", sample_rate=1.0))
    log.record(_entry(1))
    refusal = {"id": "refused", "time": 1_800_000_000.5, "model": "nope", "api": "predict", "protocol": "rest"}
    log.record({**refusal, "latency_ms": 0.1, "status": "NOT_FOUND", "error": "no model nope", "caller": None, "n": 7})
    _wait(lambda: log.written == 2)
    log.close()
    table = pq.read_table(path)
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("version").type) == "int64" and str(table.schema.field("latency_ms").type) == "double"
    first, refused = table.to_pylist()
    assert (first["id"], first["model"], first["version"], first["route"], first["status"]) == (
        "r1", "digits", 2, "canary", "OK"
    )  # fmt: skip
    assert first["latency_ms"] == 4.2 and first["error"] is None and first["extra"] is None
    assert json.loads(first["inputs"])[0]["shape"] == [3, 2]
    assert json.loads(first["outputs"])[0]["values"] == [[pytest.approx(0.2), pytest.approx(0.8)]]
    assert refused["time"] == datetime.fromtimestamp(1_800_000_000.5, timezone.utc)
    assert (refused["protocol"], refused["error"], refused["version"], refused["outputs"]) == (
        "rest", "no model nope", None, None
    )  # fmt: skip
    assert json.loads(refused["extra"]) == {"n": 7}  # keys the schema does not name are kept, not lost


def test_parquet_rotation_caps_the_files_and_each_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    sink = ParquetSink(path, max_bytes=20_000, backups=2, batch_rows=40)
    for number in range(2000):
        sink.write({**_entry(number), "pad": "x" * (number % 50)})
    sink.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["r.1.parquet", "r.2.parquet", "r.parquet"]
    tables = {name: pq.read_table(tmp_path / name) for name in names}
    assert all((tmp_path / name).stat().st_size <= 20_000 for name in names)
    ids = [row for name in ("r.2.parquet", "r.1.parquet", "r.parquet") for row in tables[name].column("id").to_pylist()]
    assert ids == [f"r{n}" for n in range(2000 - len(ids), 2000)]  # the newest, in order, without gaps
    assert pq.ParquetFile(path).metadata.num_row_groups > 1  # batches are row groups


def test_parquet_keeps_the_file_of_an_earlier_run(tmp_path: Path) -> None:
    for number in range(2):  # two runs of a server: a Parquet file cannot be appended to, so it is rotated
        sink = ParquetSink(tmp_path / "r.parquet", max_bytes=2**20, backups=3)
        sink.write(_entry(number))
        sink.close()
    assert pq.read_table(tmp_path / "r.1.parquet").column("id").to_pylist() == ["r0"]
    assert pq.read_table(tmp_path / "r.parquet").column("id").to_pylist() == ["r1"]


def test_parquet_batches_by_time_and_on_close(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    sink = ParquetSink(path, max_bytes=2**20, backups=1, batch_rows=1000, flush_seconds=0.05)
    sink.write(_entry(1))
    sink.flush()
    assert sink.pending == 1  # not due yet
    time.sleep(0.06)
    sink.flush()
    assert sink.pending == 0
    sink.write(_entry(2))
    sink.close()
    file = pq.ParquetFile(path)
    assert file.metadata.num_row_groups == 2 and file.read().column("id").to_pylist() == ["r1", "r2"]


def test_parquet_that_cannot_write_counts_the_batch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "gone"
    log = RequestLog(LogSettings(path=folder / "r.parquet", format="parquet"))
    folder.rmdir()
    folder.write_text("a file where the folder was")
    for number in range(3):
        log.record(_entry(number))
    _wait(lambda: log.written == 3)
    with caplog.at_level(logging.ERROR):
        log.close()  # the batch is written on close, and fails
    assert log.dropped == 3
    assert "entries are dropped and counted" in caplog.text


def test_parquet_without_pyarrow_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` now raises ImportError
    with pytest.raises(ValueError, match="pip install pyarrow"):
        RequestLog(LogSettings(path=tmp_path / "r.parquet", format="parquet"))
    with pytest.raises(ValueError, match="format 'csv'"):
        RequestLog(LogSettings(path=tmp_path / "r.csv", format="csv"))


class _Receiver:
    """A real CloudEvents receiver on 127.0.0.1: records (headers, body, client address); answers ``status``
    after ``delay`` seconds; ``close_after_each`` closes every connection after its answer without saying so."""

    def __init__(self, status: int = 202, close_after_each: bool = False, delay: float = 0.0) -> None:
        self.events: list[tuple[dict[str, str], bytes, tuple]] = []
        self.status, self.close_after_each, self.delay = status, close_after_each, delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                time.sleep(receiver.delay)
                receiver.events.append(({k.lower(): v for k, v in self.headers.items()}, body, self.client_address))
                self.send_response(receiver.status)
                self.send_header("content-length", "0")
                self.end_headers()
                self.close_connection = receiver.close_after_each

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
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


def test_cloudevents_binary_mode_over_one_connection(receiver: _Receiver) -> None:
    log = RequestLog(LogSettings(cloudevents_url=receiver.url, cloudevents_source="modelserve/test"))
    for number in range(5):
        log.record(_entry(number))
    log.record({"id": "", "time": 1_800_000_000.25, "model": "", "status": "INTERNAL"})
    _wait(lambda: len(receiver.events) == 6)
    log.close()
    assert (log.written, log.dropped) == (6, 0)
    headers, body, _client = receiver.events[0]
    assert headers["ce-specversion"] == "1.0" and headers["ce-id"] == "r0" and headers["ce-type"] == CLOUDEVENT_TYPE
    assert headers["ce-source"] == "modelserve/test" and headers["ce-subject"] == "digits"
    assert headers["content-type"] == "application/json"
    assert abs(datetime.fromisoformat(headers["ce-time"].replace("Z", "+00:00")).timestamp() - time.time()) < 60
    decoded = json.loads(body)
    assert decoded["id"] == "r0" and decoded["version"] == 2 and decoded["inputs"][0]["shape"] == [3, 2]
    assert [json.loads(b)["id"] for _h, b, _c in receiver.events[:5]] == [f"r{n}" for n in range(5)]
    assert len({client for _h, _b, client in receiver.events}) == 1  # kept alive: one connection for all
    last, _body, _client = receiver.events[5]
    assert len(last["ce-id"]) == 36 and "ce-subject" not in last  # no id: a new UUID; no model: no subject
    assert last["ce-time"] == "2027-01-15T08:00:00.250000Z"


def test_cloudevents_default_source_is_the_host(receiver: _Receiver) -> None:
    sink = CloudEventsSink(receiver.url)
    sink.write(_entry(1))
    sink.close()
    assert receiver.events[0][0]["ce-source"] == f"modelserve/{socket.gethostname()}"


def test_a_closed_keep_alive_connection_is_retried() -> None:
    receiver = _Receiver(close_after_each=True)
    try:
        sink = CloudEventsSink(receiver.url)
        for number in range(4):
            sink.write(_entry(number))
        sink.close()
        assert [json.loads(body)["id"] for _h, body, _c in receiver.events] == ["r0", "r1", "r2", "r3"]
    finally:
        receiver.stop()


def test_a_receiver_answering_errors_loses_entries_then_pauses() -> None:
    receiver = _Receiver(status=503)
    try:
        sink = CloudEventsSink(receiver.url)
        with pytest.raises(SinkError, match="answered 503"):
            sink.write(_entry(1))
        with pytest.raises(SinkError, match="not answering"):
            sink.write(_entry(2))  # paused: lost without trying
        assert len(receiver.events) == 1
        receiver.status = 200
        sink._paused_until = 0.0  # the pause is over
        sink.write(_entry(3))
        sink.close()
        assert len(receiver.events) == 2
    finally:
        receiver.stop()


def test_a_receiver_that_refuses_connections_is_counted_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/events"  # nothing listens there
    caplog.set_level(logging.ERROR, logger="modelserve.monitoring.request_log")
    log = RequestLog(LogSettings(path=tmp_path / "r.jsonl", cloudevents_url=url))
    for number in range(20):
        log.record(_entry(number))
    _wait(lambda: log.dropped == 20)
    log.close()
    assert (log.written, log.dropped) == (20, 20)  # counted per sink: the file took all, the receiver none
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 20
    reports = [r for r in caplog.records if "entries are dropped and counted" in r.getMessage()]
    assert len(reports) == 1 and url in reports[0].getMessage()  # reported once, not per entry


def test_a_slow_receiver_does_not_hold_up_the_file(tmp_path: Path) -> None:
    receiver = _Receiver(delay=0.1)
    try:
        log = RequestLog(LogSettings(path=tmp_path / "r.jsonl", cloudevents_url=receiver.url))
        for number in range(10):
            log.record(_entry(number))
        _wait(lambda: log.written >= 10)
        assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 10  # the file's writer did not wait
        assert len(receiver.events) < 10
        log.close()
        assert (log.written, log.dropped, len(receiver.events)) == (20, 0, 10)
    finally:
        receiver.stop()


def _flags(*args: str) -> dict:
    parser = argparse.ArgumentParser()
    add_operations_flags(parser)
    return operations_config(parser.parse_args(list(args)))


def test_flags() -> None:
    assert _flags()["request_log_format"] == "jsonl" and _flags()["request_log_cloudevents_url"] is None
    config = _flags("--request_log=r.parquet", "--request_log_format=parquet",
                    "--request_log_cloudevents_url=https://sink.example:8443/ce")  # fmt: skip
    assert config["request_log_format"] == "parquet"
    assert config["request_log_cloudevents_url"] == "https://sink.example:8443/ce"
    for bad in ("ftp://sink/x", "http://", "sink:8080", "http://h:notaport/"):
        with pytest.raises(InvalidArgument, match="request_log_cloudevents_url"):
            _flags(f"--request_log_cloudevents_url={bad}")
    with pytest.raises(InvalidArgument, match="no --request_log"):
        _flags("--request_log_format=parquet")
    with pytest.raises(SystemExit):
        _flags("--request_log_format=csv")


def test_files_also_rotate_by_age(tmp_path: Path) -> None:
    from modelserve.monitoring.log_sinks import JsonLinesSink

    sink = JsonLinesSink(tmp_path / "r.jsonl", max_bytes=2**20, backups=3, rotate_seconds=0.2)
    sink.write({"n": 1})
    sink.write({"n": 2})
    time.sleep(0.25)
    sink.write({"n": 3})  # the file is older than 0.2 s: this entry starts a new one
    sink.close()
    assert (tmp_path / "r.jsonl.1").read_text().count("\n") == 2
    assert (tmp_path / "r.jsonl").read_text().count("\n") == 1
