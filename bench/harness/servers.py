"""What to start and what to send it: our server's configurations and the peers' (from run_all.sh).

A :class:`ServerSpec` is one process to start (argv, environment, how to tell it is ready) and the
:class:`Cell`\\ s to measure while it runs. Our server runs four times: ONNX models (mlp, cnn) and the
digits SavedModel in separate processes (so the ONNX server never imports TensorFlow), each with batching
off and on. The peers are started with the commands and settings of ``../shared/bench/peers/run_all.sh``
(same scripts in ``servers/``, ONNX Runtime with one intra-op thread per pinned core).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import paths
from harness.models import BenchModels
from harness.payloads import Payload

TFS_GRPC = "/tensorflow.serving.PredictionService/Predict"
V2_GRPC = "/inference.GRPCInferenceService/ModelInfer"

#: Our server's doors: name -> (payload kind, transport). tfs-* are TF Serving's APIs, v2-* the Open
#: Inference Protocol's; v2-grpc sends ``fp32_contents`` (the peers' gRPC body), v2-grpc-raw ``raw_input_contents``.
DOORS = {
    "tfs-rest": ("v1", "http"),
    "tfs-grpc": ("tfs-grpc", "grpc"),
    "v2-json": ("v2-json", "http"),
    "v2-binary": ("v2-binary", "http"),
    "v2-grpc": ("v2-grpc", "grpc"),
    "v2-grpc-raw": ("v2-grpc-raw", "grpc"),
}
MODEL_DOORS = {
    "mlp": tuple(DOORS),
    "cnn": ("tfs-rest", "tfs-grpc", "v2-json", "v2-binary", "v2-grpc-raw"),
    "digits": ("tfs-rest", "tfs-grpc"),
}
PEER_NAMES = ("floor", "minimal", "mlserver", "kserve", "litserve", "rayserve")

#: Batching parameters for the "batching on" runs (TF Serving's text format). On the CPU a timeout of 0
#: merges whatever arrived while the previous call ran; one batch thread per pinned core.
BATCHING = """max_batch_size { value: 32 }
batch_timeout_micros { value: 0 }
max_enqueued_batches { value: 64 }
num_batch_threads { value: 1 }
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Cell:
    """One measured configuration: ``transport`` http (wrk POST to ``url``) or grpc (h2load to ``url``)."""

    server: str
    variant: str
    door: str
    model: str
    payload: Payload
    concurrency: int
    transport: str
    url: str

    @property
    def grpc_target(self) -> str:
        return self.url.split("/")[2]

    @property
    def grpc_method(self) -> str:
        return "/" + self.url.split("/", 3)[3]


@dataclass
class ServerSpec:
    name: str  #: e.g. modelserve, mlserver
    variant: str  #: e.g. batching-on, tuned
    argv: list[str]
    ready: Callable[..., bool]  #: called with the started Server; True when it may be loaded
    cells: list[Cell] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    setup: list[list[str]] = field(default_factory=list)  #: commands to run before the start (config files)


@dataclass(frozen=True)
class Selection:
    models: Sequence[str]
    concurrencies: Sequence[int]
    batching: Sequence[str]  #: "off", "on"
    doors: Sequence[str]
    peers: Sequence[str]
    quick: bool


def modelserve_specs(
    models: BenchModels, payloads: dict[str, dict[str, Payload]], sel: Selection, batching_file: Path, extra: list[str]
) -> Iterator[ServerSpec]:
    executable = str(Path(sys.executable).parent / "modelserve")
    groups = (("onnx", models.onnx_repository, ("mlp", "cnn")), ("tf", models.digits_repository, ("digits",)))
    for batching in sel.batching:
        for _group, repository, names in groups:
            chosen = [m for m in names if m in sel.models]
            if not chosen:
                continue
            rest, grpc = free_port(), free_port()
            argv = [executable, "serve", f"--model_repository={repository}", "--host=127.0.0.1"]
            argv += [f"--rest_api_port={rest}", f"--port={grpc}", "--file_system_poll_wait_seconds=0"]
            if batching == "on":
                argv += ["--enable_batching", f"--batching_parameters_file={batching_file}"]
            argv += extra
            variant = f"batching-{batching}"
            spec = ServerSpec(
                "modelserve",
                variant,
                argv,
                lambda server, port=rest: server.wait_ready(f"http://127.0.0.1:{port}/readyz", 180),
            )
            for model in chosen:
                for door in MODEL_DOORS[model]:
                    if door not in sel.doors:
                        continue
                    kind, transport = DOORS[door]
                    if transport == "http":
                        path = f"/v1/models/{model}:predict" if door == "tfs-rest" else f"/v2/models/{model}/infer"
                        url = f"http://127.0.0.1:{rest}{path}"
                    else:
                        url = f"http://127.0.0.1:{grpc}{TFS_GRPC if door == 'tfs-grpc' else V2_GRPC}"
                    for c in sel.concurrencies:
                        spec.cells.append(
                            Cell("modelserve", variant, door, model, payloads[model][kind], c, transport, url)
                        )
            yield spec


Row = tuple[str, str, str, str, str]  #: door, model, payload kind, transport, url


def peer_venvs() -> Path:
    return paths.WORK / "venvs"


def peer_specs(models: BenchModels, payloads: dict[str, dict[str, Payload]], sel: Selection) -> Iterator[ServerSpec]:
    """The peers, in run_all.sh's order; a peer whose venv is missing is skipped by the caller. Peer scripts
    give ONNX Runtime as many intra-op threads as CPUs they may run on (1 when pinned), as in their report."""

    def cells(server: str, variant: str, rows: list[Row], every_concurrency: bool) -> list[Cell]:
        """Every concurrency, or only the largest (to keep the run short where peers are known to be slow)."""
        concurrencies = list(sel.concurrencies) if every_concurrency else [max(sel.concurrencies)]
        return [
            Cell(server, variant, door, model, payloads[model][kind], c, transport, url)
            for door, model, kind, transport, url in rows
            if model in sel.models
            for c in concurrencies
        ]

    servers = paths.PEERS / "servers"
    onnx = str(models.onnx_dir)
    venvs = peer_venvs()
    local = "http://127.0.0.1"

    def tool(venv: str, name: str) -> str:
        return str(venvs / venv / "bin" / name)

    def uvicorn(port: int, app: str) -> list[str]:
        flags = ["--no-access-log", "--loop", "uvloop", "--http", "httptools"]
        return [
            tool("ort", "uvicorn"),
            "--app-dir",
            str(servers),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *flags,
            app,
        ]

    if "floor" in sel.peers:  # a trivial POST handler: reads the body, answers a fixed 120-byte JSON
        port = free_port()
        spec = ServerSpec(
            "uvicorn+starlette",
            "fixed-json",
            uvicorn(port, "floor_server:app"),
            lambda s, p=port: s.wait_up(f"{local}:{p}/infer", 60),
        )
        spec.cells = cells(spec.name, spec.variant, [("raw-post", "mlp", "v1", "http", f"{local}:{port}/infer")], True)
        yield spec
        port = free_port()
        granian = [tool("ort", "granian"), "--interface", "rsgi", "--host", "127.0.0.1", "--port", str(port)]
        spec = ServerSpec(
            "granian-rsgi",
            "fixed-json",
            [*granian, "--workers", "1", "--working-dir", str(servers), "floor_server:rsgi_app"],
            lambda s, p=port: s.wait_up(f"{local}:{p}/infer", 60),
        )
        spec.cells = cells(spec.name, spec.variant, [("raw-post", "mlp", "v1", "http", f"{local}:{port}/infer")], True)
        yield spec

    if "minimal" in sel.peers:  # 30 lines of starlette + orjson + onnxruntime: a reference, not a peer
        port = free_port()
        url = f"{local}:{port}/v2/models"
        spec = ServerSpec(
            "minimal-starlette-ort",
            "v2-json",
            uvicorn(port, "floor_server:ort_app"),
            lambda s, u=url: s.wait_up(f"{u}/mlp/infer", 60),
            env={"FLOOR_ORT": "1", "MODELS_DIR": onnx},
        )
        rows = [
            ("v2-json", "mlp", "v2-json", "http", f"{url}/mlp/infer"),
            ("v2-json", "cnn", "v2-json", "http", f"{url}/cnn/infer"),
        ]
        spec.cells = cells(spec.name, spec.variant, rows, False)
        yield spec

    if "mlserver" in sel.peers:  # tuned: request logging off, inference in the server process; batch-on: defaults
        for variant, flags, batching, everything in (
            ("tuned", ["--debug", "false", "--parallel-workers", "0"], "off", True),
            ("batch-on", [], "on", False),
        ):
            http, grpc, metrics = free_port(), free_port(), free_port()
            repo = paths.work(f"mlserver_repo_{variant}")
            setup = [tool("mlserver", "python"), str(servers / "mlserver_setup.py"), str(repo), onnx]
            setup += ["--batching", batching, "--http-port", str(http), "--grpc-port", str(grpc)]
            setup += ["--metrics-port", str(metrics), *flags]
            spec = ServerSpec(
                "mlserver",
                variant,
                [tool("mlserver", "mlserver"), "start", str(repo)],
                lambda s, p=http: s.wait_ready(f"{local}:{p}/v2/models/cnn/ready", 180),
                env={"PYTHONPATH": str(servers)},
                setup=[setup],
            )
            base, g = f"{local}:{http}/v2/models", f"{local}:{grpc}{V2_GRPC}"
            mlp_rows = [
                ("v2-json", "mlp", "v2-json", "http", f"{base}/mlp/infer"),
                ("v2-grpc", "mlp", "v2-grpc", "grpc", g),
            ]
            spec.cells = cells("mlserver", variant, mlp_rows, everything)
            if everything:
                cnn_rows = [
                    ("v2-json", "cnn", "v2-json", "http", f"{base}/cnn/infer"),
                    ("v2-grpc-raw", "cnn", "v2-grpc-raw", "grpc", g),
                ]
                spec.cells += cells("mlserver", variant, cnn_rows, False)
            yield spec

    if "kserve" in sel.peers:
        http, grpc = free_port(), free_port()
        ports = ["--http_port", str(http), "--grpc_port", str(grpc)]
        spec = ServerSpec(
            "kserve",
            "default",
            [tool("kserve", "python"), str(servers / "kserve_onnx.py"), "--models_dir", onnx, *ports],
            lambda s, p=http: s.wait_ready(f"{local}:{p}/v2/models/cnn/ready", 180),
        )
        h, g = f"{local}:{http}", f"{local}:{grpc}{V2_GRPC}"
        spec.cells = cells("kserve", "default", [("v1-rest", "mlp", "v1", "http", f"{h}/v1/models/mlp:predict")], True)
        rows = [
            ("v2-json", "mlp", "v2-json", "http", f"{h}/v2/models/mlp/infer"),
            ("v2-grpc", "mlp", "v2-grpc", "grpc", g),
            ("v2-json", "cnn", "v2-json", "http", f"{h}/v2/models/cnn/infer"),
            ("v2-binary", "cnn", "v2-binary", "http", f"{h}/v2/models/cnn/infer"),
            ("v2-grpc-raw", "cnn", "v2-grpc-raw", "grpc", g),
        ]
        spec.cells += cells("kserve", "default", rows, False)
        yield spec

    if "litserve" in sel.peers and "mlp" in sel.models:  # one server per model; CNN left out (2-4 img/s)
        port = free_port()
        spec = ServerSpec(
            "litserve",
            "default",
            [tool("litserve", "python"), str(servers / "litserve_onnx.py"), f"{onnx}/mlp.onnx", str(port)],
            lambda s, p=port: s.wait_ready(f"{local}:{p}/health", 180),
        )
        spec.cells = cells("litserve", "default", [("v1-style", "mlp", "v1", "http", f"{local}:{port}/predict")], True)
        yield spec

    if "rayserve" in sel.peers and "mlp" in sel.models:  # Ray's own processes never go idle: each row waits 90 s
        port = free_port()
        spec = ServerSpec(
            "rayserve",
            "default",
            [tool("rayserve", "python"), str(servers / "rayserve_onnx.py"), onnx, str(port)],
            lambda s: s.wait_log("READY", 240),
        )
        spec.cells = cells("rayserve", "default", [("v1-style", "mlp", "v1", "http", f"{local}:{port}/mlp")], True)
        yield spec


def venv_of(spec: ServerSpec) -> Path | None:
    """The peer venv a spec runs from (None for our server)."""
    venvs = peer_venvs()
    try:
        relative = Path(spec.argv[0]).relative_to(venvs)
    except ValueError:
        return None
    return venvs / relative.parts[0]
