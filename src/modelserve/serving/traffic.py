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
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelserve.errors import InvalidArgument

DEFAULT_ROUTING_HEADER = "x-routing-key"


@dataclass(frozen=True)
class Route:
    """One weighted target: a version label or a version number (as text, e.g. ``"2"``)."""

    target: str
    weight: float


@dataclass(frozen=True)
class Shadow:
    target: str
    fraction: float


@dataclass(frozen=True)
class TrafficPolicy:
    routes: tuple[Route, ...] = ()
    shadow: Shadow | None = None
    seed: int | None = None


@dataclass(frozen=True)
class TrafficConfig:
    policies: Mapping[str, TrafficPolicy] = field(default_factory=dict)
    routing_header: str = DEFAULT_ROUTING_HEADER


# ---- reading the file ----


def read_traffic_file(path: Path) -> TrafficConfig:
    """Parse a JSON (``.json``) or YAML (anything else) traffic file; InvalidArgument names the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgument(f"cannot read traffic config {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"traffic config {path} is not UTF-8 text: {exc}") from None
    if path.suffix == ".json":
        import json

        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"traffic config {path} is not valid JSON: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise InvalidArgument(f"traffic config {path} is not valid YAML: {exc}") from None
    return parse_traffic_config(data, str(path))


def parse_traffic_config(data: Any, where: str = "traffic config") -> TrafficConfig:
    """Build a :class:`TrafficConfig` from plain data (the file's contents)."""
    if not isinstance(data, dict):
        raise InvalidArgument(f"{where}: expected a mapping with 'models', got {type(data).__name__}")
    unknown = set(data) - {"models", "routing_header"}
    if unknown:
        raise InvalidArgument(f"{where}: unknown key(s) {sorted(unknown)}; expected 'models' and 'routing_header'")
    header = data.get("routing_header", DEFAULT_ROUTING_HEADER)
    if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header.lower()):
        raise InvalidArgument(f"{where}: routing_header must be an HTTP header name, got {header!r}")
    models = data.get("models") or {}
    if not isinstance(models, dict):
        raise InvalidArgument(f"{where}: 'models' must map model names to policies")
    policies = {str(name): _policy(body, f"{where}: models.{name}") for name, body in models.items()}
    return TrafficConfig(policies, header.lower())


def _policy(body: Any, where: str) -> TrafficPolicy:
    if not isinstance(body, dict):
        raise InvalidArgument(f"{where}: expected a mapping with 'routes' and optionally 'shadow', 'seed'")
    unknown = set(body) - {"routes", "shadow", "seed"}
    if unknown:
        raise InvalidArgument(f"{where}: unknown key(s) {sorted(unknown)}")
    routes_body = body.get("routes") or {}
    if not isinstance(routes_body, dict):
        raise InvalidArgument(f"{where}.routes: expected a mapping of label or version to weight")
    routes = []
    for target, weight in routes_body.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise InvalidArgument(f"{where}.routes.{target}: weight must be a number >= 0, got {weight!r}")
        routes.append(Route(_target(target, f"{where}.routes"), float(weight)))
    if routes and sum(r.weight for r in routes) <= 0:
        raise InvalidArgument(f"{where}.routes: the weights add up to 0")
    shadow = None
    if body.get("shadow") is not None:
        shadow_body = body["shadow"]
        if not isinstance(shadow_body, dict) or "target" not in shadow_body:
            raise InvalidArgument(f"{where}.shadow: expected {{target: <label or version>, fraction: 0..1}}")
        fraction = shadow_body.get("fraction", 1.0)
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise InvalidArgument(f"{where}.shadow.fraction: must be a number between 0 and 1, got {fraction!r}")
        shadow = Shadow(_target(shadow_body["target"], f"{where}.shadow"), float(fraction))
    if shadow is not None and not routes:
        raise InvalidArgument(f"{where}.shadow: a shadow mirrors routed requests, so the policy needs 'routes'")
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidArgument(f"{where}.seed: must be an integer")
    return TrafficPolicy(tuple(routes), shadow, seed)


def _target(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
        raise InvalidArgument(f"{where}: a target is a version label or a version number, got {value!r}")
    return str(value)


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")  # an HTTP token, lower case


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
