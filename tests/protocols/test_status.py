"""The one error table: codes to HTTP and gRPC, and back for our clients."""

from __future__ import annotations

import grpc

from modelserve.errors import Code, FailedPrecondition, InvalidArgument, RequestTooLarge, error_of_code
from modelserve.protocols.status import code_of, code_of_grpc, code_of_http, grpc_status, http_status_of


def test_http_statuses_follow_tf_servings_table():
    assert http_status_of(InvalidArgument("x")) == 400
    assert http_status_of(FailedPrecondition("x")) == 400
    assert http_status_of(RequestTooLarge("x")) == 413
    assert http_status_of(ValueError("a bug")) == 500


def test_any_other_exception_is_internal():
    assert code_of(ValueError("a bug")) is Code.INTERNAL
    assert code_of(FailedPrecondition("x")) is Code.FAILED_PRECONDITION


def test_rest_answers_are_read_back_by_the_code_header_then_the_table():
    assert code_of_http(400, b"FAILED_PRECONDITION") is Code.FAILED_PRECONDITION  # 400 alone is ambiguous
    assert code_of_http(400) is Code.INVALID_ARGUMENT
    assert code_of_http(400, "NOT_A_CODE") is Code.INVALID_ARGUMENT
    assert code_of_http(502) is Code.UNAVAILABLE and code_of_http(599) is Code.INTERNAL
    assert code_of_http(418) is Code.INVALID_ARGUMENT


def test_grpc_codes_go_both_ways_by_number():
    for code in Code:
        assert code_of_grpc(grpc_status(code)) is code
    assert grpc_status(Code.INTERNAL) is grpc.StatusCode.INTERNAL


def test_error_of_code_builds_the_class_of_the_code():
    assert isinstance(error_of_code(Code.FAILED_PRECONDITION, "m"), FailedPrecondition)
    other = error_of_code(Code.ABORTED, "m")
    assert other.code is Code.ABORTED and other.message == "m"
