"""Every gRPC handler's wrapper: ServingErrors keep their code, a bug is INTERNAL on the wire and in the metrics."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from modelserve.errors import NotFound
from modelserve.protocols.grpc_common import aborting


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self) -> None:
        self.aborted: tuple[grpc.StatusCode, str] | None = None
        self.trailing: tuple = ()

    def invocation_metadata(self) -> tuple:
        return (("x-request-id", "req-1"),)

    def set_trailing_metadata(self, metadata: tuple) -> None:
        self.trailing = metadata

    async def abort(self, code: grpc.StatusCode, details: str, trailing_metadata: tuple = ()) -> None:
        self.aborted = (code, details)
        self.trailing = trailing_metadata or self.trailing
        raise Aborted


class FakeMetrics:
    def __init__(self) -> None:
        self.statuses: list[str] = []

    def observe_request(self, record, status: str, seconds: float) -> None:
        self.statuses.append(status)


class FakeService:
    def __init__(self) -> None:
        self.metrics = FakeMetrics()
        self.request_log = None


class Api:
    protocol = "grpc"

    def __init__(self) -> None:
        self.service = FakeService()

    @aborting
    async def missing(self, request, context):
        raise NotFound("no such model")

    @aborting
    async def buggy(self, request, context):
        return {}["key"]


@pytest.mark.parametrize(
    ("method", "code", "details", "recorded"),
    [
        ("missing", grpc.StatusCode.NOT_FOUND, "no such model", "NOT_FOUND"),
        ("buggy", grpc.StatusCode.INTERNAL, "Internal error: KeyError: 'key'", "INTERNAL"),
    ],
)
def test_errors_answer_and_record_their_code(method: str, code, details: str, recorded: str):
    api, context = Api(), FakeContext()
    with pytest.raises(Aborted):
        asyncio.run(getattr(api, method)(None, context))
    assert context.aborted == (code, details)
    assert api.service.metrics.statuses == [recorded]
    assert context.trailing == (("x-request-id", "req-1"),)  # the caller's id comes back, errors too
