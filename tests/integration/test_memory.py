"""Unloading frees what loading took: 50 load/unload cycles through the serving manager, per runtime.

Each runtime is measured in its own fresh process (the memory of the test process is not disturbed, nor
does it disturb the measure). The models hold a 2048 x 2048 float32 weight (16 MiB), so a version that
stayed in memory would be plain to see. Resident memory comes from ``/proc/self/statm``.

The bound: after 5 warm-up cycles, 50 more cycles may grow resident memory by at most 8 MiB once the C
allocator has returned its free pages (``malloc_trim(0)``, glibc), which catches a leak of 160 KiB per
cycle (1% of the model). Without trimming, the allocator keeps freed pages for reuse, so resident memory
plateaus a few model sizes above the baseline; that figure is bounded loosely (10 model sizes, 160 MiB).
A control run whose models are never closed must break the strict bound, so the measure can fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from factories import onnx_slow_matmul

SIZE = 2048
MODEL_MIB = SIZE * SIZE * 4 / 2**20
CYCLES = 50
TRIMMED_BOUND_MIB = 8.0
RAW_BOUND_MIB = 10 * MODEL_MIB

CHILD = r"""
import ctypes, gc, json, os, shutil, sys, tempfile
import numpy as np
from pathlib import Path

from modelserve.config import ModelConfig
from modelserve.runtimes import registry
from modelserve.runtimes.base import LoadedModel
from modelserve.serving.manager import ModelManager

source, cycles, keep = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "keep"
if registry.detect_platform(source) == "tensorflow":
    import modelserve.runtimes.tensorflow  # noqa: F401
    # TensorFlow's import leaves ~360k Python objects that each full collection walks (the manager collects
    # at every unload: ~0.35 s each). Freezing what exists before any model loads keeps models collectable.
    gc.collect()
    gc.freeze()
try:
    trim = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    trim = None

def rss_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def trimmed_rss_mib():
    if trim is not None:
        trim(0)
    return rss_mib()

base = Path(tempfile.mkdtemp()) / "model"
shutil.copytree(source, base / "1")
kept = []

class NeverClosed(LoadedModel):  # the control's leak: a runtime whose close() releases nothing
    def __init__(self, inner):
        self.platform, self.path, self.signatures = inner.platform, inner.path, inner.signatures
        self.run = inner.run
        kept.append(inner)

    def run(self, signature_name, inputs):
        raise AssertionError("replaced in __init__")

    def close(self):
        pass

def load(path):
    model = registry.load(path)
    return NeverClosed(model) if keep else model

manager = ModelManager(ModelConfig(name="m", base_path=base), load, drain_timeout=5)
manager.poll()  # first sight of the folder; the next poll loads it

def cycle():
    manager.poll()
    assert manager.available_versions() == [1], manager.statuses()
    with manager.borrow() as served:  # one call: frameworks that map weights lazily touch them now
        signature = served.model.signatures["serving_default"]
        spec = next(iter(signature.inputs.values()))
        served.model.run(signature.name, {spec.name: np.zeros((1, spec.shape[1]), np.float32)})
    loaded = rss_mib()
    manager.unload_all()
    assert manager.statuses()[0].state.name == "END"
    return loaded

before = trimmed_rss_mib()
first = cycle() - before  # the first load: what the model itself occupies
for _ in range(4):
    cycle()
baseline = trimmed_rss_mib()
loaded, raw = [], []
for _ in range(cycles):
    loaded.append(cycle())
    raw.append(rss_mib())
final = trimmed_rss_mib()
shutil.rmtree(base.parent)
report = {"first": first, "baseline": baseline, "final": final, "loaded": loaded, "raw": raw}
print(json.dumps({**report, "trimmed": trim is not None}))
"""

MAKE_MODELS = r"""
import sys
from pathlib import Path
import numpy as np
import tensorflow as tf

out, size = Path(sys.argv[1]), int(sys.argv[2])
weight = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)

class MatMul(tf.Module):
    def __init__(self):
        self.w = tf.Variable(weight)

    @tf.function(input_signature=[tf.TensorSpec([None, size], tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.matmul(x, self.w)}

module = MatMul()
tf.saved_model.save(module, str(out / "tensorflow"), signatures={"serving_default": module.serve})
converter = tf.lite.TFLiteConverter.from_concrete_functions([module.serve.get_concrete_function()], module)
(out / "tflite").mkdir()
(out / "tflite" / "model.tflite").write_bytes(converter.convert())
"""


@pytest.fixture(scope="module")
def big_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 MiB models: ONNX (made with onnx), a TF2 SavedModel and its TFLite conversion (made by TensorFlow)."""
    pytest.importorskip("onnx")
    pytest.importorskip("tensorflow")
    out = tmp_path_factory.mktemp("big")
    onnx_slow_matmul(out / "onnx", size=SIZE, layers=1)
    command = [sys.executable, "-c", MAKE_MODELS, str(out), str(SIZE)]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return out


def measure(model: Path, cycles: int = CYCLES, keep: bool = False) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), str(cycles), "keep" if keep else "free"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("runtime", ["onnx", "tflite", "tensorflow"])
def test_fifty_loads_and_unloads_keep_memory_bounded(big_models: Path, runtime: str):
    report = measure(big_models / runtime)
    growth = report["final"] - report["baseline"]
    loaded = max(report["loaded"]) - report["baseline"]
    raw = max(report["raw"]) - report["baseline"]
    print(f"{runtime}: loaded +{loaded:.1f} MiB, after {CYCLES} unloads +{growth:.1f} MiB trimmed, +{raw:.1f} MiB raw")
    # The model really occupied memory when first loaded (later loads may reuse memory the allocator kept).
    assert report["first"] > 0.75 * MODEL_MIB, report["first"]
    if report["trimmed"]:
        assert growth <= TRIMMED_BOUND_MIB
    assert raw <= RAW_BOUND_MIB


def test_the_measure_sees_models_that_stay_in_memory(big_models: Path):
    """Control: models whose close() frees nothing (a leaking runtime) must break the bound."""
    report = measure(big_models / "onnx", cycles=3, keep=True)
    print(f"control (3 cycles, close() frees nothing): +{report['final'] - report['baseline']:.1f} MiB trimmed")
    assert report["final"] - report["baseline"] > 2 * MODEL_MIB > TRIMMED_BOUND_MIB
