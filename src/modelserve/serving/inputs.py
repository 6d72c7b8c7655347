"""The input gate: the one place a request's arrays are checked against a signature before a model runs.

Every caller goes through :func:`admit` (inside :meth:`ModelService.infer`): the four front doors, warmup,
the stream worker, the Beam handler and ``Model.predict``. It checks names, dtypes and shapes, and returns
``{name: ndarray}`` in the signature's order, or raises :class:`InvalidArgument` naming the input, what the
signature expects and what was received. Which dtypes are admitted depends on the door
(:class:`~modelserve.types.InputRules`); shapes are checked the same way everywhere:

- a spec of unknown rank takes any shape;
- ``strict_shapes`` True (ONNX): the declared rank, and every dimension that is not ``-1``;
- ``strict_shapes`` False (TensorFlow graphs and TFLite, which TF Serving feeds whatever shape arrives): an
  input declared with rank 2 or less takes any shape, as in TF Serving (``[N]`` and ``[2, 2]`` into
  ``half_plus_two``'s ``[-1, 1]``; the framework refuses what its graph cannot take, with a clean error),
  while an input of rank 3 or more (images, sequences) must come with its declared rank and sizes: kernels
  such as oneDNN's Conv2D abort the whole process on another rank (measured: docs/design.md).

Dtype rules, per :class:`InputRules`:

- ``CAST`` (in-memory, Beam, stream ``npy``/``npz``): numpy arrays, nested lists and scalars, ``bytes``/``str``
  for string tensors. Float targets take floats and integers; integer targets take integers whose values fit
  (floats are refused, no silent truncation), except quantized TFLite inputs, which take floats ("float in,
  float out"); bool takes bool; string takes ``bytes`` (kept) or ``str`` (UTF-8 encoded). A bare value is
  accepted for a signature with one input.
- ``TF_SERVING``: the array's dtype must be the spec's (floats are also admitted for quantized inputs), with
  TF Serving's messages (``Expects arg[0] to be float but double is provided``).
- ``V2``: the array's V2 datatype must be the spec's exactly (``input 'x' has datatype INT64 but the model
  expects FP32``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from modelserve import dtypes
from modelserve.errors import InvalidArgument, Unimplemented
from modelserve.types import InputRules, Shape, Signature, TensorSpec

# Source kinds (numpy dtype.kind) each target kind accepts under CAST.
_ACCEPTED_KINDS = {"f": "fiu", "c": "cfiu", "i": "iu", "u": "iu", "b": "b"}
#: Inputs declared with at most this rank may be sent in any shape to TensorFlow graphs and TFLite.
LENIENT_MAX_RANK = 2


def admit(
    signature: Signature, inputs: Mapping[str, Any] | Any, rules: InputRules, strict_shapes: bool = True
) -> dict[str, np.ndarray]:
    """Check and (under ``CAST``) convert every input of ``signature``; see the module docstring."""
    if rules is InputRules.CAST:
        return _cast_all(signature, inputs, strict_shapes)
    _check_names(signature, inputs, rules)
    admitted = {}
    for index, (name, spec) in enumerate(signature.inputs.items()):
        array = inputs[name]
        if rules is InputRules.V2:
            _check_v2_datatype(spec, array)
        else:
            _check_tf_dtype(index, spec, array)
        if not shape_fits(spec.shape, array.shape, strict_shapes):
            raise _shape_error(spec, array, rules)
        admitted[name] = array
    return admitted


def shape_fits(declared: Shape, actual: tuple[int, ...], strict: bool = True) -> bool:
    """Whether an array of shape ``actual`` may be fed to an input declared ``declared`` (module docstring)."""
    if declared is None or (not strict and len(declared) <= LENIENT_MAX_RANK):
        return True
    if len(declared) == len(actual):
        return all(want in (-1, got) for want, got in zip(declared, actual))
    return False


def check_outputs(signature: Signature, requested: tuple[str, ...], rules: InputRules) -> None:
    """Refuse unknown or repeated output names before anything runs (each door's messages)."""
    seen: set[str] = set()
    for name in requested:
        if name in seen:
            if rules is InputRules.TF_SERVING:
                raise InvalidArgument(f"duplicate output tensor alias: {name}")
            raise InvalidArgument(f"output '{name}' is requested more than once")
        seen.add(name)
        if name not in signature.outputs:
            if rules is InputRules.TF_SERVING:
                raise InvalidArgument(
                    f"output tensor alias not found in signature: {name} Outputs expected to be in the set "
                    f"{{{','.join(sorted(signature.outputs))}}}."
                )
            raise InvalidArgument(f"unknown output '{name}'; the model has: {', '.join(signature.outputs)}")


def select_outputs(outputs: dict[str, np.ndarray], requested: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The requested outputs in the requested order, or all of them when none were named."""
    if not requested:
        return outputs
    return {name: outputs[name] for name in requested}


# ------------------------------------------------------------------------------------------- names


def _check_names(signature: Signature, inputs: Mapping[str, Any], rules: InputRules) -> None:
    if inputs.keys() == signature.inputs.keys():  # set-like views: no sets built on the hot path
        return
    sent, expected = set(inputs), set(signature.inputs)
    if rules is InputRules.TF_SERVING:
        extra, missing = sorted(sent - expected), sorted(expected - sent)
        raise InvalidArgument(
            f"input size does not match signature: {len(sent)}!={len(expected)} len({{{','.join(sorted(sent))}}}) "
            f"!= len({{{','.join(sorted(expected))}}}). Sent extra: {{{','.join(extra)}}}. "
            f"Missing but required: {{{','.join(missing)}}}."
        )
    takes = ", ".join(signature.inputs)
    for name in inputs:
        if name not in expected:
            raise InvalidArgument(f"unknown input '{name}' for signature '{signature.name}'; it takes: {takes}")
    missing_name = next(name for name in signature.inputs if name not in sent)
    raise InvalidArgument(f"missing input '{missing_name}' for signature '{signature.name}'; it takes: {takes}")


# ------------------------------------------------------------------------------------------- dtypes


def _check_tf_dtype(index: int, spec: TensorSpec, array: np.ndarray) -> None:
    if array.dtype == _numpy_dtype(spec.dtype):  # the common case, cheaply (``dtype.name`` is slow in numpy)
        return
    given = dtypes.by_numpy(array.dtype).name
    if given == spec.dtype or (spec.quantization is not None and array.dtype.kind == "f"):
        return
    expected_tf, given_tf = dtypes.by_name(spec.dtype).tf_name, dtypes.by_name(given).tf_name
    raise InvalidArgument(
        f"Expects arg[{index}] to be {expected_tf[3:].lower()} but {given_tf[3:].lower()} is provided "
        f"(input '{spec.name}')"
    )


@functools.cache
def _numpy_dtype(name: str) -> np.dtype | None:
    """The numpy dtype of a canonical dtype name (None for string and dtypes numpy lacks)."""
    numpy = dtypes.by_name(name).numpy
    return None if numpy is None or name == "string" else np.dtype(numpy)


def _check_v2_datatype(spec: TensorSpec, array: np.ndarray) -> None:
    expected = dtypes.by_name(spec.dtype).v2_name
    if expected is None:
        raise Unimplemented(f"input '{spec.name}' is {spec.dtype}, which the V2 protocol cannot carry")
    given = dtypes.by_numpy(array.dtype).v2_name
    if given != expected:
        raise InvalidArgument(f"input '{spec.name}' has datatype {given} but the model expects {expected}")


def _shape_error(spec: TensorSpec, array: np.ndarray, rules: InputRules) -> InvalidArgument:
    if rules is InputRules.V2:
        shape = "[" + ", ".join(map(str, array.shape)) + "]"
        return InvalidArgument(f"input '{spec.name}' has shape {shape} but the model expects {spec.shape_text()}")
    return _mismatch(spec, array)


# ------------------------------------------------------------------------------------------- CAST


def _cast_all(signature: Signature, inputs: Mapping[str, Any] | Any, strict_shapes: bool) -> dict[str, np.ndarray]:
    if not isinstance(inputs, Mapping):
        if len(signature.inputs) != 1:
            raise InvalidArgument(
                f"signature {signature.name!r} has {len(signature.inputs)} inputs "
                f"({_described(signature)}); pass a dict of name -> value"
            )
        inputs = {next(iter(signature.inputs)): inputs}
    if inputs.keys() != signature.inputs.keys():
        _check_cast_names(signature, inputs)
    return {name: cast_tensor(spec, inputs[name], strict_shapes) for name, spec in signature.inputs.items()}


def _check_cast_names(signature: Signature, inputs: Mapping[str, Any]) -> None:
    unknown = [name for name in inputs if name not in signature.inputs]
    if unknown:
        raise InvalidArgument(
            f"unknown input {unknown[0]!r} for signature {signature.name!r}; it takes: {_described(signature)}"
        )
    missing = [name for name in signature.inputs if name not in inputs]
    if missing:
        spec = signature.inputs[missing[0]]
        raise InvalidArgument(
            f"missing input {spec.name!r} ({spec.describe()}) for signature {signature.name!r}; "
            f"it takes: {_described(signature)}"
        )


def cast_tensor(spec: TensorSpec, value: Any, strict_shapes: bool = True) -> np.ndarray:
    """One input under ``CAST``: convert ``value`` to ``spec``'s dtype and check its shape."""
    given = _as_array(spec, value)
    if not shape_fits(spec.shape, given.shape, strict_shapes):
        raise _mismatch(spec, given)
    return _as_bytes(spec, given) if spec.dtype == "string" else _as_numeric(spec, given)


def convert(spec: TensorSpec, value: Any) -> np.ndarray:
    """``CAST``'s dtype conversion alone, for clients that prepare a request whose shapes the server (or the
    gate, later) checks: the batch tools' rows and remote calls."""
    given = _as_array(spec, value)
    return _as_bytes(spec, given) if spec.dtype == "string" else _as_numeric(spec, given)


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


def _mismatch(spec: TensorSpec, array: np.ndarray) -> InvalidArgument:
    got = "string" if array.dtype.kind in "OSU" else str(array.dtype)
    return InvalidArgument(f"input {spec.name!r} expects {spec.describe()}, got {got} {list(array.shape)}")


def _ragged(spec: TensorSpec) -> InvalidArgument:
    return InvalidArgument(
        f"input {spec.name!r} expects {spec.describe()}, got nested lists of uneven lengths (ragged)"
    )


def _described(signature: Signature) -> str:
    return ", ".join(f"{n} ({s.describe()})" for n, s in signature.inputs.items()) or "no inputs"
