"""TF Serving REST predict bodies -> numpy, as ``tensorflow_serving/util/json_tensor.cc`` reads them.

:func:`decode_predict` takes a body parsed by :func:`~modelserve.protocols.tfs.json_parse.parse_json`. Wire
rules (every error is an :class:`~modelserve.errors.InvalidArgument` unless noted, with TF Serving's text):

- Predict takes ``instances`` (row form: one array element per example, stacked on a new dim 0) or ``inputs``
  (columnar form: each tensor as given). The signature decides every dtype. Numbers go into float tensors
  (narrowed to float32 silently); integers in range into integer tensors (int8/int16/uint8 take the int32
  range and wrap, as TF does); ``true``/``false`` into bool; strings or ``{"b64": ...}`` into string tensors.
  Half, bfloat16, uint16 and complex inputs are :class:`~modelserve.errors.Unimplemented`. Ragged lists are
  refused. Shapes are not checked against the signature here: that is the serving layer's job, and only for
  runtimes with ``strict_shapes``.
- Quantized inputs (a :class:`~modelserve.types.Quantization` on the spec) follow the runtimes' "float in,
  float out" rule: an input given any non-integer number decodes as float32 for the runtime to quantize.

Known difference from TF Serving, on unusual input: tensors of rank above numpy's 64 are refused.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelserve.dtypes import by_name
from modelserve.errors import InvalidArgument, ServingError, Unimplemented
from modelserve.protocols.tfs.debug_text import debug_string, json_type
from modelserve.protocols.tfs.json_parse import INT64_MAX, INT64_MIN, UINT64_MAX, format_error, require_object, utf8
from modelserve.types import Signature, TensorSpec

__all__ = ["PredictRequestBody", "b64_value", "decode_predict", "is_b64", "shape_text"]


@dataclass(frozen=True)
class PredictRequestBody:
    """A decoded predict body: arrays of the signature's dtypes, and which form the client used.

    ``row_format`` is True for ``instances`` and decides the response form
    (:func:`~modelserve.protocols.tfs.predict_encode.encode_predict`).
    """

    inputs: dict[str, np.ndarray]
    row_format: bool


def decode_predict(body: Any, signature: Signature) -> PredictRequestBody:
    """Decode a parsed predict body against ``signature``.

    Returns every input the body names, converted to the signature's dtypes (string tensors are object
    arrays of ``bytes``). Raises :class:`InvalidArgument` (or :class:`Unimplemented` for dtypes JSON cannot
    carry) with TF Serving's messages.
    """
    doc = require_object(body)
    inputs: Mapping[str, TensorSpec] = signature.inputs
    if not inputs:
        raise InvalidArgument(f"Failed to get input map for signature: {signature.name}")
    if "instances" in doc:
        if "inputs" in doc:
            raise format_error(
                doc, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
            )
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise format_error(doc, "Expecting 'instances' to be an list/array")
        if not instances:
            raise format_error(doc, "No values in 'instances' array")
        return PredictRequestBody(_decode_rows(instances, inputs), row_format=True)
    if "inputs" in doc:
        return PredictRequestBody(_decode_columns(doc["inputs"], inputs), row_format=False)
    raise InvalidArgument("Missing 'inputs' or 'instances' key")


def _decode_columns(value: Any, inputs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or is_b64(value):
        if len(inputs) > 1:
            raise InvalidArgument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required "
                "as per tensorinfo_map"
            )
        name, spec = next(iter(inputs.items()))
        return {name: _decode_tensor(value, spec)}
    arrays = {}
    for name, spec in inputs.items():
        if name not in value:
            raise InvalidArgument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = _decode_tensor(value[name], spec)
    return arrays


def _decode_tensor(value: Any, spec: TensorSpec) -> np.ndarray:
    dtype = _wire_dtype(spec, value)
    array = _fast_array(value, dtype)
    if array is None:
        shape = _dense_shape(value)
        array = _to_array(_leaf_values(value, shape, dtype), shape, dtype)
    return array


def _decode_rows(instances: list[Any], inputs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray]:
    arrays = _decode_rows_fast(instances, inputs)
    return _decode_rows_exactly(instances, inputs) if arrays is None else arrays


def _decode_rows_fast(instances: list[Any], inputs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray] | None:
    """Whole columns at once, when the rows are uniform and every value is acceptable as it stands."""
    if all(_is_named_object(item) and item.keys() == inputs.keys() for item in instances):
        columns = {name: [item[name] for item in instances] for name in inputs}
    elif len(inputs) == 1 and not any(_is_named_object(item) for item in instances):
        columns = {next(iter(inputs)): instances}
    else:
        return None
    arrays = {}
    for name, column in columns.items():
        array = _fast_array(column, _wire_dtype(inputs[name], column))
        if array is None:
            return None
        arrays[name] = array
    return arrays


@dataclass
class _Column:
    shape: tuple[int, ...]
    size: int
    values: list[Any]


def _decode_rows_exactly(instances: list[Any], inputs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray]:
    """``FillTensorMapFromInstancesList``: element by element, so the first error is TF's first error."""
    if not isinstance(instances[0], dict) and len(inputs) > 1:
        raise InvalidArgument(
            "instances is a plain list, but expecting list of objects as multiple input tensors required as "
            "per tensorinfo_map"
        )
    objects = _is_named_object(instances[0])
    names = sorted(inputs)
    dtypes = {name: _wire_dtype(spec, _column_of(instances, name, objects)) for name, spec in inputs.items()}
    columns: dict[str, _Column] = {}
    for index, item in enumerate(instances):
        if objects:
            if not _is_named_object(item):
                raise InvalidArgument(f"Expecting object but got list at item {index} of input list")
            for name, value in item.items():
                try:
                    _add_instance_item(value, name, dtypes, columns)
                except ServingError as exc:
                    raise InvalidArgument(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: {_status_text(exc)}"
                    ) from None
            if sorted(item) != names:
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list. JSON object: {debug_string(item)} "
                    f"keys must be equal to: {','.join(names)}"
                )
        else:
            if _is_named_object(item):
                raise InvalidArgument(f"Expecting value/list but got object at item {index} of input list")
            try:
                _add_instance_item(item, next(iter(inputs)), dtypes, columns)
            except ServingError as exc:
                raise InvalidArgument(
                    f"Failed to process element: {index} of 'instances' list. Error: {_status_text(exc)}"
                ) from None
    return {
        name: _to_array(column.values, (len(instances), *column.shape), dtypes[name])
        for name, column in columns.items()
    }


def _column_of(instances: list[Any], name: str, objects: bool) -> list[Any]:
    if not objects:
        return instances
    return [item[name] for item in instances if isinstance(item, dict) and name in item]


def _add_instance_item(value: Any, name: str, dtypes: Mapping[str, str], columns: dict[str, _Column]) -> None:
    """``AddInstanceItem``: one example's value for ``name``, which must match the first example's shape."""
    if name not in dtypes:
        raise InvalidArgument(f"JSON object: does not have named input: {name}")
    shape = _dense_shape(value)
    values = _leaf_values(value, shape, dtypes[name])
    column = columns.get(name)
    if column is None:
        columns[name] = _Column(shape, len(values), values)
        return
    if column.size != len(values):
        raise InvalidArgument(f"Expecting tensor size: {column.size} but got: {len(values)}")
    if column.shape != shape:
        raise InvalidArgument(f"Expecting shape {shape_text(column.shape)} but got: {shape_text(shape)}")
    column.values.extend(values)


def shape_text(shape: tuple[int, ...]) -> str:
    """A shape as TF Serving writes it in messages: ``[2,3]``."""
    return "[" + ",".join(map(str, shape)) + "]"


def _status_text(exc: ServingError) -> str:
    """``absl::Status::ToString()``: ``INVALID_ARGUMENT: message``."""
    return f"{exc.code.name}: {exc.message}"


def is_b64(value: Any) -> bool:
    """Whether ``value`` is ``{"b64": "..."}``, the JSON form of binary string data."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named_object(value: Any) -> bool:
    return isinstance(value, dict) and not is_b64(value)


def _wire_dtype(spec: TensorSpec, value: Any) -> str:
    """The dtype whose JSON rules apply: float32 for a quantized input given a non-integer number."""
    if spec.quantization is not None and _has_float(value):
        return "float32"
    return spec.dtype


def _has_float(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float):
            return True
    return False


# The exact path: TF's algorithm, value by value.


def _dense_shape(value: Any) -> tuple[int, ...]:
    """``GetDenseTensorShape``: list lengths, following element ``[0]`` at each level."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _leaf_values(value: Any, shape: tuple[int, ...], dtype: str) -> list[Any]:
    """``FillTensorProto``: the leaves of ``value`` in order, checked against ``shape`` and ``dtype``."""
    rank = len(shape)
    leaves: list[Any] = []
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if not isinstance(item, list):
            if level != rank:
                raise InvalidArgument(
                    f"JSON Value: {debug_string(item)} found at incorrect level: {level + 1} in the JSON DOM. "
                    f"Expected at level: {rank}"
                )
            leaves.append(_leaf(item, dtype))
        elif level >= rank:
            raise InvalidArgument(f"Encountered list at unexpected level: {level} expected < {rank}")
        elif len(item) != shape[level]:
            raise InvalidArgument(
                f"Encountered list at unexpected size: {len(item)} at level: {level} expected size: {shape[level]}"
            )
        else:
            stack.extend((child, level + 1) for child in reversed(item))
    return leaves


# ``AddValueToTensor``: the JSON values each dtype accepts (rapidjson's IsNumber, IsInt, IsInt64, IsUint, ...),
# as Python types plus an inclusive range for integers. int8, int16 and uint8 take int32's range and wrap.
_INT32 = (-(1 << 31), (1 << 31) - 1)
_ACCEPTS: dict[str, tuple[set[type], tuple[int, int] | None]] = {
    "float32": ({int, float}, None),
    "float64": ({int, float}, None),
    "int32": ({int}, _INT32),
    "int16": ({int}, _INT32),
    "int8": ({int}, _INT32),
    "uint8": ({int}, _INT32),
    "int64": ({int}, (INT64_MIN, INT64_MAX)),
    "uint32": ({int}, (0, (1 << 32) - 1)),
    "uint64": ({int}, (0, UINT64_MAX)),
    "bool": ({bool}, None),
    "string": ({str}, None),
}


def _leaf(value: Any, dtype: str) -> Any:
    if isinstance(value, dict):
        if dtype == "string":
            return b64_value(value)
        raise _type_error(value, dtype)
    if dtype not in _ACCEPTS:
        raise Unimplemented(f"Conversion of JSON Value: {debug_string(value)} to type: {_tf_type(dtype)}")
    types, bounds = _ACCEPTS[dtype]
    if type(value) not in types or (bounds is not None and not bounds[0] <= value <= bounds[1]):
        raise _type_error(value, dtype)
    return utf8(value) if dtype == "string" else value


def _type_error(value: Any, dtype: str) -> InvalidArgument:
    return InvalidArgument(
        f"JSON Value: {debug_string(value)} Type: {json_type(value)} is not of expected type: {_tf_type(dtype)}"
    )


def b64_value(value: dict[str, Any]) -> bytes:
    """The bytes of a ``{"b64": ...}`` object, with TF Serving's errors for any other object or bad base64."""
    if not is_b64(value):
        raise InvalidArgument(f"JSON Value: {debug_string(value)} not formatted correctly for base64 data")
    decoded = _b64decode(value["b64"])
    if decoded is None:
        raise InvalidArgument("Unable to base64 decode")
    return decoded


_B64_ALPHABET = re.compile(r"[A-Za-z0-9+/]*")
_ASCII_SPACE = str.maketrans("", "", " \t\n\v\f\r")


def _b64decode(text: str) -> bytes | None:
    """``absl::Base64Unescape``: standard alphabet; whitespace ignored; ``=`` (or ``.``) padding complete or
    absent. None when ``text`` is not base64."""
    data = text.translate(_ASCII_SPACE)
    body = data.rstrip("=.")
    missing = -len(body) % 4
    if missing == 3 or len(data) - len(body) not in (0, missing) or not _B64_ALPHABET.fullmatch(body):
        return None
    return binascii.a2b_base64(body + "=" * missing)


# Staging dtype for building arrays from validated Python values (then cast to the target dtype).
_STAGING = {"float32": np.float64, "float64": np.float64, "bool": np.bool_, "uint64": np.uint64}
_MAX_RANK = 64  # numpy's limit


def _to_array(values: list[Any], shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if len(shape) > _MAX_RANK:
        raise InvalidArgument(f"Tensors of rank {len(shape)} are not supported (at most {_MAX_RANK})")
    if dtype == "string":
        strings = np.empty(len(values), dtype=object)
        strings[:] = values
        return strings.reshape(shape)
    target = by_name(dtype).numpy
    if target is None:  # bfloat16: only an empty tensor gets here
        raise Unimplemented(f"Conversion of JSON Value: [] to type: {_tf_type(dtype)}")
    staged = np.array(values, dtype=_STAGING.get(dtype, np.int64)).reshape(shape)
    with np.errstate(over="ignore"):
        return staged.astype(target, copy=False)


# The fast path: whole arrays at once, taken only when the result is certainly what the exact path gives.


def _fast_array(value: Any, dtype: str) -> np.ndarray | None:
    """``value`` as an array of ``dtype`` if it is dense and every leaf is acceptable as it stands, else None."""
    if dtype not in _ACCEPTS:
        return None
    types, bounds = _ACCEPTS[dtype]
    objects = np.array(value, dtype=object)  # ragged lists stop it early: lists then show up among the leaves
    leaves = objects.ravel().tolist()
    if not types.issuperset(map(type, leaves)):
        return None
    if dtype == "string":
        strings = np.empty(len(leaves), dtype=object)
        strings[:] = [utf8(text) for text in leaves]
        return strings.reshape(objects.shape)
    try:
        staged = objects.astype(_STAGING.get(dtype, np.int64))
    except OverflowError:
        return None
    if bounds is not None and staged.size and (staged.min() < bounds[0] or staged.max() > bounds[1]):
        return None
    with np.errstate(over="ignore"):
        return staged.astype(by_name(dtype).numpy, copy=False)


def _tf_type(dtype: str) -> str:
    """TensorFlow's ``DataTypeString``: ``float``, ``double``, ``int64``, ``string``, ``half``, ..."""
    return by_name(dtype).tf_name[3:].lower()
