"""The bundled Python models (the ``python`` platform): ``digits_pipeline`` and ``painter``.

* ``digits_pipeline/1``: ``model.py`` (:mod:`modelserve.examples.python.digits_pipeline`), ``digits.onnx`` (the
  trained digits network) and ``labels.txt``: PNG bytes in, top-3 labels and scores out.
* ``painter/1``: ``model.py`` (:mod:`modelserve.examples.python.painter`) and ``generator.onnx``: a prompt in,
  a PNG of that digit out.
* ``digits_ensemble/1``: a pipeline (``pipeline.yaml`` and ``steps.py``): PNG bytes -> decode -> the served
  ``digits_onnx`` and ``digits_tflite`` -> their average, top 3.

The painter's generator is trained here on scikit-learn's digits, no downloads: for each class, the mean
image and its first ``LATENT`` principal components scaled by their standard deviations (a linear
class-conditional generator: ``image = mean[c] + z @ components[c]``, ``z ~ N(0, 1)``), written as a small
ONNX graph (Gather, MatMul, Add, Clip) that the model's Python code calls.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np

from modelserve.examples.python.painter import LATENT, WORDS


def write_digits_pipeline(folder: Path, digits_onnx: Path) -> None:
    _copy_model_file("digits_pipeline.py", folder)
    shutil.copyfile(digits_onnx, folder / "digits.onnx")
    (folder / "labels.txt").write_text("\n".join(WORDS) + "\n")


def write_painter(folder: Path) -> None:
    _copy_model_file("painter.py", folder)
    means, components = train_generator()
    save_generator(means, components, folder / "generator.onnx")


def write_digits_ensemble(folder: Path) -> None:
    _copy_model_file("digits_ensemble.yaml", folder, "pipeline.yaml")
    _copy_model_file("digits_ensemble_steps.py", folder, "steps.py")


def _copy_model_file(name: str, folder: Path, target: str = "model.py") -> None:
    source = resources.files("modelserve.examples.python") / name
    (folder / target).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")


def train_generator(latent: int = LATENT) -> tuple[np.ndarray, np.ndarray]:
    """Per-class means float32 [10, 64] and scaled components float32 [10, latent, 64], images in [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.data / 16.0).astype(np.float64)
    means = np.zeros((10, 64))
    components = np.zeros((10, latent, 64))
    for digit in range(10):
        rows = images[data.target == digit]
        means[digit] = rows.mean(axis=0)
        _, singular, vt = np.linalg.svd(rows - means[digit], full_matrices=False)
        components[digit] = vt[:latent] * (singular[:latent] / np.sqrt(len(rows)))[:, np.newaxis]
    return means.astype(np.float32), components.astype(np.float32)


def save_generator(means: np.ndarray, components: np.ndarray, path: Path) -> None:
    """``image[N, 8, 8] = clip(means[class_index] + z[N, 1, K] @ components[class_index], 0, 1)``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    latent = components.shape[1]
    nodes = [
        helper.make_node("Gather", ["means", "class_index"], ["mean"], axis=0),
        helper.make_node("Gather", ["components", "class_index"], ["basis"], axis=0),
        helper.make_node("Unsqueeze", ["z", "axis_one"], ["z_row"]),
        helper.make_node("MatMul", ["z_row", "basis"], ["offset_row"]),
        helper.make_node("Reshape", ["offset_row", "flat"], ["offset"]),
        helper.make_node("Add", ["mean", "offset"], ["raw"]),
        helper.make_node("Clip", ["raw", "zero", "one"], ["clipped"]),
        helper.make_node("Reshape", ["clipped", "square"], ["image"]),
    ]
    initializers = [
        numpy_helper.from_array(means, "means"),
        numpy_helper.from_array(components, "components"),
        numpy_helper.from_array(np.array([1], np.int64), "axis_one"),
        numpy_helper.from_array(np.array([-1, 64], np.int64), "flat"),
        numpy_helper.from_array(np.array([-1, 8, 8], np.int64), "square"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one"),
    ]
    graph = helper.make_graph(
        nodes,
        "painter_generator",
        [
            helper.make_tensor_value_info("class_index", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", latent]),
        ],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 8, 8])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
