"""Drift and ground truth as :class:`~modelserve.serving.service.ModelService` offers them: the monitor
it feeds from every answer (:mod:`modelserve.monitoring.monitor`), ``feedback`` and ``monitoring_report``.

A server's service has a monitor unless both drift (``--drift=false``) and the feedback memory
(``--feedback_memory_requests=0``) are off; a local one (the in-memory API, Beam, streams) has none. The
monitor's figures are exported from the service's metrics registry when scraped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelserve.access.scopes import check_predict
from modelserve.config import ServerConfig
from modelserve.errors import FailedPrecondition, InvalidArgument, NotFound
from modelserve.metrics.collectors import ServingMetrics
from modelserve.monitoring.exposition import MonitorCollector
from modelserve.monitoring.feedback import NOT_REMEMBERED, FeedbackItem
from modelserve.monitoring.monitor import Monitor
from modelserve.monitoring.settings import monitor_settings
from modelserve.types import InferRequest, ModelRef

if TYPE_CHECKING:
    from modelserve.serving.service import ModelService

__all__ = ["Monitored"]

REFERENCE_API = "monitoring_reference"  # the api name of the monitor running a version on its reference


class Monitored:
    """The monitoring part of ModelService (a mixin: it uses the service's catalog and ``infer_now``)."""

    monitor: Monitor | None

    def _monitor_for(self: ModelService, config: ServerConfig, metrics: ServingMetrics) -> Monitor | None:
        if not config.drift and config.feedback_memory_requests <= 0:
            return None
        monitor = Monitor(monitor_settings(config), run_reference=self._run_reference)
        metrics.registry.register(MonitorCollector(monitor, self._version_folders))
        return monitor

    def _run_reference(self: ModelService, model: str, version: int, signature: str, inputs: Mapping) -> Mapping:
        """The monitor's call of a version on its reference inputs, through the input gate but not the
        dispatcher: no request, so nothing counted in the metrics or statistics, and nothing observed."""
        request = InferRequest(ModelRef(model, version), inputs, signature, api=REFERENCE_API)
        with self.catalog.borrow(model, version) as served:
            checked_signature, checked = self._admit(served, request)
            return served.model.run(checked_signature.name, checked)

    def _version_folders(self: ModelService) -> dict[Path, tuple[str, int]]:
        return {
            served.path: (name, number)
            for name in self.model_names()
            for number, served in self.catalog.loaded_versions(name)
        }  # fmt: skip

    async def feedback(self: ModelService, name: str, version: int | None, items: list[FeedbackItem]) -> dict[str, Any]:
        """Join ground truth with the answers given under its request ids (see
        :mod:`modelserve.monitoring.feedback`). NotFound for an unknown model; PermissionDenied for a caller
        that may not run it; FailedPrecondition when the server remembers no answers."""
        check_predict(name)
        if name not in self.model_names():
            raise NotFound(f"Servable not found for request: Latest({name})")
        if self.monitor is None or self.monitor.settings.feedback_memory_requests == 0:
            raise FailedPrecondition("this server remembers no answers for feedback (--feedback_memory_requests=0)")
        if self.peers is None:
            return {"model": name, **await self.monitor.judge(name, version, items)}
        reasons = await self.monitor.reasons(name, version, items)
        asked = [i for i, reason in enumerate(reasons) if reason is not None and reason["reason"] == NOT_REMEMBERED]
        if asked:  # answered by another worker of this server, perhaps: it joins what it remembers
            pending = set(asked)
            answers = await asyncio.to_thread(self.peers.ask, "feedback", (name, version, [items[i] for i in asked]))
            for answer in answers:
                for i, reason in zip(asked, answer):
                    if i in pending and (reason is None or reason["reason"] != NOT_REMEMBERED):
                        reasons[i] = reason
                        pending.discard(i)
        return {"model": name, **self.monitor.summary(name, items, reasons)}

    async def answer_peer(self: ModelService, question: str, arguments: tuple[Any, ...]) -> Any:
        """What another worker of this server asks (:meth:`Peers.ask`): ``"feedback"``, the reasons of
        :meth:`Monitor.reasons` for items it does not remember (empty when this worker has no monitor)."""
        if question != "feedback":
            raise InvalidArgument(f"unknown question {question!r} from a peer")
        name, version, items = arguments
        if self.monitor is None:
            return [{"reason": NOT_REMEMBERED} for _ in items]
        return await self.monitor.reasons(name, version, items)

    def monitoring_report(self: ModelService, name: str) -> dict[str, Any]:
        """Drift per version and feedback scores per version and route (``GET /v1/models/NAME/monitoring``)."""
        if name not in self.model_names():
            raise NotFound(f"Servable not found for request: Latest({name})")
        if self.monitor is None:
            return {"model": name, "drift_enabled": False, "versions": [], "feedback_unmatched_rows": 0}
        return self.monitor.report(name)
