"""TensorFlow Serving's REST JSON bodies <-> numpy, as ``tensorflow_serving/util/json_tensor.cc`` does it.

Requests are parsed with :func:`parse_json`, then :func:`signature_name_of` names the signature the caller
looks up, then :func:`decode_predict` or :func:`decode_classify_regress` turns the body into model inputs.
Responses come from :func:`encode_predict`, :func:`encode_classify` and :func:`encode_regress`.

Wire rules (every error is an :class:`~modelserve.errors.InvalidArgument` unless noted, with TF Serving's text):

- Predict takes ``instances`` (row form: one array element per example, stacked on a new dim 0) or ``inputs``
  (columnar form: each tensor as given). The signature decides every dtype. Numbers go into float tensors
  (narrowed to float32 silently); integers in range into integer tensors (int8/int16/uint8 take the int32
  range and wrap, as TF does); ``true``/``false`` into bool; strings or ``{"b64": ...}`` into string tensors.
  Half, bfloat16, uint16 and complex inputs are :class:`~modelserve.errors.Unimplemented`. Ragged lists are
  refused. Shapes are not checked against the signature here: that is the serving layer's job, and only for
  runtimes with ``strict_shapes``.
- Quantized inputs (a :class:`~modelserve.types.Quantization` on the spec) follow the runtimes' "float in,
  float out" rule: an input given any non-integer number decodes as float32 for the runtime to quantize.
- Predict responses are ``{"predictions": ...}`` for row requests and ``{"outputs": ...}`` for columnar ones,
  one output collapsing to its value. Floats are written as ``%g`` when that reads back as the same value,
  else with ``max_digits10`` digits, ``.0`` added to bare integers; non-finite values are the bare tokens
  ``NaN``, ``Infinity``, ``-Infinity`` (as TF writes them; Python's ``json`` reads them). String outputs whose
  name ends in ``_bytes`` are ``{"b64": ...}``; other strings are decoded as UTF-8, invalid bytes becoming
  U+FFFD (TF writes the raw bytes, which is not valid JSON text).
- Output JSON is compact; TF pretty-prints (whitespace only).

Known differences from TF Serving, all on malformed or unusual input: a duplicated key keeps its last value
(rapidjson finds the first); ``Inf``/``-Inf``/``-NaN`` are refused (only ``NaN``, ``Infinity``, ``-Infinity``
are read); JSON nested deeper than Python's recursion limit is refused; tensors of rank above numpy's 64 are
refused; parse error offsets are approximate.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelserve.dtypes import by_name, by_numpy
from modelserve.errors import FailedPrecondition, InvalidArgument, ServingError, Unimplemented
from modelserve.protocols.tf_example import Feature, encode_example
from modelserve.types import DEFAULT_SIGNATURE, Signature, TensorSpec

__all__ = [
    "PredictRequestBody",
    "decode_classify_regress",
    "decode_predict",
    "encode_classify",
    "encode_predict",
    "encode_regress",
    "parse_json",
    "signature_name_of",
]

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_UINT64_MAX = (1 << 64) - 1


@dataclass(frozen=True)
class PredictRequestBody:
    """A decoded predict body: arrays of the signature's dtypes, and which form the client used.

    ``row_format`` is True for ``instances`` and decides the response form (:func:`encode_predict`).
    """

    inputs: dict[str, np.ndarray]
    row_format: bool


# --------------------------------------------------------------------------------------------- parsing


def parse_json(body: bytes) -> Any:
    """Parse a request body as rapidjson does for TF Serving (``kParseNanAndInfFlag | kParseStopWhenDoneFlag``).

    Parsing stops after the first value, so trailing data is ignored. ``NaN``, ``Infinity`` and ``-Infinity``
    are read as floats. Integers are Python ints in ``[-2**63, 2**64)``; integers beyond that become floats,
    as in rapidjson. Raises :class:`InvalidArgument` starting ``JSON Parse error: `` (``JSON Parse error: The
    document is empty`` for an empty body).
    """
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _parse_leniently(body)


def _parse_leniently(body: bytes) -> Any:
    """The slow path: NaN/Infinity tokens, trailing data, bytes that are not UTF-8, errors in rapidjson's words."""
    bom = 3 if body.startswith(b"\xef\xbb\xbf") else 0  # rapidjson skips a UTF-8 byte order mark
    text = body[bom:].decode("utf-8", "surrogateescape")  # rapidjson does not validate UTF-8 either
    start = len(text) - len(text.lstrip(" \t\n\r"))
    if start == len(text):
        raise InvalidArgument(f"JSON Parse error: The document is empty. at offset: {len(body)}")
    try:
        return _DECODER.raw_decode(text, start)[0]
    except json.JSONDecodeError as exc:
        offset = bom + len(text[: exc.pos].encode("utf-8", "surrogateescape"))
        raise InvalidArgument(f"JSON Parse error: {_parse_error_text(exc, text)} at offset: {offset}") from None
    except _NumberTooBig:
        raise InvalidArgument("JSON Parse error: Number too big to be stored in double.") from None
    except RecursionError:
        raise InvalidArgument("JSON Parse error: The document is nested too deeply.") from None


class _NumberTooBig(ValueError):
    pass


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NumberTooBig(text)
    return value


def _parse_int(text: str) -> int | float:
    if len(text) <= 20:  # short enough for int() to be cheap; beyond 20 characters it is out of range anyway
        value = int(text)
        if _INT64_MIN <= value <= _UINT64_MAX:
            return value
    return _parse_float(text)  # rapidjson stores integers beyond 64 bits as doubles


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_int=_parse_int)

# Python's JSON error messages -> rapidjson's (GetParseError_En).
_PARSE_ERRORS = {
    "Expecting value": "Invalid value.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
    "Invalid control character at": "Invalid encoding in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
}
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _parse_error_text(exc: json.JSONDecodeError, text: str) -> str:
    if exc.msg == "Expecting ',' delimiter":
        return (
            "Missing a comma or ']' after an array element."
            if _open_container(text[: exc.pos]) == "["
            else "Missing a comma or '}' after an object member."
        )
    return _PARSE_ERRORS.get(exc.msg, exc.msg)


def _open_container(prefix: str) -> str:
    """The innermost ``[`` or ``{`` still open at the end of ``prefix`` (skipping string contents)."""
    stack: list[str] = []
    for token in _STRING_OR_BRACKET.findall(prefix):
        if token in "[{":
            stack.append(token)
        elif token in "]}":
            stack.pop()
    return stack[-1] if stack else ""


# ------------------------------------------------------------------------------------ the envelope


def signature_name_of(body: Any) -> str:
    """The ``signature_name`` of a parsed request body, ``serving_default`` when absent or empty.

    Raises :class:`InvalidArgument` when ``body`` is not an object or the name is not a string.
    """
    doc = _require_object(body)
    name = doc.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(name, str):
        raise InvalidArgument(
            f"JSON Value: {_debug(doc)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name or DEFAULT_SIGNATURE


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidArgument(f"JSON Value: {_debug(body)} Is not object")
    return body


def _format_error(doc: Any, text: str) -> InvalidArgument:
    return InvalidArgument(f"JSON Value: {_debug(doc)} {text}")


# ----------------------------------------------------------------------------------- predict request


def decode_predict(body: Any, signature: Signature) -> PredictRequestBody:
    """Decode a parsed predict body against ``signature``.

    Returns every input the body names, converted to the signature's dtypes (string tensors are object
    arrays of ``bytes``). Raises :class:`InvalidArgument` (or :class:`Unimplemented` for dtypes JSON cannot
    carry) with TF Serving's messages.
    """
    doc = _require_object(body)
    inputs: Mapping[str, TensorSpec] = signature.inputs
    if not inputs:
        raise InvalidArgument(f"Failed to get input map for signature: {signature.name}")
    if "instances" in doc:
        if "inputs" in doc:
            raise _format_error(
                doc, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
            )
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise _format_error(doc, "Expecting 'instances' to be an list/array")
        if not instances:
            raise _format_error(doc, "No values in 'instances' array")
        return PredictRequestBody(_decode_rows(instances, inputs), row_format=True)
    if "inputs" in doc:
        return PredictRequestBody(_decode_columns(doc["inputs"], inputs), row_format=False)
    raise InvalidArgument("Missing 'inputs' or 'instances' key")


def _decode_columns(value: Any, inputs: Mapping[str, TensorSpec]) -> dict[str, np.ndarray]:
    if not isinstance(value, dict) or _is_b64(value):
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
                    f"Failed to process element: {index} of 'instances' list. JSON object: {_debug(item)} "
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
        raise InvalidArgument(f"Expecting shape {_shape_text(column.shape)} but got: {_shape_text(shape)}")
    column.values.extend(values)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def _status_text(exc: ServingError) -> str:
    """``absl::Status::ToString()``: ``INVALID_ARGUMENT: message``."""
    return f"{exc.code.name}: {exc.message}"


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _is_named_object(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


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
                    f"JSON Value: {_debug(item)} found at incorrect level: {level + 1} in the JSON DOM. "
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
    "int64": ({int}, (_INT64_MIN, _INT64_MAX)),
    "uint32": ({int}, (0, (1 << 32) - 1)),
    "uint64": ({int}, (0, _UINT64_MAX)),
    "bool": ({bool}, None),
    "string": ({str}, None),
}


def _leaf(value: Any, dtype: str) -> Any:
    if isinstance(value, dict):
        if dtype == "string":
            return _b64_value(value)
        raise _type_error(value, dtype)
    if dtype not in _ACCEPTS:
        raise Unimplemented(f"Conversion of JSON Value: {_debug(value)} to type: {_tf_type(dtype)}")
    types, bounds = _ACCEPTS[dtype]
    if type(value) not in types or (bounds is not None and not bounds[0] <= value <= bounds[1]):
        raise _type_error(value, dtype)
    return _utf8(value) if dtype == "string" else value


def _type_error(value: Any, dtype: str) -> InvalidArgument:
    return InvalidArgument(
        f"JSON Value: {_debug(value)} Type: {_json_type(value)} is not of expected type: {_tf_type(dtype)}"
    )


def _b64_value(value: dict[str, Any]) -> bytes:
    if not _is_b64(value):
        raise InvalidArgument(f"JSON Value: {_debug(value)} not formatted correctly for base64 data")
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


def _utf8(text: str) -> bytes:
    """A JSON string's bytes; bytes that were not UTF-8 in the body come back as they were."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InvalidArgument("JSON Parse error: The surrogate pair in string is invalid.") from None


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
        strings[:] = [_utf8(text) for text in leaves]
        return strings.reshape(objects.shape)
    try:
        staged = objects.astype(_STAGING.get(dtype, np.int64))
    except OverflowError:
        return None
    if bounds is not None and staged.size and (staged.min() < bounds[0] or staged.max() > bounds[1]):
        return None
    with np.errstate(over="ignore"):
        return staged.astype(by_name(dtype).numpy, copy=False)


# ---------------------------------------------------------------------------------- classify / regress


def decode_classify_regress(body: Any) -> list[bytes]:
    """The serialized ``tf.train.Example`` of each element of ``examples``, in order.

    With a ``context`` object, each is ``serialize(context) + serialize(example)`` (protobuf merging makes
    the example win on a shared feature name), as TF Serving feeds an ``ExampleListWithContext``.
    """
    doc = _require_object(body)
    context = encode_example(_example(doc["context"])) if "context" in doc else b""
    if "examples" not in doc:
        raise _format_error(doc, "When method is classify, key 'examples' is expected and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise _format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise _format_error(doc, "'examples' value is an empty array")
    return [context + encode_example(_example(example)) for example in examples]


def _example(value: Any) -> dict[str, Feature]:
    """``MakeExampleFromJsonObject``: a feature per key; a bare value is a one-element list."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"Example must be JSON object but got JSON {_json_type(value)}")
    return {
        name: _feature(name, content if isinstance(content, list) else [content]) for name, content in value.items()
    }


def _feature(name: str, items: list[Any]) -> Feature:
    _utf8(name)  # refuses what cannot be a protobuf string, as rapidjson's parser would have
    kind = None
    values = []
    for item in items:
        item_kind = _feature_kind(name, item)
        if kind is not None and item_kind != kind:
            raise InvalidArgument(f"Unexpected element type in feature: {name} expecting type: {kind}")
        kind = item_kind
        values.append(_feature_value(name, item))
    return Feature(kind, values)


def _feature_kind(name: str, item: Any) -> str:
    if isinstance(item, int):  # bools too: true/false are int64 1/0
        return "int64"
    if isinstance(item, float):
        return "float"
    if isinstance(item, str) or _is_b64(item):
        return "bytes"
    raise InvalidArgument(f"Feature: {name} has element with unexpected JSON type: {_json_type(item)}")


def _feature_value(name: str, item: Any) -> Any:
    if isinstance(item, str):
        return _utf8(item)
    if isinstance(item, dict):
        return _b64_value(item)
    if isinstance(item, int):
        if item > _INT64_MAX:
            raise InvalidArgument(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        return int(item)
    return item


def encode_classify(outputs: Mapping[str, np.ndarray], num_examples: int) -> bytes:
    """``{"results": [[[label, score], ...], ...]}``, one list per example, from outputs ``classes``
    (string ``[N, K]``) and ``scores`` (float32 ``[N, K]``), either optional.

    A missing ``classes`` writes label ``""``, a missing ``scores`` score ``0.0``. Shapes, dtypes and batch
    sizes are checked as TF Serving's classifier does (:class:`InvalidArgument`).
    """
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for array, role, tf_dtype in ((classes, "classes", "DT_STRING"), (scores, "scores", "DT_FLOAT")):
        if array is None:
            continue
        if array.ndim != 2:
            raise InvalidArgument(f"Expected Tensor shape: [batch_size num_classes] but got {_shape_text(array.shape)}")
        if _tf_dtype_name(array) != tf_dtype:
            raise InvalidArgument(f"Expected {role} Tensor of {tf_dtype}. Got: {_tf_dtype_name(array)}")
        if array.shape[0] != num_examples:
            raise InvalidArgument(f"Expected {role} output batch size of {num_examples}. Got: {array.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise InvalidArgument(
            f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}"
        )
    if num_examples == 0:
        raise InvalidArgument("Cannot convert empty ClassificationResults to JSON")
    present = classes if classes is not None else scores
    num_classes = 0 if present is None else present.shape[1]
    size = num_examples * num_classes
    labels = _string_tokens(classes.ravel(), as_b64=False) if classes is not None else ['""'] * size
    values = _float_tokens(scores.ravel()) if scores is not None else ["0.0"] * size
    pairs = [f"[{label},{value}]" for label, value in zip(labels, values)]
    results = _nest(pairs, (num_examples, num_classes), keep=1)
    return ('{"results":[' + ",".join(results) + "]}").encode()


def encode_regress(outputs: Mapping[str, np.ndarray], num_examples: int) -> bytes:
    """``{"results": [v, ...]}`` from the float32 output ``outputs`` (``[N]`` or ``[N, 1]``).

    Raises :class:`FailedPrecondition` without an ``outputs`` output, :class:`InvalidArgument` (TF Serving's
    regressor messages) for a wrong shape, dtype or batch size.
    """
    if "outputs" not in outputs:
        raise FailedPrecondition(
            f"No regression outputs found in SignatureDef: no output named 'outputs' (has: {', '.join(outputs)})"
        )
    values = outputs["outputs"]
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise InvalidArgument(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
            f"{_shape_text(values.shape)}"
        )
    if values.shape[0] != num_examples:
        raise InvalidArgument(f"Input batch size did not match output batch size: {num_examples} vs. {values.shape[0]}")
    if _tf_dtype_name(values) != "DT_FLOAT":
        raise InvalidArgument(f"Expected output Tensor of DT_FLOAT.  Got: {_tf_dtype_name(values)}")
    if num_examples == 0:
        raise InvalidArgument("Cannot convert empty RegressionResults to JSON")
    return ('{"results":[' + ",".join(_float_tokens(values.ravel())) + "]}").encode()


# ---------------------------------------------------------------------------------- predict response


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
        values = {name: _nest(_tokens(name, array), array.shape, keep=0)[0] for name, array in outputs.items()}
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
    rows = {name: _nest(_tokens(name, array), array.shape, keep=1) for name, array in outputs.items()}
    if len(rows) == 1:
        items = next(iter(rows.values()))
    else:
        keys = [_quote(name) + ":" for name in rows]
        columns = list(rows.values())
        items = ["{" + ",".join(k + c[i] for k, c in zip(keys, columns)) + "}" for i in range(batch)]
    return ('{"predictions":[' + ",".join(items) + "]}").encode()


def _join_object(values: dict[str, str]) -> str:
    """One value as itself (the collapse rule), several as a JSON object."""
    if len(values) == 1:
        return next(iter(values.values()))
    return "{" + ",".join(_quote(name) + ":" + value for name, value in values.items()) + "}"


def _nest(tokens: list[str], shape: tuple[int, ...], keep: int) -> list[str]:
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
        return _float_tokens(flat)
    if array.dtype.name in _INTEGER_TYPES:
        return list(map(str, flat.tolist()))
    if kind == "b":
        return np.where(flat, "true", "false").tolist()
    if kind in "OSU":
        return _string_tokens(flat, as_b64=name.endswith("_bytes"))
    if flat.size == 0:
        return []
    tf_name = _tf_dtype_name(array)
    raise InvalidArgument(f"Failed to write JSON value for tensor type: {tf_name[3:].lower()}")


def _string_tokens(flat: np.ndarray, as_b64: bool) -> list[str]:
    items = [item if isinstance(item, bytes) else str(item).encode() for item in flat.tolist()]
    if as_b64:
        return ['{"b64":"' + binascii.b2a_base64(item, newline=False).decode() + '"}' for item in items]
    return [_quote(item.decode("utf-8", "replace")) for item in items]


_SHORT_FORMAT_LIMIT = 1e6  # %g (6 significant digits) writes integers below this without an exponent
# Per dtype: the long format, the bound under which it writes integers without an exponent, and how far from
# an integer a value scaled to 6 integer digits can be when %g round-trips (2**-24 * 1e6 ~ 0.06 for float32,
# 2**-53 * 1e6 ~ 1e-10 for float64, plus margin).
_LONG_FORMAT = {np.dtype(np.float32): ("%.9g", 1e9, 0.07), np.dtype(np.float64): ("%.17g", 1e17, 1e-6)}
_SMALLEST_NORMAL = {dtype: float(np.finfo(dtype).smallest_normal) for dtype in _LONG_FORMAT}


# Below this many values, formatting one value at a time beats the fixed cost of the array path.
_SMALL_FLOAT_ARRAY = 48
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _float_tokens(flat: np.ndarray) -> list[str]:
    if flat.size <= _SMALL_FLOAT_ARRAY:
        return _float_tokens_one_by_one(flat)
    return _float_tokens_vectorised(flat)


def _float_tokens_one_by_one(flat: np.ndarray) -> list[str]:
    """``WriteDecimal`` per element: ``%g`` when it reads back as the same value, else the long format."""
    long_spec = _LONG_FORMAT[flat.dtype][0].lstrip("%")
    reads_back = np.float32 if flat.dtype == np.float32 else float
    tokens = []
    for value in flat.tolist():
        text = f"{value:g}"
        if text in _NON_FINITE:
            tokens.append(_NON_FINITE[text])
            continue
        if reads_back(text) != value:
            text = format(value, long_spec)
        tokens.append(text if "." in text or "e" in text else text + ".0")
    return tokens


def _float_tokens_vectorised(flat: np.ndarray) -> list[str]:
    """``WriteDecimal`` for every element of a 1-D float32/float64 array.

    A finite value is written as ``%g`` if that text reads back as the same value, else as ``%.9g`` (float32)
    or ``%.17g`` (float64); ``.0`` is appended when the text has neither ``.`` nor ``e``.

    Each value is formatted once (one ``%`` call per format for the whole array). Which format applies is
    decided with array arithmetic: scaled to 6 integer digits, a value whose %g text round-trips is within
    half a float ulp of an integer, so values further than ``tolerance`` from one are written long at once,
    and the rest are checked exactly (:func:`_round_trips_at_six_digits`).
    """
    long_format, long_limit, tolerance = _LONG_FORMAT[flat.dtype]
    with np.errstate(all="ignore"):
        magnitude = np.abs(flat, dtype=np.float64)
        exponent = np.floor(np.log10(magnitude))  # powers of ten stay normal doubles either way round
        scaled = np.where(exponent >= 0, magnitude / 10.0**exponent, magnitude * 10.0**-exponent) * 1e5
        mantissa = np.rint(scaled)
        near = (np.abs(scaled - mantissa) <= tolerance) | (magnitude < _SMALLEST_NORMAL[flat.dtype])
    short = np.zeros(flat.size, dtype=bool)
    candidates = np.flatnonzero(near)
    if candidates.size:
        short[candidates] = _round_trips_at_six_digits(flat[candidates], mantissa[candidates], exponent[candidates])
    finite = np.isfinite(flat)
    tokens = np.empty(flat.size, dtype=object)
    tokens[short] = _format("%g", flat[short].tolist())
    long = finite & ~short
    tokens[long] = _format(long_format, flat[long].tolist())
    tokens[(flat == np.trunc(flat)) & (magnitude < np.where(short, _SHORT_FORMAT_LIMIT, long_limit))] += ".0"
    if not finite.all():
        tokens[np.isnan(flat)] = "NaN"
        tokens[flat == np.inf] = "Infinity"
        tokens[flat == -np.inf] = "-Infinity"
    return tokens.tolist()


def _round_trips_at_six_digits(values: np.ndarray, mantissa: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """Whether ``%g`` of each value reads back as the value (what TF checks by parsing the text).

    ``mantissa * 10**(exponent - 5)`` is each value's 6-digit rounding (sign dropped). Computed as one
    correctly rounded double operation it equals the double that parsing the text gives, when the power of
    ten is exact (``|exponent - 5| <= 22``). For float32, TF parses straight to float32; rounding through the
    double lands on the same float32 unless the double is exactly halfway between two float32s. Zeros,
    subnormals, other exponents and halfway cases are settled by formatting and parsing the text.
    """
    power = exponent - 5
    exact = np.abs(power) <= 22
    with np.errstate(all="ignore"):
        scale = 10.0 ** np.where(exact, np.abs(power), 0)
        decimal = np.where(power >= 0, mantissa * scale, mantissa / scale)
    magnitude = np.abs(values)
    if values.dtype == np.float64:
        unsure = ~exact
        round_trips = decimal == magnitude
    else:
        rounded = decimal.astype(np.float32)
        toward = np.nextafter(rounded, np.where(decimal > rounded, np.float32(np.inf), np.float32(-np.inf)))
        unsure = ~exact | (2 * decimal == rounded.astype(np.float64) + toward)
        round_trips = rounded == magnitude
    if unsure.any():
        texts = _format("%g", values[unsure].tolist())
        with np.errstate(over="ignore"):
            round_trips[unsure] = np.array(list(map(float, texts))).astype(values.dtype) == values[unsure]
    return round_trips


def _format(spec: str, values: list[float]) -> list[str]:
    """``spec % v`` for each value, in one formatting call."""
    return ((spec + "\n") * len(values) % tuple(values)).split("\n")[:-1]


# ------------------------------------------------------------------------------------ shared helpers


def _tf_type(dtype: str) -> str:
    """TensorFlow's ``DataTypeString``: ``float``, ``double``, ``int64``, ``string``, ``half``, ..."""
    return by_name(dtype).tf_name[3:].lower()


def _tf_dtype_name(array: np.ndarray) -> str:
    """TensorFlow's ``DataType_Name`` of an array (``DT_FLOAT``), or numpy's name for dtypes TF lacks."""
    try:
        return by_numpy(array.dtype).tf_name
    except Unimplemented:
        return f"DT_{array.dtype.name.upper()}"


def _json_type(value: Any) -> str:
    """rapidjson's type names, as ``JsonTypeString`` spells them."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


# rapidjson's string escapes: quote, backslash, and control characters (short forms where JSON has them).
_ESCAPES = {code: f"\\u{code:04X}" for code in range(0x20)} | {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\b"): "\\b",
    ord("\f"): "\\f",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def _quote(text: str) -> str:
    return '"' + text.translate(_ESCAPES) + '"'


_DEBUG_LIMIT = 256  # bytes; TF's kMaxJsonDebugStringBytes
_INDENT = "    "


def _debug(value: Any) -> str:
    """TF's ``JsonValueToDebugString``: rapidjson's PrettyWriter with single-line arrays, stopping at the first
    write that starts at or past 256 bytes (or at a non-finite number, which rapidjson's writer refuses)."""
    pieces = []
    size = 0
    for piece in _pretty(value, []):
        if piece is None or size >= _DEBUG_LIMIT:
            break
        pieces.append(piece)
        size += len(piece.encode("utf-8", "surrogatepass"))
    return "".join(pieces)


def _pretty(value: Any, levels: list[list[int]]) -> Iterator[str | None]:
    """One text per rapidjson writer call; ``levels`` holds ``[in_array, value_count]`` per open container."""
    prefix = _prefix(levels)
    if isinstance(value, dict):
        yield prefix + "{"
        levels.append([False, 0])
        for key, item in value.items():
            yield _prefix(levels) + _quote(key)
            yield from _pretty(item, levels)
        count = levels.pop()[1]
        yield ("\n" + _INDENT * len(levels) if count else "") + "}"
    elif isinstance(value, list):
        yield prefix + "["
        levels.append([True, 0])
        for item in value:
            yield from _pretty(item, levels)
        levels.pop()
        yield "]"
    elif isinstance(value, float) and not math.isfinite(value):
        yield prefix
        yield None
    else:
        yield prefix + _scalar_text(value)


def _prefix(levels: list[list[int]]) -> str:
    """``PrettyWriter::PrettyPrefix`` with ``kFormatSingleLineArray``."""
    if not levels:
        return ""
    level = levels[-1]
    in_array, count = level
    level[1] += 1
    if in_array:
        return ", " if count else ""
    if count % 2:
        return ": "
    return ("," if count else "") + "\n" + _INDENT * len(levels)


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int):
        return str(value)
    return _double_text(value)


def _double_text(value: float) -> str:
    """rapidjson's ``Writer::Double`` (shortest digits, then ``Prettify``): ``1.0``, ``0.001``, ``1e30``."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    k = int(exponent or 0) - len(fraction) + len(digits) - len(digits.rstrip("0"))
    digits = digits.rstrip("0")
    length = len(digits)
    kk = length + k  # 10**(kk-1) <= value < 10**kk
    sign = "-" if value < 0 else ""
    if k >= 0 and kk <= 21:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < kk <= 21:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -6 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    head = digits[0] if length == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{sign}{head}e{kk - 1}"
