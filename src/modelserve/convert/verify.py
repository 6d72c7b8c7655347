"""Run the original and a converted model on the same examples and measure what changed.

A :class:`Subject` is anything with a signature that maps inputs to outputs: a model loaded through
modelserve's runtimes (:class:`LoadedSubject`: TensorFlow, Keras, ONNX Runtime, LiteRT, so the numbers are
those the server will see) or a framework object without a runtime (the PyTorch exporter's reference).
Quantized TFLite inputs and outputs follow the runtime's "float in, float out" rule, so every variant is
fed the same float examples and returns comparable floats.

Measures (:class:`Measurement`): max absolute difference from the original over the float outputs both
have; top-1 agreement and accuracy (with labels) from the *score output*, the float output holding one
vector of class scores per example (auto-detected, or named); in-process p50 latency of one-example calls.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from modelserve.convert.samples import SampleSet, batched, feeds
from modelserve.errors import InvalidArgument
from modelserve.model import Model
from modelserve.types import Signature

DEFAULT_BATCH = 64


class Subject(Protocol):
    """A model to measure. ``run`` takes and returns arrays keyed by the signature's names."""

    signature: Signature

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


@dataclass
class LoadedSubject:
    """A :class:`~modelserve.model.Model` signature, called through ``Model.predict`` (inputs validated)."""

    model: Model
    signature_name: str

    @property
    def signature(self) -> Signature:
        return self.model.signatures[self.signature_name]

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.model.predict(inputs, signature=self.signature_name)


@dataclass(frozen=True)
class Outputs:
    """Every output of a subject over a sample set, rows in sample order; ``batched``: rows carry a batch axis."""

    values: dict[str, np.ndarray]
    batched: bool


@dataclass(frozen=True)
class Measurement:
    accuracy: float | None
    max_abs_diff: float | None
    top1_agreement: float | None
    latency_p50_ms: float


def batch_size_for(signature: Signature) -> int:
    """The fixed first dimension shared by the inputs, else :data:`DEFAULT_BATCH`."""
    firsts = {spec.shape[0] for spec in signature.inputs.values() if spec.shape}
    if len(firsts) == 1:
        first = firsts.pop()
        if first is not None and first > 0:
            return first
    return DEFAULT_BATCH


def run_all(subject: Subject, samples: SampleSet) -> Outputs:
    """``subject`` over every example (batched when the signature is), outputs concatenated in order."""
    signature = subject.signature
    pieces: dict[str, list[np.ndarray]] = {}
    for _rows, inputs in feeds(signature, samples, batch_size_for(signature)):
        for name, value in subject.run(inputs).items():
            pieces.setdefault(name, []).append(np.asarray(value))
    in_batches = batched(signature, samples)
    join = np.concatenate if in_batches else np.stack
    return Outputs({name: join(values) for name, values in pieces.items()}, in_batches)


def latency_p50_ms(subject: Subject, samples: SampleSet, runs: int, warmup: int = 2) -> float:
    """Median wall time of ``runs`` calls on the first example alone (after ``warmup`` calls)."""
    _rows, inputs = next(iter(feeds(subject.signature, samples.head(1), 1)))
    for _ in range(warmup):
        subject.run(inputs)
    times = []
    for _ in range(max(runs, 1)):
        start = time.perf_counter()
        subject.run(inputs)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def score_output(outputs: Outputs, requested: str | None = None) -> str | None:
    """The output holding one score vector per example: ``requested``, else the first float one (by name)."""
    if requested:
        if requested not in outputs.values:
            raise InvalidArgument(f"no output named {requested!r}; outputs: {', '.join(sorted(outputs.values))}")
        return requested
    for name in sorted(outputs.values):
        value = outputs.values[name]
        if value.dtype.kind == "f" and value.ndim == 2 and value.shape[1] > 1:
            return name
    return None


def measure(
    candidate: Outputs,
    reference: Outputs | None,
    labels: np.ndarray | None,
    score: str | None,
    latency_ms: float,
) -> Measurement:
    """Compare ``candidate`` with ``reference`` (``None`` for the original itself)."""
    accuracy = agreement = diff = None
    if score is not None and score in candidate.values:
        predicted = np.argmax(candidate.values[score], axis=-1)
        if labels is not None and len(labels) == len(predicted):
            accuracy = float(np.mean(predicted == labels))
        if reference is not None and score in reference.values:
            agreement = float(np.mean(predicted == np.argmax(reference.values[score], axis=-1)))
    if reference is not None:
        diffs = [
            float(np.max(np.abs(value.astype(np.float64) - reference.values[name].astype(np.float64))))
            for name, value in candidate.values.items()
            if name in reference.values
            and value.dtype.kind == "f"
            and reference.values[name].dtype.kind == "f"
            and value.shape == reference.values[name].shape
            and value.size
        ]
        diff = max(diffs) if diffs else None
    return Measurement(accuracy, diff, agreement, latency_ms)


def file_size(path: Path) -> int:
    """Bytes in a file, or in every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
