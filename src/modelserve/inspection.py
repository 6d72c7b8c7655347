"""What ``modelserve inspect`` reports: ``saved_model_cli show --all`` for every format.

:func:`describe` turns a loaded model into plain data (the ``--json`` output); :func:`format_text` prints
it the way ``saved_model_cli`` does, plus platform and size on disk. TFLite models also get the Edge TPU
check (:mod:`modelserve.convert.edgetpu`): fully integer or not, and the inputs, outputs and ops that are not;
and the micro-controller check (:mod:`modelserve.convert.micro`): ops vs TFLite Micro's, int8-only I/O, arena.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelserve import dtypes
from modelserve.model import Model
from modelserve.types import Signature, TensorSpec


def size_on_disk(path: Path) -> int:
    """Bytes in a file, or in every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _tensor(spec: TensorSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "dtype": spec.dtype,
        "tf_dtype": dtypes.by_name(spec.dtype).tf_name,
        "shape": None if spec.shape is None else list(spec.shape),
        "name": spec.tensor_name,
    }
    if spec.quantization is not None:
        out["quantization"] = {"scale": spec.quantization.scale, "zero_point": spec.quantization.zero_point}
    return out


def _signature(signature: Signature) -> dict[str, Any]:
    return {
        "method_name": signature.method_name,
        "inputs": {name: _tensor(spec) for name, spec in signature.inputs.items()},
        "outputs": {name: _tensor(spec) for name, spec in signature.outputs.items()},
    }


def describe(model: Model, signature: str | None = None) -> dict[str, Any]:
    """Plain-data description; ``signature`` limits it to one (NotFound if absent)."""
    names = [model.runtime.signature(signature).name] if signature else list(model.signatures)
    description = {
        "path": str(model.path),
        "platform": model.platform,
        "size_bytes": size_on_disk(model.path),
        "signatures": {name: _signature(model.signatures[name]) for name in names},
    }
    if model.platform == "tflite" and Path(model.path).is_file():
        from modelserve.convert.edgetpu import check_tflite
        from modelserve.convert.micro import check_micro

        data = Path(model.path).read_bytes()
        description["edge_tpu"] = check_tflite(data).as_dict()
        description["tflite_micro"] = check_micro(data).as_dict()
    return description


def _shape_text(shape: list[int] | None) -> str:
    if shape is None:
        return "unknown_rank"
    if len(shape) == 1:
        return f"({shape[0]})"
    return "(" + ", ".join(map(str, shape)) + ")"


def _tensor_lines(kind: str, name: str, tensor: dict[str, Any]) -> list[str]:
    lines = [
        f"    {kind}['{name}'] tensor_info:",
        f"        dtype: {tensor['tf_dtype']}",
        f"        shape: {_shape_text(tensor['shape'])}",
        f"        name: {tensor['name']}",
    ]
    if "quantization" in tensor:
        q = tensor["quantization"]
        lines.append(f"        quantization: scale={q['scale']:.6g}, zero_point={q['zero_point']}")
    return lines


def format_text(description: dict[str, Any]) -> str:
    """The human-readable report, ``saved_model_cli show --all`` style."""
    size = description["size_bytes"]
    kind = "SavedModel SignatureDef" if description["platform"] == "tensorflow" else "SignatureDef"
    lines = [
        f"Model: {description['path']}",
        f"Platform: {description['platform']}",
        f"Size on disk: {size / 1024:.1f} KiB ({size} bytes)",
        f"Signatures: {len(description['signatures'])}",
    ]
    for name, signature in description["signatures"].items():
        lines += ["", f"signature_def['{name}']:", f"  The given {kind} contains the following input(s):"]
        for alias, tensor in signature["inputs"].items():
            lines += _tensor_lines("inputs", alias, tensor)
        lines.append(f"  The given {kind} contains the following output(s):")
        for alias, tensor in signature["outputs"].items():
            lines += _tensor_lines("outputs", alias, tensor)
        lines.append(f"  Method name is: {signature['method_name']}")
    if "edge_tpu" in description:
        from modelserve.convert.edgetpu import text_lines

        lines += ["", *text_lines(description["edge_tpu"])]
    if "tflite_micro" in description:
        from modelserve.convert.micro import text_lines as micro_lines

        lines += ["", *micro_lines(description["tflite_micro"])]
    return "\n".join(lines)
