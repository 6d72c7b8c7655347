"""CNN (224x224x3) single-image throughput through Triton's system shared-memory extension, perf_analyzer-style,
against the V2 binary and gRPC raw doors and the in-process ceiling, in one run.

    .venv/bin/python bench/shared_memory.py [--duration 10] [--conc 1,32] [--no-pin]

The image lives in one registered region that every request reads (no tensor bytes on the socket); the
1000 probabilities come back as binary data (``--outputs binary``, the default) or are written to an output
region (``--outputs shm``; the gRPC answer then holds no data, which the harness's trailers-only error check,
from the peers' lib.sh, counts as errors: read the probe, which checks one answer, instead).

As in ``bench/run.py``: the server pinned to CPU 0 and the load generator (wrk for
HTTP, h2load for gRPC) to CPU 1, the same CNN model and image, a probe of every body before measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import numpy as np
import run
from harness import loadgen, models, paths, payloads, report, servers
from harness.payloads import BINARY, JSON, Payload

from modelserve.protocols import pb

INPUT, OUTPUT = "cnn_bench_input", "cnn_bench_output"


def shm_bodies(folder: Path, image: np.ndarray, output: str, output_bytes: int, outputs: str) -> dict[str, Payload]:
    """The V2 REST (JSON) and gRPC bodies that name the regions instead of carrying the image."""
    size = image.size * 4
    tensor_parameters = {"shared_memory_region": INPUT, "shared_memory_byte_size": size}
    requested: dict = {"name": output, "parameters": {"binary_data": True}}
    if outputs == "shm":
        requested["parameters"] = {"shared_memory_region": OUTPUT, "shared_memory_byte_size": output_bytes}
    body = {
        "inputs": [{"name": "x", "shape": list(image.shape), "datatype": "FP32", "parameters": tensor_parameters}],
        "outputs": [requested],
    }
    http = folder / f"cnn_v2_shm_{outputs}_b1.json"
    http.write_bytes(json.dumps(body, separators=(",", ":")).encode())
    message = pb.ModelInferRequest(model_name="cnn")
    tensor = message.inputs.add(name="x", datatype="FP32", shape=list(image.shape))
    tensor.parameters["shared_memory_region"].string_param = INPUT
    tensor.parameters["shared_memory_byte_size"].int64_param = size
    wanted = message.outputs.add(name=output)
    if outputs == "shm":
        wanted.parameters["shared_memory_region"].string_param = OUTPUT
        wanted.parameters["shared_memory_byte_size"].int64_param = output_bytes
    grpc = folder / f"cnn_grpc_shm_{outputs}_b1.bin"
    grpc.write_bytes(payloads._grpc_frame(message))
    return {"v2-shm": Payload(http, JSON), "v2-grpc-shm": Payload(grpc, BINARY)}


def register(rest_port: int, name: str, key: str, byte_size: int) -> None:
    body = json.dumps({"key": key, "offset": 0, "byte_size": byte_size}).encode()
    url = f"http://127.0.0.1:{rest_port}/v2/systemsharedmemory/region/{name}/register"
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as answer:
        assert answer.status == 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--conc", default="1,32")
    parser.add_argument("--outputs", choices=("shm", "binary"), default="binary")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    server_cpus, load_cpus = (None, None) if args.no_pin or (os.cpu_count() or 1) < 2 else ("0", "1")

    bench_models = models.build()
    bodies = payloads.build()["cnn"]
    image = payloads._peer_generator().arrays()["cnn_b1"].astype(np.float32)
    output, output_bytes = "y", 4 * 1000  # the CNN's [-1, 1000] FP32 output
    extra = shm_bodies(paths.work("payloads"), image, output, output_bytes, args.outputs)
    keys = {INPUT: f"/modelserve_bench_in_{os.getpid()}", OUTPUT: f"/modelserve_bench_out_{os.getpid()}"}
    files = {name: Path("/dev/shm") / key.lstrip("/") for name, key in keys.items()}
    files[INPUT].write_bytes(image.astype("<f4").tobytes())
    files[OUTPUT].write_bytes(b"\0" * 65536)

    rest, grpc = servers.free_port(), servers.free_port()
    argv = [
        str(Path(sys.executable).parent / "modelserve"),
        "serve",
        f"--model_repository={bench_models.onnx_repository}",
    ]
    argv += ["--host=127.0.0.1", f"--rest_api_port={rest}", f"--port={grpc}", "--file_system_poll_wait_seconds=0"]

    def ready(server) -> bool:
        if not server.wait_ready(f"http://127.0.0.1:{rest}/readyz", 180):
            return False
        with urllib.request.urlopen(f"http://127.0.0.1:{rest}/v2/models/cnn", timeout=10) as answer:
            outputs = json.load(answer)["outputs"]
        assert outputs[0]["name"] == output, outputs  # the bodies above name it
        register(rest, INPUT, keys[INPUT], image.size * 4)
        register(rest, OUTPUT, keys[OUTPUT], 65536)
        return True

    spec = servers.ServerSpec("modelserve", f"shm-out-{args.outputs}", argv, ready)
    cells = [
        ("v2-binary", bodies["v2-binary"], "http", f"http://127.0.0.1:{rest}/v2/models/cnn/infer"),
        ("v2-shm", extra["v2-shm"], "http", f"http://127.0.0.1:{rest}/v2/models/cnn/infer"),
        ("v2-grpc-raw", bodies["v2-grpc-raw"], "grpc", f"http://127.0.0.1:{grpc}{servers.V2_GRPC}"),
        ("v2-grpc-shm", extra["v2-grpc-shm"], "grpc", f"http://127.0.0.1:{grpc}{servers.V2_GRPC}"),
    ]
    for c in (int(c) for c in args.conc.split(",")):
        for door, payload, transport, url in cells:
            spec.cells.append(servers.Cell("modelserve", spec.variant, door, "cnn", payload, c, transport, url))
    timing = loadgen.Timing(args.warmup, args.duration, 30.0, load_cpus)
    try:
        rows = run.run_spec(spec, timing, server_cpus, None)
        ceiling_args = argparse.Namespace(quick=False, models=["cnn"])
        ceiling, inprocess = run.measure_inprocess(ceiling_args, bench_models, server_cpus)
    finally:
        for path in files.values():
            path.unlink(missing_ok=True)
    print("\n".join(report.rows_table(rows)))
    print()
    print("\n".join(report.ceiling_table(ceiling, inprocess)))
    one = next((c for c in ceiling if c["model"] == "cnn" and c["batch"] == 1), None)
    print()
    for row in rows:
        if "rps" in row and one:
            ratio = row["rps"] / one["runs_per_s"]
            print(f"{row['door']:12} c={row['concurrency']:<3} {row['rps']:8.1f} req/s = {ratio:.2f} x the ceiling")


if __name__ == "__main__":
    main()
