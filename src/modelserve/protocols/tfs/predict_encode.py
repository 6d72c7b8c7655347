"""TF Serving REST predict responses from numpy, as ``tensorflow_serving/util/json_tensor.cc`` writes them.

Wire rules (errors are :class:`~modelserve.errors.InvalidArgument`, with TF Serving's text):

- Predict responses are ``{"predictions": ...}`` for row requests and ``{"outputs": ...}`` for columnar ones,
  one output collapsing to its value. Floats are written as ``%g`` when that reads back as the same value,
  else with ``max_digits10`` digits, ``.0`` added to bare integers; non-finite values are the bare tokens
  ``NaN``, ``Infinity``, ``-Infinity`` (as TF writes them; Python's ``json`` reads them); see
  :mod:`modelserve.protocols.tfs.float_text`. String outputs whose name ends in ``_bytes`` are
  ``{"b64": ...}``; other strings are decoded as UTF-8, invalid bytes becoming U+FFFD (TF writes the raw
  bytes, which is not valid JSON text).
- Output JSON is compact; TF pretty-prints (whitespace only).

:func:`nest`, :func:`string_tokens` and :func:`tf_dtype_name` serve the classify encoder too.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Mapping

import numpy as np

from modelserve.dtypes import by_numpy
from modelserve.errors import InvalidArgument, Unimplemented
from modelserve.protocols.tfs.debug_text import quote
from modelserve.protocols.tfs.float_text import float_tokens

__all__ = ["encode_predict", "nest", "string_tokens", "tf_dtype_name"]


def encode_predict(outputs: Mapping[str, np.ndarray], row_format: bool) -> bytes:
    """The predict response for ``outputs`` (in their order), in the form the request used.

    Row form: ``{"predictions": [...]}`` with one element per example (an object per example when there
    are several outputs, which must then share dim 0). Columnar form: ``{"outputs": value}`` for one
    output, ``{"outputs": {name: value, ...}}`` for several. Raises :class:`InvalidArgument` with TF Serving's
    messages for a rank-0 output or mismatched batch sizes in row form, and for dtypes JSON cannot carry
    (half, bfloat16, uint16, complex) unless the tensor is empty.
    """
    if not outputs:
        raise InvalidArgument("Cannot convert empty tensor map to JSON")
    if not row_format:
        values = {name: nest(_tokens(name, array), array.shape, keep=0)[0] for name, array in outputs.items()}
        return ('{"outputs":' + _join_object(values) + "}").encode()
    batch = -1
    for name, array in outputs.items():
        if array.ndim == 0:
            raise InvalidArgument(f"Tensor name: {name} has no shape information ")
        if batch >= 0 and array.shape[0] != batch:
            raise InvalidArgument(
                f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}"
            )
        batch = array.shape[0]
    rows = {name: nest(_tokens(name, array), array.shape, keep=1) for name, array in outputs.items()}
    if len(rows) == 1:
        items = next(iter(rows.values()))
    else:
        keys = [quote(name) + ":" for name in rows]
        columns = list(rows.values())
        items = ["{" + ",".join(k + c[i] for k, c in zip(keys, columns)) + "}" for i in range(batch)]
    return ('{"predictions":[' + ",".join(items) + "]}").encode()


def _join_object(values: dict[str, str]) -> str:
    """One value as itself (the collapse rule), several as a JSON object."""
    if len(values) == 1:
        return next(iter(values.values()))
    return "{" + ",".join(quote(name) + ":" + value for name, value in values.items()) + "}"


def nest(tokens: list[str], shape: tuple[int, ...], keep: int) -> list[str]:
    """Group C-order ``tokens`` into JSON arrays over ``shape[keep:]``: one text per index of ``shape[:keep]``."""
    for axis in range(len(shape) - 1, keep - 1, -1):
        size = shape[axis]
        if size == 0:
            tokens = ["[]"] * math.prod(shape[:axis])
        else:
            tokens = ["[" + ",".join(tokens[i : i + size]) + "]" for i in range(0, len(tokens), size)]
    return tokens


_INTEGER_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint32", "uint64"}


def _tokens(name: str, array: np.ndarray) -> list[str]:
    """``AddSingleValueAndAdvance`` for every element, in C order."""
    flat = array.ravel()
    kind = array.dtype.kind
    if array.dtype in (np.float32, np.float64):
        return float_tokens(flat)
    if array.dtype.name in _INTEGER_TYPES:
        return list(map(str, flat.tolist()))
    if kind == "b":
        return np.where(flat, "true", "false").tolist()
    if kind in "OSU":
        return string_tokens(flat, as_b64=name.endswith("_bytes"))
    if flat.size == 0:
        return []
    tf_name = tf_dtype_name(array)
    raise InvalidArgument(f"Failed to write JSON value for tensor type: {tf_name[3:].lower()}")


def string_tokens(flat: np.ndarray, as_b64: bool) -> list[str]:
    """JSON text of each string: ``{"b64": ...}`` when ``as_b64``, else the UTF-8 text (U+FFFD for bad bytes)."""
    items = [item if isinstance(item, bytes) else str(item).encode() for item in flat.tolist()]
    if as_b64:
        return ['{"b64":"' + binascii.b2a_base64(item, newline=False).decode() + '"}' for item in items]
    return [quote(item.decode("utf-8", "replace")) for item in items]


def tf_dtype_name(array: np.ndarray) -> str:
    """TensorFlow's ``DataType_Name`` of an array (``DT_FLOAT``), or numpy's name for dtypes TF lacks."""
    try:
        return by_numpy(array.dtype).tf_name
    except Unimplemented:
        return f"DT_{array.dtype.name.upper()}"
