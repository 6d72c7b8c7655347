"""Traffic for releases: weighted routes, sticky routing keys and shadow traffic, per model.

TF Serving leaves traffic splitting to its clients; here a request that names no version and no label is
routed by the model's :class:`TrafficPolicy`:

* **routes**: targets (a version label such as ``canary`` or a version number) with weights, e.g.
  ``{"stable": 90, "canary": 10}``. Only targets that resolve to an AVAILABLE version take part; their
  weights are renormalised. When none resolves, the request goes to the latest version, as without a policy.
* **sticky routing**: a request carrying a routing key (the ``X-Routing-Key`` header, or gRPC metadata
  ``x-routing-key``) is routed by a hash of the key, so the same key reaches the same target while the
  weights are unchanged; raising a canary's weight moves only the keys that fall into the added share.
* **shadow**: a share of the routed requests is also sent to a shadow target; its answer is compared with
  the served one (outputs and latency) and never returned.

The file is JSON or YAML::

    routing_header: x-routing-key      # optional, this is the default
    models:
      digits:
        routes: {stable: 90, canary: 10}
        shadow: {target: canary, fraction: 0.25}   # optional
        seed: 7                                     # optional, for reproducible random routing
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from modelserve.config import Route, TrafficPolicy

# ---- choosing ----

Resolve = Callable[[str], "int | None"]


def sticky_point(key: str, target: str = "") -> float:
    """A fixed point in (0, 1) for a key (and a route target): the same inputs always give the same point."""
    data = key.encode("utf-8", "surrogatepass") + b"\x00" + target.encode("utf-8", "surrogatepass")
    digest = hashlib.blake2b(data, digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2**64


def sticky_score(key: str, route: Route) -> float:
    """Weighted rendezvous hashing: the route with the smallest score takes the key. Raising one route's
    weight lowers only its own scores, so keys move onto it and never between the other routes."""
    return -math.log(sticky_point(key, route.target)) / route.weight


class Router:
    """Picks versions for one model's policy. Thread-safe; random draws come from one seeded generator."""

    def __init__(self, policy: TrafficPolicy) -> None:
        self.policy = policy
        self._random = random.Random(policy.seed)
        self._lock = threading.Lock()

    def _draw(self) -> float:
        with self._lock:
            return self._random.random()

    def choose(self, resolve: Resolve, routing_key: str | None) -> tuple[str, int] | None:
        """``(route target, version)`` for a request that named no version, or None (serve the latest).

        ``resolve`` maps a target to an AVAILABLE version number or None."""
        candidates = [(r, v) for r in self.policy.routes if r.weight > 0 and (v := resolve(r.target)) is not None]
        if not candidates:
            return None
        if routing_key:
            route, version = min(candidates, key=lambda pair: sticky_score(routing_key, pair[0]))
            return route.target, version
        total = sum(route.weight for route, _ in candidates)
        point = self._draw() * total
        for route, version in candidates:
            point -= route.weight
            if point < 0:
                return route.target, version
        route, version = candidates[-1]
        return route.target, version

    def shadow_version(self, resolve: Resolve, served_version: int) -> int | None:
        """The version to mirror this request to, or None (no shadow, not drawn, or the served one itself)."""
        shadow = self.policy.shadow
        if shadow is None or shadow.fraction <= 0 or (shadow.fraction < 1 and self._draw() >= shadow.fraction):
            return None
        version = resolve(shadow.target)
        return None if version is None or version == served_version else version


# ---- comparing shadow answers, and what happened so far ----


def compare_outputs(
    served: Mapping[str, Any], shadow: Mapping[str, Any], rtol: float = 1e-3, atol: float = 1e-5
) -> tuple[str, float]:
    """``("match" | "mismatch", largest absolute difference)`` over the outputs both answers have.

    Outputs differing in names, shapes or kinds (numbers vs strings) are a mismatch with difference inf."""
    import numpy as np

    if set(served) != set(shadow):
        return "mismatch", float("inf")
    largest = 0.0
    same = True
    for name, mine in served.items():
        a, b = np.asarray(mine), np.asarray(shadow[name])
        if a.shape != b.shape:
            return "mismatch", float("inf")
        if a.dtype.kind in "biuf" and b.dtype.kind in "biuf":
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            if a.size:
                largest = max(largest, float(np.max(np.abs(a64 - b64))))
            same = same and bool(np.allclose(a64, b64, rtol=rtol, atol=atol, equal_nan=True))
        elif not np.array_equal(a, b):
            return "mismatch", float("inf")
    return ("match" if same else "mismatch"), largest


@dataclass
class ShadowStats:
    calls: int = 0
    matches: int = 0
    mismatches: int = 0
    errors: int = 0
    skipped: int = 0
    max_abs_diff: float = 0.0
    served_seconds: float = 0.0  # summed over answered shadow calls, for the mean latency ratio
    shadow_seconds: float = 0.0


class TrafficStats:
    """Counts per model since start: routed requests per (route, version) and shadow outcomes per version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routed: dict[str, dict[tuple[str, int], int]] = {}
        self._shadow: dict[str, dict[int, ShadowStats]] = {}

    def routed(self, model: str, route: str, version: int) -> None:
        with self._lock:
            counts = self._routed.setdefault(model, {})
            counts[route, version] = counts.get((route, version), 0) + 1

    def shadowed(
        self, model: str, version: int, outcome: str, diff: float = 0.0, served: float = 0.0, shadow: float = 0.0
    ) -> None:
        with self._lock:
            stats = self._shadow.setdefault(model, {}).setdefault(version, ShadowStats())
            if outcome == "skipped":
                stats.skipped += 1
                return
            stats.calls += 1
            if outcome == "error":
                stats.errors += 1
                return
            stats.matches += outcome == "match"
            stats.mismatches += outcome == "mismatch"
            stats.max_abs_diff = max(stats.max_abs_diff, diff)
            stats.served_seconds += served
            stats.shadow_seconds += shadow

    def report(self, model: str) -> dict[str, Any]:
        """JSON-ready: ``routed`` as a list of {route, version, requests}; ``shadow`` per version."""
        with self._lock:
            routed = [
                {"route": route, "version": version, "requests": n}
                for (route, version), n in sorted(self._routed.get(model, {}).items())
            ]
            shadow = {}
            for version, s in sorted(self._shadow.get(model, {}).items()):
                answered = s.matches + s.mismatches
                shadow[str(version)] = {
                    "calls": s.calls,
                    "matches": s.matches,
                    "mismatches": s.mismatches,
                    "errors": s.errors,
                    "skipped": s.skipped,
                    "max_abs_diff": s.max_abs_diff,
                    "mean_served_ms": 1000 * s.served_seconds / answered if answered else None,
                    "mean_shadow_ms": 1000 * s.shadow_seconds / answered if answered else None,
                }
        return {"routed": routed, "shadow": shadow}
