"""The V2 binary tensor extension, and the raw layout gRPC's ``raw_input_contents`` share; V2 gRPC's ``contents``.

- When a REST request has ``Inference-Header-Content-Length``, the bytes after its JSON are the binary tensor data
  of the inputs that carry a ``binary_data_size`` parameter, in input order (:class:`BinaryData` hands them out),
  little-endian (BOOL one byte per element, each BYTES element a 4-byte little-endian length and its bytes). Sizes
  are checked against ``prod(shape) * itemsize`` and against the bytes left; bytes no input claims are refused.
- Binary inputs are zero-copy views of the body: read-only, and possibly unaligned.
- BF16 is :class:`~modelserve.errors.Unimplemented` (numpy has no bfloat16).

:func:`from_raw` reads one tensor in that layout, :func:`to_raw` writes one (REST binary outputs and gRPC's
``raw_output_contents``). :func:`decode_model_infer` reads the inputs of a gRPC ``ModelInferRequest``, from
``raw_input_contents`` or the typed ``contents``. Every error is an :class:`~modelserve.errors.InvalidArgument`
unless noted. Also here, shared with the JSON side: the V2 datatype tables and small array helpers.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

import numpy as np

from modelserve import dtypes
from modelserve.dtypes import DType, by_name, by_numpy
from modelserve.errors import Internal, InvalidArgument, ServingError, Unimplemented
from modelserve.protocols import pb

__all__ = [
    "FIXED",
    "V2_TYPES",
    "BinaryData",
    "as_str",
    "decode_model_infer",
    "from_binary",
    "from_raw",
    "object_array",
    "output_datatype",
    "serialize_bytes",
    "shape_text",
    "to_raw",
]

# The V2 datatypes in the order Triton's documentation lists them.
_CANONICAL_NAMES = ("bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
_CANONICAL_NAMES += ("float16", "float32", "float64", "bfloat16", "string")
V2_TYPES: dict[str, DType] = {
    dtype.v2_name: dtype for dtype in map(by_name, _CANONICAL_NAMES) if dtype.v2_name is not None
}
# Little-endian numpy dtypes of the fixed-size datatypes numpy has (all but BYTES and BF16).
FIXED: dict[str, np.dtype] = {
    v2: dtype.numpy.newbyteorder("<") for v2, dtype in V2_TYPES.items() if dtype.numpy is not None and v2 != "BYTES"
}
_U32 = struct.Struct("<I")


class BinaryData:
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


def from_binary(name: str, datatype: str, shape: tuple[int, ...], size: int, binary: BinaryData) -> np.ndarray:
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
    dtype = FIXED[datatype]
    if len(chunk) != count * dtype.itemsize:
        raise InvalidArgument(
            f"input '{name}': {what} is {len(chunk)} bytes but shape {shape_text(shape)} of {datatype} "
            f"needs {count * dtype.itemsize}"
        )
    return np.frombuffer(chunk, dtype).reshape(shape)


def to_raw(name: str, array: np.ndarray) -> tuple[str, bytes]:
    """An output's V2 datatype and raw little-endian bytes (BYTES: 4-byte length + bytes per element)."""
    datatype = output_datatype(name, array)
    if datatype == "BYTES":
        return datatype, serialize_bytes(name, array.reshape(-1).tolist()).tobytes()
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
            f"input '{name}': shape {shape_text(shape)} needs {count} elements but the BYTES data holds {len(items)}"
        )
    return object_array(items, shape)


def serialize_bytes(name: str, items: list[Any]) -> np.ndarray:
    """Each element as a 4-byte little-endian length and its bytes, assembled with vectorised numpy writes."""
    encoded = [item if isinstance(item, bytes) else as_str(name, item).encode() for item in items]
    lengths = np.fromiter(map(len, encoded), dtype="<u4", count=len(encoded))
    out = np.empty(4 * len(encoded) + int(lengths.sum(dtype=np.int64)), np.uint8)
    heads = 4 * np.arange(len(encoded)) + np.cumsum(lengths, dtype=np.int64) - lengths  # where each length goes
    head_bytes = (heads[:, None] + np.arange(4)).reshape(-1)
    payload = np.ones(out.size, bool)
    payload[head_bytes] = False
    out[head_bytes] = lengths.view(np.uint8)
    out[payload] = np.frombuffer(b"".join(encoded), np.uint8)
    return out


def as_str(name: str, item: Any) -> str:
    """A ``str`` element of a BYTES output as it is; anything but ``bytes`` and ``str`` is a bug (Internal)."""
    if not isinstance(item, str):
        raise Internal(f"output '{name}' holds a {type(item).__name__}; BYTES outputs must hold bytes or str")
    return item


def output_datatype(name: str, array: np.ndarray) -> str:
    """The V2 datatype of an output array (Unimplemented for dtypes the protocol cannot carry)."""
    datatype = by_numpy(array.dtype).v2_name
    if datatype is None:
        raise Unimplemented(f"output '{name}' is {array.dtype}, which the V2 protocol cannot carry")
    return datatype


def object_array(items: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    """``items`` as an object array of ``shape`` (numpy would otherwise read nested bytes as a ``S`` array)."""
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)


def shape_text(shape: tuple[int, ...] | list[int]) -> str:
    """A shape as V2 messages write it: ``[2, 3]``."""
    return "[" + ", ".join(map(str, shape)) + "]"


# ------------------------------------------------------------------------------------ gRPC ModelInfer inputs


_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def _dtype(name: str, tensor: str) -> dtypes.DType:
    try:
        found = dtypes.by_v2_name(name)
    except ServingError as exc:
        raise InvalidArgument(f"input '{tensor}': {exc.message}") from None
    if found.numpy is None:
        raise InvalidArgument(f"input '{tensor}': {name} has no numpy type; it cannot be served here")
    return found


def _input_array(tensor: Any, raw: bytes | None) -> np.ndarray:
    dtype = _dtype(tensor.datatype, tensor.name)
    shape = tuple(int(d) for d in tensor.shape)
    if any(d < 0 for d in shape):
        raise InvalidArgument(f"input '{tensor.name}': shape {list(shape)} has a negative dimension")
    count = math.prod(shape)
    if raw is not None:
        return from_raw(tensor.name, tensor.datatype, shape, raw, "raw_input_contents")
    field = _CONTENTS_FIELD.get(tensor.datatype)
    if field is None:
        raise InvalidArgument(f"input '{tensor.name}': {tensor.datatype} must be sent as raw_input_contents")
    values = getattr(tensor.contents, field)
    if len(values) != count:
        raise InvalidArgument(
            f"input '{tensor.name}': {len(values)} values in contents, shape {list(shape)} needs {count}"
        )
    if dtype.name == "string":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    if field in _FIXED_WIDTH:  # floats straight from the wire bytes (one copy, no Python float per element)
        array = pb.packed_numbers(tensor.contents, field, _FIXED_WIDTH[field])
        if array is not None and array.size == count:
            return array.astype(dtype.numpy, copy=False).reshape(shape)
    return np.asarray(values, dtype=dtype.numpy).reshape(shape)


_FIXED_WIDTH = {"fp32_contents": "<f4", "fp64_contents": "<f8"}


def decode_model_infer(
    request: Any, from_shared_memory: Callable[[Any], np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """The inputs of a ``ModelInferRequest``, each of its datatype's numpy dtype (BYTES: object arrays).

    An input whose parameters name a ``shared_memory_region`` is read by ``from_shared_memory`` (refused
    without one) and takes no ``raw_input_contents`` entry: those belong, in order, to the other inputs.
    """
    raw = list(request.raw_input_contents)
    if raw:
        in_memory = sum("shared_memory_region" not in t.parameters for t in request.inputs)
        if len(raw) != in_memory:
            raise InvalidArgument(f"{len(raw)} raw_input_contents for {in_memory} inputs")
    arrays = {}
    next_raw = 0
    for tensor in request.inputs:
        if tensor.name in arrays:
            raise InvalidArgument(f"input '{tensor.name}' appears more than once")
        if "shared_memory_region" in tensor.parameters:
            if from_shared_memory is None:
                raise Unimplemented(f"input '{tensor.name}': shared-memory tensors are not served here")
            if tensor.HasField("contents"):
                raise InvalidArgument(
                    f"unexpected 'content' provided when using shared memory for input '{tensor.name}'"
                )
            arrays[tensor.name] = from_shared_memory(tensor)
            continue
        arrays[tensor.name] = _input_array(tensor, raw[next_raw] if raw else None)
        next_raw += 1
    return arrays
