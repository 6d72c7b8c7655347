"""Releases in the serving core: which version a request without a version goes to, and shadow traffic.

:class:`Releases` holds the traffic policies (:class:`~modelserve.config.TrafficConfig`) and one
:class:`~modelserve.serving.traffic.Router` per model. :meth:`ModelService.infer` asks :meth:`choose` for a
request that names neither a version nor a label, and calls :meth:`after_run` once the routed request has
answered: the route is counted, and a share of the requests is mirrored to the shadow version (in the
background, through :meth:`Dispatcher.mirror`), its answer compared with the served one and never returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

import numpy as np

from modelserve.config import TrafficConfig
from modelserve.errors import ServingError
from modelserve.metrics.collectors import ServingMetrics
from modelserve.serving.dispatch import Dispatcher
from modelserve.serving.handle import ServedVersion
from modelserve.serving.traffic import Router, TrafficStats, compare_outputs

log = logging.getLogger(__name__)


class Releases:
    """Traffic policies and their routers; thread-safe (policies are swapped whole)."""

    def __init__(self, dispatcher: Dispatcher, metrics: ServingMetrics | None = None) -> None:
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._traffic = TrafficConfig()
        self._routers: dict[str, Router] = {}
        self.stats = TrafficStats()

    @property
    def traffic(self) -> TrafficConfig:
        return self._traffic

    def set_traffic(self, traffic: TrafficConfig) -> None:
        """Route by ``traffic`` from now on. Routers whose policy did not change keep their random state."""
        routers = {}
        for name, policy in traffic.policies.items():
            router = self._routers.get(name)
            routers[name] = router if router is not None and router.policy == policy else Router(policy)
        self._traffic, self._routers = traffic, routers

    def has_policy(self, model: str) -> bool:
        return model in self._routers

    def choose(
        self, model: str, resolve: Callable[[str], int | None], routing_key: str | None
    ) -> tuple[str, int] | None:
        """``(route, version)`` for a request to ``model`` that named no version, or None (no policy, or no
        route resolves: the newest version serves)."""
        router = self._routers.get(model)
        if router is None:
            return None
        return router.choose(resolve, routing_key)

    def after_run(
        self,
        served: ServedVersion,
        route: str,
        signature: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Mapping[str, np.ndarray],
        served_seconds: float,
        resolve: Callable[[str], int | None],
        borrow: Callable[[int], ServedVersion],
    ) -> None:
        """Count a routed request and maybe mirror it to the shadow version (see the module docstring)."""
        name = served.model_name
        if self._metrics is not None:
            self._metrics.observe_route(name, route, served.version)
        self.stats.routed(name, route, served.version)
        router = self._routers.get(name)
        version = None if router is None else router.shadow_version(resolve, served.version)
        if version is None:
            return
        try:
            shadow = borrow(version)
        except ServingError:
            return

        def call() -> None:
            started = time.perf_counter()
            try:
                answer = shadow.model.run(signature, inputs)
            except Exception as exc:  # a shadow's failure is recorded, never raised
                log.warning("shadow call to %s version %d failed: %s", name, version, exc)
                self._record(name, version, "error")
                return
            finally:
                shadow.give_back()
            seconds = time.perf_counter() - started
            outcome, diff = compare_outputs(outputs, answer)
            self._record(name, version, outcome, diff, served_seconds, seconds)

        if not self._dispatcher.mirror(call):
            shadow.give_back()
            self._record(name, version, "skipped")

    def _record(
        self, name: str, version: int, outcome: str, diff: float = 0.0, served: float = 0.0, seconds: float = 0.0
    ) -> None:
        self.stats.shadowed(name, version, outcome, diff, served, seconds)
        if self._metrics is not None:
            self._metrics.observe_shadow(name, version, outcome, diff, seconds)
