"""Recovery with real ``modelserve stream`` processes and redis-server: a worker killed (SIGKILL) and
restarted, a dead worker's entries claimed by another, slow work left with its live worker, a frozen worker's
late results dropped, and entries deleted from the stream while pending."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

from stream_helpers import (
    CLAIM_FAST,
    FAST,
    Producer,
    add_doubler_entries,
    check_exact,
    count_delivery,
    free_port,
    outcomes,
    pending_of,
    results_by_input,
    wait_for,
)


def test_a_worker_killed_mid_stream_and_restarted_loses_nothing(redis_server, start_worker, doubler: Path):
    client = redis_server.client
    args = (*FAST, "--batch-timeout-micros", "200000", "--max-in-flight", "64", "--read-count", "16")
    worker = start_worker("kill:in", "g", "w1", doubler, *args)
    worker.wait_consuming()
    producer = Producer(client, "kill:in", 600, per_second=400)
    producer.start()
    wait_for(lambda: client.xlen("kill:in:results") >= 100, 30, "100 results before the kill")
    wait_for(lambda: pending_of(client, "kill:in", "g", "w1"), 10, "entries in flight", interval=0.005)
    worker.signal(signal.SIGKILL)
    assert worker.wait() == -signal.SIGKILL
    held = pending_of(client, "kill:in", "g", "w1")
    done_at_kill = client.xlen("kill:in:results")
    restarted = start_worker("kill:in", "g", "w1", doubler, *args)  # same name: it re-reads its own pending
    producer.join(30)
    wait_for(lambda: client.xlen("kill:in:results") >= 600, 60, "600 results after the restart")
    results = results_by_input(client, "kill:in:results")
    missing, duplicates = count_delivery(results, producer.sent)
    print(f"killed holding {held} pending entries after {done_at_kill} results; missing {len(missing)}, "
          f"duplicates {duplicates}")  # fmt: skip
    assert held > 0
    assert missing == []
    assert duplicates == 0  # results are written only by the acknowledgement that removes the entry
    check_exact(results, producer.sent)
    resumed = sum(int(n) for n in re.findall(r"resuming (\d+) entries", restarted.log()))
    assert resumed == held  # read back from its own pending list at start, in chunks of --read-count
    assert client.xpending("kill:in", "g")["pending"] == 0
    restarted.signal(signal.SIGTERM)
    assert restarted.wait() == 0


def test_another_worker_claims_the_entries_of_a_dead_one(redis_server, start_worker, doubler: Path):
    client = redis_server.client
    slow = start_worker("claim:in", "g", "slow", doubler, *FAST, "--batch-timeout-micros", "400000")
    slow.wait_consuming()
    sent = add_doubler_entries(client, "claim:in", 30)
    wait_for(lambda: pending_of(client, "claim:in", "g", "slow") == 30, 10, "30 entries held by 'slow'", 0.005)
    slow.signal(signal.SIGKILL)
    slow.wait()
    rescuer = start_worker(
        "claim:in", "g", "rescuer", doubler, *FAST, "--claim-idle-ms", "1000", "--claim-interval-ms", "200"
    )
    rescuer.wait_consuming()
    wait_for(lambda: client.xlen("claim:in:results") >= 30, 30, "30 results from the rescuer")
    results = results_by_input(client, "claim:in:results")
    assert count_delivery(results, sent) == ([], 0)
    assert {r[0][b"consumer"] for r in results.values()} == {b"rescuer"}
    check_exact(results, sent)
    assert client.xpending("claim:in", "g")["pending"] == 0
    assert "claimed" in rescuer.log()


def test_slow_work_stays_with_its_live_worker(redis_server, start_worker, doubler: Path):
    """A live worker refreshes its in-flight entries, so a batch slower than the idle limit is not claimed."""
    client = redis_server.client
    ports = [free_port(), free_port()]
    # Idle limit 1 s (refreshed every 100 ms), so only a second of starvation on a loaded machine could let the
    # watcher claim; the 3 s batch is still far slower than the limit.
    patient = (*CLAIM_FAST, "--claim-idle-ms", "1000")
    slow = start_worker("slow:in", "g", "slow", doubler, *FAST, *patient, "--batch-timeout-micros", "3000000",
                        "--metrics-port", str(ports[0]))  # fmt: skip
    slow.wait_consuming()
    sent = add_doubler_entries(client, "slow:in", 20)
    wait_for(lambda: pending_of(client, "slow:in", "g", "slow") == 20, 10, "20 held by 'slow'", 0.002)
    watcher = start_worker("slow:in", "g", "watcher", doubler, *FAST, *patient, "--metrics-port", str(ports[1]))
    watcher.wait_consuming()
    watching = time.monotonic()
    time.sleep(0.8)  # the watcher looks for idle entries every 100 ms
    held = client.xpending_range("slow:in", "g", "-", "+", 100)
    # Still held by 'slow', delivered once: its heartbeat (XCLAIM JUSTID) keeps them fresh without counting.
    assert [(p["consumer"], p["times_delivered"]) for p in held] == [(b"slow", 1)] * 20
    wait_for(lambda: client.xlen("slow:in:results") >= 20, 30, "20 results")
    assert time.monotonic() - watching > 1.0  # the watcher looked for idle entries 10 times or more meanwhile
    results = results_by_input(client, "slow:in:results")
    assert {r[0][b"consumer"] for r in results.values()} == {b"slow"}
    assert count_delivery(results, sent) == ([], 0)
    assert outcomes(ports[0]) == {"ok": 20} and outcomes(ports[1]) == {}
    for worker in (slow, watcher):
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0


def test_a_frozen_worker_loses_its_entries_and_its_late_copies_are_dropped(redis_server, start_worker, doubler):
    """SIGSTOP freezes a worker holding entries; another claims and answers them; after SIGCONT the frozen
    worker finishes its copies, and its results are dropped (counted as duplicates), not written again."""
    client = redis_server.client
    ports = [free_port(), free_port()]
    frozen = start_worker("frozen:in", "g", "frozen", doubler, *FAST, *CLAIM_FAST, "--batch-timeout-micros",
                          "1000000", "--metrics-port", str(ports[0]))  # fmt: skip
    frozen.wait_consuming()
    sent = add_doubler_entries(client, "frozen:in", 20)
    wait_for(lambda: pending_of(client, "frozen:in", "g", "frozen") == 20, 10, "20 held by 'frozen'", 0.002)
    frozen.signal(signal.SIGSTOP)
    try:
        rescuer = start_worker("frozen:in", "g", "rescuer", doubler, *FAST, *CLAIM_FAST, "--metrics-port",
                               str(ports[1]))  # fmt: skip
        wait_for(lambda: client.xlen("frozen:in:results") >= 20, 30, "20 results by the rescuer")
    finally:
        frozen.signal(signal.SIGCONT)
    wait_for(lambda: outcomes(ports[0]).get("duplicate") == 20, 10, "the frozen worker to finish its 20 copies")
    assert outcomes(ports[1]) == {"ok": 20}
    results = results_by_input(client, "frozen:in:results")
    assert count_delivery(results, sent) == ([], 0)
    assert {r[0][b"consumer"] for r in results.values()} == {b"rescuer"}
    check_exact(results, sent)
    for worker in (frozen, rescuer):
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0


def test_entries_deleted_while_pending_are_acknowledged_and_skipped(redis_server, start_worker, doubler: Path):
    client = redis_server.client
    client.xgroup_create("gone:in", "g", id="0", mkstream=True)
    sent = add_doubler_entries(client, "gone:in", 3)
    client.xreadgroup("g", "w1", {"gone:in": ">"}, count=3)  # a previous run of w1 read them, then died
    trimmed = next(iter(sent))
    client.xdel("gone:in", trimmed)
    worker = start_worker("gone:in", "g", "w1", doubler, *FAST)
    wait_for(lambda: client.xpending("gone:in", "g")["pending"] == 0, 30, "all three acknowledged")
    results = results_by_input(client, "gone:in:results")
    kept = {i: x for i, x in sent.items() if i != trimmed}
    assert sorted(results) == sorted(kept) and client.xlen("gone:in:dead") == 0
    check_exact(results, kept)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
