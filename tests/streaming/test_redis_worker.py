"""``modelserve stream`` against a real redis-server: exact results, shared load, poison entries, a bounded
backlog, SIGTERM drains and start-up errors. Every worker is a real subprocess on ONNX models (recovery from
crashes is in test_recovery.py)."""

from __future__ import annotations

import contextlib
import json
import signal
import time
from pathlib import Path

import numpy as np
import requests
from stream_helpers import (
    FAST,
    add_doubler_entries,
    check_exact,
    count_delivery,
    free_port,
    pending_of,
    results_by_input,
    row_body,
    wait_for,
)


def test_every_payload_form_gets_its_exact_result(redis_server, start_worker, doubler: Path):
    client = redis_server.client
    sent = add_doubler_entries(client, "exact:in", 40)  # a backlog before the worker starts
    worker = start_worker("exact:in", "g", "w1", doubler, *FAST)
    worker.wait_consuming()
    sent |= add_doubler_entries(client, "exact:in", 40, start=40)  # and entries while it runs
    wait_for(lambda: client.xlen("exact:in:results") >= 80, 30, "80 results")
    results = results_by_input(client, "exact:in:results")
    assert count_delivery(results, sent) == ([], 0)
    check_exact(results, sent)
    first = next(iter(results.values()))[0]
    model = doubler.parent.parent.name.encode()  # <folder>/1/model.onnx: the model is named after <folder>
    assert (first[b"model"], first[b"version"], first[b"signature"], first[b"consumer"]) == (
        model,
        b"1",
        b"serving_default",
        b"w1",
    )
    assert client.xpending("exact:in", "g")["pending"] == 0
    assert client.xlen("exact:in:dead") == 0
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.log()


def test_two_workers_in_one_group_share_the_load(redis_server, start_worker, examples_dir: Path, digits_test):
    from modelserve import load_model

    client = redis_server.client
    images, _labels = digits_test
    images = images[:300]
    args = (*FAST, "--batch-timeout-micros", "5000", "--read-count", "8")
    workers = [
        start_worker("share:in", "g", "a", examples_dir / "digits_onnx", *args),
        start_worker("share:in", "g", "b", None, "--model-repository", str(examples_dir), "--model-name",
                     "digits_onnx", *args),
    ]  # fmt: skip
    for worker in workers:
        worker.wait_consuming()
    pipe = client.pipeline(transaction=False)
    for i, image in enumerate(images):
        pipe.xadd("share:in", {"key": str(i), "request": json.dumps({"instances": [image.tolist()]})})
    ids = pipe.execute()
    wait_for(lambda: client.xlen("share:in:results") >= len(ids), 60, "300 results")
    results = results_by_input(client, "share:in:results")
    assert count_delivery(results, ids) == ([], 0)
    by_consumer = {b"a": 0, b"b": 0}
    with load_model(examples_dir / "digits_onnx/1") as model:
        expected = model.predict({"images": images})
    for entry_id in ids:
        fields = results[entry_id][0]
        by_consumer[fields[b"consumer"]] += 1
        (prediction,) = json.loads(fields[b"response"])["predictions"]
        i = int(fields[b"key"])
        assert prediction["class_index"] == expected["class_index"][i]
        assert prediction["class_name"] == expected["class_name"][i].decode()
        np.testing.assert_allclose(prediction["probabilities"], expected["probabilities"][i], rtol=1e-5, atol=1e-7)
    print(f"share of 300 entries: {by_consumer}")
    assert min(by_consumer.values()) > 0, by_consumer


def test_poison_entries_go_to_the_dead_letter_stream_with_the_reason(redis_server, start_worker, doubler: Path):
    client = redis_server.client
    client.xgroup_create("poison:in", "g", id="0", mkstream=True)
    # An entry a crashing worker kept taking: delivered 9 times already (RETRYCOUNT sets the counter).
    crasher = client.xadd("poison:in", {"request": row_body(np.ones((1, 3), np.float32), ["c"]), "key": "crash"})
    client.xreadgroup("g", "ghost", {"poison:in": ">"}, count=1)
    client.execute_command("XCLAIM", "poison:in", "g", "ghost", 0, crasher, "RETRYCOUNT", 9)
    bad = {
        "json": {"request": b'{"instances": [1, 2'},
        "empty": {"nothing": b"here"},
        "shape": {"request": row_body(np.ones((1, 2), np.float32), ["s"])},
        "npz": {"npz": b"PK\x03\x04 garbage"},
        "signature": {"request": row_body(np.ones((1, 3), np.float32), ["s"]), "signature": b"nope"},
    }
    ids = {name: client.xadd("poison:in", {"key": name, **fields}) for name, fields in bad.items()}
    good = add_doubler_entries(client, "poison:in", 6)
    worker = start_worker(
        "poison:in", "g", "w1", doubler, *FAST, "--claim-idle-ms", "300", "--claim-interval-ms", "100",
        "--max-deliveries", "3",
    )  # fmt: skip
    wait_for(lambda: client.xlen("poison:in:dead") >= 6 and client.xlen("poison:in:results") >= 6, 30, "all done")
    letters = {fields[b"key"].decode(): fields for _, fields in client.xrange("poison:in:dead")}
    assert sorted(letters) == sorted([*bad, "crash"])
    expected = {
        "json": ("INVALID_ARGUMENT", "JSON Parse error"),
        "empty": ("INVALID_ARGUMENT", "entry has no payload: expected one field of request, npy, npz; got fields: "),
        "shape": ("INVALID_ARGUMENT", "input 'x' expects float32 [-1, 3], got float32 [1, 2]"),
        "npz": ("INVALID_ARGUMENT", "field 'npz' is not an .npz archive"),
        "signature": ("NOT_FOUND", "signature 'nope' not found"),
        "crash": ("ABORTED", "delivered 10 times, more than --max-deliveries 3"),
    }
    for name, (code, reason) in expected.items():
        letter = letters[name]
        assert (letter[b"code"].decode(), letter[b"stream"], letter[b"group"]) == (code, b"poison:in", b"g")
        assert reason in letter[b"reason"].decode(), letter[b"reason"]
        assert letter[b"id"] == (crasher if name == "crash" else ids[name])
    assert letters["json"][b"request"] == b'{"instances": [1, 2' and letters["empty"][b"nothing"] == b"here"
    assert letters["crash"][b"deliveries"] == b"10"
    results = results_by_input(client, "poison:in:results")
    assert count_delivery(results, good) == ([], 0) and len(results) == 6
    check_exact(results, good)
    wait_for(lambda: client.xpending("poison:in", "g")["pending"] == 0, 10, "every entry acknowledged")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def test_a_backlog_is_consumed_with_bounded_entries_in_flight(redis_server, start_worker, doubler: Path):
    client = redis_server.client
    sent = add_doubler_entries(client, "backlog:in", 3000)
    port = free_port()
    worker = start_worker(
        "backlog:in", "g", "w1", doubler, *FAST, "--max-in-flight", "32", "--read-count", "8",
        "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
    )  # fmt: skip
    held, rss = [], []
    status = Path(f"/proc/{worker.process.pid}/status")

    def sample() -> bool:
        held.append(pending_of(client, "backlog:in", "g", "w1"))
        with contextlib.suppress(OSError, StopIteration):  # the process may be gone already
            rss.append(int(next(x for x in status.read_text().splitlines() if x.startswith("VmRSS")).split()[1]))
        return client.xlen("backlog:in:results") >= 3000

    started = time.monotonic()
    wait_for(sample, 90, "3000 results", interval=0.005)
    seconds = time.monotonic() - started
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    print(f"backlog of 3000: {seconds:.1f} s including start-up; pending per sample max {max(held)} over "
          f"{len(held)} samples; worker RSS max {max(rss) / 1024:.0f} MiB")  # fmt: skip
    assert 0 < max(held) <= 32
    assert count_delivery(results_by_input(client, "backlog:in:results"), sent) == ([], 0)
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines() if line[:1] != "#"}
    assert 0 < values["modelserve_stream_in_flight_peak"] <= 32
    assert values['modelserve_stream_messages_total{outcome="ok"}'] == 3000
    assert values["modelserve_stream_latency_seconds_count"] == 3000
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def test_sigterm_finishes_and_acknowledges_in_flight_entries_then_exits_0(redis_server, start_worker, doubler: Path):
    client = redis_server.client
    worker = start_worker(
        "term:in", "g", "w1", doubler, *FAST, "--batch-timeout-micros", "500000", "--max-in-flight", "40"
    )
    worker.wait_consuming()
    sent = add_doubler_entries(client, "term:in", 100)
    wait_for(lambda: pending_of(client, "term:in", "g", "w1") > 0, 10, "entries in flight", interval=0.005)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.log()
    assert "SIGTERM: finishing in-flight entries" in worker.log()
    (group,) = client.xinfo_groups("term:in")
    read = group["entries-read"]
    assert group["pending"] == 0 and group["consumers"] == 0  # all acknowledged; the worker left the group
    results = results_by_input(client, "term:in:results")
    delivered = list(sent)[:read]
    assert 0 < read < 100 and count_delivery(results, delivered) == ([], 0) and len(results) == read
    check_exact(results, {i: sent[i] for i in delivered})


def test_start_up_errors_exit_1_with_a_message(start_worker, doubler: Path):
    missing = start_worker("err:in", "g", "w1", doubler.parent / "nope")
    assert missing.wait() == 1
    assert "error: model path" in missing.log() and "does not exist" in missing.log()
    unreachable = start_worker("err:in", "g", "w1", doubler, url=f"redis://127.0.0.1:{free_port()}/0")
    assert unreachable.wait() == 1
    assert "error: cannot reach Redis at redis://127.0.0.1:" in unreachable.log()
    unknown = start_worker("err:in", "g", "w1", doubler, "--signature", "nope")
    assert unknown.wait() == 1
    assert "error: signature 'nope' not found; this model has: serving_default" in unknown.log()


def test_a_drain_that_runs_out_of_time_exits_1_and_leaves_entries_pending(redis_server, start_worker, doubler):
    client = redis_server.client
    worker = start_worker("late:in", "g", "w1", doubler, *FAST, "--batch-timeout-micros", "10000000",
                          "--drain-timeout", "0.5")  # fmt: skip
    worker.wait_consuming()
    add_doubler_entries(client, "late:in", 5)
    wait_for(lambda: pending_of(client, "late:in", "g", "w1") == 5, 10, "5 entries in flight", interval=0.005)
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 1
    assert "5 entries not finished after 0.5 s; they stay pending for another worker" in worker.log()
    assert pending_of(client, "late:in", "g", "w1") == 5 and client.xlen("late:in:results") == 0
