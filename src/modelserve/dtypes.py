"""The dtype table: canonical names and their numpy, TensorFlow (``DT_*``) and V2 protocol forms.

Canonical names are numpy's (``float32``, ``int64``, ...) plus ``string`` for byte strings, which travel as
numpy ``object`` arrays of ``bytes``. The table is built once at import; lookups are dict hits. Nothing
here imports a framework, so protocols and the status/metadata APIs can name TensorFlow dtypes without
TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelserve.errors import Unimplemented


@dataclass(frozen=True)
class DType:
    """One dtype in all its spellings. ``numpy`` is ``None`` where numpy has no such type (bfloat16)."""

    name: str
    numpy: np.dtype | None
    tf_enum: int
    tf_name: str
    v2_name: str | None

    @property
    def is_string(self) -> bool:
        return self.name == "string"


def _row(name: str, numpy_type: object, tf_enum: int, tf_name: str, v2: str | None) -> DType:
    return DType(name, None if numpy_type is None else np.dtype(numpy_type), tf_enum, tf_name, v2)


_TABLE: tuple[DType, ...] = (
    _row("float32", np.float32, 1, "DT_FLOAT", "FP32"),
    _row("float64", np.float64, 2, "DT_DOUBLE", "FP64"),
    _row("int32", np.int32, 3, "DT_INT32", "INT32"),
    _row("uint8", np.uint8, 4, "DT_UINT8", "UINT8"),
    _row("int16", np.int16, 5, "DT_INT16", "INT16"),
    _row("int8", np.int8, 6, "DT_INT8", "INT8"),
    _row("string", object, 7, "DT_STRING", "BYTES"),
    _row("complex64", np.complex64, 8, "DT_COMPLEX64", None),
    _row("int64", np.int64, 9, "DT_INT64", "INT64"),
    _row("bool", np.bool_, 10, "DT_BOOL", "BOOL"),
    _row("bfloat16", None, 14, "DT_BFLOAT16", "BF16"),
    _row("uint16", np.uint16, 17, "DT_UINT16", "UINT16"),
    _row("complex128", np.complex128, 18, "DT_COMPLEX128", None),
    _row("float16", np.float16, 19, "DT_HALF", "FP16"),
    _row("uint32", np.uint32, 22, "DT_UINT32", "UINT32"),
    _row("uint64", np.uint64, 23, "DT_UINT64", "UINT64"),
)

_BY_NAME = {d.name: d for d in _TABLE}
_BY_TF_ENUM = {d.tf_enum: d for d in _TABLE}
_BY_V2 = {d.v2_name: d for d in _TABLE if d.v2_name}
_BY_NUMPY = {d.numpy: d for d in _TABLE if d.numpy is not None and d.name != "string"}
_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "bytes": "string", "str": "string"}


def by_name(name: str) -> DType:
    """Look a dtype up by canonical name (or a common alias: ``float``, ``double``, ``half``, ``bytes``)."""
    try:
        return _BY_NAME[_ALIASES.get(name, name)]
    except KeyError:
        raise Unimplemented(f"unsupported dtype {name!r}") from None


def by_tf_enum(value: int) -> DType:
    """Look a dtype up by TensorFlow's ``DataType`` enum number (``DT_FLOAT`` = 1, ...)."""
    try:
        return _BY_TF_ENUM[value]
    except KeyError:
        raise Unimplemented(f"unsupported TensorFlow dtype enum {value}") from None


def by_numpy(dtype: np.dtype | type) -> DType:
    """Map a numpy dtype to ours; object, bytes and str arrays are ``string``."""
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return _BY_NAME["string"]
    try:
        return _BY_NUMPY[dtype]
    except KeyError:
        raise Unimplemented(f"unsupported numpy dtype {dtype}") from None


def by_v2_name(name: str) -> DType:
    """Look a dtype up by its Open Inference Protocol datatype (``FP32``, ``BYTES``, ...)."""
    try:
        return _BY_V2[name]
    except KeyError:
        valid = ", ".join(sorted(_BY_V2))
        raise Unimplemented(f"unsupported datatype {name!r}; valid datatypes: {valid}") from None
