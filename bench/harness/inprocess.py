"""In-process cost of our own API on the bench models: ``Model.predict`` with nothing in front of it.

    taskset -c 0 .venv/bin/python bench/harness/inprocess.py ONNX_REPO TF_REPO --seconds 5 [--models mlp,cnn,digits]

Run pinned to the server's core, as a separate process (the raw ONNX Runtime ceiling comes from the peers'
``ceiling.py``). Prints one JSON object: for each model and batch size, calls/s, inferences/s and the
p50/p99 of one ``Model.predict`` call on a request-shaped input (the same arrays the payloads carry).
The digits row is the in-process side of "per-request overhead of the server".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")


def measure(call, seconds: float, warmup: float) -> dict[str, float]:
    """Time-bounded loop of ``call`` after ``warmup`` seconds of unrecorded calls."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        call()
    times = []
    start = time.perf_counter()
    end = start + seconds
    while True:
        t0 = time.perf_counter()
        call()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        if t1 >= end:
            break
    elapsed = time.perf_counter() - start
    lat = np.array(times)
    return {
        "calls": len(times),
        "calls_per_s": len(times) / elapsed,
        "p50_us": float(np.percentile(lat, 50) * 1e6),
        "p99_us": float(np.percentile(lat, 99) * 1e6),
        "mean_us": float(lat.mean() * 1e6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx_repository", type=Path)
    parser.add_argument("tf_repository", type=Path)
    parser.add_argument("--examples", type=Path, required=True, help="folder with digits_test.npz")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--models", default="mlp,cnn,digits")
    parser.add_argument("--cnn-batches", default="1,8")
    args = parser.parse_args()

    from modelserve import load_model

    rng = np.random.default_rng(0)
    chosen = args.models.split(",")
    plan = []
    if "mlp" in chosen:
        plan.append(("mlp", args.onnx_repository / "mlp" / "1", "x", (784,), [1, 32]))
    if "cnn" in chosen:
        batches = [int(b) for b in args.cnn_batches.split(",")]
        plan.append(("cnn", args.onnx_repository / "cnn" / "1", "x", (224, 224, 3), batches))
    if "digits" in chosen:
        plan.append(("digits", args.tf_repository / "digits" / "1", "images", (8, 8, 1), [1]))
    rows = []
    for name, path, input_name, shape, batches in plan:
        start = time.perf_counter()
        model = load_model(path)
        load_s = time.perf_counter() - start
        for batch in batches:
            if name == "digits":
                data = np.load(args.examples / "digits_test.npz")["images"][:batch]
            else:
                scale = 255.0 if name == "cnn" else 1.0
                data = (rng.random((batch, *shape), dtype=np.float32) * scale).astype(np.float32)
            result = measure(lambda m=model, d=data, n=input_name: m.predict({n: d}), args.seconds, args.warmup)
            rows.append({"model": name, "batch": batch, "load_s": load_s, **result})
            rows[-1]["inferences_per_s"] = result["calls_per_s"] * batch
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        model.close()
    print(json.dumps({"affinity": sorted(os.sched_getaffinity(0)), "rows": rows}))


if __name__ == "__main__":
    main()
