"""Open Inference Protocol (KServe/Triton "V2") REST bodies <-> numpy, JSON tensors and the binary extension.

Everything wire-format for V2 REST lives here; routing and the model call live in
:mod:`modelserve.protocols.v2_rest`. Every error is an :class:`~modelserve.errors.InvalidArgument` unless noted.

Requests (:func:`decode_infer_request`):

- The body is JSON, or, when ``Inference-Header-Content-Length`` is given, that many bytes of JSON followed by the
  binary tensor data of the inputs that carry a ``binary_data_size`` parameter, in input order, little-endian
  (BOOL one byte per element, each BYTES element a 4-byte little-endian length and its bytes). Sizes are checked
  against ``prod(shape) * itemsize`` and against the bytes left; bytes no input claims are refused.
- Binary inputs are zero-copy views of the body: read-only, and possibly unaligned.
- JSON ``data`` is flat or nested, row-major, with ``prod(shape)`` elements. Numbers for FP32/FP64 (``NaN``,
  ``Infinity`` and ``-Infinity`` are read, as Triton's parser does); integers in range for the integer types;
  ``true``/``false`` for BOOL; strings for BYTES (UTF-8 encoded into an object array of ``bytes``). FP16 and BF16
  have no JSON form. One leniency: a ``true``/``false`` mixed among numbers reads as 1/0 (numpy's promotion),
  which keeps the conversion vectorised.
- BF16 is :class:`~modelserve.errors.Unimplemented` (numpy has no bfloat16), as are shared-memory tensors and
  the classification extension.
- Datatypes are not compared with the model's here: the serving core's input gate does that, as strictly as
  Triton (no coercion).

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

Metadata (:func:`model_metadata`) names our platforms as Triton does where Triton has the format:
``tensorflow`` -> ``tensorflow_savedmodel``, ``onnx`` -> ``onnxruntime_onnx``; and by the same
``framework_format`` pattern otherwise: ``keras`` -> ``tensorflow_keras``, ``tflite`` -> ``tensorflow_lite``.
A spec of unknown rank is listed with shape ``[-1]`` (the protocol cannot say "any rank"), and a dtype the
protocol cannot carry (complex) with datatype ``INVALID``.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import orjson

from modelserve.dtypes import DType, by_name, by_numpy
from modelserve.errors import Internal, InvalidArgument, Unimplemented
from modelserve.types import Signature, TensorSpec

__all__ = [
    "RequestedOutput",
    "V2Request",
    "decode_infer_request",
    "encode_infer_response",
    "error_body",
    "from_raw",
    "json_bytes",
    "model_config",
    "model_metadata",
    "platform_name",
    "server_metadata",
    "to_raw",
]

# The V2 datatypes in the order Triton's documentation lists them.
_CANONICAL_NAMES = ("bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
_CANONICAL_NAMES += ("float16", "float32", "float64", "bfloat16", "string")
_V2_TYPES: dict[str, DType] = {
    dtype.v2_name: dtype for dtype in map(by_name, _CANONICAL_NAMES) if dtype.v2_name is not None
}
_VALID_TYPES = ", ".join(_V2_TYPES)
# Little-endian numpy dtypes of the fixed-size datatypes numpy has (all but BYTES and BF16).
_FIXED: dict[str, np.dtype] = {
    v2: dtype.numpy.newbyteorder("<") for v2, dtype in _V2_TYPES.items() if dtype.numpy is not None and v2 != "BYTES"
}
_NO_JSON_FORM = frozenset({"FP16", "BF16"})
_MAX_RANK = 32  # numpy 1.x's limit (2.x allows 64)
_U32 = struct.Struct("<I")
_PLATFORMS = {
    "tensorflow": "tensorflow_savedmodel",
    "keras": "tensorflow_keras",
    "onnx": "onnxruntime_onnx",
    "tflite": "tensorflow_lite",
}


@dataclass(frozen=True)
class RequestedOutput:
    """An output named in a request; ``binary`` is its ``binary_data`` parameter (``None`` when absent)."""

    name: str
    binary: bool | None = None


@dataclass(frozen=True)
class V2Request:
    """A decoded V2 inference request body (the serving core's ``InferRequest`` is built from it).

    ``inputs`` are in the order sent, each already of the numpy dtype of its ``input_datatypes`` entry (BYTES:
    object arrays of ``bytes``). ``outputs`` is empty when the request named none (meaning all).
    """

    id: str | None
    parameters: dict[str, Any]
    inputs: dict[str, np.ndarray]
    input_datatypes: dict[str, str]
    outputs: list[RequestedOutput]
    binary_output_default: bool


# --------------------------------------------------------------------------------------------- requests


def decode_infer_request(body: bytes, header_length: int | None) -> V2Request:
    """Decode a V2 infer body; ``header_length`` is ``Inference-Header-Content-Length`` (``None``: all JSON)."""
    view = memoryview(body)
    if header_length is not None and not 0 <= header_length <= len(view):
        raise InvalidArgument(
            f"Inference-Header-Content-Length is {header_length} but the request body has {len(view)} bytes"
        )
    binary = _BinaryData(view[header_length:] if header_length is not None else None)
    request = _parse_json(view[:header_length] if header_length is not None else view)
    if not isinstance(request, dict):
        raise InvalidArgument("inference request must be a JSON object")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string")
    parameters = _object(request.get("parameters"), "request 'parameters'")
    inputs, datatypes = _decode_inputs(request.get("inputs"), binary)
    binary.finish()
    return V2Request(
        id=request_id,
        parameters=parameters,
        inputs=inputs,
        input_datatypes=datatypes,
        outputs=_decode_outputs(request.get("outputs")),
        binary_output_default=bool(_bool(parameters.get("binary_data_output"), "parameter 'binary_data_output'")),
    )


def _parse_json(header: memoryview) -> Any:
    """orjson, falling back to ``json`` for the ``NaN``/``Infinity`` tokens Triton's parser (and tritonclient) allow."""
    try:
        return orjson.loads(header)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(bytes(header))
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"invalid JSON in inference request: {exc}") from None


class _BinaryData:
    """The bytes after the JSON header, handed to binary inputs in order; ``None`` when the body has no binary part."""

    def __init__(self, data: memoryview | None) -> None:
        self._data = data
        self._offset = 0

    def take(self, name: str, size: int) -> memoryview:
        if self._data is None:
            raise InvalidArgument(
                f"input '{name}' has a 'binary_data_size' parameter but the request has no binary data "
                "(no Inference-Header-Content-Length header)"
            )
        left = len(self._data) - self._offset
        if size > left:
            raise InvalidArgument(
                f"input '{name}': binary_data_size is {size} bytes but only {left} bytes of binary data are left"
            )
        self._offset += size
        return self._data[self._offset - size : self._offset]

    def finish(self) -> None:
        left = 0 if self._data is None else len(self._data) - self._offset
        if left:
            raise InvalidArgument(f"the request has {left} bytes of binary data that no input claims")


def _decode_inputs(tensors: Any, binary: _BinaryData) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if tensors is None:
        raise InvalidArgument("inference request has no 'inputs'")
    if not isinstance(tensors, list):
        raise InvalidArgument("'inputs' must be a list of tensors")
    arrays: dict[str, np.ndarray] = {}
    datatypes: dict[str, str] = {}
    for index, tensor in enumerate(tensors):
        name, datatype, array = _decode_input(index, tensor, binary)
        if name in arrays:
            raise InvalidArgument(f"input '{name}' appears more than once")
        arrays[name] = array
        datatypes[name] = datatype
    return arrays, datatypes


def _decode_input(index: int, tensor: Any, binary: _BinaryData) -> tuple[str, str, np.ndarray]:
    if not isinstance(tensor, dict):
        raise InvalidArgument(f"input #{index} must be a JSON object")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"input #{index}: 'name' must be a non-empty string")
    datatype = _datatype(name, tensor)
    shape = _shape(name, tensor)
    parameters = _object(tensor.get("parameters"), f"input '{name}': 'parameters'")
    if "shared_memory_region" in parameters:
        raise Unimplemented(f"input '{name}': shared-memory tensors are not supported")
    size = parameters.get("binary_data_size")
    if size is None:
        if "data" not in tensor:
            raise InvalidArgument(f"input '{name}' has neither 'data' nor a 'binary_data_size' parameter")
        return name, datatype, _from_json(name, datatype, shape, tensor["data"])
    if "data" in tensor:
        raise InvalidArgument(f"input '{name}' has both 'data' and a 'binary_data_size' parameter")
    if type(size) is not int or size < 0:
        raise InvalidArgument(f"input '{name}': 'binary_data_size' must be a non-negative integer")
    return name, datatype, _from_binary(name, datatype, shape, size, binary)


def _datatype(name: str, tensor: dict[str, Any]) -> str:
    if "datatype" not in tensor:
        raise InvalidArgument(f"input '{name}': missing 'datatype'")
    datatype = tensor["datatype"]
    if not isinstance(datatype, str) or datatype not in _V2_TYPES:
        raise InvalidArgument(f"input '{name}': unknown datatype {datatype!r}; valid datatypes: {_VALID_TYPES}")
    return datatype


def _shape(name: str, tensor: dict[str, Any]) -> tuple[int, ...]:
    if "shape" not in tensor:
        raise InvalidArgument(f"input '{name}': missing 'shape'")
    shape = tensor["shape"]
    if not isinstance(shape, list) or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise InvalidArgument(f"input '{name}': 'shape' must be a list of non-negative integers")
    if len(shape) > _MAX_RANK:
        raise InvalidArgument(f"input '{name}': rank {len(shape)} is above the supported maximum of {_MAX_RANK}")
    return tuple(shape)


def _from_binary(name: str, datatype: str, shape: tuple[int, ...], size: int, binary: _BinaryData) -> np.ndarray:
    """A zero-copy view for fixed-size types; BYTES elements are copied into an object array."""
    return from_raw(name, datatype, shape, binary.take(name, size), "binary_data_size")


def from_raw(name: str, datatype: str, shape: tuple[int, ...], chunk: bytes | memoryview, what: str) -> np.ndarray:
    """One tensor from its raw little-endian bytes: the binary extension's layout, which gRPC's
    ``raw_input_contents`` share. ``what`` names the byte source in size errors."""
    if datatype == "BF16":
        raise Unimplemented(f"input '{name}': BF16 is not supported (numpy has no bfloat16 type); send FP32")
    count = math.prod(shape)
    if datatype == "BYTES":
        return _bytes_from_binary(name, shape, count, memoryview(chunk))
    dtype = _FIXED[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise InvalidArgument(
            f"input '{name}': {what} is {len(chunk)} bytes but shape {_text(shape)} of {datatype} "
            f"needs {count * dtype.itemsize}"
        )
    return np.frombuffer(chunk, dtype).reshape(shape)


def to_raw(name: str, array: np.ndarray) -> tuple[str, bytes]:
    """An output's V2 datatype and raw little-endian bytes (BYTES: 4-byte length + bytes per element)."""
    datatype = _output_datatype(name, array)
    if datatype == "BYTES":
        return datatype, _serialize_bytes(name, array.reshape(-1).tolist()).tobytes()
    return datatype, np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _bytes_from_binary(name: str, shape: tuple[int, ...], count: int, chunk: memoryview) -> np.ndarray:
    data = chunk.tobytes()
    items: list[bytes] = []
    append, unpack = items.append, _U32.unpack_from
    start = offset = 0
    try:
        while offset < len(data):  # the hot loop: bounds are checked once, after it
            start = offset + 4
            offset = start + unpack(data, offset)[0]
            append(data[start:offset])
    except struct.error:
        raise InvalidArgument(
            f"input '{name}': BYTES data ends inside the 4-byte length of element {len(items)}"
        ) from None
    if offset > len(data):
        raise InvalidArgument(
            f"input '{name}': BYTES element {len(items) - 1} claims {offset - start} bytes "
            f"but only {len(data) - start} are left"
        )
    if len(items) != count:
        raise InvalidArgument(
            f"input '{name}': shape {_text(shape)} needs {count} elements but the BYTES data holds {len(items)}"
        )
    return _object_array(items, shape)


def _from_json(name: str, datatype: str, shape: tuple[int, ...], data: Any) -> np.ndarray:
    if datatype in _NO_JSON_FORM:
        raise InvalidArgument(f"input '{name}': {datatype} has no JSON form; send it as binary data")
    if not isinstance(data, list):
        raise InvalidArgument(f"input '{name}': 'data' must be a JSON array")
    if datatype == "BYTES":
        items = _utf8_strings(name, data)
        _check_count(name, shape, len(items))
        return _object_array(items, shape)
    try:
        values = np.array(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidArgument(f"input '{name}': 'data' is not a regular array: {exc}") from None
    _check_count(name, shape, values.size)
    target = _FIXED[datatype]
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
            f"input '{name}': shape {_text(shape)} needs {math.prod(shape)} elements but 'data' has {count}"
        )


def _object_array(items: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def _decode_outputs(tensors: Any) -> list[RequestedOutput]:
    if tensors is None:
        return []
    if not isinstance(tensors, list):
        raise InvalidArgument("'outputs' must be a list of tensors")
    outputs: list[RequestedOutput] = []
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, dict):
            raise InvalidArgument(f"output #{index} must be a JSON object")
        name = tensor.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"output #{index}: 'name' must be a non-empty string")
        if any(output.name == name for output in outputs):
            raise InvalidArgument(f"output '{name}' is requested more than once")
        parameters = _object(tensor.get("parameters"), f"output '{name}': 'parameters'")
        if "shared_memory_region" in parameters:
            raise Unimplemented(f"output '{name}': shared-memory tensors are not supported")
        if parameters.get("classification"):
            raise Unimplemented(f"output '{name}': the classification extension is not supported")
        outputs.append(RequestedOutput(name, _bool(parameters.get("binary_data"), f"output '{name}': 'binary_data'")))
    return outputs


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    return value


def _bool(value: Any, what: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidArgument(f"{what} must be true or false")
    return value


def _text(shape: tuple[int, ...] | list[int]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


# --------------------------------------------------------------------------------------------- responses


def encode_infer_response(
    model_name: str,
    model_version: str,
    request_id: str | None,
    outputs: dict[str, np.ndarray],
    requested: list[RequestedOutput],
    binary_default: bool,
) -> tuple[bytes, int | None]:
    """Encode a V2 infer response: ``(body, JSON header length)``, the length ``None`` when nothing is binary.

    ``outputs`` are the answered outputs in answer order; ``requested`` gives their ``binary_data`` choices. See
    the module docstring for which outputs go as binary and how non-finite floats are written.
    """
    tensors: list[dict[str, Any]] = []
    chunks: list[memoryview] = []
    for name, array, binary in _selected(outputs, requested, binary_default):
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
    datatype = _output_datatype(name, array)
    tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    if datatype == "BYTES":
        items = array.reshape(-1).tolist()
        texts = None if binary else _texts(name, items)
        if texts is not None:
            tensor["data"] = texts
            return tensor, None
        flat = _serialize_bytes(name, items)
    else:
        flat = np.ascontiguousarray(array.reshape(-1), dtype=array.dtype.newbyteorder("<"))
        if not binary and datatype != "FP16":
            tensor["data"] = _json_numbers(flat)
            return tensor, None
    chunk = memoryview(flat.view(np.uint8))
    tensor["parameters"] = {"binary_data_size": len(chunk)}
    return tensor, chunk


def _output_datatype(name: str, array: np.ndarray) -> str:
    datatype = by_numpy(array.dtype).v2_name
    if datatype is None:
        raise Unimplemented(f"output '{name}' is {array.dtype}, which the V2 protocol cannot carry")
    return datatype


def _texts(name: str, items: list[Any]) -> list[str] | None:
    """The elements as JSON strings, or ``None`` when one is not valid UTF-8 (the output then goes as binary)."""
    try:
        return [item.decode() if isinstance(item, bytes) else _as_str(name, item) for item in items]
    except UnicodeDecodeError:
        return None


def _serialize_bytes(name: str, items: list[Any]) -> np.ndarray:
    """Each element as a 4-byte little-endian length and its bytes, assembled with vectorised numpy writes."""
    encoded = [item if isinstance(item, bytes) else _as_str(name, item).encode() for item in items]
    lengths = np.fromiter(map(len, encoded), dtype="<u4", count=len(encoded))
    out = np.empty(4 * len(encoded) + int(lengths.sum(dtype=np.int64)), np.uint8)
    heads = 4 * np.arange(len(encoded)) + np.cumsum(lengths, dtype=np.int64) - lengths  # where each length goes
    head_bytes = (heads[:, None] + np.arange(4)).reshape(-1)
    payload = np.ones(out.size, bool)
    payload[head_bytes] = False
    out[head_bytes] = lengths.view(np.uint8)
    out[payload] = np.frombuffer(b"".join(encoded), np.uint8)
    return out


def _as_str(name: str, item: Any) -> str:
    if not isinstance(item, str):
        raise Internal(f"output '{name}' holds a {type(item).__name__}; BYTES outputs must hold bytes or str")
    return item


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


# --------------------------------------------------------------------------------------------- metadata


def server_metadata(name: str, version: str, extensions: list[str]) -> bytes:
    """``GET /v2``: ``{"name","version","extensions"}``."""
    return orjson.dumps({"name": name, "version": version, "extensions": extensions})


def platform_name(platform: str) -> str:
    """Our platform name (``tensorflow``, ``keras``, ``onnx``, ``tflite``) as V2 metadata spells it."""
    return _PLATFORMS.get(platform, platform)


def model_metadata(name: str, versions: list[str], platform: str, signature: Signature) -> bytes:
    """``GET /v2/models/{m}``; ``platform`` is ours (``tensorflow``, ``keras``, ``onnx``, ``tflite``)."""
    return orjson.dumps(
        {
            "name": name,
            "versions": versions,
            "platform": platform_name(platform),
            "inputs": [_tensor_metadata(spec) for spec in signature.inputs.values()],
            "outputs": [_tensor_metadata(spec) for spec in signature.outputs.values()],
        }
    )


def _spec_datatype(spec: TensorSpec) -> str | None:
    return by_name(spec.dtype).v2_name


def _tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "datatype": _spec_datatype(spec) or "INVALID",
        "shape": [-1] if spec.shape is None else list(spec.shape),
    }


def model_config(name: str, platform: str, signature: Signature) -> dict[str, Any]:
    """Triton's model configuration for ``GET /v2/models/{m}/config`` and the ``ModelConfig`` RPC.

    ``max_batch_size`` is 0 (batching is not declared in the config), so ``dims`` are full shapes.
    """

    def tensors(specs: Mapping[str, TensorSpec]) -> list[dict[str, Any]]:
        return [
            {
                "name": s.name,
                "data_type": "TYPE_" + _tensor_metadata(s)["datatype"].replace("BYTES", "STRING"),
                "dims": list(s.shape) if s.shape is not None else [-1],
            }
            for s in specs.values()
        ]

    return {
        "name": name,
        "platform": platform_name(platform),
        "max_batch_size": 0,
        "input": tensors(signature.inputs),
        "output": tensors(signature.outputs),
    }


def error_body(message: str) -> bytes:
    """``{"error": message}``, the V2 REST error body."""
    return orjson.dumps({"error": message})


def json_bytes(value: Any) -> bytes:
    """Compact JSON for other V2 bodies (e.g. the repository index)."""
    return orjson.dumps(value)
