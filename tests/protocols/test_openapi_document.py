"""The OpenAPI document (``modelserve/protocols/openapi.json``) is valid OpenAPI 3.1 and lists every route the
REST door serves (the list below; tests/integration/server/test_openapi_routes.py checks the server routes each
GET of the document)."""

from __future__ import annotations

import json
from importlib.resources import files

from openapi_spec_validator import validate

# (method, path template): every route of server/app.py, tfs/rest.py, v2/rest.py and server/admin.py.
_TFS_MODEL = ("/v1/models/{name}", "/v1/models/{name}/versions/{version}", "/v1/models/{name}/labels/{label}")
_V2_MODEL = ("/v2/models/{name}", "/v2/models/{name}/versions/{version}")
ROUTES = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/monitoring/prometheus/metrics"),
    ("get", "/openapi.json"),
    ("get", "/v1/models"),
    *{("get", base) for base in _TFS_MODEL},
    *{("get", base + "/metadata") for base in _TFS_MODEL},
    *{("post", base + ":" + verb) for base in _TFS_MODEL for verb in ("predict", "classify", "regress")},
    *{("post", base + ":feedback") for base in _TFS_MODEL[:2]},
    ("get", "/v1/models/{name}/monitoring"),
    ("get", "/v1/models/{name}/tfjs/{file}"),
    ("get", "/v2"),
    ("get", "/v2/health/live"),
    ("get", "/v2/health/ready"),
    ("get", "/v2/models/stats"),
    *{("get", base + verb) for base in _V2_MODEL for verb in ("", "/ready", "/config", "/stats")},
    *{("post", base + "/infer") for base in _V2_MODEL},
    ("post", "/v2/repository/index"),
    ("post", "/v2/repository/models/{name}/load"),
    ("post", "/v2/repository/models/{name}/unload"),
    *{
        route
        for kind in ("system", "cuda")
        for route in (
            ("get", f"/v2/{kind}sharedmemory/status"),
            ("get", f"/v2/{kind}sharedmemory/region/{{region}}/status"),
            ("post", f"/v2/{kind}sharedmemory/region/{{region}}/register"),
            ("post", f"/v2/{kind}sharedmemory/unregister"),
            ("post", f"/v2/{kind}sharedmemory/region/{{region}}/unregister"),
        )
    },
    ("get", "/admin/config"),
    ("post", "/admin/reload"),
    ("get", "/admin/traffic"),
    ("put", "/admin/traffic"),
    ("get", "/admin/keys"),
    ("post", "/admin/keys"),
    ("delete", "/admin/keys/{keyName}"),
}
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _document() -> dict:
    return json.loads(files("modelserve.protocols").joinpath("openapi.json").read_bytes())


def test_the_document_is_valid_openapi_3_1():
    document = _document()
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_every_served_route_is_documented_and_nothing_else():
    documented = {
        (method, path) for path, item in _document()["paths"].items() for method in item if method in _METHODS
    }
    assert documented - ROUTES == set(), "documented but not served"
    assert ROUTES - documented == set(), "served but not documented"


def test_every_operation_has_an_error_envelope_or_is_a_probe():
    """Every answer but a probe's documents at least one error status, with the ``{"error": ...}`` envelope."""
    document = _document()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            assert "200" in statuses, (method, path)
            if operation.get("security") != []:  # probes are open and answer their own bodies
                errors = {s for s in statuses if s.startswith(("4", "5"))}
                assert errors, (method, path)
                for status in errors:
                    assert operation["responses"][status] == {"$ref": f"#/components/responses/E{status}"}
