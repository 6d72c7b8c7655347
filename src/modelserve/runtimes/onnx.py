"""ONNX models through ONNX Runtime.

The graph's inputs and outputs form one signature, ``serving_default`` (predict method). Execution
providers: TensorRT, then CUDA, then CPU, among those the installed onnxruntime build offers, unless
:class:`RuntimeOptions.providers` names them. ``InferenceSession.run`` is thread-safe, so one session
serves every caller.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from modelserve.errors import FailedPrecondition, InvalidArgument, ModelLoadError, Unavailable
from modelserve.runtimes.base import LoadedModel, RuntimeOptions, single_file
from modelserve.types import DEFAULT_SIGNATURE, Signature, TensorSpec

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(bfloat16)": "bfloat16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}


def choose_providers(available: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The providers to open a session with, best first; CPU is always the last resort."""
    if requested is None:
        return [p for p in PREFERRED_PROVIDERS if p in available] or ["CPUExecutionProvider"]
    missing = [p for p in requested if p not in available]
    if missing:
        raise ModelLoadError(
            f"execution providers {', '.join(missing)} are not in this onnxruntime build "
            f"(available: {', '.join(available)})"
        )
    return list(requested)


def _spec(node: ort.NodeArg) -> TensorSpec:
    dtype = _ORT_TYPES.get(node.type)
    if dtype is None:
        raise ModelLoadError(f"ONNX tensor {node.name!r} has unsupported type {node.type}")
    shape = None if node.shape is None else tuple(d if isinstance(d, int) and d >= 0 else -1 for d in node.shape)
    return TensorSpec(node.name, dtype, shape, tensor_name=node.name)


class OnnxModel(LoadedModel):
    platform = "onnx"

    def __init__(self, path: Path, session: ort.InferenceSession) -> None:
        self.path = path
        self._session = session
        inputs = [_spec(n) for n in session.get_inputs()]
        outputs = [_spec(n) for n in session.get_outputs()]
        self.signatures = {DEFAULT_SIGNATURE: Signature.from_specs(DEFAULT_SIGNATURE, inputs, outputs)}
        self._output_names = [s.name for s in outputs]
        self._string_inputs = {s.name for s in inputs if s.dtype == "string"}
        self._string_outputs = [s.name for s in outputs if s.dtype == "string"]

    @property
    def providers(self) -> list[str]:
        return self._session.get_providers()

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if signature_name != DEFAULT_SIGNATURE:
            self.signature(signature_name)  # raises NotFound
        session = self._session
        if session is None:
            raise Unavailable(f"model {self.path} was unloaded")
        feed = {name: _to_ort(a) for name, a in inputs.items()} if self._string_inputs else inputs
        try:
            results = session.run(self._output_names, feed)
        except Exception as exc:
            error = InvalidArgument if "INVALID_ARGUMENT" in str(exc) else FailedPrecondition
            raise error(f"ONNX Runtime failed: {str(exc).strip()}") from exc
        outputs = dict(zip(self._output_names, results))
        for name in self._string_outputs:
            outputs[name] = _from_ort(outputs[name])
        return outputs

    def close(self) -> None:
        self._session = None


def _to_ort(array: np.ndarray) -> np.ndarray:
    """ONNX Runtime takes string tensors as arrays of ``str``."""
    if array.dtype != object:
        return array
    flat = [b.decode("utf-8", "surrogateescape") for b in array.reshape(-1)]
    return np.array(flat, dtype=object).reshape(array.shape)


def _from_ort(array: np.ndarray) -> np.ndarray:
    """ONNX Runtime returns string tensors as arrays of ``str``; ours hold ``bytes``."""
    array = np.asarray(array)
    out = np.empty(array.shape, dtype=object)
    out.reshape(-1)[:] = [s.encode("utf-8", "surrogateescape") for s in array.reshape(-1)]
    return out


def load(path: Path, options: RuntimeOptions) -> OnnxModel:
    model_file = single_file(path, (".onnx",), "ONNX")
    session_options = ort.SessionOptions()
    # One thread per call unless asked: a server's parallelism comes from concurrent requests, and a pool
    # per call costs a wake-up per call (measured: docs/performance.md). Big models that serve one request
    # at a time gain from --tensorflow_intra_op_parallelism=N.
    session_options.intra_op_num_threads = options.intra_op_threads or 1
    if options.inter_op_threads:
        session_options.inter_op_num_threads = options.inter_op_threads
    # ONNX Runtime's pool threads spin between calls by default, burning the cores that the server's event
    # loop and parsing need; a server sleeps them instead (measured: docs/performance.md).
    if os.environ.get("MODELSERVE_ORT_SPINNING", "0") != "1":
        session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session_options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    providers = choose_providers(ort.get_available_providers(), options.providers)
    session = ort.InferenceSession(str(model_file), sess_options=session_options, providers=providers)
    return OnnxModel(model_file, session)
