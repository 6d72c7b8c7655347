"""Load time and per-call latency of every runtime on the digits model, with our overhead as a ratio.

    .venv/bin/python bench/runtimes.py [models]

For each format: the first load (framework import included) and a second load; p50/p90 latency of
``Model.predict`` at batch 1 and 32; and the ratio to ``LoadedModel.run`` on pre-validated arrays (the
in-process ceiling: the framework call with nothing of ours in front but the runtime adapter).
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from modelserve import load_model
from modelserve.serving.inputs import admit
from modelserve.types import InputRules

FORMATS = ("digits_onnx/1", "digits_tflite/1", "digits/1", "digits_keras/1")


def percentiles(call, repeats: int) -> tuple[float, float]:
    for _ in range(5):
        call()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        call()
        times[i] = time.perf_counter() - start
    return float(np.percentile(times, 50) * 1e6), float(np.percentile(times, 90) * 1e6)


def main(models: Path) -> None:
    images = np.load(models / "digits_test.npz")["images"]
    print(
        f"{'model':<17}{'1st load ms':>12}{'2nd load ms':>12}  batch  {'p50 µs':>9}{'p90 µs':>9}"
        f"{'run() p50':>10}{'ratio':>7}"
    )
    for relative in FORMATS:
        start = time.perf_counter()
        load_model(models / relative).close()
        first = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        model = load_model(models / relative)
        second = (time.perf_counter() - start) * 1000
        signature = model.signatures["serving_default"]
        for batch in (1, 32):
            data = {"images": images[:batch]}
            ready = admit(signature, data, InputRules.CAST)
            repeats = 2000 if model.platform in ("onnx", "tflite") else 300
            p50, p90 = percentiles(lambda m=model, d=data: m.predict(d), repeats)
            ceiling, _ = percentiles(lambda m=model, r=ready: m.runtime.run("serving_default", r), repeats)
            label = relative if batch == 1 else ""
            loads = f"{first:>12.0f}{second:>12.0f}" if batch == 1 else " " * 24
            print(f"{label:<17}{loads}  {batch:>5}  {p50:>9.1f}{p90:>9.1f}{ceiling:>10.1f}{p50 / ceiling:>7.2f}")
        model.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "models"))
