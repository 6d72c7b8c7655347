"""Which kind each REST path and gRPC method is, and what the door's check counts and audits."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelserve.access.audit import AuditLog
from modelserve.access.authenticator import Authenticator, BadCredentials
from modelserve.access.keys import add_entry
from modelserve.access.scopes import Kind, Scopes
from modelserve.errors import PermissionDenied
from modelserve.protocols import pb
from modelserve.server.access_control import AccessControl, grpc_kind, rest_kind
from modelserve.server.grpc_server import SERVICES

METRICS = {"/metrics", "/monitoring/prometheus/metrics"}


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("GET", "/healthz", Kind.OPEN),
        ("GET", "/readyz", Kind.OPEN),
        ("GET", "/v2/health/live", Kind.OPEN),
        ("GET", "/v2/health/ready", Kind.OPEN),
        ("GET", "/v2/models/digits/ready", Kind.OPEN),
        ("GET", "/v2/models/digits/versions/2/ready", Kind.OPEN),
        ("OPTIONS", "/v1/models/digits:predict", Kind.OPEN),
        ("OPTIONS", "/admin/reload", Kind.ADMIN),
        ("POST", "/v2/health/ready", Kind.ADMIN),  # not a probe: a probe is a GET
        ("GET", "/metrics", Kind.READ),
        ("GET", "/monitoring/prometheus/metrics", Kind.READ),
        ("GET", "/v1/models/digits", Kind.READ),
        ("GET", "/v1/models/digits/metadata", Kind.READ),
        ("GET", "/V1/MODELS/digits/versions/1", Kind.READ),
        ("GET", "/v1/models", Kind.READ),
        ("POST", "/v1/models/digits:predict", Kind.PREDICT),
        ("POST", "/v1/models/digits/labels/stable:classify", Kind.PREDICT),
        ("POST", "/V1/models/digits:regress", Kind.PREDICT),
        ("GET", "/v2", Kind.READ),
        ("GET", "/v2/models/digits", Kind.READ),
        ("GET", "/v2/models/digits/config", Kind.READ),
        ("GET", "/v2/models/stats", Kind.READ),
        ("POST", "/v2/repository/index", Kind.READ),
        ("POST", "/v2/models/digits/infer", Kind.PREDICT),
        ("POST", "/v2/models/digits/versions/3/infer", Kind.PREDICT),
        ("POST", "/v2/systemsharedmemory/region/r0/register", Kind.PREDICT),
        ("GET", "/v2/systemsharedmemory/status", Kind.PREDICT),
        ("POST", "/v2/repository/models/digits/load", Kind.ADMIN),
        ("POST", "/v2/repository/models/digits/unload", Kind.ADMIN),
        ("POST", "/v2/trace/setting", Kind.ADMIN),
        ("DELETE", "/v2/models/digits", Kind.ADMIN),
        ("GET", "/admin/config", Kind.ADMIN),
        ("PUT", "/admin/traffic", Kind.ADMIN),
        ("GET", "/admin", Kind.ADMIN),
        ("GET", "/", Kind.OPEN),  # to the web page, which signs people in itself
        ("GET", "/ui/", Kind.OPEN),
        ("POST", "/ui/gradio_api/queue/join", Kind.OPEN),
        ("GET", "/uix", Kind.AUTHENTICATED),
        ("GET", "/administrator", Kind.AUTHENTICATED),
        ("GET", "/healthz/../v1/models", Kind.AUTHENTICATED),
    ],
)
def test_rest_kinds(method: str, path: str, kind: Kind) -> None:
    assert rest_kind(method, path, METRICS) is kind


def test_every_grpc_method_we_serve_has_a_kind() -> None:
    kinds = {}
    for service in SERVICES:
        for method in pb.POOL.FindServiceByName(service).methods:
            kinds[method.name] = grpc_kind(f"/{service}/{method.name}")
    assert Kind.AUTHENTICATED not in kinds.values(), kinds
    assert {m for m, k in kinds.items() if k is Kind.OPEN} == {"ServerLive", "ServerReady", "ModelReady"}
    assert {m for m, k in kinds.items() if k is Kind.ADMIN} >= {
        "HandleReloadConfigRequest", "RepositoryModelLoad", "RepositoryModelUnload"
    }  # fmt: skip
    assert kinds["Predict"] is kinds["ModelInfer"] is kinds["SystemSharedMemoryRegister"] is Kind.PREDICT
    assert kinds["GetModelStatus"] is kinds["ModelMetadata"] is kinds["RepositoryIndex"] is Kind.READ
    assert grpc_kind("/grpc.health.v1.Health/Check") is Kind.OPEN
    assert grpc_kind("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") is Kind.OPEN
    assert grpc_kind("/other.Service/Method") is Kind.AUTHENTICATED


def test_the_door_check_counts_and_audits_refusals(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    key = add_entry(keys, "app", Scopes.parse("predict:digits"))
    counted: list[str] = []
    audit = AuditLog(tmp_path / "audit.jsonl")
    access = AccessControl(Authenticator(keys), audit, counted.append)
    try:
        assert access.admit(Kind.OPEN, None, None, "10.0.0.1", "rest", "GET /healthz") is None
        assert access.admit(Kind.PREDICT, f"Bearer {key}", None, "10.0.0.1", "rest", "POST x").name == "app"
        with pytest.raises(BadCredentials):
            access.admit(Kind.PREDICT, None, None, "10.0.0.1", "grpc", "/inference.GRPCInferenceService/ModelInfer")
        with pytest.raises(PermissionDenied, match="needs the 'read' scope"):
            access.admit(Kind.READ, f"Bearer {key}", None, "10.0.0.2", "rest", "GET /v2")
    finally:
        audit.close()
    assert counted == ["missing_key", "scope"]
    text = (tmp_path / "audit.jsonl").read_text()
    assert '"outcome":"missing_key"' in text and '"who":"app"' in text and '"outcome":"denied"' in text
    assert key not in text


def test_without_keys_nothing_is_checked() -> None:
    access = AccessControl(None, AuditLog())
    assert not access.enabled
    assert access.admit(Kind.ADMIN, None, None, "10.0.0.1", "rest", "POST /admin/reload") is None
