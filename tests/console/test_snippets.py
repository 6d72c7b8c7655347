"""The copied request: curl, Python and gRPC code for the exact body the page sent."""

from __future__ import annotations

import json

from modelserve.console.snippets import Target, snippets, url_path
from modelserve.types import ModelRef, Signature, TensorSpec

SIGNATURE = Signature.from_specs(
    "serving_default", [TensorSpec("x", "float32", (-1, 1)), TensorSpec("image_bytes", "string", (-1,))], []
)
BODY = {"signature_name": "serving_default", "inputs": {"x": [[1.0]], "image_bytes": [{"b64": "AAA="}]}}


def test_paths_name_the_version_or_label() -> None:
    assert url_path(ModelRef("m")) == "/v1/models/m:predict"
    assert url_path(ModelRef("m", version=3)) == "/v1/models/m/versions/3:predict"
    assert url_path(ModelRef("m", label="canary")) == "/v1/models/m/labels/canary:predict"


def test_snippets_repeat_the_body_and_read_the_key_from_the_environment() -> None:
    found = snippets(Target("https://host:8501", "host:8500", tls=True, keys=True), SIGNATURE, ModelRef("m", 2), BODY)
    assert json.dumps(BODY) in found["curl"] and "https://host:8501/v1/models/m/versions/2:predict" in found["curl"]
    assert "$MODELSERVE_API_KEY" in found["curl"] and "MODELSERVE_API_KEY" in found["python"]
    assert "grpc.secure_channel" in found["grpc"] and "version.value = 2" in found["grpc"]
    assert "dtype=tf.float32" in found["grpc"] and "strings(" in found["grpc"]
    compile(found["python"], "python", "exec")
    compile(found["grpc"], "grpc", "exec")


def test_without_grpc_or_keys() -> None:
    found = snippets(Target("http://localhost:8501"), SIGNATURE, ModelRef("m"), BODY)
    assert set(found) == {"curl", "python"}
    assert "Authorization" not in found["curl"] and "os.environ" not in found["python"]
