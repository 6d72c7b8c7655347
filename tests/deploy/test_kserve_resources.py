"""deploy/kserve/: the ServingRuntime and the InferenceService examples, checked offline against our own
JSON schema of the KServe fields they may use (serving.kserve.io v1alpha1 ServingRuntime, v1beta1
InferenceService, from KServe's Go API types), whose containers, volumes and the like are Kubernetes' own
strict schemas (kubernetes-validate's definitions); then as KServe and modelserve would read them: the
runtime's container, through the image's entrypoint, parses with the server's parser for each service
name KServe substitutes, and every example picks the runtime for a model format, protocol and port it
supports. (tests/integration/deploy/ serves a model with the runtime's own arguments.)"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from modelserve.cli import build_parser
from modelserve.runtimes.registry import PLATFORMS
from modelserve.server.flags import DEFAULT_MONITORING_PATH

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="the dev extra's kubernetes-validate")
jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

ROOT = Path(__file__).resolve().parents[2]
KSERVE = ROOT / "deploy" / "kserve"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
IMAGE_ENV = {"MODEL_NAME": "model", "MODEL_BASE_PATH": "/models", "MODELSERVE_GRPC_PORT": "8500"}
IMAGE_ENV["MODELSERVE_REST_API_PORT"] = "8501"
KUBERNETES_VERSION = "1.32"
#: KServe's ports for a runtime's container: REST (V1 and V2) and gRPC, the port an InferenceService names h2c.
KSERVE_HTTP_PORT, KSERVE_GRPC_PORT = 8080, 9000
#: storageUri schemes KServe's storage initializer downloads from (those our examples may use).
STORAGE_SCHEMES = ("s3://", "gs://", "pvc://", "https://", "http://", "hdfs://", "webhdfs://", "oci://", "hf://")

# --------------------------------------------------------------------------------------------- the schema

DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"  # kubernetes-validate's definitions
K8S = DEFINITIONS_ID + "#/$defs/io.k8s.api."
OURS = "urn:modelserve:kserve-resources"
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
PROTOCOLS = ["v1", "v2", "grpc-v1", "grpc-v2"]
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ISVC_NAME = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"  # KServe's rule: lower case, starts with a letter


def ref(name: str) -> dict:
    return {"$ref": K8S + name}


def array_of(item: dict, **more: object) -> dict:
    return {"type": "array", "items": item, **more}


def metadata(name_pattern: str) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": name_pattern, "maxLength": 63},
            "namespace": {"type": "string"},
            "labels": STRING_MAP,
            "annotations": STRING_MAP,
        },
    }


MODEL_FORMAT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "version": {"type": "string", "pattern": r"^\d+(\.\d+){0,2}$"},
    },
}
SUPPORTED_FORMAT = copy.deepcopy(MODEL_FORMAT)
SUPPORTED_FORMAT["properties"] |= {"autoSelect": {"type": "boolean"}, "priority": {"type": "integer", "minimum": 1}}
# KServe ignores a priority without autoSelect: a priority there is a mistake.
SUPPORTED_FORMAT |= {
    "if": {"required": ["priority"]},
    "then": {"required": ["autoSelect"], "properties": {"autoSelect": {"const": True}}},
}
POD_FIELDS = {
    "volumes": array_of(ref("core.v1.Volume")),
    "nodeSelector": STRING_MAP,
    "affinity": ref("core.v1.Affinity"),
    "tolerations": array_of(ref("core.v1.Toleration")),
    "imagePullSecrets": array_of(ref("core.v1.LocalObjectReference")),
}

SERVING_RUNTIME = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": OURS,
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "serving.kserve.io/v1alpha1"},
        "kind": {"enum": ["ServingRuntime", "ClusterServingRuntime"]},
        "metadata": metadata(DNS_SUBDOMAIN),
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["containers", "supportedModelFormats"],
            "properties": {
                "supportedModelFormats": array_of(SUPPORTED_FORMAT, minItems=1),
                "multiModel": {"type": "boolean"},
                "disabled": {"type": "boolean"},
                "protocolVersions": array_of({"enum": PROTOCOLS}, uniqueItems=True, minItems=1),
                "containers": array_of(ref("core.v1.Container"), minItems=1),
                "labels": STRING_MAP,
                "annotations": STRING_MAP,
                "hostIPC": {"type": "boolean"},
                "replicas": {"type": "integer", "minimum": 0},
                "storageHelper": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"disabled": {"type": "boolean"}},
                },
                **POD_FIELDS,
            },
        },
    },
}


def inference_service_schema(container_properties: dict) -> dict:
    """The model spec inlines a Container (every field, none required) beside KServe's own fields."""
    model = {
        "type": "object",
        "additionalProperties": False,
        "required": ["modelFormat"],
        "properties": {
            **container_properties,
            "modelFormat": MODEL_FORMAT,
            "runtime": {"type": "string", "pattern": DNS_SUBDOMAIN},
            "runtimeVersion": {"type": "string", "minLength": 1},
            "protocolVersion": {"enum": PROTOCOLS},
            "storageUri": {"type": "string", "pattern": "^(" + "|".join(STORAGE_SCHEMES) + ").+"},
        },
    }
    count = {"type": "integer", "minimum": 0}
    predictor = {
        "type": "object",
        "additionalProperties": False,
        "required": ["model"],
        "properties": {
            "model": model,
            "serviceAccountName": {"type": "string", "pattern": DNS_SUBDOMAIN},
            "minReplicas": count,
            "maxReplicas": count,
            "scaleTarget": {"type": "integer", "minimum": 1},
            "scaleMetric": {"enum": ["cpu", "memory", "concurrency", "rps"]},
            "containerConcurrency": count,
            "timeout": count,
            "canaryTrafficPercent": {"type": "integer", "minimum": 0, "maximum": 100},
            "labels": STRING_MAP,
            "annotations": STRING_MAP,
            "deploymentStrategy": ref("apps.v1.DeploymentStrategy"),
            **POD_FIELDS,
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": OURS,
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "serving.kserve.io/v1beta1"},
            "kind": {"const": "InferenceService"},
            "metadata": metadata(ISVC_NAME),
            "spec": {
                "type": "object",
                "additionalProperties": False,
                "required": ["predictor"],
                "properties": {"predictor": predictor},
            },
        },
    }


def kubernetes_definitions() -> dict:
    folder = f"kubernetes-json-schema/v{KUBERNETES_VERSION}.0-local-strict"
    return kubernetes_validate.utils.schema_contents(f"{folder}/_definitions.json", KUBERNETES_VERSION)


DEFINITIONS = kubernetes_definitions()
REGISTRY = referencing.Registry().with_resource(DEFINITIONS["$id"], referencing.Resource.from_contents(DEFINITIONS))


def absolute_refs(schema: object) -> object:
    """A part of the definitions made to resolve anywhere: its ``#/$defs/...`` refs made absolute."""
    if isinstance(schema, dict):
        return {
            k: DEFINITIONS_ID + v if k == "$ref" and v.startswith("#") else absolute_refs(v) for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [absolute_refs(v) for v in schema]
    return schema


assert DEFINITIONS["$id"] == DEFINITIONS_ID
CONTAINER_PROPERTIES = absolute_refs(DEFINITIONS["$defs"]["io.k8s.api.core.v1.Container"]["properties"])
SCHEMAS = {"ServingRuntime": SERVING_RUNTIME, "InferenceService": inference_service_schema(CONTAINER_PROPERTIES)}


def schema_errors(resource: dict) -> list[str]:
    schema = SCHEMAS.get(resource.get("kind"), SERVING_RUNTIME)
    validator = jsonschema.Draft202012Validator(schema, registry=REGISTRY)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(resource)]


# ------------------------------------------------------------------------------------------- the resources


def load(name: str) -> dict:
    (resource,) = [d for d in yaml.safe_load_all((KSERVE / name).read_text(encoding="utf-8")) if d]
    return resource


RUNTIME = load("servingruntime.yaml")
SERVICES = {p.name: load(p.name) for p in sorted(KSERVE.glob("inferenceservice-*.yaml"))}


def test_the_examples_cover_tensorflow_onnx_and_tflite_over_v1_and_v2() -> None:
    seen = {
        (s["spec"]["predictor"]["model"]["modelFormat"]["name"], s["spec"]["predictor"]["model"]["protocolVersion"])
        for s in SERVICES.values()
    }
    assert seen == {("tensorflow", "v1"), ("onnx", "v2"), ("tflite", "grpc-v2")}


@pytest.mark.parametrize("name", ["servingruntime.yaml", *SERVICES], ids=["servingruntime.yaml", *SERVICES])
def test_every_resource_matches_the_kserve_schema(name: str) -> None:
    assert schema_errors(load(name)) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r["spec"].__setitem__("protocolVersion", ["v2"]), "'protocolVersion' was unexpected"),
        (lambda r: r["spec"]["containers"][0].__setitem__("arg", []), "'arg' was unexpected"),
        (
            lambda r: r["spec"]["supportedModelFormats"][0].__setitem__("priority", 2),
            "'autoSelect' is a required property",
        ),
        (lambda r: r["spec"].__setitem__("protocolVersions", ["v3"]), "'v3' is not one of"),
        (lambda r: r["spec"]["containers"][0]["resources"].__setitem__("request", {}), "'request' was unexpected"),
    ],
    ids=["spec-typo", "container-typo", "priority-without-autoselect", "protocol", "kubernetes-field"],
)
def test_the_schema_refuses_mistakes(change, expected: str) -> None:
    runtime = copy.deepcopy(RUNTIME)
    change(runtime)
    assert any(expected in error for error in schema_errors(runtime)), schema_errors(runtime)


def test_the_inference_service_schema_refuses_mistakes() -> None:
    service = copy.deepcopy(SERVICES["inferenceservice-onnx-v2.yaml"])
    service["metadata"]["name"] = "Digits_ONNX"
    service["spec"]["predictor"]["model"]["storageUri"] = "ftp://host/m"
    service["spec"]["predictor"]["model"]["resources"]["limit"] = {}
    errors = " ".join(schema_errors(service))
    assert "does not match" in errors and "'limit' was unexpected" in errors
    assert "metadata.name" in errors and "storageUri" in errors


def runtime_command(service_name: str, runtime: dict = RUNTIME) -> list[str]:
    """The command KServe's pod runs: the image's entrypoint with the runtime container's env and args,
    ``{{.Name}}`` replaced by the InferenceService's name."""
    (spec,) = runtime["spec"]["containers"]
    env = {k: v for k, v in os.environ.items() if k not in IMAGE_ENV}
    env.update(IMAGE_ENV)
    env.update({e["name"]: e["value"] for e in spec.get("env", ())})
    env["MODELSERVE_DRY_RUN"] = "1"
    args = [a.replace("{{.Name}}", service_name) for a in spec["args"]]
    sh = shutil.which("sh") or "/bin/sh"
    result = subprocess.run([sh, str(ENTRYPOINT), *args], env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("name", SERVICES, ids=list(SERVICES))
def test_the_runtime_serves_each_service_under_its_name_on_kserves_ports(name: str) -> None:
    service = SERVICES[name]
    args = build_parser().parse_args(runtime_command(service["metadata"]["name"])[1:])
    assert args.model_name == service["metadata"]["name"]  # /v1/models/NAME:predict, /v2/models/NAME/infer
    assert args.model_base_path == "/mnt/models"  # where KServe's storage initializer copies storageUri
    assert (args.rest_api_port, args.port) == (KSERVE_HTTP_PORT, KSERVE_GRPC_PORT)
    assert args.model_config_file is None and args.model_repository is None


def test_the_runtime_is_selected_as_each_example_expects() -> None:
    """KServe's rules (ModelSpec.GetSupportingRuntimes): a format (and version, when given) the runtime
    lists, with autoSelect unless the service names the runtime, and a protocol it lists."""
    formats = RUNTIME["spec"]["supportedModelFormats"]
    for name, service in SERVICES.items():
        model = service["spec"]["predictor"]["model"]
        if "runtime" in model:
            assert model["runtime"] == RUNTIME["metadata"]["name"], name
        wanted = model["modelFormat"]
        matching = [
            f
            for f in formats
            if f["name"] == wanted["name"]
            and ("version" not in wanted or f.get("version") == wanted["version"])
            and ("runtime" in model or f.get("autoSelect"))
        ]
        assert matching, f"{name}: {wanted} is not served by {RUNTIME['metadata']['name']}"
        assert model["protocolVersion"] in RUNTIME["spec"]["protocolVersions"], name
        if model["protocolVersion"].startswith("grpc"):
            assert {"name": "h2c", "containerPort": KSERVE_GRPC_PORT, "protocol": "TCP"} in model["ports"], name
        assert model["storageUri"].startswith(STORAGE_SCHEMES)


def test_the_runtime_lists_only_formats_modelserve_loads_and_its_metrics() -> None:
    assert {f["name"] for f in RUNTIME["spec"]["supportedModelFormats"]} <= set(PLATFORMS)
    assert set(RUNTIME["spec"]["protocolVersions"]) == set(PROTOCOLS)
    annotations = RUNTIME["spec"]["annotations"]
    assert annotations["prometheus.kserve.io/path"] == DEFAULT_MONITORING_PATH
    assert annotations["prometheus.kserve.io/port"] == str(KSERVE_HTTP_PORT)
    (spec,) = RUNTIME["spec"]["containers"]
    assert spec["name"] == "kserve-container"  # the name KServe merges a service's model container into
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001


def test_a_cluster_wide_runtime_is_the_same_resource() -> None:
    cluster = copy.deepcopy(RUNTIME)
    cluster["kind"] = "ClusterServingRuntime"
    assert schema_errors(cluster) == []
