"""modelserve's ``MonitoringService`` over gRPC (``protos/modelserve/monitoring.proto``): ground-truth
feedback and the monitoring report, the same calls as the REST door's ``:feedback`` and ``/monitoring``.

    stub call: /modelserve.MonitoringService/Feedback
        FeedbackRequest(model_name="digits", feedback=[FeedbackItem(request_id="r1", labels=[{class_id: 3}])])
"""

from __future__ import annotations

import json
from typing import Any

import grpc

from modelserve.errors import InvalidArgument
from modelserve.metrics.record import note
from modelserve.monitoring.feedback import FeedbackItem, parse_feedback
from modelserve.protocols import pb
from modelserve.protocols.grpc_common import aborting, unary_service
from modelserve.serving.service import ModelService

__all__ = ["SERVICE", "MonitoringGrpcApi", "generic_handlers"]

SERVICE = "modelserve.MonitoringService"
FeedbackRequest = pb.message_class("modelserve.FeedbackRequest")
FeedbackResponse = pb.message_class("modelserve.FeedbackResponse")
GetMonitoringRequest = pb.message_class("modelserve.GetMonitoringRequest")
GetMonitoringResponse = pb.message_class("modelserve.GetMonitoringResponse")


def _items(request: Any) -> list[FeedbackItem]:
    """The request's items, checked by the same rules as the REST body."""
    feedback = []
    for item in request.feedback:
        labels = []
        for label in item.labels:
            kind = label.WhichOneof("label")
            if kind is None:
                raise InvalidArgument(
                    f"feedback for {item.request_id!r}: a label sets none of class_id, class_name, value"
                )
            labels.append(getattr(label, kind))
        entry: dict[str, Any] = {"request_id": item.request_id}
        if item.HasField("row"):  # one label for one row (parse_feedback refuses another count)
            entry.update(row=item.row, label=labels[0] if len(labels) == 1 else labels)
        else:
            entry["labels"] = labels
        feedback.append(entry)
    return parse_feedback({"feedback": feedback})


class MonitoringGrpcApi:
    protocol = "grpc"

    def __init__(self, service: ModelService) -> None:
        self.service = service

    @aborting
    async def feedback(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        note(api="feedback", model=request.model_name)
        if not request.model_name:
            raise InvalidArgument("Missing model name in request.")
        if request.version < 0:
            raise InvalidArgument(f"version must be 0 (any) or a version number, got {request.version}")
        answer = await self.service.feedback(request.model_name, request.version or None, _items(request))
        response = FeedbackResponse(model_name=request.model_name, rows=answer["rows"], matched=answer["matched"])
        for refused in answer["unmatched"]:
            response.unmatched.add(request_id=refused["request_id"], reason=refused["reason"])
        return response

    @aborting
    async def get_monitoring(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        note(api="monitoring", model=request.model_name)
        return GetMonitoringResponse(report_json=json.dumps(self.service.monitoring_report(request.model_name)))


def generic_handlers(api: MonitoringGrpcApi) -> list[grpc.GenericRpcHandler]:
    return [
        unary_service(
            SERVICE,
            {"Feedback": (api.feedback, FeedbackRequest), "GetMonitoring": (api.get_monitoring, GetMonitoringRequest)},
        )
    ]
