"""``modelserve examples demo``: in-memory predictions on the held-out digits with every runtime.

Prints, per format, load time, batch-1 and batch-32 latency, accuracy, and the first predictions, so a
fresh clone shows the whole in-memory path working end to end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelserve.model import load_model

DIGITS_FORMATS = ("digits/1", "digits_onnx/1", "digits_tflite/1", "digits_keras/1")


def _median_ms(call: Callable[[], object], repeats: int = 50) -> float:
    call()  # first call may trace or allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def run_demo(models_dir: Path, log: Callable[[str], None] = print) -> None:
    with np.load(models_dir / "digits_test.npz") as data:
        images, labels = data["images"], data["labels"]
    log(f"{len(labels)} held-out digits from {models_dir / 'digits_test.npz'}")
    log(f"{'model':<18}{'platform':<12}{'load ms':>9}{'b=1 ms':>9}{'b=32 ms':>9}{'accuracy':>10}  first 8")
    for relative in DIGITS_FORMATS:
        start = time.perf_counter()
        with load_model(models_dir / relative) as model:
            load_ms = 1000 * (time.perf_counter() - start)
            outputs = model.predict({"images": images})
            probabilities = outputs.get("probabilities", outputs.get("output_0"))
            predicted = probabilities.argmax(axis=1)
            one = _median_ms(lambda m=model: m.predict({"images": images[:1]}))
            batch = _median_ms(lambda m=model: m.predict({"images": images[:32]}))
            accuracy = float(np.mean(predicted == labels))
            log(
                f"{relative:<18}{model.platform:<12}{load_ms:>9.0f}{one:>9.3f}{batch:>9.3f}{accuracy:>10.2%}"
                f"  {predicted[:8].tolist()}"
            )
    log(f"labels{'':<61}{labels[:8].tolist()}")
