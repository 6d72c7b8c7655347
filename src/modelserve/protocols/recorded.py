"""Calls into the serving core that also fill in the request's metrics record (model, version, signature,
route), shared by every front door so each records a call the same way."""

from __future__ import annotations

from modelserve.metrics.record import note
from modelserve.serving.service import ModelService
from modelserve.types import InferRequest, InferResponse, ModelRef, ModelView


async def infer(service: ModelService, request: InferRequest) -> InferResponse:
    """:meth:`ModelService.infer`, noting what answered."""
    note(model=request.ref.name)
    response = await service.infer(request)
    note(version=str(response.version), signature=response.signature, route=response.route)
    return response


def describe(service: ModelService, ref: ModelRef) -> ModelView:
    """:meth:`ModelService.describe`, noting the version described."""
    note(model=ref.name)
    view = service.describe(ref)
    note(version=str(view.version))
    return view
