"""The benchmark models: a 784→64→10 MLP and a MobileNetV3-small CNN as ONNX (random weights), and digits.

The two ONNX files come from ``../shared/bench/peers/export_models.py`` run with the project's own Python
(TensorFlow, Keras, tf2onnx and onnxruntime are in ``.venv``): the same script, seed and settings that
the peers' published figures used, so every server here loads byte-for-byte the same graphs. Input ``x``
(``[N,784]`` / ``[N,224,224,3]`` float32, NHWC pixel values 0..255), output ``y``. Nothing is downloaded.

Our server gets model repositories (``mlp/1/model.onnx`` and ``cnn/1/model.onnx`` in one, the example
``digits/1`` SavedModel in another, so the ONNX server never imports TensorFlow); the peers get the flat
folder of ``.onnx`` files their scripts expect.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.log import log

ONNX_MODELS = ("mlp", "cnn")


@dataclass(frozen=True)
class BenchModels:
    onnx_dir: Path  #: mlp.onnx and cnn.onnx (the peers' layout)
    onnx_repository: Path  #: our layout, mlp/1/model.onnx and cnn/1/model.onnx (never imports TensorFlow)
    digits_repository: Path  #: our layout, digits/1 (the example SavedModel)


def _export(onnx_dir: Path) -> None:
    script = paths.PEERS / "export_models.py"
    if not script.is_file():
        raise SystemExit(f"error: {script} not found; set MODELSERVE_PEERS_DIR to ../shared/bench/peers")
    log(f"building mlp.onnx and cnn.onnx with random weights ({script.name}, about 30 s)")
    start = time.monotonic()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(script), str(onnx_dir)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0 or not all((onnx_dir / f"{m}.onnx").is_file() for m in ONNX_MODELS):
        raise SystemExit(f"error: exporting the benchmark models failed:\n{done.stdout}\n{done.stderr[-4000:]}")
    for line in done.stdout.splitlines():
        if line.startswith(("mlp:", "cnn:")):
            log("  " + line)
    log(f"models built in {time.monotonic() - start:.0f} s")


def _place(source: Path, target: Path) -> None:
    """Copy ``source`` (file or folder) to ``target`` unless an identical-size copy is there."""
    if target.exists():
        if source.is_dir() or target.stat().st_size == source.stat().st_size:
            return
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)


def build(rebuild: bool = False) -> BenchModels:
    """Make (once) and return the bench models; ``rebuild`` exports the ONNX files again."""
    onnx_dir = paths.work("onnx")
    onnx_repository, digits_repository = paths.work("models_onnx"), paths.work("models_tf")
    if rebuild:
        for folder in (onnx_repository, digits_repository):
            shutil.rmtree(folder)
            folder.mkdir()
        for name in ONNX_MODELS:
            (onnx_dir / f"{name}.onnx").unlink(missing_ok=True)
    if not all((onnx_dir / f"{m}.onnx").is_file() for m in ONNX_MODELS):
        _export(onnx_dir)
    for name in ONNX_MODELS:
        _place(onnx_dir / f"{name}.onnx", onnx_repository / name / "1" / "model.onnx")
    digits = paths.EXAMPLES / "digits" / "1"
    if not (digits / "saved_model.pb").is_file():
        raise SystemExit(
            f"error: the example digits SavedModel is missing ({digits}); build it with `make examples` "
            "or set MODELSERVE_EXAMPLES_DIR"
        )
    _place(digits, digits_repository / "digits" / "1")
    return BenchModels(onnx_dir, onnx_repository, digits_repository)
