"""ServerModelHandler against a real ``modelserve serve``: every protocol, and real failures on the way.

Faults are injected by a real HTTP proxy (tests/batch/faulty_proxy.py) in front of the real server, or by
killing the server with SIGKILL; the handler under test is never mocked.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.testing.util import assert_that, equal_to
from faulty_proxy import close, delay, status
from scaffolding import free_port

from modelserve.batch.handler import ModelServeHandler
from modelserve.batch.remote import REMOTE_NAMESPACE, RetryPolicy, ServerModelHandler
from modelserve.batch.runners import local_runner_options
from modelserve.errors import DeadlineExceeded, InvalidArgument, ResourceExhausted, Unavailable

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FAST = RetryPolicy(max_attempts=4, initial_backoff_secs=0.05, max_backoff_secs=0.5, jitter=0)


def remote(url: str, **kwargs) -> ServerModelHandler:
    kwargs.setdefault("retry", FAST)
    return ServerModelHandler(url, **kwargs)


@pytest.mark.parametrize(
    "path",
    [
        "{rest}/v1/models/digits_onnx",
        "{rest}/v2/models/digits_onnx",
        "{grpc}/v1/models/digits_onnx",
        "{grpc}/v2/models/digits_onnx",
    ],
)
def test_every_protocol_returns_exactly_the_in_process_results(server, scale_repo: Path, digits, path: str):
    rows = [{"images": image} for image in digits[0][:20]]
    local = ModelServeHandler(scale_repo / "digits_onnx")
    expected = local.run_inference(rows, local.load_model())
    handler = remote(path.format(rest=server.url, grpc=server.grpc))
    assert handler.describe().input_names == ("images",)
    got = handler.request(rows, handler.create_client())
    assert [r.model_id for r in got] == ["digits_onnx:1"] * 20
    for mine, theirs in zip(got, expected):
        assert mine.inference.keys() == theirs.inference.keys()
        for name, value in theirs.inference.items():
            assert np.asarray(mine.inference[name]).dtype == np.asarray(value).dtype
            np.testing.assert_array_equal(mine.inference[name], value)


def test_keyed_pipeline_through_the_server(server):
    handler = KeyedModelHandler(remote(server.url + "/v1/models/scale/versions/2", outputs="y", max_batch_size=8))
    with beam.Pipeline(options=local_runner_options(workers=1)) as p:
        got = (
            p
            | beam.Create([(f"k{i}", {"x": float(i)}) for i in range(30)])
            | RunInference(handler)
            | beam.Map(lambda kv: (kv[0], kv[1].inference.tolist(), kv[1].model_id))
        )
        assert_that(got, equal_to([(f"k{i}", [3.0 * i], "scale:2") for i in range(30)]))


def test_a_503_burst_is_retried_and_counted(proxy):
    proxy.plan(status(503), status(503), status(503))
    handler = KeyedModelHandler(
        remote(proxy.url + "/v1/models/scale/versions/2", outputs="y", min_batch_size=10, max_batch_size=10)
    )
    p = beam.Pipeline(options=local_runner_options(workers=1))
    got = p | beam.Create([(i, {"x": float(i)}) for i in range(10)]) | RunInference(handler)
    assert_that(
        got | beam.Map(lambda kv: (kv[0], kv[1].inference.tolist())), equal_to([(i, [3.0 * i]) for i in range(10)])
    )
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace(REMOTE_NAMESPACE))["counters"]
    }
    assert counters["retries"] == 3 and counters["requests"] == proxy.calls == 4 and proxy.forwarded == 1


def test_429_waits_for_retry_after(proxy):
    proxy.plan(status(429, retry_after=0.6))
    handler = remote(proxy.url + "/v1/models/scale/versions/2", outputs="y")
    assert handler.request([{"x": 1.0}], handler.create_client())[0].inference.tolist() == [3.0]
    (first, _), (second, _) = proxy.seen
    assert second - first >= 0.6  # the server's Retry-After, not the 0.05 s backoff


def test_slow_replies_and_dropped_connections_are_retried(proxy):
    proxy.plan(delay(1.0), close())
    handler = remote(proxy.url + "/v1/models/scale/versions/2", outputs="y", timeout_secs=0.3)
    assert handler.request([{"x": 4.0}], handler.create_client())[0].inference.tolist() == [12.0]
    assert [kind for _, kind in proxy.seen] == ["delay", "close", "forward"]


def test_client_errors_are_not_retried_and_retries_end(proxy):
    handler = remote(proxy.url + "/v1/models/scale/versions/2")
    proxy.plan(status(400))
    with pytest.raises(InvalidArgument, match="HTTP 400: injected"):
        handler.request([{"x": 1.0}], handler.create_client())
    assert proxy.calls == 1
    proxy.plan(*[status(429)] * 4)
    with pytest.raises(ResourceExhausted, match=r"gave up after 4 attempts"):
        handler.request([{"x": 1.0}], handler.create_client())
    assert proxy.calls == 5


def test_nothing_listening_is_unavailable_for_rest_and_grpc():
    port = free_port()
    for url in (f"http://127.0.0.1:{port}/v1/models/m", f"grpc://127.0.0.1:{port}/v1/models/m"):
        handler = remote(url, retry=RetryPolicy(max_attempts=2, initial_backoff_secs=0.01), timeout_secs=2)
        client = handler.create_client()
        with pytest.raises(Unavailable, match="gave up after 2 attempts"):
            handler._send(client, {"x": np.zeros((1, 1), np.float32)})


def test_client_throttling_backs_off_while_the_server_refuses(proxy):
    proxy.plan(*[status(503)] * 6)
    handler = KeyedModelHandler(
        remote(
            proxy.url + "/v1/models/scale/versions/2",
            outputs="y",
            max_batch_size=1,
            retry=RetryPolicy(max_attempts=2, initial_backoff_secs=0.01, jitter=0),
        )
    )
    p = beam.Pipeline(options=local_runner_options(workers=1))
    main, dlq = (
        p | beam.Create([(i, {"x": float(i)}) for i in range(8)]) | RunInference(handler).with_exception_handling()
    )
    keys = (
        main | "Ok" >> beam.Map(lambda kv: kv[0]),
        dlq.failed_inferences | "Failed" >> beam.Map(lambda f: f[0][0][0]),
    )
    assert_that(keys | beam.Flatten(), equal_to(list(range(8))))
    result = p.run()
    result.wait_until_finish()
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace(REMOTE_NAMESPACE))["counters"]
    }
    assert counters.get("cumulativeThrottlingSeconds", 0) > 0  # Beam's ReactiveThrottler held requests back
    assert counters["failed_requests"] >= 1 and proxy.forwarded >= 1


class _KillAfter(beam.DoFn):
    """Passes elements on; SIGKILLs ``pid`` just before passing on the element after the first ``count``."""

    def __init__(self, pid: int, count: int) -> None:
        self._pid = pid
        self._count = count

    def setup(self) -> None:
        self._seen = 0

    def process(self, element):
        if self._seen == self._count:
            os.kill(self._pid, signal.SIGKILL)
        self._seen += 1
        yield element


def test_a_killed_server_fails_the_remaining_batches_into_dead_letters(start_server):
    victim = start_server()
    handler = KeyedModelHandler(
        remote(
            victim.url + "/v1/models/scale/versions/2",
            outputs="y",
            max_batch_size=5,
            min_batch_size=5,
            retry=RetryPolicy(max_attempts=3, initial_backoff_secs=0.05, jitter=0),
        )
    )
    p = beam.Pipeline(options=local_runner_options(workers=1))
    rows = p | beam.Create([(i, {"x": float(i)}) for i in range(30)]) | beam.ParDo(_KillAfter(victim.process.pid, 20))
    main, dlq = rows | RunInference(handler).with_exception_handling()
    ok_path, dead_path = victim.log_path.with_name("ok"), victim.log_path.with_name("dead")
    _ = (
        main
        | beam.Map(lambda kv: f"{kv[0]} {float(kv[1].inference[0])}")
        | "WriteOk" >> beam.io.WriteToText(str(ok_path))
    )
    _ = (
        dlq.failed_inferences
        | beam.FlatMap(lambda f: [f"{key}\t{f[1][1]}" for key, _row in f[0]])
        | "WriteDead" >> beam.io.WriteToText(str(dead_path))
    )
    p.run().wait_until_finish()
    ok = dict(line.split() for shard in ok_path.parent.glob("ok-*") for line in shard.read_text().splitlines())
    dead = dict(
        line.split("\t") for shard in dead_path.parent.glob("dead-*") for line in shard.read_text().splitlines()
    )
    assert sorted(map(int, [*ok, *dead])) == list(range(30))  # every record is a prediction or a dead letter
    assert all(float(y) == 3 * int(k) for k, y in ok.items())
    # 20 records passed before the kill: 3 or 4 full batches were answered (BatchElements sends a full batch when
    # the next element arrives); the batches after the kill all failed.
    assert 15 <= len(ok) <= 20 and len(dead) == 30 - len(ok)
    assert all("cannot reach the server" in reason and "gave up after 3 attempts" in reason for reason in dead.values())


def test_retries_ride_out_a_server_restart(start_server):
    first = start_server()
    handler = KeyedModelHandler(
        remote(
            first.url + "/v1/models/scale/versions/2",
            outputs="y",
            max_batch_size=5,
            retry=RetryPolicy(max_attempts=30, initial_backoff_secs=0.1, max_backoff_secs=0.5, deadline_secs=60),
        )
    )

    def restart_after_the_crash() -> None:
        deadline = time.monotonic() + 30
        while first.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        start_server(port=first.port, grpc_port=first.grpc_port, wait=False)

    restarter = threading.Thread(target=restart_after_the_crash, daemon=True)
    restarter.start()
    p = beam.Pipeline(options=local_runner_options(workers=1))
    got = (
        p
        | beam.Create([(i, {"x": float(i)}) for i in range(30)])
        | beam.ParDo(_KillAfter(first.process.pid, 10))
        | RunInference(handler)
        | beam.Map(lambda kv: (kv[0], float(kv[1].inference[0])))
    )
    assert_that(got, equal_to([(i, 3.0 * i) for i in range(30)]))
    result = p.run()
    result.wait_until_finish()
    restarter.join(5)
    counters = {
        c.key.metric.name: c.committed
        for c in result.metrics().query(MetricsFilter().with_namespace(REMOTE_NAMESPACE))["counters"]
    }
    assert counters["retries"] >= 1


def test_urls_models_versions_and_labels():
    from modelserve.batch.targets import parse_target

    target = parse_target("http://h:1/v1/models/digits/labels/stable")
    assert (target.transport, target.protocol, target.model, target.label) == ("rest", "tfs", "digits", "stable")
    target = parse_target("grpc://h:2", model="d", version=3, protocol="v2")
    assert (target.address, target.url(), target.model_id()) == ("h:2", "grpc://h:2/v2/models/d/versions/3", "d:3")
    with pytest.raises(InvalidArgument, match="no version labels"):
        parse_target("http://h:1/v2/models/d", label="x")
    with pytest.raises(InvalidArgument, match="says model 'a' but 'b'"):
        parse_target("http://h:1/v1/models/a", model="b")
    with pytest.raises(InvalidArgument, match="cannot read a model from the URL path"):
        parse_target("http://h:1/models/a")
    assert RetryPolicy(initial_backoff_secs=1, jitter=0).delay(3) == 4.0
    assert RetryPolicy(initial_backoff_secs=1, jitter=0, max_backoff_secs=3).delay(1, retry_after=9) == 9
    assert RetryPolicy(initial_backoff_secs=1, jitter=0, max_backoff_secs=3).delay(5) == 3
    assert DeadlineExceeded  # the timeout code a silent server maps to (see test_slow_replies...)
