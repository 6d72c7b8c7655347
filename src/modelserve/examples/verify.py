"""Build-time checks that converted digits models agree with the Keras model they came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAX_ABS_DIFF = 1e-4


def outputs_of(path: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    """Run a converted model's ``serving_default`` through modelserve's own runtimes (ONNX, TFLite)."""
    from modelserve.model import load_model

    with load_model(path) as model:
        return model.predict({"images": images})


def check_agreement(name: str, outputs: dict[str, np.ndarray], probabilities: np.ndarray) -> float:
    """Return the largest |difference| between ``outputs["probabilities"]`` and the reference.

    Raises RuntimeError if it exceeds ``MAX_ABS_DIFF`` or if ``outputs["class_index"]`` differs from the
    reference's argmax anywhere.
    """
    diff = float(np.max(np.abs(outputs["probabilities"] - probabilities)))
    if diff > MAX_ABS_DIFF:
        raise RuntimeError(f"{name}: probabilities differ from the Keras model by up to {diff:.2e}")
    if not np.array_equal(outputs["class_index"], probabilities.argmax(axis=1)):
        raise RuntimeError(f"{name}: class_index differs from the Keras model")
    return diff
