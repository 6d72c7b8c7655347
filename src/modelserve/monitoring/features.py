"""What drift is measured on: one value per request row per feature, taken from a request's inputs and the
outputs that answered it; and the prediction per row that ground truth is compared with.

    features(inputs, outputs, settings)   -> {"images:mean": float64[n], "prediction": int64[n], ...}
    predictions(outputs)                  -> Prediction("class", ids, names) or Prediction("value", ...)

Features, by tensor (``n`` rows, the first dimension of the inputs):

* numeric input of rank 1 (or ``[n, 1]``): the values, feature ``NAME`` (categorical when listed in
  ``categorical``);
* numeric input ``[n, F]`` with ``F <= 32``: one feature per column, ``NAME[i]``;
* any other numeric input (images, wide vectors): per-row pixel statistics ``NAME:mean`` and ``NAME:std``;
* string input: the length per row ``NAME:length``, and the values as a categorical feature ``NAME`` when
  the input is one string per row (a baseline with more than 50 distinct values drops it);
* class outputs: the predicted class ``prediction`` (categorical) from an integer ``[n]`` output, else the
  argmax of class scores; class scores (``[n, K]`` floats, ``K >= 2``) also give the top score
  ``NAME:max`` (the model's confidence); a float ``[n]`` output of a regressor is ``prediction`` (numeric);
* the output named by ``embedding_output``: per-row ``NAME:mean`` and ``NAME:std``;
* inputs or outputs listed in ``whole_rows``: also the whole row flattened, ``NAME:rows`` (``[n, d]``, for
  the kernel test :func:`~modelserve.monitoring.statistics.mmd`).

Contract: pure functions of numpy arrays; a tensor whose first dimension is not ``n`` gives no feature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CATEGORICAL", "NUMERIC", "Prediction", "feature_kind", "features", "predictions"]

NUMERIC, CATEGORICAL = "numeric", "categorical"
_MAX_COLUMNS = 32
_MAX_TEXT = 64


@dataclass(frozen=True)
class Prediction:
    """Per-row predictions: ``kind`` "class" (``values`` int64 class ids; ``names`` their names when the
    model answers them) or "value" (``values`` float64)."""

    kind: str
    values: np.ndarray
    names: np.ndarray | None = None


def rows(inputs: Mapping[str, Any]) -> int:
    """Rows of a request: the first dimension of its first input (1 for a scalar, 0 with no inputs)."""
    for value in inputs.values():
        try:
            return len(value)
        except TypeError:  # a scalar
            return 1
    return 0


def feature_kind(values: np.ndarray) -> str:
    return NUMERIC if values.dtype.kind in "biuf" else CATEGORICAL


def _per_row_stats(name: str, array: np.ndarray, found: dict[str, np.ndarray]) -> None:
    """Per-row mean and std from the sums of values and squares (one pass each, accumulated in float64;
    a third of ``ndarray.std``'s time on ``[n, 784]`` float32 rows)."""
    flat = array.reshape(array.shape[0], -1)
    if flat.dtype.kind != "f":
        flat = flat.astype(np.float64)
    size = flat.shape[1]
    if size:
        mean = flat.sum(axis=1, dtype=np.float64) / size
        squares = np.einsum("ij,ij->i", flat, flat, dtype=np.float64) / size
        found[f"{name}:mean"] = mean
        found[f"{name}:std"] = np.sqrt(np.maximum(squares - mean * mean, 0.0))


def _text(values: np.ndarray) -> np.ndarray:
    return np.array(
        [v.decode("utf-8", "replace")[:_MAX_TEXT] if isinstance(v, bytes) else str(v)[:_MAX_TEXT] for v in values],
        dtype=object,
    )


def _input_features(name: str, array: np.ndarray, categorical: Iterable[str], found: dict[str, np.ndarray]) -> None:
    if array.dtype.kind in "biuf":
        if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1):
            values = array.reshape(-1)
            found[name] = values.astype(np.int64) if name in categorical else values.astype(np.float64)
        elif array.ndim == 2 and array.shape[1] <= _MAX_COLUMNS:
            columns = array.astype(np.float64, copy=False)
            for i in range(array.shape[1]):
                found[f"{name}[{i}]"] = columns[:, i]
        elif array.ndim >= 2:
            _per_row_stats(name, array, found)
    elif array.dtype == object or array.dtype.kind in "SU":
        per_row = array.reshape(array.shape[0], -1)
        lengths = [sum(len(v) for v in row if isinstance(v, (bytes, str))) for row in per_row]
        found[f"{name}:length"] = np.asarray(lengths, np.float64)
        if per_row.shape[1] == 1:
            found[name] = _text(per_row[:, 0])


def predictions(outputs: Mapping[str, Any], n: int) -> Prediction | None:
    """The model's prediction per row: an integer ``[n]`` class output, else the argmax of ``[n, K]`` class
    scores, else a float ``[n]`` (or ``[n, 1]``) value; None when no output looks like either. A string
    ``[n]`` output beside the class ids (``class_name``) gives their names."""
    arrays = {name: np.asarray(value) for name, value in outputs.items()}
    arrays = {name: a for name, a in arrays.items() if a.ndim >= 1 and a.shape[0] == n}
    names = next((a for a in arrays.values() if a.ndim == 1 and (a.dtype == object or a.dtype.kind in "SU")), None)
    if names is not None:
        names = _text(names)
    for array in arrays.values():
        if array.dtype.kind in "iu" and (array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)):
            return Prediction("class", array.reshape(-1).astype(np.int64), names)
    for array in arrays.values():
        if array.dtype.kind == "f" and array.ndim == 2 and array.shape[1] >= 2:
            return Prediction("class", np.argmax(array, axis=1).astype(np.int64), names)
    for array in arrays.values():
        if array.dtype.kind == "f" and (array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1)):
            return Prediction("value", array.reshape(-1).astype(np.float64))
    return None


def features(
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Any] | None,
    categorical: Iterable[str] = (),
    embedding_output: str | None = None,
    predicted: Prediction | None = None,
    whole_rows: Iterable[str] = (),
) -> dict[str, np.ndarray]:
    """Per-row feature values of one request (see the module docstring); ``outputs`` None: inputs only;
    ``predicted``: :func:`predictions` of ``outputs`` when the caller has it already."""
    n = rows(inputs)
    found: dict[str, np.ndarray] = {}
    categorical, whole_rows = frozenset(categorical), frozenset(whole_rows)
    for name, value in inputs.items():
        array = np.asarray(value)
        if array.ndim >= 1 and array.shape[0] == n:
            _input_features(name, array, categorical, found)
            if name in whole_rows and array.dtype.kind in "biuf":
                found[f"{name}:rows"] = array.reshape(n, -1).astype(np.float32)
    if outputs is None:
        return found
    if predicted is None:
        predicted = predictions(outputs, n)
    if predicted is not None:
        found["prediction"] = predicted.values
    for name, value in outputs.items():
        array = np.asarray(value)
        if array.ndim < 1 or array.shape[0] != n or array.dtype.kind != "f":
            continue
        if name in whole_rows:
            found[f"{name}:rows"] = array.reshape(n, -1).astype(np.float32)
        if name == embedding_output:
            _per_row_stats(name, array, found)
        elif array.ndim == 2 and array.shape[1] >= 2:
            found[f"{name}:max"] = array.max(axis=1).astype(np.float64)
    return found
