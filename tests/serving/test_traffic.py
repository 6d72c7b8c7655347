"""Traffic policies: the file schema and its errors, weighted and sticky choice, shadow comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelserve.config import Route, TrafficPolicy
from modelserve.config_io import parse_traffic_config, read_traffic_file
from modelserve.errors import InvalidArgument
from modelserve.serving.traffic import Router, compare_outputs, sticky_point

LABELS = {"stable": 1, "canary": 2}


def resolve(target: str) -> int | None:
    return LABELS.get(target) or (int(target) if target.isdigit() else None)


def test_yaml_file(tmp_path: Path):
    path = tmp_path / "traffic.yaml"
    path.write_text(
        "routing_header: X-User\n"
        "models:\n"
        "  digits:\n"
        "    routes: {stable: 90, canary: 10}\n"
        "    shadow: {target: 3, fraction: 0.5}\n"
        "    seed: 7\n"
    )
    config = read_traffic_file(path)
    assert config.routing_header == "x-user"
    policy = config.policies["digits"]
    assert policy.routes == (Route("stable", 90.0), Route("canary", 10.0))
    assert policy.shadow is not None and (policy.shadow.target, policy.shadow.fraction) == ("3", 0.5)
    assert policy.seed == 7


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a mapping with 'models'"),
        ({"model": {}}, r"unknown key\(s\) \['model'\]"),
        ({"models": {"m": {"routes": {"a": -1}}}}, r"models.m.routes.a: weight must be a number >= 0, got -1"),
        ({"models": {"m": {"routes": {"a": "ten"}}}}, "weight must be a number"),
        ({"models": {"m": {"routes": {"a": 0, "b": 0}}}}, "the weights add up to 0"),
        ({"models": {"m": {"shadow": {"target": "c", "fraction": 2}}}}, "fraction: must be a number between 0 and 1"),
        ({"models": {"m": {"shadow": "c"}}}, r"shadow: expected \{target"),
        ({"models": {"m": {"weights": {}}}}, r"unknown key\(s\) \['weights'\]"),
        ({"models": {"m": {"seed": "x"}}}, "seed: must be an integer"),
        ({"routing_header": "x-\u0113", "models": {}}, "routing_header must be an HTTP header name"),
        ({"routing_header": "x key", "models": {}}, "routing_header must be an HTTP header name"),
        ({"models": {"m": {"shadow": {"target": "c"}}}}, "the policy needs 'routes'"),
    ],
)
def test_schema_errors_name_the_place(data, message: str):
    with pytest.raises(InvalidArgument, match=message):
        parse_traffic_config(data)


def test_bad_yaml_and_json_name_the_file(tmp_path: Path):
    bad_yaml = tmp_path / "t.yaml"
    bad_yaml.write_text("models: [unclosed\n")
    with pytest.raises(InvalidArgument, match=r"t.yaml is not valid YAML"):
        read_traffic_file(bad_yaml)
    bad_json = tmp_path / "t.json"
    bad_json.write_text("{")
    with pytest.raises(InvalidArgument, match=r"t.json is not valid JSON"):
        read_traffic_file(bad_json)


def test_weighted_choice_follows_the_weights_with_a_fixed_seed():
    router = Router(TrafficPolicy((Route("stable", 90), Route("canary", 10)), seed=11))
    picks = [router.choose(resolve, None) for _ in range(20_000)]
    canary = sum(p == ("canary", 2) for p in picks) / len(picks)
    # Binomial(20000, 0.1): sd 0.0021; 5 sd either side.
    assert abs(canary - 0.10) < 0.0106
    assert {p for p in picks} == {("stable", 1), ("canary", 2)}


def test_routes_that_do_not_resolve_are_left_out():
    router = Router(TrafficPolicy((Route("stable", 50), Route("missing", 50)), seed=1))
    assert {router.choose(resolve, None) for _ in range(200)} == {("stable", 1)}
    nothing = Router(TrafficPolicy((Route("missing", 1),)))
    assert nothing.choose(resolve, None) is None


def test_sticky_keys_keep_their_target_and_a_bigger_canary_only_gains_keys():
    ten = Router(TrafficPolicy((Route("stable", 90), Route("canary", 10))))
    thirty = Router(TrafficPolicy((Route("stable", 70), Route("canary", 30))))
    keys = [f"user-{i}" for i in range(2000)]
    first = {k: ten.choose(resolve, k) for k in keys}
    assert all(ten.choose(resolve, k) == first[k] for k in keys)  # same key, same target
    on_canary = {k for k, pick in first.items() if pick == ("canary", 2)}
    after = {k for k in keys if thirty.choose(resolve, k) == ("canary", 2)}
    assert on_canary <= after  # raising the canary's share moves keys only onto it
    assert 0.07 < len(on_canary) / len(keys) < 0.13
    assert 0.26 < len(after) / len(keys) < 0.34
    assert 0 <= sticky_point("x") < 1 and sticky_point("x") == sticky_point("x")


def test_shadow_draws_its_fraction_and_never_the_served_version():
    from modelserve.config import Shadow

    router = Router(TrafficPolicy((Route("stable", 1),), Shadow("canary", 0.25), seed=3))
    draws = [router.shadow_version(resolve, 1) for _ in range(8000)]
    share = sum(d == 2 for d in draws) / len(draws)
    assert abs(share - 0.25) < 0.025
    assert Router(TrafficPolicy(shadow=Shadow("canary", 1.0))).shadow_version(resolve, 2) is None


def test_compare_outputs():
    a = {"y": np.array([1.0, 2.0], np.float32)}
    assert compare_outputs(a, {"y": np.array([1.0, 2.0000001], np.float32)})[0] == "match"
    outcome, diff = compare_outputs(a, {"y": np.array([1.0, 2.5])})
    assert (outcome, diff) == ("mismatch", 0.5)
    assert compare_outputs(a, {"z": a["y"]}) == ("mismatch", float("inf"))
    assert compare_outputs(a, {"y": np.zeros(3)}) == ("mismatch", float("inf"))
    words = {"s": np.array([b"a"], object)}
    assert compare_outputs(words, {"s": np.array([b"a"], object)}) == ("match", 0.0)
    assert compare_outputs(words, {"s": np.array([b"b"], object)})[0] == "mismatch"


def test_with_three_routes_a_growing_route_only_gains_keys():
    before = Router(TrafficPolicy((Route("canary", 10), Route("a", 10), Route("b", 80))))
    after = Router(TrafficPolicy((Route("canary", 50), Route("a", 10), Route("b", 80))))
    targets = {"canary": 2, "a": 3, "b": 4}
    keys = [f"user-{i}" for i in range(5000)]
    moves = {(before.choose(targets.get, k)[0], after.choose(targets.get, k)[0]) for k in keys}
    assert {(old, new) for old, new in moves if old != new} <= {("a", "canary"), ("b", "canary")}
    shares = [sum(before.choose(targets.get, k)[0] == t for k in keys) / len(keys) for t in ("canary", "a", "b")]
    assert abs(shares[0] - 0.1) < 0.025 and abs(shares[1] - 0.1) < 0.025 and abs(shares[2] - 0.8) < 0.025


def test_a_non_ascii_digit_target_is_a_label_not_a_crash():
    from modelserve.config import ModelConfig
    from modelserve.serving.manager import ModelManager

    manager = ModelManager(ModelConfig(name="m", base_path=Path("/nonexistent")), loader=lambda p: None)
    assert manager.resolve("\u00b2") is None and manager.resolve("7") is None
