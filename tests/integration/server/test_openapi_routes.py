"""The running server answers ``GET /openapi.json`` with the packaged document, and routes every GET of it:
a concrete request for each path template never gets the HTML 404 of an unrouted path."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest
import requests

_DOCUMENT = json.loads(files("modelserve.protocols").joinpath("openapi.json").read_bytes())
# Concrete values for the path parameters: example models and an existing version of half_plus_two.
_VALUES = {"name": "half_plus_two", "version": "123", "label": "stable", "region": "r0", "file": "model.json"}
_GETS = sorted(path for path, item in _DOCUMENT["paths"].items() if "get" in item)


def test_openapi_json_is_the_packaged_document(examples_server):
    response = requests.get(f"{examples_server.url}/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == _DOCUMENT


@pytest.mark.parametrize("template", _GETS)
def test_every_documented_get_is_routed(examples_server, template: str):
    path = template.format(**_VALUES)
    response = requests.get(examples_server.url + path, timeout=30)
    unrouted = response.status_code == 404 and response.headers.get("content-type", "").startswith("text/html")
    assert not unrouted, f"GET {path}: {response.status_code} {response.text[:200]}"
    assert response.status_code < 500, f"GET {path}: {response.status_code} {response.text[:200]}"


def test_digits_onnx_metadata_is_routed_too(examples_server):
    """A second model through the V2 and TF Serving metadata templates (version 1)."""
    for template in ("/v1/models/{name}/versions/{version}/metadata", "/v2/models/{name}/versions/{version}"):
        path = template.format(name="digits_onnx", version="1")
        assert requests.get(examples_server.url + path, timeout=30).status_code == 200, path


def test_an_undocumented_path_gets_the_html_404(examples_server):
    """The check above can fail: a path no API serves answers the HTML 404."""
    response = requests.get(f"{examples_server.url}/openapi.yaml", timeout=30)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
