"""Frozen TensorFlow signature -> TFLite flatbuffer, in one of four variants (see :mod:`.variants`).

The converter works from the frozen concrete function (:mod:`.source`), so the result has one signature,
``serving_default``, with the original signature's input and output names; with ``also`` (more frozen
signatures, ``--also-signatures``) every signature keeps its own key (:mod:`.signatures`). Full-integer
``int8`` uses the calibration examples as the representative dataset (one example per step, with a progress
bar), integer-only builtin ops (``TFLITE_BUILTINS_INT8``) and int8, uint8 or float32 inputs and outputs (``io_type``).

Converter failures become :class:`~modelserve.errors.Unimplemented` naming the signature and the ops TFLite
lacks (``DecodeImage, ResizeArea``), not the converter's MLIR dump.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import ExitStack

import numpy as np

from modelserve.convert.console import Console
from modelserve.convert.samples import SampleSet, feeds
from modelserve.convert.source import FrozenSignature
from modelserve.errors import InvalidArgument, Unimplemented
from modelserve.runtimes.registry import first_line
from modelserve.types import Signature

_NOT_BUILTIN = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_LISTED = re.compile(r"^(?:TF Select ops|Custom ops): (.+)$", re.MULTILINE)
_NOT_LEGALIZED = re.compile(r"failed to legalize operation '(?:tf|tfl)\.(\w+)'")
_ERROR_LINE = re.compile(r"error: (.+)")


def convert_tflite(
    frozen: FrozenSignature,
    variant: str,
    signature: Signature,
    calibration: SampleSet | None,
    io_type: str,
    console: Console,
    source_name: str,
    also: Sequence[FrozenSignature] = (),
) -> bytes:
    """Convert ``frozen`` (the signature ``signature`` of ``source_name``) as ``variant``; returns the file.

    ``also``: more frozen signatures to keep in the same file, each under its own key (not with ``int8``).
    """
    with ExitStack() as stack:
        return _convert(stack, frozen, variant, signature, calibration, io_type, console, source_name, also)


def _convert(
    stack: ExitStack,
    frozen: FrozenSignature,
    variant: str,
    signature: Signature,
    calibration: SampleSet | None,
    io_type: str,
    console: Console,
    source_name: str,
    also: Sequence[FrozenSignature],
) -> bytes:
    import tensorflow as tf

    if also:
        from modelserve.convert.signatures import converter_for

        if variant == "int8":
            raise InvalidArgument("int8 quantization keeps one signature; drop --also-signatures")
        converter = stack.enter_context(converter_for([frozen, *also]))
    else:
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen.concrete], frozen.holder)
    if variant in ("float16", "dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        if calibration is None:
            raise InvalidArgument("int8 quantization needs calibration data (--calibration)")
        converter.representative_dataset = lambda: _representative(signature, calibration, console)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io_type != "float32":
            converter.inference_input_type = {"int8": tf.int8, "uint8": tf.uint8}[io_type]
            converter.inference_output_type = converter.inference_input_type
    try:
        return converter.convert()
    except (InvalidArgument, Unimplemented):
        raise
    except Exception as exc:
        names = ", ".join(f.name for f in (frozen, *also))
        hint = "; if an --also-signatures signature uses them, leave it out" if also else ""
        raise Unimplemented(describe_failure(str(exc), names, source_name, "TFLite") + hint) from exc


def _representative(signature: Signature, calibration: SampleSet, console: Console) -> Iterator[dict[str, np.ndarray]]:
    steps = console.progress(feeds(signature, calibration, 1), "calibrating", total=len(calibration), unit="example")
    for _rows, inputs in steps:
        yield inputs


def unsupported_ops(message: str) -> list[str]:
    """Op names a converter error message blames (sorted, unique); empty when it names none."""
    found = set(_NOT_BUILTIN.findall(message)) | set(_NOT_LEGALIZED.findall(message))
    for listed in _LISTED.findall(message):
        found.update(name.strip() for name in listed.split(",") if name.strip())
    return sorted(found)


def describe_failure(message: str, signature: str, source_name: str, target: str) -> str:
    """One paragraph for the user: which signature, which ops, what to try; never the MLIR dump."""
    ops = unsupported_ops(message)
    head = f"{target} cannot convert signature {signature!r} of {source_name}"
    if ops:
        return (
            f"{head}: ops not supported by {target}'s builtin op set: {', '.join(ops)}. "
            "Convert a signature without them (--signature), or move that work out of the model"
        )
    errors = list(dict.fromkeys(m.strip() for m in _ERROR_LINE.findall(message)))
    detail = "; ".join(errors[:3]) if errors else first_line(Exception(message))
    return f"{head}: {detail} (run with --verbose for the converter's log)"
