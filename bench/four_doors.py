"""Requests/s and latency of one digits image per request through each of the four front doors.

    .venv/bin/python bench/four_doors.py [models-dir] [--model digits_onnx] [--concurrency 32] [--seconds 10]

Starts ``modelserve serve`` on 127.0.0.1 over the example repository, then loads it with Debian's ``wrk``
(HTTP/1.1: TF Serving REST, V2 REST JSON and binary) and ``h2load`` (HTTP/2: TF Serving gRPC Predict, V2
gRPC ModelInfer with raw contents), every client sending the same single image. Prints one row per door
and the in-process ceiling (``Model.predict`` on one thread) for the ratio. Not a test: numbers depend on
the machine; repeat before trusting gaps under 2x (see ../shared/bench/peers/README.md).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

from modelserve import load_model
from modelserve.protocols import pb, tensor_proto

HERE = Path(__file__).resolve().parent
LUA = HERE.parent.parent / "shared/bench/peers/post.lua"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def grpc_frame(message) -> bytes:
    data = message.SerializeToString()
    return b"\x00" + len(data).to_bytes(4, "big") + data


def payloads(model: str, image: np.ndarray, folder: Path) -> dict[str, Path]:
    files = {}

    def write(name: str, data: bytes) -> None:
        files[name] = folder / name
        files[name].write_bytes(data)

    write("tfs_rest.json", json.dumps({"instances": image.tolist()}).encode())
    write(
        "v2_rest.json",
        json.dumps(
            {
                "inputs": [
                    {"name": "images", "shape": list(image.shape), "datatype": "FP32", "data": image.ravel().tolist()}
                ]
            }
        ).encode(),
    )
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "images",
                    "shape": list(image.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": image.nbytes},
                }
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    ).encode()
    write("v2_rest.bin", header + image.tobytes())
    files["v2_rest_header_length"] = len(header)  # type: ignore[assignment]
    predict = pb.PredictRequest()
    predict.model_spec.name = model
    predict.inputs["images"].CopyFrom(tensor_proto.from_numpy(image))
    write("tfs_grpc.bin", grpc_frame(predict))
    infer = pb.ModelInferRequest(model_name=model)
    infer.inputs.add(name="images", datatype="FP32", shape=list(image.shape))
    infer.raw_input_contents.append(image.tobytes())
    write("v2_grpc.bin", grpc_frame(infer))
    return files


def run_wrk(url: str, body: Path, concurrency: int, seconds: int, header_length: int | None = None) -> dict:
    env = {"BODY_FILE": str(body), "PATH": "/usr/bin:/bin"}
    if header_length is not None:
        env["IHCL"] = str(header_length)
        env["CONTENT_TYPE"] = "application/octet-stream"
    command = ["wrk", "-t1", f"-c{concurrency}", "--timeout", "10s", "-s", str(LUA), url]
    subprocess.run([*command[:3], "-d2s", *command[3:]], env=env, capture_output=True, check=True)  # warm-up
    out = subprocess.run([*command[:3], f"-d{seconds}s", *command[3:]], env=env, capture_output=True, text=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("WRKJSON "))
    result = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(v for k, v in result.items() if k.startswith("err_"))
    return {
        "rps": result["requests"] / result["duration_us"] * 1e6,
        "p50_ms": result["lat_p50_us"] / 1000,
        "p99_ms": result["lat_p99_us"] / 1000,
        "errors": errors,
    }


def run_h2load(url: str, body: Path, concurrency: int, seconds: int) -> dict:
    headers = ["-H", "content-type: application/grpc", "-H", "te: trailers"]
    base = ["h2load", "-t1", f"-c{concurrency}", "-m1", "-d", str(body), *headers]
    subprocess.run([*base, "-D2", url], capture_output=True, check=True)  # warm-up
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        out = subprocess.run([*base, f"-D{seconds}", f"--log-file={log.name}", url], capture_output=True, text=True)
        latencies = np.array([int(line.split("\t")[2]) for line in Path(log.name).read_text().splitlines() if line])
    done = int(re.search(r"(\d+) succeeded", out.stdout).group(1))
    failed = int(re.search(r"(\d+) failed", out.stdout).group(1)) + int(
        re.search(r"(\d+) errored", out.stdout).group(1)
    )
    return {
        "rps": done / seconds,
        "p50_ms": float(np.percentile(latencies, 50)) / 1000 if latencies.size else 0.0,
        "p99_ms": float(np.percentile(latencies, 99)) / 1000 if latencies.size else 0.0,
        "errors": failed,
    }


def in_process(models: Path, model: str, image: np.ndarray) -> float:
    with load_model(next((models / model).iterdir())) as loaded:
        for _ in range(200):
            loaded.predict({"images": image})
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            loaded.predict({"images": image})
        return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("models", nargs="?", default="models", type=Path)
    parser.add_argument("--model", default="digits_onnx")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    image = np.load(args.models / "digits_test.npz")["images"][:1]
    rest_port, grpc_port = free_port(), free_port()
    folder = Path(tempfile.mkdtemp())
    files = payloads(args.model, image, folder)
    command = [str(Path(sys.executable).parent / "modelserve"), "serve", f"--model_repository={args.models}"]
    command += ["--host=127.0.0.1", f"--rest_api_port={rest_port}", f"--port={grpc_port}"]
    command += ["--file_system_poll_wait_seconds=0"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                if requests.get(f"http://127.0.0.1:{rest_port}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        rest, grpc_url = f"http://127.0.0.1:{rest_port}", f"http://127.0.0.1:{grpc_port}"
        c, s = args.concurrency, args.seconds
        rows = {
            "TF Serving REST": run_wrk(f"{rest}/v1/models/{args.model}:predict", files["tfs_rest.json"], c, s),
            "V2 REST JSON": run_wrk(f"{rest}/v2/models/{args.model}/infer", files["v2_rest.json"], c, s),
            "V2 REST binary": run_wrk(
                f"{rest}/v2/models/{args.model}/infer", files["v2_rest.bin"], c, s, files["v2_rest_header_length"]
            ),
            "TF Serving gRPC": run_h2load(
                f"{grpc_url}/tensorflow.serving.PredictionService/Predict", files["tfs_grpc.bin"], c, s
            ),
            "V2 gRPC (raw)": run_h2load(
                f"{grpc_url}/inference.GRPCInferenceService/ModelInfer", files["v2_grpc.bin"], c, s
            ),
        }
    finally:
        server.terminate()
        server.wait(60)
    ceiling = in_process(args.models, args.model, image)
    print(f"model {args.model}, one image per request, concurrency {args.concurrency}, {args.seconds} s per door")
    print(f"{'door':<18}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'vs ceiling':>12}")
    for door, r in rows.items():
        ratio = r["rps"] / ceiling
        print(f"{door:<18}{r['rps']:>9.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>8}{ratio:>12.2f}")
    print(f"{'in-process':<18}{ceiling:>9.0f}  (Model.predict, one thread)")


if __name__ == "__main__":
    main()
