"""Real servers started through the image's entrypoint (deploy/docker/entrypoint.sh), as a container would
start them, with only the ports and paths moved onto this machine:

* TF Serving's conventions: ``MODEL_NAME`` and ``MODEL_BASE_PATH`` serve half_plus_two; the script execs
  the server (the process is modelserve, SIGTERM exits it with 0); the image's HEALTHCHECK script passes;
  the metrics the autoscaler reads are exported.
* The ONNX/TFLite image: with TensorFlow impossible to import (as in the image, where it is not
  installed), ONNX and TFLite models serve, and a SavedModel fails alone.
* KServe: the ServingRuntime's own env and args (deploy/kserve/servingruntime.yaml) serve a model under the
  InferenceService's name over V1 REST, V2 REST and V2 gRPC.
* Kubernetes: the kustomize base's container (args, env, ConfigMap files) serves its models from a real
  S3-compatible server (moto), with the credentials in the environment as its Secret would put them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

from servers import ServedProcess, free_port, wait_for

ROOT = Path(__file__).resolve().parents[3]
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"
BIN = Path(sys.executable).parent  # where `modelserve` is: first on PATH, as /opt/modelserve/bin in the image
SH = shutil.which("sh") or "/bin/sh"
SCRIPT_VARIABLES = ("MODEL_NAME", "MODEL_BASE_PATH", "MODELSERVE_GRPC_PORT", "MODELSERVE_REST_API_PORT")
#: Imported instead of TensorFlow's packages in the ONNX/TFLite test: each import fails as for a package that
#: is not installed (ModuleNotFoundError), which is what the image without the tensorflow extra does.
NO_TENSORFLOW = """
import sys

class _NotInstalled:
    BLOCKED = {"tensorflow", "keras", "tf_keras", "h5py", "tensorboard"}

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in cls.BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NotInstalled)
"""


class ScriptServer(ServedProcess):
    """``sh entrypoint.sh ARGS`` with ``env`` added to this environment (less the script's own variables)."""

    def __init__(self, env: dict[str, str], args: list[str], log_path: Path) -> None:
        environ = {k: v for k, v in os.environ.items() if k not in SCRIPT_VARIABLES}
        environ["PATH"] = f"{BIN}{os.pathsep}{environ.get('PATH', '')}"
        environ.update(env)
        self.environ = environ
        self.rest_port = int(environ.get("MODELSERVE_REST_API_PORT", "8501"))
        super().__init__([SH, str(ENTRYPOINT), *args], f"http://127.0.0.1:{self.rest_port}", log_path, env=environ)

    def wait(self, path: str, timeout: float = 180) -> None:
        self.wait_ready(timeout, path)

    def stop(self, timeout: float = 60) -> int:
        return super().stop(timeout)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., ScriptServer]]:
    started: list[ScriptServer] = []

    def start(env: dict[str, str], *args: str) -> ScriptServer:
        server = ScriptServer(env, ["--host=127.0.0.1", *args], tmp_path / f"server-{len(started)}.log")
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def ports() -> dict[str, str]:
    return {"MODELSERVE_REST_API_PORT": str(free_port()), "MODELSERVE_GRPC_PORT": str(free_port())}


def digits_request(digits_test, rows: int = 4) -> tuple[np.ndarray, np.ndarray]:
    images, labels = digits_test
    return images[:rows], labels[:rows]


def test_tf_serving_conventions_through_the_entrypoint(examples_dir: Path, tmp_path: Path, launch) -> None:
    models = tmp_path / "models"
    shutil.copytree(examples_dir / "half_plus_two", models / "half_plus_two")
    env = {"MODEL_NAME": "half_plus_two", "MODEL_BASE_PATH": f"{models}/", **ports()}
    server = launch(env)
    server.wait("/readyz")

    answer = requests.post(
        f"{server.url}/v1/models/half_plus_two:predict", json={"instances": [1.0, 2.0, 5.0]}, timeout=30
    )
    assert answer.json() == {"predictions": [2.5, 3.0, 4.5]}
    # exec: the process the container runtime signals is the server itself, not a shell around it.
    cmdline = Path(f"/proc/{server.process.pid}/cmdline").read_bytes().split(b"\0")
    assert b"serve" in cmdline and b"--model_name=half_plus_two" in cmdline
    assert not any(part.endswith(b"entrypoint.sh") for part in cmdline), cmdline

    for path in ("/healthz", "/readyz"):  # the image's HEALTHCHECK, both ways it can probe
        check = subprocess.run(
            [sys.executable, str(HEALTHCHECK)],
            env={**server.environ, "MODELSERVE_HEALTHCHECK_PATH": path},
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert check.returncode == 0, check.stderr
    metrics = requests.get(f"{server.url}/monitoring/prometheus/metrics", timeout=10).text
    assert "\nmodelserve_in_flight_requests " in metrics and "\nmodelserve_queued_requests " in metrics
    assert server.stop() == 0, server.log()


def test_the_onnx_tflite_image_serves_without_tensorflow(
    examples_dir: Path, tmp_path: Path, launch, digits_test
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_TENSORFLOW, encoding="utf-8")
    config = tmp_path / "models.config"
    entries = [("digits_onnx", "onnx"), ("digits_tflite", "tflite"), ("half_plus_two", "tensorflow")]
    body = " ".join(
        f'config {{ name: "{n}" base_path: "{examples_dir / n}" model_platform: "{p}" }}' for n, p in entries
    )
    config.write_text(f"model_config_list {{ {body} }}\n", encoding="utf-8")
    env = {"PYTHONPATH": str(tmp_path / "site"), **ports()}
    server = launch(env, f"--model_config_file={config}", "--file_system_poll_wait_seconds=0")
    server.wait("/healthz")

    images, labels = digits_request(digits_test)
    instances = {"instances": images.tolist()}
    for name in ("digits_onnx", "digits_tflite"):
        answer = requests.post(f"{server.url}/v1/models/{name}:predict", json=instances, timeout=30)
        assert answer.status_code == 200, answer.text
        predicted = [row["class_index"] for row in answer.json()["predictions"]]
        assert np.mean(np.array(predicted) == labels) >= 0.75, (name, predicted, labels)
    status = requests.get(f"{server.url}/v1/models/half_plus_two", timeout=10).json()
    assert status["model_version_status"], status
    for version in status["model_version_status"]:  # each version tried, none serves, the others unharmed
        assert version["state"] == "END" and "modelserve[tensorflow]" in version["status"]["error_message"], version
    assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 503  # a configured model is missing
    assert server.stop() == 0, server.log()


def test_the_kserve_runtime_serves_v1_and_v2(examples_dir: Path, tmp_path: Path, launch, digits_test) -> None:
    runtime = yaml.safe_load((ROOT / "deploy" / "kserve" / "servingruntime.yaml").read_text(encoding="utf-8"))
    (container,) = runtime["spec"]["containers"]
    mnt = tmp_path / "mnt" / "models"  # what the storage initializer writes: the version folders
    shutil.copytree(examples_dir / "digits_onnx", mnt)
    args = [a.replace("{{.Name}}", "digits").replace("/mnt/models", str(mnt)) for a in container["args"]]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert (env["MODELSERVE_REST_API_PORT"], env["MODELSERVE_GRPC_PORT"]) == ("8080", "9000")
    env.update(ports())  # KServe's 8080 and 9000 moved to free ports here
    server = launch(env, *args)
    server.wait("/v2/health/ready")

    images, labels = digits_request(digits_test)
    v1 = requests.post(f"{server.url}/v1/models/digits:predict", json={"instances": images.tolist()}, timeout=30)
    assert v1.status_code == 200, v1.text
    v1_classes = [row["class_index"] for row in v1.json()["predictions"]]
    tensor = {"name": "images", "shape": list(images.shape), "datatype": "FP32", "data": images.ravel().tolist()}
    v2 = requests.post(f"{server.url}/v2/models/digits/infer", json={"inputs": [tensor]}, timeout=30)
    assert v2.status_code == 200, v2.text
    outputs = {o["name"]: o for o in v2.json()["outputs"]}
    assert outputs["class_index"]["data"] == v1_classes

    grpcclient = pytest.importorskip("tritonclient.grpc")
    with grpcclient.InferenceServerClient(f"127.0.0.1:{env['MODELSERVE_GRPC_PORT']}") as client:
        assert client.is_model_ready("digits")
        request = grpcclient.InferInput("images", list(images.shape), "FP32")
        request.set_data_from_numpy(images)
        result = client.infer("digits", [request])
        assert result.as_numpy("class_index").tolist() == v1_classes
    assert np.mean(np.array(v1_classes) == labels) >= 0.75
    assert server.stop() == 0, server.log()


def upload(client, bucket: str, local: Path, prefix: str) -> None:
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")


def test_the_kubernetes_container_serves_its_config_map_from_s3(
    s3, s3_endpoint: str, examples_dir: Path, tmp_path: Path, launch, digits_test
) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` renders deploy/kubernetes/base")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "kubernetes" / "base")], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(rendered.stdout) if d}
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    client, bucket = s3
    upload(client, bucket, examples_dir / "half_plus_two", "half_plus_two")
    upload(client, bucket, examples_dir / "digits_onnx", "digits_onnx")

    # The pod's mounts, moved here: the ConfigMap's files and the cache volume.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    moved = {mounts["config"]: str(tmp_path / "etc"), mounts["cache"]: str(tmp_path / "cache")}
    (tmp_path / "etc").mkdir()
    for name, text in docs["ConfigMap"]["data"].items():
        (tmp_path / "etc" / name).write_text(text.replace("s3://my-models/", f"s3://{bucket}/"), encoding="utf-8")

    def here(text: str) -> str:
        for there, local in moved.items():
            text = text.replace(there, local)
        return text

    env = {e["name"]: here(e["value"]) for e in container["env"]}
    # What the Secret modelserve-storage holds (envFrom): the s3 fixture's credentials, and the endpoint.
    env |= {k: os.environ[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    env |= {"AWS_ENDPOINT_URL": s3_endpoint, **ports()}
    args = [here(a) for a in container["args"]]
    server = launch(env, *args, "--file_system_poll_wait_seconds=1")  # the base polls S3 every 30 s
    server.wait(container["readinessProbe"]["httpGet"]["path"])

    half = requests.post(f"{server.url}/v1/models/half_plus_two:predict", json={"instances": [1.0, 5.0]}, timeout=30)
    assert half.json() == {"predictions": [2.5, 4.5]}
    images, _ = digits_request(digits_test, rows=2)
    digits = requests.post(f"{server.url}/v1/models/digits:predict", json={"instances": images.tolist()}, timeout=30)
    assert digits.status_code == 200, digits.text
    cached = tmp_path / "cache" / "remote"
    wait_for(lambda: cached.is_dir() and any(cached.rglob("model.onnx")), timeout=10)
    assert cached.stat().st_mode & 0o777 == 0o700  # created by the server, private to its user
    assert server.stop() == 0, server.log()
