"""A deterministic simulation of 1,000 models on 100 replicas: placement, cold starts, a cache of loaded
models with eviction, sticky canary routing across replicas, and autoscaling on in-flight requests.

    .venv/bin/python bench/scale_sim.py                       # three policies side by side (20-45 s here)
    .venv/bin/python bench/scale_sim.py --set models=200 --set replicas=20 --set minutes=8
    .venv/bin/python bench/scale_sim.py --set download=measured --set replica_gib=8

A model of a fleet, not a measurement. Measured here (``bench/cold_start.py``'s fits, from its JSON, else
``DEFAULT_FIT``): load + first call, resident memory and batch-1 call time as lines in the file size, and
the download over moto on loopback. Assumed: every field of :class:`Params` and the cloud download model
``cold_start.CLOUD``. Randomness comes from seeded numpy generators: the same arguments, the same numbers.

Per tick, requests per (replica, model) are Poisson draws of the routed share of the model's rate. A
request whose model is not loaded on its replica starts a load there (one at a time per replica: download +
load from the fits) and the pair's requests wait until it ends; room is made by evicting the least recently
(LRU) or frequently (LFU) used model not pinned, loading or requested in the tick; a load that cannot fit is
rejected. Canary models carry routing keys: the balancer sends a key to a replica (round-robin, or
rendezvous hashing of the key over the model's replicas), and the replica picks the version with our own
:class:`modelserve.serving.traffic.Router`, which leaves out a route whose version is not loaded there yet.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cold_start import CLOUD, DEFAULT_JSON, cloud_download_s
from scale_fleet import Fleet, mix64

#: cold_start.py's fits (seconds, MB, ms = a + b * MB, never below ``min``) from its run here on 2026-12-04
#: (2 shared cores, moto on loopback, medians of 3, 1-200 MB MLPs), used when its JSON is absent.
DEFAULT_FIT = {
    "download_s": {"a": -0.0961, "b": 0.007409, "min": 0.0173},
    "load_s": {"a": -0.0376, "b": 0.002942, "min": 0.0039},
    "call_ms": {"a": -0.1956, "b": 0.06108, "min": 0.0648},
    "rss_mb": {"a": 45.07, "b": 1.0313, "min": 25.58},
}


@dataclass(frozen=True)
class Params:
    """The fleet and its traffic: assumptions, except ``overhead_ms`` (measured, docs/performance.md)."""

    models: int = 1000
    replicas: int = 100  # at the start; the traffic at x1 is set so that it needs this many at the target
    minutes: float = 20.0
    warmup_minutes: float = 2.0  # not counted, no autoscaling: caches fill from empty
    tick_s: float = 2.5
    seed: int = 7
    zipf: float = 1.1  # traffic share of the i-th busiest model ~ i^-zipf
    size_median_mb: float = 50.0  # model files: log-normal, clipped to [0.5, size_max_mb]
    size_sigma: float = 1.0
    size_max_mb: float = 2000.0
    compute_median_ms: float = 4.0  # work per request beyond a batch-1 MLP of the model's size: log-normal
    compute_sigma: float = 0.8
    overhead_ms: float = 0.31  # 1 / 3,183 req/s: the MLP over REST on one core (docs/performance.md)
    replica_gib: float = 2.0  # memory for models per replica: the fleet holds ~2 copies of every model
    slots: int = 4  # cores per replica: requests in flight beyond this queue
    target_in_flight: float = 2.0  # HPA target of modelserve_in_flight_requests per replica
    min_replicas: int = 20
    max_replicas: int = 300
    hpa_period_s: float = 15.0  # Kubernetes HPA defaults: sync period 15 s, tolerance 0.1, scale-down
    hpa_tolerance: float = 0.1  # stabilization 300 s, scale-up at most max(4 pods, 100%) per period
    scale_down_window_s: float = 300.0
    metric_window_s: float = 60.0  # the window the metric is averaged over (a PromQL [1m])
    pod_start_s: float = 30.0  # scheduled, image cached, process up
    profile: tuple[tuple[float, float], ...] = ((0, 1.0), (8, 1.0), (11, 1.6), (15, 1.6), (18, 0.9), (20, 0.9))
    hot_rps: float = 5.0  # packed: busier models are pinned on >= 2 replicas, spread by their load
    hot_share: float = 0.5  # packed: a hot model takes at most this share of a replica's in-flight target
    pin_share: float = 0.6  # packed: pinned models take at most this share of a replica's memory
    canary_ranks: tuple[int, ...] = (1, 10, 100, 500)  # traffic ranks of the models that get a canary
    canary_weight: float = 10.0  # routes {stable: 90, canary: 10}
    canary_at_minutes: float = 4.0
    config_skew_s: float = 90.0  # kubelet refresh of the ConfigMap (~60 s) + the server's 30 s poll (deploy/kubernetes)
    rollout_minutes: float = 4.0  # stickiness is reported for the rollout and for the time after it
    keys: int = 20_000  # routing keys (users) per canary model, popularity ~ i^-key_zipf
    key_zipf: float = 0.8
    download: str = "cloud"  # "cloud" (assumed: cold_start.CLOUD) or "measured" (the moto fit)


@dataclass(frozen=True)
class Policy:
    name: str
    placement: str  # "all": any replica loads any model; "hash3": 3 replicas by hashing; "packed": size+traffic
    balancer: str  # "round-robin", or "key-hash": the routing key hashed over the model's replicas
    eviction: str  # "lru" or "lfu"


POLICIES = (
    Policy("A spread+LRU", "all", "round-robin", "lru"),
    Policy("B hash3+LRU", "hash3", "key-hash", "lru"),
    Policy("C packed+LFU", "packed", "key-hash", "lfu"),
)


def read_fit(path: Path | None) -> tuple[dict, str]:
    """cold_start.py's fits from ``path`` when it exists, else DEFAULT_FIT; and where they came from."""
    if path is not None and path.is_file():
        data = json.loads(path.read_text())
        return data["fit"], f"measured: {path} ({data['measured_on']['when']})"
    return DEFAULT_FIT, "measured earlier: DEFAULT_FIT in bench/scale_sim.py (no cold_start.json)"


def line(f: dict, x: np.ndarray) -> np.ndarray:
    return np.maximum(f["a"] + f["b"] * x, f.get("min", 0.0))


class World:
    """What every policy shares: the models, their traffic, the routing keys and their routes."""

    def __init__(self, p: Params, fit: dict) -> None:
        from modelserve.config import Route, TrafficPolicy
        from modelserve.serving.traffic import Router

        rng, m = np.random.default_rng(p.seed), p.models
        self.size = np.clip(rng.lognormal(np.log(p.size_median_mb), p.size_sigma, m), 0.5, p.size_max_mb)
        self.mem = line(fit["rss_mb"], self.size)
        download = cloud_download_s(self.size) if p.download == "cloud" else line(fit["download_s"], self.size)
        self.cold = download + line(fit["load_s"], self.size)
        compute = rng.lognormal(np.log(p.compute_median_ms), p.compute_sigma, m)
        self.svc = (p.overhead_ms + line(fit["call_ms"], self.size) + compute) / 1e3
        self.weight = 1.0 / np.arange(1, m + 1) ** p.zipf
        self.weight /= self.weight.sum()
        self.base_rps = p.replicas * p.target_in_flight / float((self.weight * self.svc).sum())
        self.canary = np.array([r - 1 for r in p.canary_ranks if r <= m], dtype=int)
        popularity = 1.0 / np.arange(1, p.keys + 1) ** p.key_zipf
        self.key_cdf = np.cumsum(popularity) / popularity.sum()
        router = Router(TrafficPolicy((Route("stable", 100 - p.canary_weight), Route("canary", p.canary_weight))))
        names = [f"user-{k}" for k in range(p.keys)]
        self.key_canary = np.array([router.choose({"stable": 1, "canary": 2}.get, k) == ("canary", 2) for k in names])
        assert all(router.choose({"stable": 1}.get, k) == ("stable", 1) for k in names[:200])  # canary not loaded
        self.key_hash = mix64(np.arange(p.keys, dtype=np.uint64) + np.uint64(1 << 40))
        self.replica_hash = mix64(np.arange(p.max_replicas, dtype=np.uint64) + np.uint64(1 << 50))
        scores = mix64(np.arange(m, dtype=np.uint64)[:, None] * np.uint64(1 << 20) + self.replica_hash[None, :])
        self.order = np.argsort(scores, axis=1)  # rendezvous order of the replicas, per model


ROWS = (
    ("replicas_mean", "replicas, mean (autoscaled)", "{:.1f}"),
    ("replicas_peak", "replicas, peak", "{:.0f}"),
    ("memory_utilisation", "memory utilisation", "{:.1%}"),
    ("cache_hit_ratio", "cache hit ratio (no wait)", "{:.3%}"),
    ("rejected_share", "rejected (no memory)", "{:.3%}"),
    ("cold_starts_per_min", "cold starts / min (on path)", "{:.1f}"),
    ("preloads_per_min", "preloads / min (off path)", "{:.1f}"),
    ("evictions_per_min", "evictions / min", "{:.1f}"),
    ("added_p99_ms", "p99 added latency, ms", "{:.0f}"),
    ("added_p999_ms", "p99.9 added latency, ms", "{:.0f}"),
    ("overloaded_share", "replica-time in flight > slots", "{:.2%}"),
    ("sticky_rollout", "canary stickiness, rollout", "{:.4f}"),
    ("sticky_after", "canary stickiness, after", "{:.4f}"),
    ("flip_backs_rollout_per_1k", "flip-backs / 1k reqs, rollout", "{:.2f}"),
    ("flip_backs_after_per_1k", "flip-backs / 1k reqs, after", "{:.2f}"),
)


def simulate(p: Params, fit: dict = DEFAULT_FIT, policies: tuple[Policy, ...] = POLICIES) -> dict[str, dict]:
    """Every policy on the same world: ``{policy name: figures}``."""
    world = World(p, fit)
    return {policy.name: Fleet(p, world, policy).run() for policy in policies}


def parse_set(items: list[str]) -> dict:
    """``["models=200", "download=measured"]`` as Params fields of the right types."""
    types = {f.name: type(getattr(Params(), f.name)) for f in fields(Params)}
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        if name not in types or types[name] is tuple:
            raise SystemExit(f"error: --set {item}: expected one of {', '.join(sorted(types))} (not tuples)")
        out[name] = types[name](value)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/scale_sim.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="change a Params field")
    parser.add_argument("--cold-start", type=Path, default=DEFAULT_JSON, help=f"cold_start.py's JSON [{DEFAULT_JSON}]")
    parser.add_argument("--json", type=Path, help="also write the figures there")
    args = parser.parse_args(argv)
    p = replace(Params(), **parse_set(args.set))
    fit, source = read_fit(args.cold_start)
    w = World(p, fit)
    print(f"fits: {source}")
    print(
        "download: "
        + ("assumed, cold_start.CLOUD: " + "; ".join(CLOUD["sources"]) if p.download == "cloud" else "moto fit")
    )
    print(
        f"world (assumed): {p.models} models, files median {np.median(w.size):.0f} MB (max {w.size.max():.0f}), "
        f"{w.mem.sum() / 1024:.0f} GiB resident for one copy of each ({p.replicas} x {p.replica_gib:g} GiB replicas); "
        f"cold start median {np.median(w.cold):.2f} s, max {w.cold.max():.1f} s; {w.base_rps:,.0f} req/s at x1 "
        f"({p.replicas} replicas x {p.target_in_flight:g} in flight); traffic profile (min, x) {p.profile}"
    )
    results = {policy.name: Fleet(p, w, policy).run() for policy in POLICIES}
    label = f"simulated: {p.minutes - p.warmup_minutes:g} min after {p.warmup_minutes:g} min warm-up"
    print(f"\n{label:<34}" + "".join(f"{name:>16}" for name in results))
    for key, text, form in ROWS:
        print(f"{text:<34}" + "".join(f"{form.format(r[key]):>16}" for r in results.values()))
    if args.json:
        args.json.write_text(json.dumps({"params": asdict(p), "fits": source, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
