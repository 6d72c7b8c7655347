"""The executor side of :func:`modelserve.batch.spark.predict`: pandas batches in, the same rows plus the
model's outputs out (Spark's ``mapInPandas`` calls :func:`predict_frames`; no Spark import here).

Each input cell becomes one example of its model input, converted and checked like a ``batch-predict``
record (:func:`~modelserve.batch.rows.coerce_value`: dtype, per-example shape, a flat list of the right
size reshaped): numbers, arrays (Spark arrays, nested or flat), strings or bytes. A binary cell for a numeric
input of rank 2 or 3 (``[-1, H, W, C]``) is decoded as an image, as ``--format images`` does. Outputs become
Spark values: numbers, (nested) lists for per-example arrays, text for string outputs (JSON text where the
rank is unknown or the bytes are not UTF-8, as in the Parquet output).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelserve.batch.info import ModelInfo, TensorInfo
from modelserve.batch.records import decode_image, jsonable, reason
from modelserve.batch.rows import coerce_value
from modelserve.batch.spark_worker import ModelSpec, predict_rows, predictor
from modelserve.errors import InvalidArgument


@dataclass(frozen=True)
class FramePlan:
    """What every ``mapInPandas`` task needs (picklable).

    ``inputs`` maps each model input to its column, ``outputs`` each kept model output to its new column;
    ``keep`` are the columns passed through unchanged. With ``error_column``, a row that fails (to convert,
    or in the model, alone) keeps null outputs and its reason there; without it, the task fails.
    """

    spec: ModelSpec
    info: ModelInfo
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    keep: tuple[str, ...]
    batch_size: int = 256
    error_column: str | None = None
    model_column: str | None = None
    image_scale: float | None = None
    image_resample: str = "box"


def predict_frames(plan: FramePlan, frames: Iterator[Any]) -> Iterator[Any]:
    """``mapInPandas``' function: for each pandas DataFrame, the kept columns and one column per output."""
    tensors = [(plan.info.input(name), column) for name, column in plan.inputs]
    kinds = {name: _kind(plan.info.output(name)) for name, _ in plan.outputs}

    def run(rows: list[Any]) -> Any:
        return predictor(plan.spec).run(rows)

    for frame in frames:
        count = len(frame)
        cells = {column: frame[column].tolist() for _, column in tensors}
        errors: list[str | None] = [None] * count
        items = []
        for index in range(count):
            try:
                row = {t.name: _example(t, cells[column][index], column, plan) for t, column in tensors}
                items.append((index, row))
            except (InvalidArgument, ValueError, TypeError) as exc:
                errors[index] = _fail(plan, exc, index)
        values: dict[str, list[Any]] = {name: [None] * count for name, _ in plan.outputs}
        models: list[str | None] = [None] * count
        for outcome in predict_rows(items, run, plan.batch_size):
            if outcome.error is not None:
                errors[outcome.ident] = _fail(plan, outcome.error, outcome.ident)
                continue
            models[outcome.ident] = outcome.model_id
            for name, _ in plan.outputs:
                values[name][outcome.ident] = _spark_value(outcome.outputs[name], kinds[name])
        out = frame[list(plan.keep)].reset_index(drop=True)
        columns = {column: values[name] for name, column in plan.outputs}
        if plan.model_column:
            columns[plan.model_column] = models
        if plan.error_column:
            columns[plan.error_column] = errors
        yield out.assign(**columns) if columns else out


def _example(tensor: TensorInfo, value: Any, column: str, plan: FramePlan) -> np.ndarray:
    if value is None:
        raise InvalidArgument(f"column {column!r} is null")
    spec = tensor.row_spec()
    if isinstance(value, (bytes, bytearray)) and tensor.dtype != "string" and spec.shape and len(spec.shape) in (2, 3):
        return decode_image(bytes(value), spec.shape, tensor.dtype, plan)  # type: ignore[arg-type]
    return coerce_value(spec, _plain(value))


def _plain(value: Any) -> Any:
    """Spark arrays arrive as numpy arrays, nested ones as object arrays of arrays: make them nested lists."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [_plain(v) for v in value]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fail(plan: FramePlan, exc: BaseException, index: int) -> str:
    text = reason(exc)
    if plan.error_column is None:
        raise InvalidArgument(
            f"row {index} of a batch of rows failed: {text} (pass error_column='error' to keep such rows, "
            "with null outputs and the reason)"
        ) from exc
    return text


def _kind(tensor: TensorInfo) -> str:
    """How an output's per-row value becomes a Spark value: ``number``, ``list``, ``text`` or ``json``."""
    if tensor.shape is None:
        return "json"
    if tensor.dtype == "string":
        return "text" if len(tensor.shape) <= 1 else "list"
    return "number" if len(tensor.shape) <= 1 else "list"


def _spark_value(value: Any, kind: str) -> Any:
    if kind == "number":
        return value.item() if isinstance(value, (np.ndarray, np.generic)) else value
    if kind == "list" and isinstance(value, np.ndarray) and value.dtype != object:
        return value.tolist()
    plain = jsonable(value)
    if kind == "json" or (kind == "text" and not isinstance(plain, str)):
        return orjson.dumps(plain).decode("utf-8")
    return plain
