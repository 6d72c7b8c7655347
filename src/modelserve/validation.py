"""Turn caller data into the arrays a signature expects, or say precisely what is wrong.

:func:`coerce_inputs` is the one gate between callers (the in-memory API now; the protocols later) and a
runtime. It accepts numpy arrays, nested lists and scalars, and ``bytes``/``str`` for string tensors, and
returns ``{name: ndarray}`` with the signature's dtypes, or raises :class:`InvalidArgument` with a message
like ``input 'x' expects float32 [-1, 784], got int64 [2, 3]``.

Conversion rules (the signature's dtype decides, never the caller's):
- float targets take floats and integers (cast, as TensorFlow Serving does with JSON numbers);
- integer targets take integers whose values fit; floats are refused (no silent truncation), except for
  quantized TFLite inputs, which take floats and are quantized by the runtime;
- bool targets take bools; string targets take ``bytes`` (kept) or ``str`` (UTF-8 encoded);
- shapes must have the signature's rank, and every dimension that is not ``-1`` must match, unless the
  caller passes ``check_shapes=False``: TensorFlow SavedModels do, because TensorFlow itself decides what
  shapes a graph accepts (a TF1 input declared ``[-1, 1]`` takes ``[N]``, as in TensorFlow Serving).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from modelserve.errors import InvalidArgument
from modelserve.types import Signature, TensorSpec

# Source kinds (numpy dtype.kind) each target kind accepts.
_ACCEPTED_KINDS = {"f": "fiu", "c": "cfiu", "i": "iu", "u": "iu", "b": "b"}


def coerce_inputs(
    signature: Signature, inputs: Mapping[str, Any] | Any, check_shapes: bool = True
) -> dict[str, np.ndarray]:
    """Check names, then convert and check every input of ``signature``.

    A bare value (not a mapping) is accepted for a signature with exactly one input.
    """
    if not isinstance(inputs, Mapping):
        if len(signature.inputs) != 1:
            raise InvalidArgument(
                f"signature {signature.name!r} has {len(signature.inputs)} inputs "
                f"({_names(signature)}); pass a dict of name -> value"
            )
        inputs = {next(iter(signature.inputs)): inputs}
    unknown = [name for name in inputs if name not in signature.inputs]
    if unknown:
        raise InvalidArgument(
            f"unknown input {unknown[0]!r} for signature {signature.name!r}; it takes: {_names(signature)}"
        )
    missing = [name for name in signature.inputs if name not in inputs]
    if missing:
        spec = signature.inputs[missing[0]]
        raise InvalidArgument(
            f"missing input {spec.name!r} ({spec.describe()}) for signature {signature.name!r}; "
            f"it takes: {_names(signature)}"
        )
    return {name: coerce_tensor(spec, inputs[name], check_shapes) for name, spec in signature.inputs.items()}


def coerce_tensor(spec: TensorSpec, value: Any, check_shapes: bool = True) -> np.ndarray:
    """One input: convert ``value`` to ``spec``'s dtype and (unless told not to) check its shape."""
    given = _as_array(spec, value)
    if check_shapes and not _shape_matches(spec.shape, given.shape):
        raise _mismatch(spec, given)
    return _as_bytes(spec, given) if spec.dtype == "string" else _as_numeric(spec, given)


def check_shapes(signature: Signature, arrays: Mapping[str, np.ndarray]) -> None:
    """Shape check alone, for callers that converted dtypes themselves (the protocol decoders)."""
    for name, array in arrays.items():
        spec = signature.inputs[name]
        if not _shape_matches(spec.shape, array.shape):
            raise _mismatch(spec, array)


def _as_array(spec: TensorSpec, value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (bytes, str)) or spec.dtype == "string":
        try:
            return np.array(value, dtype=object)
        except ValueError as exc:
            raise _ragged(spec) from exc
    try:
        array = np.asarray(value)
    except ValueError as exc:  # inhomogeneous nested lists
        raise _ragged(spec) from exc
    if array.dtype == object:
        raise _ragged(spec)
    return array


def _as_bytes(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    if array.dtype.kind not in "OSU":
        raise _mismatch(spec, array)
    out = np.empty(array.shape, dtype=object)
    flat_in, flat_out = array.reshape(-1), out.reshape(-1)
    for i, item in enumerate(flat_in):
        if isinstance(item, (bytes, np.bytes_)):
            flat_out[i] = bytes(item)
        elif isinstance(item, str):
            flat_out[i] = item.encode("utf-8")
        elif isinstance(item, list):
            raise _ragged(spec)
        else:
            raise InvalidArgument(
                f"input {spec.name!r} expects {spec.describe()} (bytes or str), "
                f"got an element of type {type(item).__name__}"
            )
    return out


def _as_numeric(spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    target = np.dtype(spec.dtype)
    kind = array.dtype.kind
    if spec.quantization is not None and kind == "f":
        return array.astype(np.float32, copy=False)  # quantized by the runtime ("float in, float out")
    if kind not in _ACCEPTED_KINDS.get(target.kind, ""):
        raise _mismatch(spec, array)
    if target.kind in "iu" and array.size and array.dtype != target:
        info = np.iinfo(target)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            raise InvalidArgument(
                f"input {spec.name!r} expects {spec.describe()}; values {low}..{high} do not fit {target}"
            )
    return array.astype(target, copy=False)


def _shape_matches(expected: tuple[int, ...] | None, actual: tuple[int, ...]) -> bool:
    if expected is None:
        return True
    return len(expected) == len(actual) and all(e in (-1, a) for e, a in zip(expected, actual))


def _mismatch(spec: TensorSpec, array: np.ndarray) -> InvalidArgument:
    got = "string" if array.dtype.kind in "OSU" else str(array.dtype)
    return InvalidArgument(f"input {spec.name!r} expects {spec.describe()}, got {got} {list(array.shape)}")


def _ragged(spec: TensorSpec) -> InvalidArgument:
    return InvalidArgument(
        f"input {spec.name!r} expects {spec.describe()}, got nested lists of uneven lengths (ragged)"
    )


def _names(signature: Signature) -> str:
    return ", ".join(f"{n} ({s.describe()})" for n, s in signature.inputs.items()) or "no inputs"
