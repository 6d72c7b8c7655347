"""deploy/kubernetes/ (kustomize) and deploy/helm/ (the chart), rendered offline and validated strictly
against Kubernetes' own schemas (kubernetes-validate) for every release from 1.27 on; then read as
modelserve would: the container's arguments, through the image's entrypoint, parse with the server's own
argument parser; the ConfigMap's model config and traffic file parse with the server's readers; probes,
ports, selectors, the autoscaler's metrics and the prometheus-adapter rules agree with each other and
with the metrics the server exports. The chart's defaults render the same server as the kustomize base.
No cluster: ``kubectl kustomize`` and Helm's template engine (helm-python-sdk) render the files."""

from __future__ import annotations

import copy
import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from modelserve.cli import build_parser
from modelserve.config_io import parse_model_config, parse_traffic_config
from modelserve.repository.remote import check_url
from modelserve.server.flags import grpc_channel_arguments
from monitoring_files import GAUGES

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="the dev extra's kubernetes-validate")

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
CHART = ROOT / "deploy" / "helm" / "modelserve"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
KUSTOMIZATIONS = ["base", "overlays/gcs", "overlays/lite"]
#: The image's ENV (deploy/docker/Dockerfile) the entrypoint reads; a container's env overrides them.
IMAGE_ENV = {"MODEL_NAME": "model", "MODEL_BASE_PATH": "/models", "MODELSERVE_GRPC_PORT": "8500"}
IMAGE_ENV["MODELSERVE_REST_API_PORT"] = "8501"
#: The oldest release the chart supports (Chart.yaml's kubeVersion), kubectl 1.32's, and the newest known.
_KNOWN = kubernetes_validate.utils.all_versions()
VERSIONS = sorted(
    {next(v for v in _KNOWN if v.startswith("1.27.")), next(v for v in _KNOWN if v.startswith("1.32.")), _KNOWN[-1]}
)
KINDS = {"ServiceAccount", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"}


def kustomize(folder: str) -> list[dict]:
    return copy.deepcopy(_kustomize(folder))


@functools.cache
def _kustomize(folder: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` renders deploy/kubernetes/")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def helm_render(values: dict | None = None, name: str = "modelserve") -> list[dict]:
    helm = pytest.importorskip("helm_python", reason="the dev extra's helm-python-sdk")
    with helm.Chart.load(CHART) as chart:
        rendered = chart.render(values, name=name, namespace="models")
    return [
        doc
        for path, text in sorted(rendered.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def by_kind(docs: list[dict]) -> dict[str, dict]:
    kinds = [doc["kind"] for doc in docs]
    assert len(kinds) == len(set(kinds)), kinds
    return {doc["kind"]: doc for doc in docs}


def container(docs: list[dict]) -> dict:
    (only,) = by_kind(docs)["Deployment"]["spec"]["template"]["spec"]["containers"]
    return only


def entrypoint_command(spec: dict) -> list[str]:
    """What the image runs for this container: the entrypoint's dry run with its env and args."""
    env = {k: v for k, v in os.environ.items() if k not in IMAGE_ENV}
    env.update(IMAGE_ENV)
    env.update({e["name"]: e["value"] for e in spec.get("env", ()) if "value" in e})
    env["MODELSERVE_DRY_RUN"] = "1"
    sh = shutil.which("sh") or "/bin/sh"
    result = subprocess.run(
        [sh, str(ENTRYPOINT), *spec.get("args", ())], env=env, capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def validate_strictly(docs: list[dict]) -> None:
    for version in VERSIONS:
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                where = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} against {version}: {where}: {exc.message}")


# ------------------------------------------------------------------------------------------------ kustomize


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, kustomize(request.param)


def test_every_kustomization_renders_the_whole_server(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    assert {doc["kind"] for doc in docs} == KINDS


def test_every_object_validates_strictly_against_kubernetes_schemas(rendered: tuple[str, list[dict]]) -> None:
    assert VERSIONS and VERSIONS[0].startswith("1.27")
    validate_strictly(rendered[1])


def test_strict_validation_catches_a_misspelt_field() -> None:
    deployment = copy.deepcopy(by_kind(kustomize("base"))["Deployment"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


def test_the_container_arguments_parse_with_the_servers_own_parser(rendered: tuple[str, list[dict]]) -> None:
    spec = container(rendered[1])
    argv = entrypoint_command(spec)
    args = build_parser().parse_args(argv[1:])
    mounts = {m["name"]: m["mountPath"] for m in spec["volumeMounts"]}
    assert Path(args.model_config_file).parent == Path(mounts["config"])
    assert Path(args.traffic_config_file).parent == Path(mounts["config"])
    assert args.model_config_file_poll_wait_seconds > 0  # ConfigMap edits apply without a restart
    assert (args.port, args.rest_api_port) == (8500, 8501)
    assert dict(grpc_channel_arguments(args.grpc_channel_arguments))["grpc.max_connection_age_ms"] > 0
    env = {e["name"]: e.get("value") for e in spec["env"]}
    assert Path(env["MODELSERVE_REMOTE_CACHE_DIR"]).parent == Path(mounts["cache"])  # created by uid 10001
    terminating = rendered[1][[d["kind"] for d in rendered[1]].index("Deployment")]["spec"]["template"]["spec"]
    assert terminating["terminationGracePeriodSeconds"] > args.graceful_shutdown_seconds + 5  # + preStop


def test_probes_ports_and_security(rendered: tuple[str, list[dict]]) -> None:
    spec = container(rendered[1])
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert ports == {"grpc": 8500, "http": 8501}
    paths = {probe: spec[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert paths == {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    assert {spec[probe]["httpGet"]["port"] for probe in paths} == {"http"}
    assert spec["resources"]["requests"]["cpu"] and spec["resources"]["limits"]["memory"]
    assert spec["securityContext"]["readOnlyRootFilesystem"] is True
    pod = by_kind(rendered[1])["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    annotations = by_kind(rendered[1])["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/monitoring/prometheus/metrics"
    assert annotations["prometheus.io/port"] == str(ports["http"])


def test_selectors_and_references_agree(rendered: tuple[str, list[dict]]) -> None:
    objects = by_kind(rendered[1])
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        objects["Service"]["spec"]["selector"],
        objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    port_names = {p["name"] for p in container(rendered[1])["ports"]}
    assert {p["targetPort"] for p in objects["Service"]["spec"]["ports"]} == port_names
    assert objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == objects["ServiceAccount"]["metadata"]["name"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]


def test_the_config_map_holds_files_the_server_reads(rendered: tuple[str, list[dict]]) -> None:
    folder, docs = rendered
    data = by_kind(docs)["ConfigMap"]["data"]
    assert set(data) == {"models.config", "traffic.yaml"}
    models = parse_model_config(data["models.config"], "models.config", relative_to=Path("/etc/modelserve"))
    parse_traffic_config(yaml.safe_load(data["traffic.yaml"]), "traffic.yaml")
    scheme = "gs://" if folder == "overlays/gcs" else "s3://"
    assert all(check_url(str(m.base_path)).startswith(scheme) for m in models)
    if folder == "overlays/lite":
        assert {m.platform for m in models} <= {"onnx", "tflite"}


def test_storage_credentials_come_from_secrets(rendered: tuple[str, list[dict]]) -> None:
    folder, docs = rendered
    spec = container(docs)
    assert {"secretRef": {"name": "modelserve-storage", "optional": True}} in spec["envFrom"]
    if folder == "overlays/gcs":
        env = {e["name"]: e.get("value") for e in spec["env"]}
        mounts = {m["name"]: m["mountPath"] for m in spec["volumeMounts"]}
        assert Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).parent == Path(mounts["gcs-key"])
        volumes = {v["name"]: v for v in by_kind(docs)["Deployment"]["spec"]["template"]["spec"]["volumes"]}
        assert volumes["gcs-key"]["secret"]["secretName"] == "modelserve-gcs-key"


def test_the_lite_overlay_runs_the_onnx_tflite_image() -> None:
    image = container(kustomize("overlays/lite"))["image"]
    assert image.endswith(":0.1.0-lite")
    assert "-lite" in (ROOT / "deploy" / "docker" / "Dockerfile").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------ autoscaling metrics


def adapter_rules() -> list[dict]:
    values = yaml.safe_load((KUBERNETES / "prometheus-adapter" / "values.yaml").read_text(encoding="utf-8"))
    return values["rules"]["custom"]


def test_the_autoscaler_scales_on_cpu_and_on_exported_gauges_the_adapter_serves() -> None:
    metrics = by_kind(kustomize("base"))["HorizontalPodAutoscaler"]["spec"]["metrics"]
    assert {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
    } in metrics
    names = {m["pods"]["metric"]["name"] for m in metrics if m["type"] == "Pods"}
    assert names == {"modelserve_in_flight_requests", "modelserve_queued_requests"}
    assert names <= GAUGES  # the server exports them (tests/monitoring_files.py)
    served = {rule["name"]["as"] for rule in adapter_rules()}
    assert names <= served
    for rule in adapter_rules():
        assert re.fullmatch(rule["name"]["matches"], rule["name"]["as"])
        assert rule["seriesQuery"].startswith(rule["name"]["as"] + "{")
        assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}


def test_the_adapter_queries_are_promql(tmp_path: Path) -> None:
    """The adapter's templates filled in as it fills them, then checked by Prometheus' promtool."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    rules = []
    for n, rule in enumerate(adapter_rules()):
        query = rule["metricsQuery"].replace("<<.Series>>", rule["name"]["as"])
        query = query.replace("<<.LabelMatchers>>", 'namespace="models",pod=~"modelserve-.*"').replace(
            "<<.GroupBy>>", "pod"
        )
        rules.append({"record": f"adapter:query:{n}", "expr": query})
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "adapter", "rules": rules}]}))
    checked = subprocess.run(
        [promtool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# ----------------------------------------------------------------------------------------------- the chart


def lint_findings(values: dict | None = None) -> list[dict]:
    helm = pytest.importorskip("helm_python", reason="the dev extra's helm-python-sdk")
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{VERSIONS[-1]}")
    assert report["total_charts_linted"] == 1
    return [m for m in report["messages"] if m["severity"] >= 2] + [{"error": e} for e in report["errors"]]


CHART_VALUES = {
    "defaults": None,
    "gcs-fixed-replicas": {"storage": {"gcsKeySecretName": "modelserve-gcs-key"}, "autoscaling": {"enabled": False}},
    "lite-extra-args": {"image": {"tag": "0.1.0-lite"}, "extraArgs": ["--enable_batching", "--max_in_flight=128"]},
    "no-custom-metrics": {"autoscaling": {"inFlightRequestsPerPod": 0, "queuedRequestsPerPod": 0}},
}


@pytest.mark.parametrize("values", CHART_VALUES.values(), ids=CHART_VALUES.keys())
def test_the_chart_lints_renders_and_validates_strictly(values: dict | None) -> None:
    assert lint_findings(values) == []
    docs = helm_render(values)
    validate_strictly(docs)
    args = build_parser().parse_args(entrypoint_command(container(docs))[1:])
    objects = by_kind(docs)
    if values and values.get("extraArgs"):
        assert (args.enable_batching, args.max_in_flight) == (True, 128)
    if values and values.get("autoscaling", {}).get("enabled") is False:
        assert "HorizontalPodAutoscaler" not in objects and objects["Deployment"]["spec"]["replicas"] == 2
    else:
        assert "replicas" not in objects["Deployment"]["spec"]


def test_the_chart_refuses_values_it_does_not_know() -> None:
    findings = lint_findings({"autoscaling": {"enabeld": True}})
    assert any("enabeld" in f["error"] for f in findings)


def test_the_charts_defaults_render_the_kustomize_base() -> None:
    chart, base = by_kind(helm_render()), by_kind(kustomize("base"))
    assert set(chart) == set(base)
    ours, theirs = container(list(chart.values())), container(list(base.values()))
    for key in ("args", "ports", "startupProbe", "livenessProbe", "readinessProbe", "lifecycle", "resources"):
        assert ours[key] == theirs[key], key
    assert (ours["securityContext"], ours["volumeMounts"]) == (theirs["securityContext"], theirs["volumeMounts"])
    assert ours["env"] == theirs["env"] and ours["envFrom"] == theirs["envFrom"]
    pods = [o["Deployment"]["spec"]["template"]["spec"] for o in (chart, base)]
    for key in ("securityContext", "terminationGracePeriodSeconds", "automountServiceAccountToken"):
        assert pods[0][key] == pods[1][key], key
    for kind, path in (("HorizontalPodAutoscaler", ("metrics", "behavior", "minReplicas", "maxReplicas")),):
        assert [chart[kind]["spec"][k] for k in path] == [base[kind]["spec"][k] for k in path]
    assert chart["Service"]["spec"]["ports"] == base["Service"]["spec"]["ports"]
    assert (
        chart["PodDisruptionBudget"]["spec"]["maxUnavailable"] == base["PodDisruptionBudget"]["spec"]["maxUnavailable"]
    )
    configs = [
        parse_model_config(o["ConfigMap"]["data"]["models.config"], "m", relative_to=Path("/")) for o in (chart, base)
    ]
    assert configs[0] == configs[1]
