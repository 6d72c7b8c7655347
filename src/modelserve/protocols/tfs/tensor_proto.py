"""numpy arrays to and from ``tensorflow.TensorProto`` messages, without TensorFlow.

:func:`to_numpy` reads every encoding TensorFlow clients send: the raw little-endian bytes of
``tensor_content`` (for every numeric dtype, ``half`` and ``bool`` included) or the typed field of the
dtype (``float_val``, ``double_val``, ``int_val``, ``int64_val``, ``bool_val``, ``string_val``, ``half_val``,
``uint32_val``, ``uint64_val``, ``scomplex_val``, ``dcomplex_val``). Typed values follow TensorFlow's rule
(``tf.make_ndarray`` and the C++ ``Tensor::FromProto`` agree on it): fewer values than the shape has
elements are padded with the last value, so one value fills the whole tensor (what
``tf.make_tensor_proto(0.5, shape=[2, 3])`` sends), and no values at all mean zeros (empty strings).

:func:`from_numpy` writes numeric tensors as ``tensor_content`` by default, chosen for speed: one
``tobytes()`` (about 0.4 ms per million float32s), and every TensorFlow reader decodes it (``tf.make_ndarray``,
the C++ ``Tensor::FromProto``, ``tf.io.parse_tensor``) faster than typed fields. TensorFlow Serving itself
answers with typed fields unless started with ``--enable_serialization_as_tensor_content``, and clients that
read a typed field directly (``response.outputs["y"].float_val``, common in hand-written clients) see an
empty list for ``tensor_content``: they need ``use_tensor_content=False``. That path costs about 7 ms per
million float32s (float, double, complex and bool values are appended as packed bytes that protobuf parses;
integer fields go through a Python list, about 30 ms per million). Strings always travel as ``string_val``.

Dtypes come from :mod:`modelserve.dtypes` (``by_tf_enum``); ``DT_BFLOAT16`` has no numpy type and, like
resource, variant, quantized and float8 tensors, is refused with ``Unimplemented``.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from modelserve import dtypes
from modelserve.errors import InvalidArgument, ResourceExhausted, ServingError, Unimplemented
from modelserve.protocols import pb

MAX_EXPANDED_BYTES = 1 << 31
"""The largest tensor :func:`to_numpy` builds by repeating typed values (2 GiB, gRPC's message limit).

A few bytes on the wire (one value and a huge shape) could otherwise make the server allocate without bound;
nothing larger than this could have been sent element by element anyway.
"""

_INT_VAL_ENUMS = frozenset({3, 4, 5, 6, 17})  # DT_INT32, DT_UINT8, DT_INT16, DT_INT8, DT_UINT16

# TF enum -> (typed field, numpy dtype of the field's values). Complex fields hold (real, imag) pairs;
# half_val holds float16 bit patterns in int32s.
_TYPED_FIELDS: dict[int, tuple[str, Any]] = {
    1: ("float_val", np.float32),
    2: ("double_val", np.float64),
    **dict.fromkeys(_INT_VAL_ENUMS, ("int_val", np.int32)),
    7: ("string_val", object),
    8: ("scomplex_val", np.float32),
    9: ("int64_val", np.int64),
    10: ("bool_val", np.bool_),
    18: ("dcomplex_val", np.float64),
    19: ("half_val", np.int32),
    22: ("uint32_val", np.uint32),
    23: ("uint64_val", np.uint64),
}
_ALL_TYPED_FIELDS = tuple(sorted({field for field, _ in _TYPED_FIELDS.values()}))
_LITTLE_ENDIAN = sys.byteorder == "little"


def _dtype_name(value: int) -> str:
    try:
        return f"{pb.DataType.Name(value)} ({value})"
    except ValueError:
        return f"enum value {value}"


def _resolve_dtype(value: int) -> dtypes.DType:
    if value == 0:
        raise InvalidArgument("TensorProto has no dtype (DT_INVALID)")
    try:
        found = dtypes.by_tf_enum(value)
    except ServingError:
        found = None
    if found is None or found.numpy is None:
        supported = ", ".join(pb.DataType.Name(e) for e in sorted(_TYPED_FIELDS))
        raise Unimplemented(f"TensorProto dtype {_dtype_name(value)} is not supported; supported dtypes: {supported}")
    return found


def _shape(proto: Any) -> tuple[tuple[int, ...], int]:
    shape_proto = proto.tensor_shape
    if shape_proto.unknown_rank:
        raise InvalidArgument("TensorProto has unknown_rank set; a tensor value needs a known shape")
    shape = tuple(dim.size for dim in shape_proto.dim)
    if any(size < 0 for size in shape):
        raise InvalidArgument(f"TensorProto shape {list(shape)} has a negative dimension")
    count = math.prod(shape)
    if count >= 1 << 63:
        raise InvalidArgument(f"TensorProto shape {list(shape)} has too many elements ({count})")
    return shape, count


def to_numpy(proto: Any) -> np.ndarray:
    """The array a ``TensorProto`` holds (ours, or any message with the same fields).

    Numeric arrays decoded from ``tensor_content`` are zero-copy views of the message's bytes and so are
    read-only; copy before writing in place. Strings come back as an ``object`` array of ``bytes``.

    Raises ``InvalidArgument`` for a malformed tensor (no dtype, bad shape, a ``tensor_content`` whose length
    does not match the shape, more typed values than elements, values only in another dtype's field),
    ``Unimplemented`` for dtypes without a numpy type, ``ResourceExhausted`` when repeating typed values would
    build a tensor larger than :data:`MAX_EXPANDED_BYTES`.
    """
    dtype = _resolve_dtype(proto.dtype)
    shape, count = _shape(proto)
    content = proto.tensor_content
    if content:
        return _from_content(content, dtype, shape, count)
    return _from_typed(proto, dtype, shape, count)


def _from_content(content: bytes, dtype: dtypes.DType, shape: tuple[int, ...], count: int) -> np.ndarray:
    if dtype.is_string:
        raise InvalidArgument("DT_STRING tensors must carry their values in string_val, not tensor_content")
    itemsize = dtype.numpy.itemsize
    expected = count * itemsize
    if len(content) != expected:
        raise InvalidArgument(
            f"tensor_content has {len(content)} bytes but shape {list(shape)} of {dtype.tf_name} needs "
            f"{expected} ({count} elements of {itemsize} bytes)"
        )
    if dtype.name == "bool":  # any non-zero byte is true, as in C++
        return (np.frombuffer(content, dtype=np.uint8) != 0).reshape(shape)
    array = np.frombuffer(content, dtype=dtype.numpy.newbyteorder("<"))
    if not _LITTLE_ENDIAN:
        array = array.astype(dtype.numpy.newbyteorder("="))
    return array.reshape(shape)


_FIXED_WIDTH = {"float_val": "<f4", "double_val": "<f8"}  # read from the wire bytes (pb.packed_numbers)


def _from_typed(proto: Any, dtype: dtypes.DType, shape: tuple[int, ...], count: int) -> np.ndarray:
    field, wire = _TYPED_FIELDS[dtype.tf_enum]
    container = getattr(proto, field)
    if dtype.is_string:
        values = np.empty(len(container), dtype=object)
        values[:] = list(container)
    else:
        packed = pb.packed_numbers(proto, field, _FIXED_WIDTH[field]) if field in _FIXED_WIDTH else None
        values = packed if packed is not None else np.array(container, dtype=wire)
        if field in ("scomplex_val", "dcomplex_val"):
            if values.size % 2:
                raise InvalidArgument(f"{field} has {values.size} numbers; complex values need (real, imag) pairs")
            values = values.view(dtype.numpy)
        elif field == "half_val":
            values = values.astype(np.uint16).view(np.float16)
        elif values.dtype != dtype.numpy:
            values = values.astype(dtype.numpy)  # int_val: narrows as C++'s static_cast does
    given = values.size
    if given == count:
        return values.reshape(shape)
    if given > count:
        raise InvalidArgument(
            f"{field} has {given} values but shape {list(shape)} of {dtype.tf_name} has {count} elements"
        )
    # Fewer values than elements: pad with the last value (zeros / empty strings when there are none).
    itemsize = 8 if dtype.is_string else dtype.numpy.itemsize
    if count * itemsize > MAX_EXPANDED_BYTES:
        raise ResourceExhausted(
            f"{field} has {given} values for shape {list(shape)} of {dtype.tf_name}: repeating them would build "
            f"{count * itemsize} bytes, more than the limit of {MAX_EXPANDED_BYTES}"
        )
    if given == 0:
        _check_no_misplaced_values(proto, field, dtype)
        fill = b"" if dtype.is_string else 0
    else:
        fill = values[-1]
    out = np.full(count, fill, dtype=object if dtype.is_string else dtype.numpy)
    out[:given] = values
    return out.reshape(shape)


def _check_no_misplaced_values(proto: Any, field: str, dtype: dtypes.DType) -> None:
    """TensorFlow zero-fills a tensor whose values sit in another dtype's field; that is a client bug."""
    for other in _ALL_TYPED_FIELDS:
        if other != field and len(getattr(proto, other)):
            raise InvalidArgument(f"TensorProto of dtype {dtype.tf_name} has its values in {other}; it reads {field}")


def from_numpy(array: Any, use_tensor_content: bool = True) -> Any:
    """A ``pb.TensorProto`` holding ``array`` (anything ``np.asarray`` takes).

    Numeric arrays go into ``tensor_content`` (little-endian bytes, the fast path) unless
    ``use_tensor_content`` is False, which fills the dtype's typed field instead, as TensorFlow Serving does by
    default; see the module docstring for who needs which. String arrays (numpy ``object`` arrays of
    ``bytes``/``str``, or ``S``/``U`` arrays) always fill ``string_val``, ``str`` encoded as UTF-8.

    Raises ``Unimplemented`` for dtypes TensorFlow has no ``DataType`` for, ``InvalidArgument`` for a string
    array holding something other than ``bytes`` or ``str``.
    """
    array = np.asarray(array)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    dtype = dtypes.by_numpy(array.dtype)
    proto = pb.TensorProto(dtype=dtype.tf_enum)
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add(size=size)
    if dtype.is_string:
        proto.string_val.extend(_as_bytes(array))
    elif use_tensor_content:
        if array.size:
            proto.tensor_content = np.ascontiguousarray(array, dtype=dtype.numpy.newbyteorder("<")).tobytes()
    else:
        _fill_typed(proto, array, dtype)
    return proto


def _fill_typed(proto: Any, array: np.ndarray, dtype: dtypes.DType) -> None:
    field, _ = _TYPED_FIELDS[dtype.tf_enum]
    flat = np.ascontiguousarray(array, dtype=dtype.numpy).reshape(-1)
    if not flat.size:
        return
    packed_as = _PACKED_RAW.get(field)
    if packed_as is not None:
        # Fixed-width packed fields are the values' little-endian bytes: let protobuf's parser append them.
        data = flat.astype(packed_as, copy=False).tobytes()
        number = proto.DESCRIPTOR.fields_by_name[field].number
        proto.MergeFromString(_varint(number << 3 | 2) + _varint(len(data)) + data)
        return
    if field == "half_val":
        flat = flat.view(np.uint16)
    getattr(proto, field).extend(flat.tolist())


# Packed fields whose wire form is the raw little-endian values (bool: one byte, the varint 0 or 1).
_PACKED_RAW = {
    "float_val": np.dtype("<f4"),
    "double_val": np.dtype("<f8"),
    "scomplex_val": np.dtype("<c8"),
    "dcomplex_val": np.dtype("<c16"),
    "bool_val": np.dtype(np.uint8),
}


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _as_bytes(array: np.ndarray) -> list[bytes]:
    items = array.reshape(-1).tolist()
    if array.dtype.kind == "S":
        return items
    if array.dtype.kind == "U":
        return [item.encode("utf-8") for item in items]
    out = []
    for item in items:
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, str):
            out.append(item.encode("utf-8"))
        else:
            raise InvalidArgument(f"string tensor element {item!r} is a {type(item).__name__}, not bytes or str")
    return out
