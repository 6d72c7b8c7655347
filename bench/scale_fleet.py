"""One policy's fleet in ``bench/scale_sim.py``'s simulation: replicas, their caches of loaded models,
placement, the balancer, canary configuration and the autoscaler, advanced tick by tick.

State is kept as [replica, model] arrays (MB held, when each load ends, last use, use frequency, pinned,
placed) so that one tick is a handful of numpy operations whatever the fleet's size. What a tick does is
described in ``bench/scale_sim.py``'s docstring and in docs/scale.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scale_sim import Params, Policy, World


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a well-spread 64-bit hash of each uint64."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def seg_cumsum(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``values`` that restart where ``groups`` (sorted) changes."""
    total = np.cumsum(values, dtype=float)
    if not len(values):
        return total
    starts = np.r_[0, np.nonzero(groups[1:] != groups[:-1])[0] + 1]
    return total - np.repeat(total[starts] - values[starts], np.diff(np.r_[starts, len(values)]))


class Fleet:
    """One policy's replicas and caches, advanced tick by tick; :meth:`run` returns the figures."""

    def __init__(self, p: Params, w: World, policy: Policy) -> None:
        self.p, self.w, self.policy = p, w, policy
        self.rng = np.random.default_rng([p.seed, sum(map(ord, policy.name))])
        r, m, c = p.max_replicas, p.models, len(w.canary)
        self.cap = p.replica_gib * 1024
        self.held = np.zeros((r, m))  # MB of model m held on replica r (0: not loaded)
        self.ready = np.zeros((r, m))  # when its stable version is loaded
        self.last = np.full((r, m), -np.inf)
        self.freq = np.zeros((r, m))
        self.pinned = np.zeros((r, m), bool)
        self.assigned = np.zeros((r, m), bool)
        self.home = np.full(m, -1)
        self.busy = np.zeros(r)  # the replica's load queue is busy until then
        self.active = np.arange(r) < p.replicas
        self.starting = np.full(r, np.inf)
        self.config_at = np.full(r, np.inf)  # when the replica applies the canary's config
        self.configured = np.zeros(r, bool)
        self.canary_from = np.full((r, c), np.inf)  # when the canary version is loaded there
        self.is_canary = np.full(m, -1)
        self.is_canary[w.canary] = np.arange(c)
        self.tables: dict[tuple, np.ndarray] = {}
        self.edges = np.r_[0.0, np.logspace(-3, 3, 241)]  # added latency histogram, seconds
        self.hist = np.zeros(len(self.edges) - 1)
        self.s = dict.fromkeys(("requests", "waited", "rejected", "colds", "preloads", "evictions"), 0.0)
        self.s |= dict.fromkeys(("mem", "replicas", "ticks", "overloaded", "peak"), 0.0)
        self.keys = np.zeros((2, c, p.keys, 2))  # [window, canary model, key, version]: requests
        self.backs = np.zeros((2, c, p.keys))  # changes from canary back to stable
        self.last_version = np.zeros((c, p.keys), np.int8)
        self.window = np.zeros((max(1, round(p.metric_window_s / p.tick_s)), r))  # in flight per tick
        self.age = np.zeros(r)  # ticks of history per replica in the window
        self.measuring = self.replan = False
        self.recommendations: list[tuple[float, int]] = []

    # ---- memory ----

    def admit(self, rs: np.ndarray, need: np.ndarray, t: float) -> np.ndarray:
        """Make room for ``need[i]`` MB on replica ``rs[i]`` (``rs`` sorted; in order within a replica) by
        evicting the least recently / frequently used models not pinned, loading or used in this tick.
        Returns which fit; once one does not fit on a replica, the later ones there do not either."""
        rows = np.unique(rs)
        g = np.searchsorted(rows, rs)
        free = self.cap - self.held[rows].sum(axis=1)
        movable = (self.held[rows] > 0) & ~self.pinned[rows] & (self.last[rows] < t) & (self.ready[rows] <= t)
        ri, mi = np.nonzero(movable)
        order = np.lexsort(((self.last if self.policy.eviction == "lru" else self.freq)[rows[ri], mi], ri))
        ri, mi = ri[order], mi[order]
        mb = self.held[rows[ri], mi]
        ok = seg_cumsum(g, need) <= free[g] + np.bincount(ri, mb, minlength=len(rows))[g]
        short = np.bincount(g, need * ok, minlength=len(rows)) - free
        out = seg_cumsum(ri, mb) - mb < short[ri]  # evicted: what went before it does not cover the shortfall
        vr, vm = rows[ri[out]], mi[out]
        self.held[vr, vm] = 0
        c = self.is_canary[vm]
        self.canary_from[vr[c >= 0], c[c >= 0]] = np.inf
        self.s["evictions"] += out.sum() * self.measuring
        return ok

    def queue(self, rs: np.ndarray, seconds: np.ndarray, t: float) -> np.ndarray:
        """Loads run one at a time per replica (``rs`` sorted): when each of these ends."""
        ends = np.maximum(t, self.busy[rs]) + seg_cumsum(rs, seconds)
        if len(rs):
            last = np.r_[rs[1:] != rs[:-1], True]
            self.busy[rs[last]] = ends[last]
        return ends

    def load(self, rs: np.ndarray, ms: np.ndarray, t: float, preload: bool = False) -> np.ndarray:
        """Load model ``ms[i]`` on replica ``rs[i]`` (sorted by replica), its canary too once the replica is
        configured for it (after the stable version); returns which fit."""
        versions = np.where((self.is_canary[ms] >= 0) & self.configured[rs], 2, 1)
        ok = self.admit(rs, self.w.mem[ms] * versions, t)
        r, m, v = rs[ok], ms[ok], versions[ok]
        ends = self.queue(r, self.w.cold[m] * v, t)
        self.held[r, m] = self.w.mem[m] * v
        self.ready[r, m] = ends - self.w.cold[m] * (v - 1)
        self.canary_from[r[v == 2], self.is_canary[m[v == 2]]] = ends[v == 2]
        self.s["preloads" if preload else "colds"] += len(r) * self.measuring
        return ok

    # ---- placement and routing ----

    def place(self, t: float, lam: np.ndarray) -> None:
        """all: every replica; hash3: the first 3 active replicas in the model's rendezvous order; packed:
        hot models pinned (preloaded) on k replicas by their load, the others on one home replica, the
        emptier of their first two (kept while it lives), loaded on demand."""
        p, w, kind = self.p, self.w, self.policy.placement
        if kind == "all":
            self.assigned[:] = self.active[:, None]
            return
        act = self.active[w.order]  # [model, i]: whether the i-th replica in the model's order is active
        k = np.full(p.models, 3)
        if kind == "packed":
            k = np.ceil(lam * w.svc / (p.hot_share * p.target_in_flight)).astype(int)
            k = np.where(lam >= p.hot_rps, np.maximum(k, 2), 1)
        chosen = np.zeros((p.models, p.max_replicas), bool)
        np.put_along_axis(chosen, w.order, act & (np.cumsum(act, axis=1) <= k[:, None]), axis=1)
        if kind == "hash3":
            self.assigned[:] = chosen.T
            return
        pinned_mb, pinned = np.zeros(p.max_replicas), np.zeros_like(self.pinned)
        for m in np.nonzero(k >= 2)[0]:  # hot models, busiest first
            candidates = w.order[m][act[m]]
            fits = candidates[pinned_mb[candidates] + w.mem[m] <= p.pin_share * self.cap][: k[m]]
            pinned[fits, m] = True
            pinned_mb[fits] += w.mem[m]
        k[(k >= 2) & ~pinned.any(axis=0)] = 1  # no room to pin it anywhere: a home, on demand
        assigned_mb = pinned_mb.copy()
        for m in np.nonzero(k < 2)[0]:
            if self.home[m] < 0 or not self.active[self.home[m]]:
                first_two = w.order[m][act[m]][:2]
                self.home[m] = first_two[np.argmin(assigned_mb[first_two])]
            assigned_mb[self.home[m]] += w.mem[m]
        self.home[k >= 2] = -1
        cold = np.nonzero(self.home >= 0)[0]
        self.assigned[:] = pinned
        self.assigned[self.home[cold], cold] = True
        rs, ms = np.nonzero(pinned & ~self.pinned & (self.held == 0))
        self.pinned[:] = pinned
        self.pinned[rs, ms] = self.load(rs, ms, t, preload=True)

    def routed(self, t: float) -> np.ndarray:
        """[replica, model]: where the balancer sends a model's requests. Packed placement is gated on
        readiness, make-before-break: a replica gets a model once every version its traffic policy names
        is loaded there, and copies no longer placed keep serving while the new ones load."""
        routed = self.assigned & self.active[:, None]
        if self.policy.placement == "packed":
            ready, c = self.ready.copy(), self.w.canary
            ready[:, c] = np.where(self.configured[:, None], np.maximum(ready[:, c], self.canary_from), ready[:, c])
            loading = (self.held > 0) & (ready > t)
            old = (self.held > 0) & ~loading & ~routed & self.active[:, None] & (routed & loading).any(axis=0)
            gated = (routed & ~loading) | old
            routed = np.where(gated.any(axis=0)[None, :], gated, routed)
        return routed

    def table(self, reps: tuple) -> np.ndarray:
        """key -> replica: the balancer's rendezvous hashing of the routing key over ``reps``."""
        if reps not in self.tables:
            r = np.array(reps, dtype=int)
            self.tables[reps] = r[np.argmin(mix64(self.w.key_hash[:, None] ^ self.w.replica_hash[None, r]), axis=1)]
        return self.tables[reps]

    # ---- one tick ----

    def configure(self, t: float) -> None:
        """The canary's config reaches each replica at its own time; a loaded stable gets its canary beside it."""
        p, w, t0 = self.p, self.w, self.p.canary_at_minutes * 60
        if t0 <= t < t0 + p.tick_s:
            self.config_at[self.active] = t0 + self.rng.uniform(0, p.config_skew_s, int(self.active.sum()))
        now = self.active & ~self.configured & (self.config_at <= t) & (t >= t0)
        if now.any():
            self.configured |= now
            rs, js = np.nonzero(now[:, None] & (self.held[:, w.canary] > 0))
            ok = self.admit(rs, w.mem[w.canary[js]], t)
            rs, js = rs[ok], js[ok]
            self.held[rs, w.canary[js]] += w.mem[w.canary[js]]
            self.canary_from[rs, js] = self.queue(rs, w.cold[w.canary[js]], t)

    def tick(self, t: float) -> None:
        p, w, dt = self.p, self.w, self.p.tick_s
        step, t0 = round(t / dt), p.canary_at_minutes * 60
        self.measuring = t >= p.warmup_minutes * 60
        lam = w.base_rps * w.weight * float(np.interp(t / 60, *zip(*p.profile)))
        joined = self.starting <= t
        self.active |= joined
        self.starting[joined] = np.inf
        self.config_at[joined] = t
        self.configure(t)
        if joined.any() or self.replan or step % round(p.hpa_period_s / dt) == 0:
            self.place(t, lam)
            self.replan = False
        routed = self.routed(t)
        assert routed.any(axis=0).all(), "a model with no replica"
        routed_c = routed[:, w.canary].copy()
        routed[:, w.canary] = False
        rs, ms = np.nonzero(routed)
        n = self.rng.poisson(lam[ms] * dt / routed.sum(axis=0)[ms]).astype(float)
        draws = []
        for j, m in enumerate(w.canary):
            reps = np.nonzero(routed_c[:, j])[0]
            keys = np.searchsorted(w.key_cdf, self.rng.random(self.rng.poisson(lam[m] * dt)))
            if self.policy.balancer == "round-robin":
                to = reps[self.rng.integers(0, len(reps), len(keys))]
            else:
                to = self.table(tuple(reps))[keys]
            draws.append((j, m, keys, to))
            per = np.bincount(to, minlength=p.max_replicas)
            hit = np.nonzero(per)[0]
            rs, ms, n = np.r_[rs, hit], np.r_[ms, np.full(len(hit), m)], np.r_[n, per[hit]]
        rs, ms, n = rs[n > 0], ms[n > 0], n[n > 0]
        waits = self.serve(rs, ms, n, t)
        for j, m, keys, to in draws:
            keys, to = keys[self.held[to, m] > 0], to[self.held[to, m] > 0]  # the rejected saw no version
            version = w.key_canary[keys] & (self.canary_from[to, j] <= np.maximum(t, self.ready[to, m]))
            if t >= t0:
                self.track(j, keys, version.astype(np.int8), int(t >= t0 + p.rollout_minutes * 60))
        in_flight = np.bincount(rs, n * w.svc[ms] + waits, minlength=p.max_replicas) / dt
        live = self.active
        self.window[step % len(self.window)] = in_flight
        self.age = np.where(live, np.minimum(self.age + 1, len(self.window)), 0)
        if self.measuring:
            for key, value in (("mem", (self.held[live].sum(axis=1) / self.cap).mean()), ("replicas", live.sum())):
                self.s[key] += float(value)
            self.s["ticks"] += 1
            self.s["peak"] = max(self.s["peak"], int(live.sum()))
            self.s["overloaded"] += int((in_flight[live] > p.slots).sum())
            if step % round(p.hpa_period_s / dt) == 0:
                self.autoscale(t)

    def serve(self, rs: np.ndarray, ms: np.ndarray, n: np.ndarray, t: float) -> np.ndarray:
        """Loads what is missing, counts hits and waits; returns each pair's summed wait (s)."""
        dt = self.p.tick_s
        self.last[rs, ms] = t
        self.freq *= 0.98
        self.freq[rs, ms] += n
        rejected = np.zeros(len(rs), bool)
        miss = np.nonzero(self.held[rs, ms] == 0)[0]
        miss = miss[np.lexsort((-n[miss], rs[miss]))]  # per replica, the busiest pairs first
        rejected[miss] = ~self.load(rs[miss], ms[miss], t)
        left = self.ready[rs, ms] - t  # > 0: the pair's load is not done; arrivals are uniform in the tick
        hi, lo = np.clip(left, 0, None), np.clip(left - dt, 0, None)
        waiting = n * np.where(left > 0, np.minimum(left / dt, 1.0), 0.0) * ~rejected
        if self.measuring:
            self.s["requests"] += float(n.sum())
            self.s["rejected"] += float(n[rejected].sum())
            self.s["waited"] += float(waiting.sum())
            sel = waiting > 0
            if sel.any():  # each pair's waits are uniform on [lo, hi]
                e, a, b = self.edges, lo[sel, None], hi[sel, None]
                overlap = np.clip(np.minimum(b, e[None, 1:]) - np.maximum(a, e[None, :-1]), 0, None)
                self.hist += (waiting[sel, None] * overlap / np.maximum(b - a, 1e-12)).sum(axis=0)
        return waiting * (lo + hi) / 2

    def track(self, j: int, keys: np.ndarray, version: np.ndarray, window: int) -> None:
        """Per routing key: requests per version, and changes from canary back to stable."""
        if not len(keys):
            return
        order = np.argsort(keys, kind="stable")
        ks, vs = keys[order], version[order]
        first = np.r_[True, ks[1:] != ks[:-1]]
        prev = np.where(first, self.last_version[j, ks], np.r_[0, vs[:-1]])
        for v in (0, 1):
            self.keys[window, j, :, v] += np.bincount(ks[vs == v], minlength=self.p.keys)
        self.backs[window, j] += np.bincount(ks[(prev == 1) & (vs == 0)], minlength=self.p.keys)
        final = np.r_[ks[1:] != ks[:-1], True]
        self.last_version[j, ks[final]] = vs[final]

    def autoscale(self, t: float) -> None:
        """The HPA's rule for a Pods metric with an AverageValue target: each pod's
        modelserve_in_flight_requests averaged over the metric window (a new pod's over its life so far),
        desired = ceil(sum / target) unless within the tolerance; scale-down takes the highest
        recommendation of the stabilization window."""
        p, live = self.p, self.active
        total = float((self.window[:, live].sum(axis=0) / np.maximum(self.age[live], 1)).sum())
        current, pending = int(live.sum()), int(np.isfinite(self.starting).sum())
        ratio = total / (current * p.target_in_flight)
        desired = current if abs(ratio - 1) <= p.hpa_tolerance else int(np.ceil(total / p.target_in_flight))
        desired = int(np.clip(desired, p.min_replicas, p.max_replicas))
        self.recommendations = [(s, d) for s, d in self.recommendations if s > t - p.scale_down_window_s]
        self.recommendations.append((t, desired))
        if desired > current + pending:
            free = np.nonzero(~live & ~np.isfinite(self.starting))[0]
            self.starting[free[: min(desired - current - pending, max(4, current))]] = t + p.pod_start_s
        elif pending == 0 and (down := max(d for _, d in self.recommendations)) < current:
            gone = np.nonzero(live)[0][down:]
            self.active[gone] = self.configured[gone] = self.pinned[gone] = self.assigned[gone] = False
            self.held[gone] = self.busy[gone] = 0
            self.canary_from[gone] = self.config_at[gone] = np.inf
            self.replan = True

    def run(self) -> dict:
        for step in range(round(self.p.minutes * 60 / self.p.tick_s)):
            self.tick(step * self.p.tick_s)
        s, minutes, total = self.s, self.p.minutes - self.p.warmup_minutes, self.s["requests"]
        served = total - s["rejected"]  # added latency is over the requests that were answered
        zero = served - self.hist.sum()
        cum = (zero + np.cumsum(self.hist)) / served

        def quantile(q: float) -> float:
            return 0.0 if zero / served >= q else float(self.edges[1:][np.searchsorted(cum, q)]) * 1e3

        out = {
            "replicas_mean": s["replicas"] / s["ticks"],
            "replicas_peak": s["peak"],
            "memory_utilisation": s["mem"] / s["ticks"],
            "cache_hit_ratio": 1 - (s["waited"] + s["rejected"]) / total,
            "rejected_share": s["rejected"] / total,
            "cold_starts_per_min": s["colds"] / minutes,
            "preloads_per_min": s["preloads"] / minutes,
            "evictions_per_min": s["evictions"] / minutes,
            "added_p99_ms": quantile(0.99),
            "added_p999_ms": quantile(0.999),
            "overloaded_share": s["overloaded"] / s["replicas"],
        }
        for window, label in ((0, "rollout"), (1, "after")):
            counts = self.keys[window][:, self.w.key_canary]  # the canary-share keys; the others stay stable
            seen = max(float(counts.sum()), 1.0)
            out[f"sticky_{label}"] = float(counts.max(axis=-1).sum()) / seen
            out[f"flip_backs_{label}_per_1k"] = 1000 * float(self.backs[window][:, self.w.key_canary].sum()) / seen
        return out
