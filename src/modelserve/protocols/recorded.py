"""Calls into the serving core that also fill in the request's metrics record with what answered (version,
signature, route), shared by every front door. The door itself notes the model it was asked for, before it
decodes anything, so a refused body still counts for its model."""

from __future__ import annotations

from modelserve.metrics.record import note
from modelserve.serving.service import ModelService
from modelserve.types import InferRequest, InferResponse, ModelRef, ModelView


async def infer(service: ModelService, request: InferRequest) -> InferResponse:
    """:meth:`ModelService.infer`, noting what answered."""
    response = await service.infer(request)
    note(version=str(response.version), signature=response.signature, route=response.route)
    return response


def describe(service: ModelService, ref: ModelRef) -> ModelView:
    """:meth:`ModelService.describe`, noting the version described."""
    view = service.describe(ref)
    note(version=str(view.version))
    return view
