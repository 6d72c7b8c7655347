"""Sticky routing across replicas: a routing key's route is a pure function of the key, the policy's routes
and weights, and which routes resolve to an AVAILABLE version on the replica, so every replica (or worker)
that reads the same traffic file and label config maps a key to the same version once that version is
loaded there. Nothing else enters: not the process, its hash seed, the router's random state, the order of
requests or the other keys (docs/scale.md, "Sticky canary routing across replicas")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelserve.config_io import read_traffic_file
from modelserve.serving.traffic import Router

TRAFFIC = """\
routing_header: x-routing-key
models:
  digits:
    routes: {stable: 90, canary: 10}
    seed: 7
  ranker:
    routes: {a: 20, b: 30, "3": 50}
"""
# (An empty header is no key: such requests are routed at random, like requests without one.)
KEYS = [f"user-{i}" for i in range(4000)] + ["ünïcode-ключ-鍵", "x" * 5000, "user-1\x00", "USER-1"]
ALL_LOADED = {"stable": 1, "canary": 2, "a": 4, "b": 5, "3": 3}


def replica(folder: Path, model: str) -> Router:
    """A replica's router for ``model``, built the way a server builds it: from its own copy of the file."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "traffic.yaml").write_text(TRAFFIC)
    return Router(read_traffic_file(folder / "traffic.yaml").policies[model])


def choices(router: Router, loaded: dict[str, int], keys: list[str]) -> list[tuple[str, int] | None]:
    return [router.choose(loaded.get, key) for key in keys]


def test_two_replicas_reading_the_same_file_send_every_key_to_the_same_version(tmp_path: Path):
    for model in ("digits", "ranker"):
        first, second = replica(tmp_path / "a" / model, model), replica(tmp_path / "b" / model, model)
        for _ in range(1000):  # the second has served unkeyed requests: its random state differs
            second.choose(ALL_LOADED.get, None)
        picks = choices(first, ALL_LOADED, KEYS)
        assert picks == choices(second, ALL_LOADED, KEYS[::-1])[::-1]  # in any order of requests
        assert picks == choices(first, ALL_LOADED, KEYS)  # and again, later
        if model == "digits":  # Binomial(4000, 0.1): sd 0.0047
            assert 0.08 < sum(pick == ("canary", 2) for pick in picks[:4000]) / 4000 < 0.12


def test_a_replica_in_another_process_with_another_hash_seed_chooses_alike(tmp_path: Path):
    path = tmp_path / "traffic.yaml"
    path.write_text(TRAFFIC)
    script = (
        "import json, sys\n"
        "from modelserve.config_io import read_traffic_file\n"
        "from modelserve.serving.traffic import Router\n"
        "policies = read_traffic_file(__import__('pathlib').Path(sys.argv[1])).policies\n"
        "keys, loaded = json.loads(sys.stdin.read())\n"
        "print(json.dumps({m: [Router(p).choose(loaded.get, k) for k in keys] for m, p in policies.items()}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        input=json.dumps([KEYS, ALL_LOADED]),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    there = json.loads(done.stdout)
    for model in ("digits", "ranker"):
        here = choices(replica(tmp_path / model, model), ALL_LOADED, KEYS)
        assert [tuple(pick) for pick in there[model]] == here


def test_until_the_canary_is_loaded_on_a_replica_its_keys_go_to_stable_there_and_only_they_move(tmp_path: Path):
    router = replica(tmp_path, "digits")
    loaded = choices(router, ALL_LOADED, KEYS)
    lagging = choices(router, {"stable": 1}, KEYS)  # this replica has not loaded version 2 yet
    assert all(after == ("stable", 1) for after in lagging)
    moved = [key for key, before, after in zip(KEYS, loaded, lagging) if before != after]
    assert moved == [key for key, pick in zip(KEYS, loaded) if pick == ("canary", 2)]
    assert choices(router, ALL_LOADED, KEYS) == loaded  # loaded now: every key is back where the others send it


def test_the_route_is_shared_but_the_version_is_the_replicas_own_label(tmp_path: Path):
    """Two replicas whose config files disagree on the label (one not reloaded yet) agree on the route and
    differ on the version: the same traffic file is not enough, the labels must match too."""
    router = replica(tmp_path, "digits")
    behind = {"stable": 1, "canary": 3}
    for key, mine, theirs in zip(KEYS, choices(router, ALL_LOADED, KEYS), choices(router, behind, KEYS)):
        assert mine is not None and theirs is not None and mine[0] == theirs[0], key
        assert theirs[1] == behind[mine[0]]
