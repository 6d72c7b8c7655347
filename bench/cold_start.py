"""Cold start from object storage, measured: download through our remote repository, then load and first call.

    .venv/bin/python bench/cold_start.py                     # 1-200 MB MLPs + the digits examples, on moto
    .venv/bin/python bench/cold_start.py --sizes 1,10 --repeats 1 --no-examples
    .venv/bin/python bench/cold_start.py --bucket my-bucket  # a real store, from a pod (AWS_* as the server)

What it does (on moto: all on this machine, nothing from the network):

1. Builds ONNX MLPs of about the given sizes (float32 random weights, seed 0; 4 square hidden layers of
   width ``sqrt(MB * 1e6 / 16)``) with ``onnx.helper``, under ``bench/.work/cold_start/`` (reused).
2. Starts moto's S3-compatible server on 127.0.0.1 (as tests/conftest.py does), uploads every model as
   ``s3://<bucket>/<name>/1/...`` with boto3, plus ``models/digits_onnx/1`` and ``models/digits/1``
   (SavedModel) when they are built and ``--no-examples`` is not given. With ``--bucket``, no moto: the
   models go to that existing bucket under a fresh ``cold-start-<random>/`` prefix, removed at the end.
3. Per model and repeat: **download** = ``RemoteVersionScanner.scan().ready[1]`` into an empty cache folder
   (our code path: listing, s3fs ``get_file``, size check, re-listing, atomic rename), timed; **reuse** = the
   same with the cache already filled (what a restart with a persistent cache pays). Then, in a fresh
   Python process: **import** = importing the runtime module (onnxruntime / TensorFlow), **load** =
   ``modelserve.load_model(folder)`` a second time in that process (what a running server pays for one more
   model; **1st load** is the process's first, with the runtime's one-off set-up), **first call** = the first
   ``predict`` on zeros of the signature's shape (batch 1), **call** = the median of the next 20 calls,
   **RSS** = resident memory added by the first load and first call (``/proc/self/statm``).
4. Prints a table (medians over repeats) and least-squares fits ``seconds = a + b * MB`` over the MLP rows,
   and writes everything as JSON to ``--json`` (default ``bench/results/cold_start.json``, which
   ``bench/scale_sim.py`` reads).

moto on loopback is not a cloud store: its throughput is bounded by this machine's CPU (Python on both
ends), not by a network. The JSON also carries an *assumed* cloud download model with its sources
(``CLOUD`` below); it is an assumption, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work" / "cold_start"
DEFAULT_JSON = BENCH / "results" / "cold_start.json"
EXAMPLES = ("digits_onnx/1", "digits/1")

#: Assumed cloud download (not measured here). Sources:
#: * 85-90 MB/s per connection: AWS, "Performance design patterns for Amazon S3", "Horizontal scaling and
#:   request parallelization": "Make one concurrent request for each 85-90 MB/s of desired network throughput"
#:   https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance-design-patterns.html
#: * 100-200 ms first byte: AWS, "Best practices design patterns: optimizing Amazon S3 performance"
#:   https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html
#: * parts: s3fs (2026.9) ``get_file`` fetches a file over 50 MiB (its default_block_size) as ranged GETs of
#:   50 MiB, up to 10 at a time (max_concurrency), a smaller one as one stream; read in its source.
#: * a 10 Gb/s NIC (1250 MB/s) caps the parallel parts.
CLOUD = {
    "first_byte_s": 0.15,
    "stream_mb_s": 87.5,
    "part_mb": 52.4288,
    "max_parts": 10,
    "nic_mb_s": 1250.0,
    "sources": [
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance-design-patterns.html",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html",
        "s3fs S3FileSystem._get_file (default_block_size 50 MiB, max_concurrency 10)",
    ],
}


def cloud_download_s(mb, cloud: dict = CLOUD):
    """Assumed seconds to fetch one object of ``mb`` MB (a number or an array) from S3 in-region, the way
    s3fs fetches it: one stream up to a part's size, else parallel parts."""
    parts = np.clip(np.ceil(np.asarray(mb, float) / cloud["part_mb"]), 1, cloud["max_parts"])
    rate = np.minimum(parts * cloud["stream_mb_s"], cloud["nic_mb_s"])
    seconds = cloud["first_byte_s"] + np.asarray(mb, float) / rate
    return float(seconds) if np.ndim(seconds) == 0 else seconds


# ---- building the models ----


def build_mlp(mb: float, folder: Path, seed: int = 0) -> Path:
    """``folder/1/model.onnx``: x[N,w] -> 4 x (MatMul, Add, Relu) -> MatMul[w,10] -> y, about ``mb`` MB."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    target = folder / "1" / "model.onnx"
    if target.is_file():
        return target
    width = max(8, round((mb * 1e6 / 16) ** 0.5))
    rng = np.random.default_rng(seed)
    scale = np.float32(1 / np.sqrt(width))
    nodes, inits, last = [], [], "x"
    for i in range(4):
        w = (rng.standard_normal((width, width), dtype=np.float32) * scale).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(width, np.float32), f"b{i}")]
        nodes += [
            helper.make_node("MatMul", [last, f"w{i}"], [f"m{i}"]),
            helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
            helper.make_node("Relu", [f"a{i}"], [f"h{i}"]),
        ]
        last = f"h{i}"
    inits.append(numpy_helper.from_array(rng.standard_normal((width, 10), dtype=np.float32) * scale, "wout"))
    nodes.append(helper.make_node("MatMul", [last, "wout"], ["y"]))
    graph = helper.make_graph(
        nodes,
        f"mlp_{mb:g}mb",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_suffix(".tmp")
    onnx.save(model, str(temp))
    temp.rename(target)
    return target


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


# ---- object storage ----


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def upload(client, bucket: str, local: Path, prefix: str) -> None:
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(local).as_posix()}")


def time_download(url: str, endpoint: str, cache: Path) -> tuple[float, Path]:
    """Seconds for ``scan().ready[1]`` (the copy into ``cache``) and the local folder it gave."""
    from modelserve.repository.remote import RemoteSettings, RemoteVersionScanner

    scanner = RemoteVersionScanner(url, RemoteSettings(cache_dir=cache, s3_endpoint=endpoint))
    scanner.scan()
    scan = scanner.scan()  # ready now: the listing was the same twice
    start = time.perf_counter()
    folder, _fingerprint = scan.ready[1]
    seconds = time.perf_counter() - start
    if not isinstance(folder, Path):
        os.fspath(folder)  # raises the download's error
    return seconds, folder


# ---- loading, in a fresh process ----


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def load_one(folder: Path) -> dict:
    """Run in a fresh process: import, load, first call and steady calls of the model in ``folder``."""
    import importlib

    from modelserve.runtimes.registry import detect_platform

    kind = detect_platform(folder)
    start = time.perf_counter()
    importlib.import_module({"tensorflow": "modelserve.runtimes.tensorflow"}.get(kind, f"modelserve.runtimes.{kind}"))
    imported = time.perf_counter() - start
    from modelserve import load_model

    before = rss_mb()
    start = time.perf_counter()
    model = load_model(folder)
    first_load = time.perf_counter() - start
    signature = model.signatures["serving_default"]
    inputs = {
        name: np.zeros([1 if d is None or d < 0 else d for d in (spec.shape or (1,))], dtype=spec.dtype)
        for name, spec in signature.inputs.items()
    }
    start = time.perf_counter()
    model.predict(inputs)
    first = time.perf_counter() - start
    after = rss_mb()
    calls = []
    for _ in range(20):
        start = time.perf_counter()
        model.predict(inputs)
        calls.append(time.perf_counter() - start)
    model.close()
    start = time.perf_counter()  # again, as a running server loads one more model: the runtime is warm
    load_model(folder).close()
    loaded = time.perf_counter() - start
    return {
        "platform": kind,
        "import_s": imported,
        "first_load_s": first_load,
        "load_s": loaded,
        "first_call_ms": first * 1e3,
        "call_ms": statistics.median(calls) * 1e3,
        "rss_mb": after - before,
    }


def load_in_child(folder: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, __file__, "--load-one", str(folder)], capture_output=True, text=True, env=env, timeout=600
    )
    if done.returncode != 0:
        raise SystemExit(f"error: loading {folder} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- the run ----


def fit(xs: list[float], ys: list[float]) -> dict:
    """Least squares ``y = a + b x``; ``r2`` says how well a line describes the points, ``min`` is the least y."""
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    b, a = np.polyfit(x, y, 1) if len(x) > 1 else (0.0, float(y.mean()))
    residual = float(((y - (a + b * x)) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum()) or 1.0
    # ``min``: the smallest measured value, a floor for the line where its intercept is negative
    return {"a": float(a), "b": float(b), "r2": 1 - residual / total, "min": float(y.min())}


def measure(models: list[tuple[str, Path, bool]], repeats: int, bucket: str | None = None) -> list[dict]:
    """One row per model: medians over ``repeats`` of every timing (see the module docstring).

    ``bucket``: an existing bucket to measure against instead of moto (credentials and endpoint from the
    environment, as the server reads them); the objects go under a fresh prefix, deleted afterwards."""
    import logging
    import uuid

    import boto3

    server, prefix = None, ""
    if bucket is None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
        os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
        os.environ.pop("AWS_PROFILE", None)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint, bucket = f"http://127.0.0.1:{port}", "models"
    else:
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        prefix = f"cold-start-{uuid.uuid4().hex[:8]}/"
    rows = []
    client = boto3.client("s3", endpoint_url=endpoint)
    try:
        if server is not None:
            client.create_bucket(Bucket=bucket)
        for name, folder, synthetic in models:
            start = time.perf_counter()
            upload(client, bucket, folder, f"{prefix}{name}/1")
            print(f"  uploaded {name} ({folder_mb(folder):.1f} MB) in {time.perf_counter() - start:.1f} s", flush=True)
            samples: dict[str, list[float]] = {}
            for _ in range(repeats):
                with tempfile.TemporaryDirectory(prefix="cold-start-cache-") as cache:
                    url = f"s3://{bucket}/{prefix}{name}"
                    download, local = time_download(url, endpoint, Path(cache))
                    reuse, _ = time_download(url, endpoint, Path(cache))
                    loaded = load_in_child(local)
                for key, value in {"download_s": download, "reuse_s": reuse, **loaded}.items():
                    if isinstance(value, (int, float)):
                        samples.setdefault(key, []).append(float(value))
            row = {k: statistics.median(v) for k, v in samples.items()}
            mb = folder_mb(folder)
            row.update(name=name, mb=mb, platform=loaded["platform"], synthetic=synthetic, repeats=repeats)
            row["download_mb_s"] = mb / row["download_s"]
            row["cold_s"] = row["download_s"] + row["load_s"] + row["first_call_ms"] / 1e3
            row["cloud_download_s"] = cloud_download_s(mb)
            rows.append(row)
    finally:
        if server is not None:
            server.stop()
        elif prefix:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=item["Key"])
    return rows


def report(rows: list[dict], store: str) -> dict:
    mlps = [r for r in rows if r["synthetic"]]
    sizes = [r["mb"] for r in mlps]
    fits = {
        "download_s": fit(sizes, [r["download_s"] for r in mlps]),
        "load_s": fit(sizes, [r["load_s"] + r["first_call_ms"] / 1e3 for r in mlps]),
        "cold_s": fit(sizes, [r["cold_s"] for r in mlps]),
        "call_ms": fit(sizes, [r["call_ms"] for r in mlps]),
        "rss_mb": fit(sizes, [r["rss_mb"] for r in mlps]),
    }
    columns = (
        ("model", "name", "<14", ""),
        ("MB", "mb", ">8", ".1f"),
        ("download s", "download_s", ">11", ".3f"),
        ("MB/s", "download_mb_s", ">7", ".0f"),
        ("reuse ms", "reuse_ms", ">9", ".2f"),
        ("import s", "import_s", ">9", ".2f"),
        ("1st load s", "first_load_s", ">11", ".3f"),
        ("load s", "load_s", ">8", ".3f"),
        ("1st call ms", "first_call_ms", ">12", ".2f"),
        ("call ms", "call_ms", ">8", ".2f"),
        ("RSS +MB", "rss_mb", ">8", ".0f"),
        ("cold s", "cold_s", ">7", ".2f"),
        ("cloud dl s", "cloud_download_s", ">11", ".2f"),
    )
    print("\n" + "".join(f"{title:{align}}" for title, _, align, _ in columns))
    for r in rows:
        values = {**r, "reuse_ms": r["reuse_s"] * 1e3}
        print("".join(f"{values[key]:{align}{form}}" for _, key, align, form in columns))
    print(f"\nfits over the MLP rows, seconds = a + b * MB (cold = download + load + first call; store: {store}):")
    for key, f in fits.items():
        print(f"  {key:<11} a = {f['a']:.4f}  b = {f['b']:.6f} per MB  (r2 {f['r2']:.3f})")
    print(
        f"assumed cloud download (not measured): {CLOUD['first_byte_s']} s first byte + MB / "
        f"({CLOUD['stream_mb_s']} MB/s x parts of {CLOUD['part_mb']:.1f} MB, <= {CLOUD['max_parts']} parts, "
        f"<= {CLOUD['nic_mb_s']:.0f} MB/s)"
    )
    return {
        "measured_on": {
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            "store": "moto ThreadedMotoServer on 127.0.0.1 (loopback, not a cloud store)"
            if store == "moto"
            else f"s3://{store}",
        },
        "rows": rows,
        "fit": fits,
        "cloud": CLOUD,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/cold_start.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,50,100,200", help="MLP sizes in MB [1,10,50,100,200]")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per model (medians) [3]")
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="the built examples [models/]")
    parser.add_argument("--no-examples", action="store_true", help="MLPs only")
    parser.add_argument("--bucket", help="measure against this existing S3 bucket instead of moto (from a pod)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write [{DEFAULT_JSON}]")
    parser.add_argument("--load-one", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_one:
        print(json.dumps(load_one(args.load_one)))
        return
    models: list[tuple[str, Path, bool]] = []
    for text in args.sizes.split(","):
        mb = float(text)
        start = time.perf_counter()
        folder = WORK / f"mlp_{mb:g}mb"
        build_mlp(mb, folder)
        print(f"  built {folder.name} in {time.perf_counter() - start:.1f} s", flush=True)
        models.append((folder.name, folder / "1", True))
    if not args.no_examples:
        for relative in EXAMPLES:
            if (args.models / relative).is_dir():
                models.append((relative.split("/")[0], args.models / relative, False))
            else:
                print(f"  skipping {relative}: not built under {args.models} (modelserve examples build)")
    result = report(measure(models, args.repeats, args.bucket), "moto" if args.bucket is None else args.bucket)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
