"""TFLite models through LiteRT (``ai-edge-litert``).

Signatures, as TF Serving finds them: the file's signature runners; else the SignatureDefs a SavedModel
conversion embedded in its metadata (:mod:`modelserve.runtimes.tflite_signatures`: aliases such as ``x``
for the tensor ``tflite_input``, with their method names); else the plain input and output tensors as
``serving_default``. Inputs are resized to the request's shape before each call, as TF Serving's TFLite
session does, so the input gate checks shapes with TensorFlow's leniency (``strict_shapes`` False: ``[1]``
into a ``[1, 1]`` input); a shape the model cannot take is refused by LiteRT as an invalid argument.

Concurrency: an interpreter is not thread-safe, so calls borrow one from a pool (created on demand, at
most ``interpreter_pool_size``, default one per core) instead of sharing one behind a global lock.

Quantized tensors (int8/uint8/int16 with a non-zero scale) follow one rule, "float in, float out": when
the caller passes floating-point data for a quantized input, it is quantized with that tensor's
``q = clip(round(x / scale) + zero_point)``, and the call's quantized outputs are dequantized to float32
with ``x = scale * (q - zero_point)``. When every quantized input is given as integers, integers go in
unchanged and quantized outputs come back as the raw integers.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from modelserve import dtypes
from modelserve.errors import FailedPrecondition, InvalidArgument, ModelLoadError, Unavailable
from modelserve.runtimes.base import LoadedModel, RuntimeOptions, single_file
from modelserve.runtimes.tflite_signatures import EmbeddedSignature, embedded_signatures
from modelserve.types import DEFAULT_SIGNATURE, PREDICT_METHOD, Quantization, Signature, TensorSpec


def _spec(name: str, detail: dict) -> TensorSpec:
    """A tensor's spec under the signature's name for it (the alias)."""
    shape = tuple(int(d) for d in detail.get("shape_signature", detail["shape"]))
    dtype = dtypes.by_numpy(detail["dtype"]).name
    scale, zero_point = detail.get("quantization", (0.0, 0))
    quantization = Quantization(float(scale), int(zero_point)) if scale else None
    return TensorSpec(name, dtype, shape, tensor_name=detail["name"], quantization=quantization)


def quantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float data -> the quantized integer dtype of ``spec`` (round half to even, then clip)."""
    assert spec.quantization is not None
    target = np.dtype(spec.dtype)
    info = np.iinfo(target)
    q = np.round(values / spec.quantization.scale) + spec.quantization.zero_point
    return np.clip(q, info.min, info.max).astype(target)


def dequantize(values: np.ndarray, spec: TensorSpec) -> np.ndarray:
    assert spec.quantization is not None
    q = spec.quantization
    return ((values.astype(np.float32) - q.zero_point) * q.scale).astype(np.float32)


@dataclass(frozen=True)
class _Entry:
    """How to call one signature: by signature runner key, or (no signatures) by tensor indices."""

    signature: Signature
    runner_key: str | None
    input_indices: Mapping[str, int]
    output_indices: Mapping[str, int]


class _InterpreterPool:
    """Interpreters created on demand up to ``size``; a borrower waits when all are busy."""

    def __init__(self, model_content: bytes, size: int, num_threads: int | None) -> None:
        self._content = model_content
        self._size = size
        self._num_threads = num_threads
        self._idle: queue.LifoQueue[Interpreter] = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()

    def new_interpreter(self) -> Interpreter:
        interpreter = Interpreter(model_content=self._content, num_threads=self._num_threads)
        interpreter.allocate_tensors()
        return interpreter

    @contextmanager
    def borrow(self) -> Iterator[Interpreter]:
        try:
            interpreter = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                create = self._created < self._size
                if create:
                    self._created += 1
            interpreter = self.new_interpreter() if create else self._idle.get()
        try:
            yield interpreter
        finally:
            self._idle.put(interpreter)


class TfliteModel(LoadedModel):
    platform = "tflite"
    strict_shapes = False

    def __init__(self, path: Path, pool: _InterpreterPool, embedded: Mapping[str, EmbeddedSignature]) -> None:
        self.path = path
        self._pool = pool
        with pool.borrow() as interpreter:
            self._entries = _entries(interpreter, embedded)
        self.signatures = {name: entry.signature for name, entry in self._entries.items()}

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        entry = self._entries[self.signature(signature_name).name]
        specs = entry.signature.inputs
        float_in = any(specs[n].quantization is not None and a.dtype.kind == "f" for n, a in inputs.items())
        feed = {
            name: quantize(a, specs[name]) if specs[name].quantization and a.dtype.kind == "f" else a
            for name, a in inputs.items()
        }
        pool = self._pool
        if pool is None:
            raise Unavailable(f"model {self.path} was unloaded")
        try:
            with pool.borrow() as interpreter:
                outputs = _invoke(interpreter, entry, feed)
        except RuntimeError as exc:  # a resize or allocation the model's graph cannot take
            raise InvalidArgument(f"LiteRT refused the input: {str(exc).strip()}") from exc
        except ValueError as exc:
            raise FailedPrecondition(f"LiteRT failed: {str(exc).strip()}") from exc
        if float_in:
            for name, spec in entry.signature.outputs.items():
                if spec.quantization is not None:
                    outputs[name] = dequantize(outputs[name], spec)
        return outputs

    def close(self) -> None:
        self._pool = None


def _invoke(interpreter: Interpreter, entry: _Entry, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if entry.runner_key is not None:
        return dict(interpreter.get_signature_runner(entry.runner_key)(**feed))
    for name, index in entry.input_indices.items():
        interpreter.resize_tensor_input(index, feed[name].shape, strict=False)
    interpreter.allocate_tensors()
    for name, index in entry.input_indices.items():
        interpreter.set_tensor(index, feed[name])
    interpreter.invoke()
    return {name: interpreter.get_tensor(index) for name, index in entry.output_indices.items()}


def _entries(interpreter: Interpreter, embedded: Mapping[str, EmbeddedSignature]) -> dict[str, _Entry]:
    signature_list = interpreter.get_signature_list()
    if not signature_list and embedded:
        return {key: _embedded_entry(interpreter, signature) for key, signature in embedded.items()}
    if not signature_list:
        ins = {d["name"]: d for d in interpreter.get_input_details()}
        outs = {d["name"]: d for d in interpreter.get_output_details()}
        signature = Signature.from_specs(
            DEFAULT_SIGNATURE,
            [_spec(n, d) for n, d in ins.items()],
            [_spec(n, d) for n, d in outs.items()],
        )
        return {
            DEFAULT_SIGNATURE: _Entry(
                signature,
                None,
                {n: d["index"] for n, d in ins.items()},
                {n: d["index"] for n, d in outs.items()},
            )
        }
    entries = {}
    for key in signature_list:
        runner = interpreter.get_signature_runner(key)
        ins = runner.get_input_details()
        outs = runner.get_output_details()
        signature = Signature.from_specs(
            key, [_spec(n, d) for n, d in ins.items()], [_spec(n, d) for n, d in outs.items()]
        )
        entries[key] = _Entry(signature, key, {}, {})
    return entries


def _embedded_entry(interpreter: Interpreter, embedded: EmbeddedSignature) -> _Entry:
    """A SignatureDef from the metadata, called through the tensors it names."""
    by_name = {d["name"]: d for d in (*interpreter.get_input_details(), *interpreter.get_output_details())}

    def tensors(aliases: Mapping[str, str], role: str) -> dict[str, dict]:
        missing = [tensor for tensor in aliases.values() if tensor not in by_name]
        if missing:
            raise ModelLoadError(
                f"signature {embedded.key!r} names {role} tensor {missing[0]!r}, which the TFLite graph does not "
                f"have as an input or output (it has: {', '.join(by_name)})"
            )
        return {alias: by_name[tensor] for alias, tensor in aliases.items()}

    ins, outs = tensors(embedded.inputs, "input"), tensors(embedded.outputs, "output")
    signature = Signature.from_specs(
        embedded.key,
        [_spec(alias, d) for alias, d in ins.items()],
        [_spec(alias, d) for alias, d in outs.items()],
        method_name=embedded.method_name or PREDICT_METHOD,
    )
    return _Entry(signature, None, {a: d["index"] for a, d in ins.items()}, {a: d["index"] for a, d in outs.items()})


def load(path: Path, options: RuntimeOptions) -> TfliteModel:
    model_file = single_file(path, (".tflite",), "TFLite")
    size = options.interpreter_pool_size or os.cpu_count() or 1
    content = model_file.read_bytes()
    pool = _InterpreterPool(content, size, options.intra_op_threads or None)
    return TfliteModel(model_file, pool, embedded_signatures(content))
