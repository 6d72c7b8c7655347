"""Several signatures in one TFLite file: validate ``--also-signatures``, convert, check each extra one.

``modelserve convert SRC --to tflite --signature A --also-signatures B,C`` freezes A, B and C (each as in
:mod:`.source`: variable-free) and converts them together, so the file keeps each under its own signature
key. ``TFLiteConverter.from_concrete_functions([...])`` cannot do that in TensorFlow 2.21 (every frozen
function is named ``call``; the file ends up with one signature ``call``), so :func:`converter_for` saves the
frozen functions to a temporary SavedModel with ``signatures={name: function}`` and builds the converter
with ``from_saved_model(dir, signature_keys=[A, B, C])``. The functions are variable-free, so the
``READ_VARIABLE`` problem of converting the original SavedModel does not arise.

A stays the primary signature (calibration, evaluation, report rows, accuracy gate). Each extra one is
checked after conversion by :func:`extra_diffs`: the original and the converted file run on random inputs
of its spec, and the max abs difference of their float outputs goes into the report. ``int8`` is refused
with several signatures (its representative dataset would need data per signature); ONNX and TF.js refuse
the flag.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.convert.samples import SampleSet, random_samples
from modelserve.convert.source import FrozenSignature, frozen_signature
from modelserve.convert.verify import LoadedSubject, measure, run_all
from modelserve.errors import InvalidArgument
from modelserve.model import Model
from modelserve.types import DEFAULT_SIGNATURE, Signature

#: Random examples each extra signature is checked on.
CHECK_EXAMPLES = 16


def check_also_signatures(to: str, primary: str, also: Sequence[str], variants: Sequence[str]) -> None:
    """InvalidArgument for ``--also-signatures`` on a request that cannot keep several signatures."""
    if not also:
        return
    if to != "tflite":
        raise InvalidArgument(f"--also-signatures applies to --to tflite only (one signature per {to} model)")
    if primary in also:
        raise InvalidArgument(f"--also-signatures repeats the primary signature {primary!r} (--signature)")
    if len(set(also)) != len(also):
        raise InvalidArgument(f"--also-signatures names a signature twice: {', '.join(also)}")
    if "int8" in variants:
        raise InvalidArgument(
            "int8 with several signatures is not supported (calibration data is read for --signature only); "
            "use float32, float16 or dynamic, or convert each signature on its own"
        )


def file_signature_key(primary: str, also: Sequence[str]) -> str:
    """The key of the primary signature in the converted file: ``serving_default`` alone, else its own name."""
    return primary if also else DEFAULT_SIGNATURE


@contextmanager
def frozen_extras(
    path: Path, platform: str, names: Sequence[str], batch_size: int | None
) -> Iterator[list[FrozenSignature]]:
    """Each of ``names`` frozen as :func:`~.source.frozen_signature` does, all outputs kept (``--outputs``
    names the primary signature's outputs only)."""
    with ExitStack() as stack:
        yield [stack.enter_context(frozen_signature(path, platform, name, None, batch_size)) for name in names]


@contextmanager
def converter_for(signatures: Sequence[FrozenSignature]) -> Iterator[Any]:
    """A ``TFLiteConverter`` for several frozen signatures, each under its own key (see module docstring)."""
    import tensorflow as tf

    module = tf.Module()
    for index, frozen in enumerate(signatures):
        setattr(module, f"signature_{index}", frozen.function)
    with tempfile.TemporaryDirectory(prefix="modelserve-signatures-") as tmp:
        tf.saved_model.save(module, tmp, signatures={frozen.name: frozen.concrete for frozen in signatures})
        yield tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[frozen.name for frozen in signatures])


def check_samples(signature: Signature, count: int, pixel_range: tuple[float, float]) -> SampleSet:
    """Random examples for ``signature``: numbers as :func:`~.samples.random_samples`, strings ``b"key-<i>"``."""
    numeric = Signature(
        signature.name,
        {name: spec for name, spec in signature.inputs.items() if spec.dtype != "string"},
        signature.outputs,
    )
    made = random_samples(numeric, count, pixel_range)
    examples = []
    for index, example in enumerate(made.examples):
        example = dict(example)
        for name, spec in signature.inputs.items():
            if spec.dtype == "string":
                rank = max(len(spec.shape or (None,)) - 1, 0)
                example[name] = np.array(f"key-{index}".encode(), dtype=object).reshape((1,) * rank)
        examples.append(example)
    return SampleSet(tuple(examples), None, f"{count} random examples")


def extra_diffs(
    original: Model, converted: Model, names: Sequence[str], pixel_range: tuple[float, float]
) -> dict[str, float | None]:
    """Max abs difference of each extra signature's float outputs, converted vs original, on random inputs."""
    diffs: dict[str, float | None] = {}
    for name in names:
        reference_subject = LoadedSubject(original, name)
        samples = check_samples(reference_subject.signature, CHECK_EXAMPLES, pixel_range)
        reference = run_all(reference_subject, samples)
        candidate = run_all(LoadedSubject(converted, name), samples)
        diffs[name] = measure(candidate, reference, None, None, 0.0).max_abs_diff
    return diffs
