"""Build all example models into a model repository (``<out_dir>/<model>/<integer version>/``).

Layout written under ``out_dir`` (existing entries of the same names are replaced):

* ``half_plus_two/00000123`` and ``half_plus_two/00000124``: TF Serving's half-plus-two TF1 SavedModel.
* ``digits/1``: digits CNN SavedModel (``serving_default``, ``from_bytes``, ``input_pass_through``).
* ``digits_onnx/1/model.onnx``, ``digits_tflite/1/model.tflite``, ``digits_keras/1/model.keras``: the same
  trained network in other formats.
* ``digits_torch/1/model.onnx`` (with its conversion report) and ``digits_torch_source/model.pt2``: a PyTorch
  CNN trained on the same split and converted by ``modelserve convert``; only when the ``pytorch`` extra is
  installed (:mod:`modelserve.examples.digits_torch`), else skipped with a note.
* ``multiply_five/1`` and ``multiply_ten/1``: toy regression SavedModels.
* ``digits_pipeline/1`` and ``painter/1``: Python models (``model.py``; served with ``--allow_code_models``),
  and ``digits_ensemble/1``, a pipeline of served models; see :mod:`modelserve.examples.python_models`.
* ``reference.npz`` in each pixel model's version (its drift baseline: the training images),
* ``digits_test.npz`` (held-out ``images``/``labels``) and ``digits_png/`` (one PNG per class,
  ``labels.csv``).

Every directory is built in a hidden temporary sibling (``.<name>.tmp-*``) and renamed into place, so a
half-built version folder never appears; files are replaced with ``os.replace``.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from modelserve.examples import (
    digits,
    digits_export,
    digits_onnx,
    digits_torch,
    half_plus_two,
    multiply,
    python_models,
    verify,
)

Log = Callable[[str], None]

MULTIPLIERS = {"multiply_five": 5.0, "multiply_ten": 10.0}
# The models that take a digit picture (pixels or PNG bytes): their examples/ folder gets the test PNGs.
# The models that take the pixels themselves (a float [n, 8, 8, 1] input "images").
PIXEL_MODELS = ("digits", "digits_keras", "digits_onnx", "digits_tflite", "digits_torch")
DIGITS_MODELS = (
    "digits",
    "digits_keras",
    "digits_onnx",
    "digits_tflite",
    "digits_torch",
    "digits_pipeline",
    "digits_ensemble",
)


def build_examples(out_dir: Path, *, seed: int = 0, log: Log = print) -> dict[str, Any]:
    """Build every example model into ``out_dir`` (created if needed) and return a summary.

    The same ``seed`` gives the same trained weights and accuracy. Raises RuntimeError if the digits
    test accuracy is below ``digits.MIN_ACCURACY`` or a converted model disagrees with the Keras model.

    Summary keys: ``out_dir``, ``seed``, ``models`` ({name: [version dirs]}), ``digits_test`` (npz path),
    ``digits_png`` ({PNG path: label}), ``digits_accuracy``, ``max_abs_diff`` ({"onnx"|"tflite": float, and
    "torch_onnx": the converted PyTorch model against PyTorch}), ``digits_torch_accuracy`` (None without
    PyTorch), ``timings_s`` ({step: seconds}, including ``total``).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    models: dict[str, list[str]] = {}
    started = time.perf_counter()

    @contextmanager
    def step(name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        timings[name] = round(time.perf_counter() - start, 3)
        log(f"{name}: {timings[name]:.2f}s")

    @contextmanager
    def version(model: str, number: str) -> Iterator[Path]:
        final = out_dir / model / number
        with _staged(final) as tmp:
            yield tmp
        models.setdefault(model, []).append(str(final))

    with step("import_tensorflow"):  # timed on its own so the first model's time is its own
        importlib.import_module("tensorflow")
    with step("half_plus_two"):
        first, second = half_plus_two.VERSIONS
        with version("half_plus_two", first) as tmp:
            half_plus_two.build_half_plus_two(tmp)
        with version("half_plus_two", second) as tmp:
            shutil.copytree(out_dir / "half_plus_two" / first, tmp, dirs_exist_ok=True)

    with step("digits_train"):
        split = digits.load_split(seed)
        model, accuracy = digits.train_classifier(split, seed)
        reference = digits.predict(model, split.test_images)
    log(f"digits: held-out accuracy {accuracy:.4f} on {len(split.test_labels)} images")

    with step("digits_savedmodel"), version("digits", "1") as tmp:
        digits_export.save_saved_model(model, tmp)
    with step("digits_keras"), version("digits_keras", "1") as tmp:
        digits_export.save_keras(model, tmp / "model.keras")
    max_abs_diff: dict[str, float] = {}
    with step("digits_onnx"), version("digits_onnx", "1") as tmp:
        digits_onnx.save_onnx(model, tmp / "model.onnx")
        outputs = verify.outputs_of(tmp / "model.onnx", split.test_images)
        max_abs_diff["onnx"] = verify.check_agreement("digits_onnx", outputs, reference)
    with step("python_models"):
        with version("digits_pipeline", "1") as tmp:
            python_models.write_digits_pipeline(tmp, out_dir / "digits_onnx" / "1" / "model.onnx")
        with version("painter", "1") as tmp:
            python_models.write_painter(tmp)
        with version("digits_ensemble", "1") as tmp:
            python_models.write_digits_ensemble(tmp)
    with step("digits_tflite"), version("digits_tflite", "1") as tmp:
        digits_export.save_tflite(model, tmp / "model.tflite")
        outputs = verify.outputs_of(tmp / "model.tflite", split.test_images)
        max_abs_diff["tflite"] = verify.check_agreement("digits_tflite", outputs, reference)
    log(f"digits: max |probability difference| vs Keras: {max_abs_diff}")

    with step("digits_test_files"):
        test_path = out_dir / "digits_test.npz"
        tmp_file = out_dir / f".{test_path.name}.tmp"
        digits.write_test_set(split, tmp_file)
        os.replace(tmp_file, test_path)
    torch_accuracy = None
    if digits_torch.available():
        with step("digits_torch"):
            torch_accuracy, max_abs_diff["torch_onnx"] = build_digits_torch(out_dir, split, seed, test_path)
        models[digits_torch.MODEL] = [str(out_dir / digits_torch.MODEL / "1")]
        log(f"digits_torch: held-out accuracy {torch_accuracy:.4f}; ONNX vs PyTorch {max_abs_diff['torch_onnx']:.3g}")
    else:
        log("digits_torch: skipped (PyTorch is not installed: pip install 'modelserve[pytorch]')")
    with step("digits_example_files"):
        png_dir = out_dir / "digits_png"
        with _staged(png_dir) as tmp:
            png_labels = digits.write_test_pngs(split, tmp)
        for name in PIXEL_MODELS:  # drift baselines: the training images (the monitor runs the model on them)
            if (out_dir / name / "1").is_dir():
                digits.write_reference(split, out_dir / name / "1" / "reference.npz")
        for name in DIGITS_MODELS:  # the web page offers a model's examples/ pictures as example inputs
            if (out_dir / name).is_dir():
                with _staged(out_dir / name / "examples") as tmp:
                    for png in sorted(png_dir.glob("*.png")):
                        shutil.copyfile(png, tmp / png.name)

    for name, factor in MULTIPLIERS.items():
        with step(name), version(name, "1") as tmp:
            multiply.save_multiplier(multiply.train_multiplier(factor, seed), tmp)

    timings["total"] = round(time.perf_counter() - started, 3)
    log(f"examples built in {timings['total']:.1f}s under {out_dir}")
    return {
        "out_dir": str(out_dir),
        "seed": seed,
        "models": models,
        "digits_test": str(test_path),
        "digits_png": {str(png_dir / name): label for name, label in png_labels.items()},
        "digits_accuracy": accuracy,
        "max_abs_diff": max_abs_diff,
        "digits_torch_accuracy": torch_accuracy,
        "timings_s": timings,
    }


def build_digits_torch(out_dir: Path, split: digits.DigitsSplit, seed: int, test_path: Path) -> tuple[float, float]:
    """Train the PyTorch CNN, save its program, convert it; (held-out accuracy, ONNX vs PyTorch max diff)."""
    with digits_torch.one_thread():
        model, accuracy = digits_torch.train(split, seed)
        with _staged(out_dir / digits_torch.SOURCE_MODEL) as tmp:
            digits_torch.save_program(model, tmp / "model.pt2")
        source = out_dir / digits_torch.SOURCE_MODEL / "model.pt2"
        result = digits_torch.convert_into(source, out_dir / digits_torch.MODEL, test_path)
    landed = next(row for row in result.rows if row.landed)
    if landed.max_abs_diff is None or landed.max_abs_diff > verify.MAX_ABS_DIFF:
        raise RuntimeError(f"digits_torch: ONNX differs from PyTorch by {landed.max_abs_diff}\n{result.table()}")
    return accuracy, landed.max_abs_diff


@contextmanager
def _staged(final: Path) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``final``; if the block succeeds, it replaces ``final``.

    The temporary directory is removed if the block fails, and the previous ``final`` (if any) is
    removed after the swap.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    tmp.chmod(0o755)  # mkdtemp creates it private; a model server may run as another user
    try:
        yield tmp
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
            final.rename(old / final.name)
            tmp.rename(final)
            shutil.rmtree(old)
        else:
            tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
