"""Request bodies, written once to files that wrk (``post.lua``) and h2load send unchanged.

The arrays come from ``../shared/bench/peers/gen_payloads.py`` (seed 0), so the MLP and CNN bodies are the
ones the peers were measured with; the V2 JSON and V2 binary files are written by its own functions. We add
what the peers have no use for: TF Serving bodies (``{"instances": ...}`` is also KServe V1's body) and
gRPC ``PredictRequest``\\ s, V2 gRPC bodies built with our protobuf classes (the same ``inference``
messages), and the digits model's bodies (one 8×8×1 test image).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from harness import paths

JSON = "application/json"
BINARY = "application/octet-stream"


@dataclass(frozen=True)
class Payload:
    """One request body file and how to send it."""

    path: Path
    content_type: str = JSON
    ihcl: int | None = None  #: Inference-Header-Content-Length (V2 binary extension)
    instances: int = 1  #: rows per request (inferences/s = requests/s × instances)

    @property
    def name(self) -> str:
        return self.path.name


def _peer_generator() -> ModuleType:
    path = paths.PEERS / "gen_payloads.py"
    spec = importlib.util.spec_from_file_location("peer_gen_payloads", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise SystemExit(f"error: {path} not found; set MODELSERVE_PEERS_DIR to ../shared/bench/peers")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _grpc_frame(message) -> bytes:
    data = message.SerializeToString()
    return b"\x00" + len(data).to_bytes(4, "big") + data


def _v2_binary(array: np.ndarray, name: str) -> tuple[bytes, int]:
    raw = array.astype("<f4").tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "shape": list(array.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": len(raw)},
                }
            ]
        },
        separators=(",", ":"),
    ).encode()
    return header + raw, len(header)


def _write_model(folder: Path, model: str, input_name: str, array: np.ndarray, gen: ModuleType) -> dict[str, Payload]:
    from modelserve.protocols import pb
    from modelserve.protocols.tfs import tensor_proto

    out: dict[str, Payload] = {}

    def write(kind: str, filename: str, data: bytes, content_type: str = JSON, ihcl: int | None = None) -> None:
        path = folder / filename
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        out[kind] = Payload(path, content_type, ihcl, int(array.shape[0]))

    write("v1", f"{model}_v1_b1.json", gen.v1_json(array).encode())
    write("v2-json", f"{model}_v2_b1.json", gen.v2_json(array, name=input_name).encode())
    binary, header_length = _v2_binary(array, input_name)
    write("v2-binary", f"{model}_v2_b1.bin", binary, BINARY, header_length)
    predict = pb.PredictRequest()
    predict.model_spec.name = model
    predict.inputs[input_name].CopyFrom(tensor_proto.from_numpy(array.astype(np.float32)))
    write("tfs-grpc", f"{model}_tfs_grpc_b1.bin", _grpc_frame(predict))
    for raw in (False, True):
        infer = pb.ModelInferRequest(model_name=model)
        tensor = infer.inputs.add(name=input_name, datatype="FP32", shape=list(array.shape))
        if raw:
            infer.raw_input_contents.append(array.astype("<f4").tobytes())
        else:
            tensor.contents.fp32_contents.extend(array.reshape(-1).astype(np.float32).tolist())
        write("v2-grpc-raw" if raw else "v2-grpc", f"{model}_grpc{'_raw' if raw else ''}_b1.bin", _grpc_frame(infer))
    return out


def build() -> dict[str, dict[str, Payload]]:
    """``{model: {kind: Payload}}`` for mlp, cnn and digits; kinds: v1, v2-json, v2-binary, tfs-grpc,
    v2-grpc (``fp32_contents``, the peers' gRPC body) and v2-grpc-raw (``raw_input_contents``)."""
    folder = paths.work("payloads")
    gen = _peer_generator()
    arrays = gen.arrays()
    digits = np.load(paths.EXAMPLES / "digits_test.npz")["images"][:1].astype(np.float64)
    return {
        "mlp": _write_model(folder, "mlp", "x", arrays["mlp_b1"], gen),
        "cnn": _write_model(folder, "cnn", "x", arrays["cnn_b1"], gen),
        "digits": _write_model(folder, "digits", "images", digits, gen),
    }
