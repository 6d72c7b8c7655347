"""Run a TF.js graph model in Node.js (``@tensorflow/tfjs`` + the WebAssembly backend) on a sample set.

:func:`run_in_node` writes the examples as raw little-endian files plus a ``job.json`` into a temporary
folder, runs ``tfjs_node/verify.mjs`` (shipped with this package) with ``node``, and reads the outputs
back as the same :class:`~modelserve.convert.verify.Outputs` the in-process runtimes give, so
:func:`~modelserve.convert.verify.measure` compares them with the original unchanged. The examples are fed in
the batches :func:`~modelserve.convert.verify.run_all` uses; latency is the median of ``runs`` one-example
calls timed inside Node (``execute`` plus reading every output back), after ``warmup`` calls.

TF.js has no 64-bit tensors: float64 inputs are sent as float32 and 8/16/64-bit integers as int32 (values
outside int32 are an error); string inputs are not supported. Outputs come back as float32, int32, bool
or string arrays.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.convert.samples import SampleSet, batched, feeds
from modelserve.convert.verify import Outputs, batch_size_for
from modelserve.errors import Internal, InvalidArgument, Unimplemented
from modelserve.types import DEFAULT_SIGNATURE, Signature, TensorSpec

SCRIPT = Path(__file__).with_name("tfjs_node") / "verify.mjs"
NODE_TIMEOUT_S = 600
_INT32 = np.iinfo(np.int32)
_OUT_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.uint8}
_DT_NAMES = {"FLOAT": "float32", "DOUBLE": "float64", "HALF": "float16", "BFLOAT16": "bfloat16"}


@dataclass(frozen=True)
class NodeRun:
    """What one Node run measured: outputs over the samples, p50 latency, and the runtime that ran them."""

    outputs: Outputs
    latency_p50_ms: float
    runtime: str


def signature_of(model_json: Path) -> Signature:
    """The ``serving_default`` signature recorded in a graph model's ``model.json`` (TensorFlow dtypes)."""
    try:
        recorded = json.loads(Path(model_json).read_text())["signature"]
    except (OSError, ValueError, KeyError) as exc:
        raise Internal(f"{model_json} is not a TF.js graph model with a signature: {exc}") from None

    def specs(section: dict[str, Any]) -> list[TensorSpec]:
        found = []
        for name, info in section.items():
            dtype = info.get("dtype", "DT_FLOAT").removeprefix("DT_")
            shape_info = info.get("tensorShape", {})
            dims = None if shape_info.get("unknownRank") else tuple(int(d["size"]) for d in shape_info.get("dim", []))
            found.append(TensorSpec(name, _DT_NAMES.get(dtype, dtype.lower()), dims, info.get("name", "")))
        return found

    return Signature.from_specs(
        DEFAULT_SIGNATURE, specs(recorded.get("inputs", {})), specs(recorded.get("outputs", {}))
    )


def tfjs_array(name: str, value: np.ndarray) -> tuple[str, np.ndarray]:
    """(TF.js dtype, C-ordered little-endian array) for one input; InvalidArgument when TF.js cannot take it."""
    value = np.asarray(value)
    if value.dtype.kind == "f":
        return "float32", np.ascontiguousarray(value, dtype="<f4")
    if value.dtype.kind == "b":
        return "bool", np.ascontiguousarray(value, dtype=np.uint8)
    if value.dtype.kind in "iu":
        if value.size and (value.min() < _INT32.min or value.max() > _INT32.max):
            raise InvalidArgument(f"input {name!r} has values outside int32, which TF.js cannot hold")
        return "int32", np.ascontiguousarray(value, dtype="<i4")
    raise Unimplemented(f"input {name!r} is {value.dtype}: the TF.js verification takes numeric inputs only")


def _write_call(folder: Path, prefix: str, inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    call = {}
    for index, (name, value) in enumerate(inputs.items()):
        dtype, array = tfjs_array(name, value)
        file = f"{prefix}_{index}.bin"
        array.tofile(folder / file)
        call[name] = {"dtype": dtype, "shape": list(array.shape), "file": file}
    return call


def read_output(folder: Path, spec: dict[str, Any]) -> np.ndarray:
    """One output written by ``verify.mjs`` as a numpy array (strings as an object array of ``bytes``)."""
    shape = tuple(int(d) for d in spec["shape"])
    if spec["dtype"] == "string":
        return np.array([s.encode("utf-8") for s in spec["strings"]], dtype=object).reshape(shape)
    dtype = _OUT_DTYPES.get(spec["dtype"])
    if dtype is None:
        raise Internal(f"verify.mjs returned an output of unknown dtype {spec['dtype']!r}")
    values = np.fromfile(folder / spec["file"], dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)
    return values.astype(bool) if spec["dtype"] == "bool" else values.astype(dtype)


def run_in_node(
    model_json: Path,
    signature: Signature,
    samples: SampleSet,
    runs: int,
    warmup: int = 2,
    node_modules: Path | None = None,
) -> NodeRun:
    """Run ``model_json`` on every example of ``samples`` (fed as ``signature`` is: batched or one by one)."""
    from modelserve.server.tfjs_files import INSTALL_HINT, runtime_dir

    node = shutil.which("node")
    if node_modules is None:
        found = runtime_dir()
        node_modules = found / "node_modules" if found is not None else None
    if node is None or node_modules is None:
        raise Unimplemented(f"running a TF.js model needs Node.js and the tfjs npm packages: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="modelserve-tfjs-node-") as tmp:
        folder = Path(tmp)
        calls = []
        for index, (_rows, inputs) in enumerate(feeds(signature, samples, batch_size_for(signature))):
            calls.append(_write_call(folder, f"call{index}", inputs))
        _rows, first = next(iter(feeds(signature, samples.head(1), 1)))
        job = {
            "model": str(Path(model_json).resolve()),
            "node_modules": str(node_modules),
            "backend": "wasm",
            "calls": calls,
            "latency": _write_call(folder, "latency", first),
            "runs": max(runs, 1),
            "warmup": warmup,
        }
        (folder / "job.json").write_text(json.dumps(job))
        try:
            done = subprocess.run(
                [node, str(SCRIPT), str(folder)],
                capture_output=True,
                text=True,
                timeout=NODE_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise Internal(f"Node.js did not finish running {model_json} within {NODE_TIMEOUT_S} s") from None
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            detail = lines[-1] if lines else f"exit status {done.returncode}"
            raise Unimplemented(f"TF.js (Node.js, wasm backend) cannot run {model_json}: {detail}")
        result = json.loads((folder / "result.json").read_text())
        pieces: dict[str, list[np.ndarray]] = {}
        for call in result["calls"]:
            for name, spec in call.items():
                pieces.setdefault(name, []).append(read_output(folder, spec))
    in_batches = batched(signature, samples)
    join = np.concatenate if in_batches else np.stack
    outputs = Outputs({name: join(values) for name, values in pieces.items()}, in_batches)
    latency = float(np.median(result["latency_ms"])) if result["latency_ms"] else 0.0
    runtime = f"Node.js {result['node']}, @tensorflow/tfjs {result['tfjs']}, {result['backend']} backend"
    return NodeRun(outputs, latency, runtime)
