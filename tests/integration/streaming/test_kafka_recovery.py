"""Crash recovery of ``modelserve stream --kafka`` against a real Kafka-API broker (Tansu, not Apache Kafka):
a worker SIGKILLed ten times mid-stream and restarted loses no record; the duplicates (records answered after
the last commit before a kill) are counted by the ``id`` header of the results."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import requests
from kafka_helpers import (
    FAST_GROUP,
    count_delivery,
    ends_of,
    free_port,
    image_records,
    produce,
    results_by_input,
    wait_for,
)

KILLS = 10
RECORDS = 2000


def _in_flight(port: int) -> float:
    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except requests.ConnectionError:
        return 0.0
    found = [line for line in text.splitlines() if line.startswith("modelserve_stream_in_flight ")]
    return float(found[0].split(" ")[1]) if found else 0.0


def _committed(broker) -> int:
    """Records committed by the group in all (an offset not committed yet counts 0)."""
    return sum(max(0, offset) for offset in broker.committed("g", "kill.in", 3).values())


def test_a_worker_killed_ten_times_mid_stream_loses_nothing(broker, start_worker, examples_dir, digits_test):
    from modelserve import load_model

    images = np.resize(digits_test[0], (RECORDS, *digits_test[0].shape[1:]))
    broker.create_topic("kill.in", 3)
    ids = produce(broker.producer(), "kill.in", image_records(images), 3)
    reader = None
    # About 400 records/s (8 in flight, batches waiting 20 ms), so that ten kills fall within the stream.
    slow = ("--max-in-flight", "8", "--batch-timeout-micros", "20000")
    args = (*FAST_GROUP, *slow, "--commit-interval-ms", "200", "--metrics-host", "127.0.0.1")
    kills, committed_before = [], 0
    started = time.monotonic()
    for _ in range(KILLS):
        port = free_port()
        worker = start_worker("kill.in", "g", "w1", *args, "--metrics-port", str(port))
        worker.wait_assigned()
        reader = reader or broker.reader("kill.in.results")
        # Progress since the last kill (offsets committed), then a kill with records in flight.
        target = committed_before + 100
        wait_for(lambda t=target: _committed(broker) >= t, 30, "100 more records committed", 0.02)
        wait_for(lambda p=port: _in_flight(p) > 0, 10, "records in flight", interval=0.005)
        worker.signal(signal.SIGKILL)
        assert worker.wait() == -signal.SIGKILL
        committed = _committed(broker)
        kills.append((committed, reader.read()))
        assert committed < RECORDS, "the stream ended before the kill: nothing was killed mid-stream"
        committed_before = committed
    final = start_worker("kill.in", "g", "w1", *FAST_GROUP)
    assert reader is not None

    def complete() -> bool:
        reader.read()
        return not count_delivery(results_by_input(reader.records), ids)[0]

    wait_for(complete, 60, "a result for every record")
    final.signal(signal.SIGTERM)
    assert final.wait() == 0, final.log()
    seconds = time.monotonic() - started
    results = results_by_input(reader.settle())
    reader.close()
    missing, duplicates = count_delivery(results, ids)
    print(f"{KILLS} kills in {seconds:.1f} s (committed, results read) at each: {kills}; {len(ids)} records, "
          f"missing {len(missing)}, duplicates {duplicates}")  # fmt: skip
    assert missing == [] and len(ids) == RECORDS
    assert broker.committed("g", "kill.in", 3) == ends_of(ids)
    with load_model(examples_dir / "digits_onnx/1") as model:
        expected = model.predict({"images": images})["class_index"]
    for copies in results.values():
        for record in copies:  # every copy, first or duplicate, is the right answer
            (prediction,) = json.loads(record.value())["predictions"]
            assert prediction["class_index"] == expected[int(record.key())]
