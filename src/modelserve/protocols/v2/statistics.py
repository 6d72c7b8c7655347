"""The statistics extension (Triton's): ``GET /v2/models[/{m}[/versions/{v}]]/stats`` and ``ModelStatistics``.

Both doors answer from :meth:`ModelService.statistics <modelserve.serving.service.ModelService.statistics>`
with Triton's field names (``model_stats`` of ``name``, ``version`` as a string, ``last_inference`` in ms
since the epoch, ``inference_count``, ``execution_count``, ``inference_stats`` with its eight ``{count, ns}``
durations, ``batch_stats`` by batch size, ``memory_usage``). Without a version, every loaded version of the
model; without a name, every model. What each duration measures: :mod:`modelserve.serving.statistics`.
An unknown model, or one with no loaded version, is NotFound with Triton's text.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from modelserve.errors import NotFound
from modelserve.protocols import pb
from modelserve.serving.service import ModelService
from modelserve.serving.statistics import Duration, StatisticsSnapshot

__all__ = ["statistics_document", "statistics_message"]


def statistics_document(service: ModelService, name: str = "", version: int | None = None) -> dict[str, Any]:
    """``{"model_stats": [...]}`` for the REST door (and, parsed into the message, for gRPC)."""
    try:
        found = service.statistics(name, version)
    except NotFound:
        found = []
    if name and not found:
        if version is not None and service.available_versions(name):
            raise NotFound(f"requested model version is not available for model '{name}'")
        raise NotFound(f"requested model '{name}' is not available")
    return {"model_stats": [_model_stats(n, v, s) for n, v, s in found]}


def statistics_message(service: ModelService, name: str = "", version: int | None = None) -> Any:
    """The same, as a ``ModelStatisticsResponse``."""
    return json_format.ParseDict(statistics_document(service, name, version), pb.ModelStatisticsResponse())


def _duration(duration: Duration) -> dict[str, int]:
    return {"count": duration.count, "ns": duration.ns}


def _model_stats(name: str, version: int, stats: StatisticsSnapshot) -> dict[str, Any]:
    zero = {"count": 0, "ns": 0}
    return {
        "name": name,
        "version": str(version),
        "last_inference": stats.last_inference_ms,
        "inference_count": stats.inference_count,
        "execution_count": stats.execution_count,
        "inference_stats": {
            "success": _duration(stats.success),
            "fail": _duration(stats.fail),
            "queue": _duration(stats.queue),
            "compute_input": _duration(stats.compute_input),
            "compute_infer": _duration(stats.compute_infer),
            "compute_output": _duration(stats.compute_output),
            "cache_hit": dict(zero),
            "cache_miss": dict(zero),
        },
        "batch_stats": [
            {
                "batch_size": batch.batch_size,
                "compute_input": _duration(batch.compute_input),
                "compute_infer": _duration(batch.compute_infer),
                "compute_output": _duration(batch.compute_output),
            }
            for batch in stats.batches
        ],
        "memory_usage": [],
    }
