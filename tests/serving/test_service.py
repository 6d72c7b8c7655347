"""ModelService with fake runtimes (an injected loader): reload races, deadlines that outlive requests, bounded
shutdown, inline calls, shadows, and the one door's order of checks."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from fake_services import SlowModel, loader, make_repository, make_service, model_of, request
from modelserve.config import ModelConfig, ServerConfig
from modelserve.errors import DeadlineExceeded, Internal, InvalidArgument, NotFound, SignatureNotFound
from modelserve.serving.service import ModelService
from modelserve.types import InferRequest, InputRules, ModelRef


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repository(tmp_path)


def test_concurrent_loads_and_unloads_compose(repo: Path):
    service = make_service(repo, "a")
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(service.load_model, ["b", "c"]))
    assert sorted(service.model_names()) == ["a", "b", "c"]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(service.unload_model, ["a", "b"]))
    assert service.model_names() == ["c"]
    service.load_model("a")
    assert sorted(service.model_names()) == ["a", "c"]
    with pytest.raises(NotFound):
        service.load_model("..")
    service.stop()


def test_duplicate_names_in_a_reload_are_refused(repo: Path):
    service = make_service(repo, "a")
    model = ModelConfig(name="b", base_path=repo / "b")
    with pytest.raises(InvalidArgument, match="Illegal to list model b multiple times"):
        service.reload_config((model, model))
    service.stop()


def test_changed_base_path_loads_before_the_old_one_goes(repo: Path):
    service = make_service(repo, "a")
    service.reload_config((ModelConfig(name="a", base_path=repo / "b"),))
    with service.catalog.borrow("a") as served:
        assert served.path == repo / "b" / "1"
    service.stop()


def test_a_call_that_outlives_its_deadline_keeps_its_version_loaded(repo: Path):
    service = make_service(repo, "a", graceful_shutdown_seconds=0.5, inline_call_micros=0)
    served = service.catalog.borrow("a")

    with pytest.raises(DeadlineExceeded):
        asyncio.run(service.infer(request(deadline=time.monotonic() + 0.05)))
    assert served.model.running
    served.give_back()
    assert not served.retire(0.05), "the running call must still count as a borrower"
    service.stop()


def test_shutdown_waits_at_most_the_grace_period(repo: Path):
    service = make_service(repo, "a", graceful_shutdown_seconds=0.2, inline_call_micros=0)
    model_of(repo, "a").seconds = 3

    def call() -> None:
        with contextlib.suppress(Exception):
            asyncio.run(service.infer(request()))

    threading.Thread(target=call, daemon=True).start()
    time.sleep(0.1)
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 2.5


def test_checks_come_before_the_model_runs_and_bugs_are_internal(repo: Path):
    service = make_service(repo, "a")
    model = model_of(repo, "a")
    model.seconds = 0
    with pytest.raises(NotFound, match=r"Servable not found for request: Specific\(a, 7\)"):
        service.infer_now(request(version=7))
    with pytest.raises(SignatureNotFound):
        service.infer_now(request(signature="nope"))
    with pytest.raises(InvalidArgument, match="output tensor alias not found"):
        service.infer_now(request(outputs=("z",), rules=InputRules.TF_SERVING))
    with pytest.raises(InvalidArgument, match=r"expects float64 \[-1\], got float64 \[1, 2\]"):
        service.infer_now(InferRequest(ModelRef("a"), {"x": np.zeros((1, 2))}))
    assert model.running is False
    model.run = lambda *_: {}["missing"]  # a runtime bug, not a ServingError
    with pytest.raises(Internal, match="model call failed: KeyError"):
        service.infer_now(request())
    service.stop()


def test_fast_small_calls_run_on_the_event_loop_and_slow_ones_on_model_threads(repo: Path):
    service = make_service(repo, "a", inline_call_micros=200)
    threads: list[str] = []

    class Recording(SlowModel):
        def run(self, signature: str, inputs: dict) -> dict:
            threads.append(threading.current_thread().name)
            busy_until = time.thread_time() + self.seconds  # CPU work: inline calls are judged by CPU time
            while time.thread_time() < busy_until:
                pass
            return {"y": np.zeros(len(inputs["x"]))}

    async def calls(rows: int, n: int) -> None:
        for _ in range(n):
            await service.infer(request(rows=rows))

    with service.catalog.borrow("a") as served:
        served.model = Recording(served.path, 0.0)
    asyncio.run(calls(1, 12))
    assert threads[:8] == [t for t in threads[:8] if t.startswith("model")]  # measured on model threads first
    assert set(threads[8:]) == {"MainThread"}  # then a thread hop costs more than the call
    threads.clear()
    asyncio.run(calls(9, 2))  # more rows than INLINE_MAX_ROWS: model threads
    assert all(t.startswith("model") for t in threads)
    threads.clear()
    served.model.seconds = 0.002  # calls became slower: one slow inline call, then 100 on model threads
    asyncio.run(calls(1, 120))
    assert threads[0] == "MainThread"
    assert all(t.startswith("model") for t in threads[1:101])
    assert threads.count("MainThread") <= 2
    service.stop()


def test_inline_calls_can_be_switched_off(repo: Path):
    service = make_service(repo, "a", inline_call_micros=0)
    seen: list[str] = []
    model = model_of(repo, "a")
    model.seconds = 0.0
    original = model.run
    model.run = lambda s, i: (seen.append(threading.current_thread().name), original(s, i))[1]

    async def calls() -> None:
        for _ in range(20):
            await service.infer(request())

    asyncio.run(calls())
    assert all(t.startswith("model") for t in seen)
    service.stop()


def test_shadow_calls_never_take_a_request_slot(repo: Path):
    from modelserve.config_io import parse_traffic_config

    (repo / "a" / "2").mkdir()
    (repo / "a" / "2" / "model.txt").write_text("a2")
    from modelserve.config import All

    config = ServerConfig(
        models=(ModelConfig(name="a", base_path=repo / "a", policy=All()),),
        settle_seconds=0.01, file_system_poll_wait_seconds=0, max_in_flight=4, inline_call_micros=0,
    )  # fmt: skip
    service = ModelService(config, loader=loader)
    service.start()
    service.set_traffic(parse_traffic_config({"models": {"a": {"routes": {"1": 1}, "shadow": {"target": 2}}}}))
    model_of(repo, "a", 1).seconds, model_of(repo, "a", 2).seconds = 0.0, 1.0  # the shadow (version 2) is slow

    async def routed() -> None:
        answer = await service.infer(request())
        assert answer.version == 1 and answer.route == "1"

    async def scenario() -> None:
        await routed()  # starts a 1 s shadow call on version 2
        await routed()  # and a second one: 2 shadows = max_in_flight // 2, so the next is skipped
        await routed()
        assert service.dispatcher.shadows == 2 and service.dispatcher.in_flight == 0
        await asyncio.gather(*(routed() for _ in range(4)))  # all four request slots are still free

    asyncio.run(scenario())
    report = service.traffic_stats.report("a")
    assert report["shadow"]["2"]["skipped"] >= 1
    assert sum(r["requests"] for r in report["routed"]) == 7
    admin_view = service.traffic_report()["models"]["a"]  # the policy and the comparisons side by side
    assert admin_view["shadow_policy"] == {"target": "2", "fraction": 1.0, "version": 2}
    assert admin_view["shadow"]["2"]["skipped"] >= 1
    service.stop()
