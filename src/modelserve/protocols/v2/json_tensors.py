"""V2 JSON tensors: ``data`` of REST request inputs in (:func:`from_json`), the infer response out.

Requests, for inputs without a ``binary_data_size`` parameter (every error is an
:class:`~modelserve.errors.InvalidArgument`):

- JSON ``data`` is flat or nested, row-major, with ``prod(shape)`` elements. Numbers for FP32/FP64 (``NaN``,
  ``Infinity`` and ``-Infinity`` are read, as Triton's parser does); integers in range for the integer types;
  ``true``/``false`` for BOOL; strings for BYTES (UTF-8 encoded into an object array of ``bytes``). FP16 and BF16
  have no JSON form. One leniency: a ``true``/``false`` mixed among numbers reads as 1/0 (numpy's promotion),
  which keeps the conversion vectorised.

Responses (:func:`encode_infer_response`):

- Outputs are those the serving core answered with (the requested ones, in request order, already checked; or
  all of them in the model's order when none were named). An output is binary when its ``binary_data``
  parameter says so, else when the request parameter ``binary_data_output`` is true. Binary outputs carry
  ``"parameters": {"binary_data_size": n}`` and no ``data``; their bytes follow the JSON in output order, and
  the JSON length is returned for the ``Inference-Header-Content-Length`` header.
- JSON ``data`` is flat and row-major. Non-finite floats are written as the bare tokens ``NaN``, ``Infinity`` and
  ``-Infinity``, exactly as Triton does (its writer sets rapidjson's ``kWriteNanAndInfFlag``): lossless, and read
  back by tritonclient and Python's ``json``, though not by strict JSON parsers (browsers' ``JSON.parse``,
  orjson); such clients should ask for binary outputs. Finite-only outputs are always strict JSON.
- Two cases are sent as binary even when JSON was asked for, because JSON cannot carry them: FP16 outputs (the
  protocol gives FP16 no JSON form) and BYTES outputs holding an element that is not valid UTF-8. Clients see
  the ``binary_data_size`` parameter, as with any binary output; tritonclient reads both transparently.
"""

from __future__ import annotations

import math
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from modelserve.errors import InvalidArgument
from modelserve.protocols.v2.binary import FIXED, as_str, object_array, output_datatype, serialize_bytes, shape_text

if TYPE_CHECKING:
    from modelserve.protocols.v2.envelope import RequestedOutput

__all__ = ["encode_infer_response", "from_json"]

_NO_JSON_FORM = frozenset({"FP16", "BF16"})


# --------------------------------------------------------------------------------------------- requests


def from_json(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    """Input ``name``'s JSON ``data`` as an array of ``datatype`` and ``shape`` (BYTES: object arrays of ``bytes``)."""
    if datatype in _NO_JSON_FORM:
        raise InvalidArgument(f"input '{name}': {datatype} has no JSON form; send it as binary data")
    if not isinstance(data, list):
        raise InvalidArgument(f"input '{name}': 'data' must be a JSON array")
    if datatype == "BYTES":
        items = _utf8_strings(name, data)
        _check_count(name, shape, len(items))
        return object_array(items, shape)
    try:
        values = np.array(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidArgument(f"input '{name}': 'data' is not a regular array: {exc}") from None
    _check_count(name, shape, values.size)
    target = FIXED[datatype]
    if values.size == 0:
        return np.empty(shape, target)
    return _typed(name, datatype, target, values, data).reshape(shape)


def _typed(name: str, datatype: str, target: np.dtype, values: np.ndarray, data: list[Any]) -> np.ndarray:
    """``values`` (numpy's reading of ``data``) as ``target``, after checking they are JSON values of that type."""
    kind = values.dtype.kind
    if target.kind == "b":
        if kind != "b":
            raise InvalidArgument(f"input '{name}': BOOL data must be true or false")
    elif target.kind in "iu":
        if kind not in "iu":  # also integers beyond int64 mixed with negative ones: numpy reads them as float64
            return _exact_integers(name, datatype, target, data)
        info = np.iinfo(target)
        if values.min() < info.min or values.max() > info.max:
            raise _integer_error(name, datatype, info)
    elif kind not in "iuf":
        raise InvalidArgument(f"input '{name}': {datatype} data must be numbers")
    return values.astype(target, copy=False)


def _exact_integers(name: str, datatype: str, target: np.dtype, data: list[Any]) -> np.ndarray:
    """The slow path for data numpy could not read as integers: element by element, exact."""
    items = np.array(data, dtype=object).ravel().tolist()
    if not all(type(item) is int for item in items):
        raise _integer_error(name, datatype, np.iinfo(target))
    try:
        return np.array(items, dtype=target)
    except OverflowError:
        raise _integer_error(name, datatype, np.iinfo(target)) from None


def _integer_error(name: str, datatype: str, info: np.iinfo) -> InvalidArgument:
    return InvalidArgument(f"input '{name}': {datatype} data must be integers from {info.min} to {info.max}")


def _utf8_strings(name: str, data: list[Any]) -> list[bytes]:
    """Flatten nested JSON string arrays (iteratively: any depth) into UTF-8 ``bytes``, row-major."""
    items: list[bytes] = []
    stack = [iter(data)]
    try:
        while stack:
            for value in stack[-1]:
                if type(value) is str:
                    items.append(value.encode())
                elif type(value) is list:
                    stack.append(iter(value))
                    break
                else:
                    raise InvalidArgument(f"input '{name}': BYTES data must be strings")
            else:
                stack.pop()
    except UnicodeEncodeError:
        raise InvalidArgument(f"input '{name}': BYTES data holds a string that is not valid Unicode") from None
    return items


def _check_count(name: str, shape: tuple[int, ...], count: int) -> None:
    if count != math.prod(shape):
        raise InvalidArgument(
            f"input '{name}': shape {shape_text(shape)} needs {math.prod(shape)} elements but 'data' has {count}"
        )


# --------------------------------------------------------------------------------------------- responses


def encode_infer_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: dict[str, np.ndarray],
    requested: list[RequestedOutput],
    binary_default: bool,
    in_shared_memory: frozenset[str] = frozenset(),
) -> tuple[bytes, int | None]:
    """Encode a V2 infer response: ``(body, JSON header length)``, the length ``None`` when nothing is binary.

    ``outputs`` are the answered outputs in answer order; ``requested`` gives their ``binary_data`` choices. See
    the module docstring for which outputs go as binary and how non-finite floats are written. Outputs named in
    ``in_shared_memory`` were written to their shared-memory regions: they are listed without data.
    """
    tensors: list[dict[str, Any]] = []
    chunks: list[memoryview] = []
    for name, array, binary in _selected(outputs, requested, binary_default):
        if name in in_shared_memory:  # written to its region already: name, datatype and shape only
            tensors.append({"name": name, "datatype": output_datatype(name, array), "shape": list(array.shape)})
            continue
        tensor, chunk = _encode_output(name, np.asarray(array), binary)
        tensors.append(tensor)
        if chunk is not None:
            chunks.append(chunk)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        response["id"] = request_id
    response["outputs"] = tensors
    header = orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _selected(
    outputs: dict[str, np.ndarray], requested: list[RequestedOutput], binary_default: bool
) -> list[tuple[str, np.ndarray, bool]]:
    choices = {output.name: output.binary for output in requested}
    return [
        (name, array, binary_default if choices.get(name) is None else bool(choices[name]))
        for name, array in outputs.items()
    ]


def _encode_output(name: str, array: np.ndarray, binary: bool) -> tuple[dict[str, Any], memoryview | None]:
    """The output's JSON tensor, and its binary bytes (``None`` when the data went into the JSON)."""
    datatype = output_datatype(name, array)
    tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    if datatype == "BYTES":
        items = array.reshape(-1).tolist()
        texts = None if binary else _texts(name, items)
        if texts is not None:
            tensor["data"] = texts
            return tensor, None
        flat = serialize_bytes(name, items)
    else:
        flat = np.ascontiguousarray(array.reshape(-1), dtype=array.dtype.newbyteorder("<"))
        if not binary and datatype != "FP16":
            tensor["data"] = _json_numbers(flat)
            return tensor, None
    chunk = memoryview(flat.view(np.uint8))
    tensor["parameters"] = {"binary_data_size": len(chunk)}
    return tensor, chunk


def _texts(name: str, items: list[Any]) -> list[str] | None:
    """The elements as JSON strings, or ``None`` when one is not valid UTF-8 (the output then goes as binary)."""
    try:
        return [item.decode() if isinstance(item, bytes) else as_str(name, item) for item in items]
    except UnicodeDecodeError:
        return None


def _json_numbers(flat: np.ndarray) -> np.ndarray | orjson.Fragment:
    """The array for orjson, or, when it holds non-finite floats, JSON text with Triton's ``NaN``/``Infinity``."""
    if flat.dtype.kind != "f":
        return flat
    finite = np.isfinite(flat)
    if finite.all():
        return flat
    parts = orjson.dumps(flat, option=orjson.OPT_SERIALIZE_NUMPY).split(b"null")  # orjson writes null for them
    tokens = [b"NaN" if math.isnan(value) else b"Infinity" if value > 0 else b"-Infinity" for value in flat[~finite]]
    return orjson.Fragment(b"".join(chain.from_iterable(zip(parts, [*tokens, b""]))))
