"""Rows in, batches out, and back: the one place a pipeline element meets a model's arrays.

A *row* is one pipeline element's model input: a mapping ``{input name: value}`` holding one example per
input (``{"images": array[8, 8, 1]}``), or a bare value when the signature has one input. :func:`stack_rows`
joins a batch of rows into ``{name: array[N, ...]}``; :func:`split_rows` cuts the model's outputs back into
one ``{name: value}`` per row. :func:`coerce_row` converts and checks one row against the signature, so a
pipeline can reject a bad record on its own instead of failing the batch it would have joined.

Only numpy and our own validation are imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from modelserve.batch.info import ModelInfo
from modelserve.errors import FailedPrecondition, InvalidArgument
from modelserve.serving.inputs import convert
from modelserve.types import TensorSpec

Row = Mapping[str, Any] | Any
Arrays = dict[str, np.ndarray]


def as_mapping(row: Row, input_names: Sequence[str]) -> Mapping[str, Any]:
    """``row`` itself when it is a mapping; a bare value becomes ``{the only input: value}``."""
    if isinstance(row, Mapping):
        return row
    if len(input_names) != 1:
        names = ", ".join(input_names)
        raise InvalidArgument(f"a bare value needs a signature with one input; this one takes {names}: pass a dict")
    return {input_names[0]: row}


def stack_rows(rows: Sequence[Row], input_names: Sequence[str]) -> dict[str, Any]:
    """``{name: array[N, ...]}`` from N rows (numeric rows stacked; others as lists for the validator).

    Rows must all hold every input; names the signature does not take are ignored here (the validator of
    the model call reports missing ones). Rows of one input with different shapes are refused.
    """
    mappings = [as_mapping(row, input_names) for row in rows]
    stacked: dict[str, Any] = {}
    for name in input_names:
        try:
            values = [m[name] for m in mappings]
        except KeyError:
            missing = next(i for i, m in enumerate(mappings) if name not in m)
            given = ", ".join(mappings[missing]) or "nothing"
            raise InvalidArgument(f"row {missing} of the batch has no input {name!r} (it has: {given})") from None
        stacked[name] = _stack(name, values)
    return stacked


def _stack(name: str, values: list[Any]) -> Any:
    if values and all(isinstance(v, (np.ndarray, np.generic)) for v in values):
        shapes = {np.shape(v) for v in values}
        if len(shapes) > 1:
            listed = ", ".join(str(list(s)) for s in sorted(shapes)[:3])
            raise InvalidArgument(f"rows of input {name!r} have different shapes ({listed}); they cannot share a batch")
        if values[0].dtype != object:
            return np.stack(values)
    if values and all(isinstance(v, (bytes, str)) for v in values):
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    if values and all(isinstance(v, (np.ndarray, np.generic)) for v in values):
        out = np.empty((len(values), *np.shape(values[0])), dtype=object)
        for i, v in enumerate(values):
            out[i] = v.item() if np.ndim(v) == 0 else v
        return out
    try:
        array = np.asarray(values)
    except ValueError:  # ragged nested lists: the validator names the input
        return values
    return values if array.dtype == object or array.dtype.kind in "SU" else array


def fit_batch(info: ModelInfo, stacked: dict[str, Any], count: int) -> dict[str, Any]:
    """Reshape stacked numeric inputs whose rows hold the right number of elements to the signature's
    fully known row shape (``[N]`` -> ``[N, 1]`` for ``float32 [-1, 1]``): the batch form of :func:`coerce_value`."""
    for tensor in info.inputs:
        value = stacked.get(tensor.name)
        if not isinstance(value, np.ndarray) or tensor.shape is None or len(tensor.shape) < 1:
            continue
        row_shape = tuple(tensor.shape[1:])
        known = all(d >= 0 for d in row_shape)
        if value.shape[1:] != row_shape and known and value.size == count * math.prod(row_shape):
            stacked[tensor.name] = value.reshape((count, *row_shape))
    return stacked


def split_rows(outputs: Mapping[str, np.ndarray], count: int) -> list[Arrays]:
    """One ``{name: row value}`` per input row. Every output must have ``count`` rows (TF Serving's rule)."""
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != count:
            raise FailedPrecondition(
                f"output {name!r} has shape {list(array.shape)}, not {count} rows: it cannot be split per example"
            )
    names = list(outputs)
    arrays = [outputs[n] for n in names]
    return [{n: a[i] for n, a in zip(names, arrays)} for i in range(count)]


def coerce_row(info: ModelInfo, row: Row) -> dict[str, np.ndarray]:
    """One row converted to the signature's dtypes and per-row shapes, or :class:`InvalidArgument`.

    Inputs the signature does not take are ignored. A value with the right number of elements is reshaped
    to a fully known row shape (a scalar for ``float32 [-1, 1]``); anything else must match the shape.
    """
    mapping = as_mapping(row, info.input_names)
    out: dict[str, np.ndarray] = {}
    for tensor in info.inputs:
        if tensor.name not in mapping:
            given = ", ".join(map(str, mapping)) or "nothing"
            raise InvalidArgument(
                f"missing input {tensor.name!r} ({tensor.describe()}); the record has: {given}; "
                f"the model takes: {info.describe_inputs()}"
            )
        out[tensor.name] = coerce_value(tensor.row_spec(), mapping[tensor.name])
    return out


def coerce_value(spec: TensorSpec, value: Any) -> np.ndarray:
    """One input of one row: dtype from ``spec``; reshaped when the element count fits a known shape."""
    array = convert(spec, value)
    shape = spec.shape
    if shape is None or _fits(shape, array.shape):
        return array
    if all(d >= 0 for d in shape) and array.size == math.prod(shape):
        return array.reshape(shape)
    wanted = "[" + ", ".join(map(str, shape)) + "]"
    raise InvalidArgument(f"input {spec.name!r}: each example must have shape {wanted}, got {list(array.shape)}")


def _fits(expected: tuple[int, ...], actual: tuple[int, ...]) -> bool:
    return len(expected) == len(actual) and all(e in (-1, a) for e, a in zip(expected, actual))
