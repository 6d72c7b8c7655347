"""bench/scale_sim.py is deterministic: the same parameters give the same figures, and they stay in range."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = str(Path(__file__).resolve().parents[1] / "bench")


def load_scale_sim():
    """Import the script as bench/run.py's modules are imported (its folder on the path), then take the
    folder off again so that bench's other top-level names never shadow anything in later tests."""
    sys.path.insert(0, BENCH)
    try:
        import scale_sim
    finally:
        while BENCH in sys.path:
            sys.path.remove(BENCH)
    return scale_sim


def test_the_same_parameters_give_the_same_figures():
    sim = load_scale_sim()
    small = sim.Params(
        models=60, replicas=6, min_replicas=2, max_replicas=24, minutes=3.0, warmup_minutes=0.5,
        canary_at_minutes=1.0, rollout_minutes=1.0, config_skew_s=20.0, canary_ranks=(1, 5), keys=500,
        replica_gib=1.0,
    )  # fmt: skip
    first, second = sim.simulate(small), sim.simulate(small)
    assert first == second
    assert set(first) == {policy.name for policy in sim.POLICIES}
    for figures in first.values():
        for key in ("cache_hit_ratio", "memory_utilisation", "rejected_share", "sticky_rollout", "sticky_after"):
            assert 0.0 <= figures[key] <= 1.0, (key, figures[key])
        assert figures["replicas_peak"] >= figures["replicas_mean"] >= small.min_replicas
    assert first["C packed+LFU"]["sticky_after"] == 1.0  # readiness-gated, key-hashed: no version changes
    assert sim.simulate(sim.replace(small, seed=8)) != first
