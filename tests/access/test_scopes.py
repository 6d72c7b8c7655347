"""Scope strings, what each scope allows, and the serving core's model check."""

from __future__ import annotations

import pytest

from modelserve.access.scopes import PRINCIPAL, Identity, Kind, Scopes, check_predict, check_signature_lookup
from modelserve.errors import InvalidArgument, PermissionDenied


def test_parse_and_print_round_trip() -> None:
    scopes = Scopes.parse(" predict:digits*, predict:half_plus_two ,read")
    assert scopes == Scopes(predict=("digits*", "half_plus_two"), read=True)
    assert str(scopes) == "predict:digits*,predict:half_plus_two,read"
    assert Scopes.parse("predict") == Scopes(predict=("*",))
    assert str(Scopes.parse("admin")) == "admin"


@pytest.mark.parametrize("text", ["", " , ", "write", "read:x", "predict:", "admin:all", "Predict"])
def test_unknown_or_empty_scopes_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument, match="scope"):
        Scopes.parse(text)


def test_what_each_scope_allows() -> None:
    predict, read, admin = Scopes.parse("predict:digits*"), Scopes.parse("read"), Scopes.parse("admin")
    assert [predict.allows(k) for k in Kind] == [True, True, False, True, False]
    assert [read.allows(k) for k in Kind] == [True, True, True, False, False]
    assert all(admin.allows(k) for k in Kind)
    assert predict.may_predict("digits_onnx") and not predict.may_predict("half_plus_two")
    assert not predict.may_predict("Digits") and not read.may_predict("digits")
    assert admin.may_predict("anything")


def test_the_core_checks_the_model_only_for_a_caller() -> None:
    check_predict("anything")  # no caller: in process
    token = PRINCIPAL.set(Identity("app", Scopes.parse("predict:digits*")))
    try:
        check_predict("digits_onnx")
        with pytest.raises(PermissionDenied, match="'app' may not run model 'multiply'"):
            check_predict("multiply")
        with pytest.raises(PermissionDenied):
            check_signature_lookup("multiply")
        check_signature_lookup("digits_tflite")
    finally:
        PRINCIPAL.reset(token)
    token = PRINCIPAL.set(Identity("reader", Scopes.parse("read")))
    try:
        check_signature_lookup("multiply")  # metadata readers see every signature
        with pytest.raises(PermissionDenied):
            check_predict("multiply")
    finally:
        PRINCIPAL.reset(token)
