"""Optional extra: PyTorch -> ONNX (``pip install torch``; imported only when a PyTorch model is converted).

Sources: a TorchScript file (``torch.jit.save``, ``.pt``/``.pth``), a pickled ``nn.Module`` (``torch.save``
of the whole module; only load files you trust), a ``torch.export`` program (``.pt2``), or, from Python,
an ``nn.Module`` object. PyTorch needs an example input to trace the graph: ``input_shapes`` gives each
input's name and shape (the first dimension is the batch and is exported as dynamic for modules and
TorchScript; a ``torch.export`` program keeps the shapes it was exported with, and its exporter needs
``onnxscript``). Outputs are named ``output_0``, ``output_1``, ... in the order the model returns them.

    torch_to_onnx(module, {"images": (1, 3, 224, 224)}, Path("model.onnx"))
    reference = TorchReference.load(Path("model.pt"), {"images": (1, 3, 224, 224)})   # for verification
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.errors import InvalidArgument, ModelLoadError, Unimplemented
from modelserve.runtimes.registry import first_line
from modelserve.types import DEFAULT_SIGNATURE, Signature, TensorSpec

Shapes = Mapping[str, tuple[int, ...]]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise Unimplemented(
            "converting a PyTorch model needs PyTorch, which is not installed: pip install torch "
            "(the CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
        ) from None
    return torch


def load_torch(path: Path) -> Any:
    """A TorchScript module, a pickled ``nn.Module`` or a ``torch.export`` program from ``path``."""
    torch = _torch()
    try:
        if path.suffix.lower() == ".pt2":
            return torch.export.load(str(path))
        try:
            return torch.jit.load(str(path), map_location="cpu")
        except RuntimeError:  # not TorchScript: a whole pickled module
            module = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as exc:
        raise ModelLoadError(f"could not load PyTorch model at {path}: {first_line(exc)}") from exc
    if not isinstance(module, torch.nn.Module):
        raise ModelLoadError(f"{path} holds a {type(module).__name__}, not a TorchScript or nn.Module model")
    return module


def parse_input_shapes(texts: list[str]) -> dict[str, tuple[int, ...]]:
    """``["images=1,3,224,224"]`` (or ``["1,3,224,224"]`` for one input named ``input``) -> {name: shape}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for text in texts:
        name, _, dims = text.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            raise InvalidArgument(f"--input-shape {text!r}: expected NAME=D0,D1,... with integer sizes") from None
        if not shape or any(d < 1 for d in shape):
            raise InvalidArgument(f"--input-shape {text!r}: sizes must be positive integers")
        shapes[name or "input"] = shape
    return shapes


def is_program(model: Any) -> bool:
    """Whether ``model`` is a ``torch.export`` program (exported with the fixed shapes it was traced with)."""
    return isinstance(model, _torch().export.ExportedProgram)


def signature_for(shapes: Shapes, dynamic_batch: bool = True) -> Signature:
    """float32 inputs, the first dimension dynamic unless ``dynamic_batch`` is False (outputs: none listed)."""
    inputs = [
        TensorSpec(name, "float32", (-1, *shape[1:]) if dynamic_batch else shape) for name, shape in shapes.items()
    ]
    return Signature.from_specs(DEFAULT_SIGNATURE, inputs, [])


def torch_to_onnx(model: Any, shapes: Shapes, target: Path, opset: int = 17) -> list[str]:
    """Export ``model`` (``nn.Module``, TorchScript or ``ExportedProgram``) to ``target``; returns output names."""
    torch = _torch()
    examples = tuple(torch.zeros(shape) for shape in shapes.values())
    names = list(shapes)
    program = is_program(model)
    with torch.no_grad():
        sample = model.module()(*examples) if program else model(*examples)
    count = len(sample) if isinstance(sample, (tuple, list)) else 1
    outputs = [f"output_{i}" for i in range(count)]
    if program and importlib.util.find_spec("onnxscript") is None:
        raise Unimplemented("exporting a torch.export program to ONNX needs onnxscript: pip install onnxscript")
    try:
        if program:
            torch.onnx.export(
                model, examples, str(target), input_names=names, output_names=outputs, opset_version=opset
            )
        else:
            torch.onnx.export(
                model,
                examples,
                str(target),
                input_names=names,
                output_names=outputs,
                opset_version=opset,
                dynamic_axes={name: {0: "batch"} for name in [*names, *outputs]},
                dynamo=False,
            )
    except Exception as exc:
        raise Unimplemented(f"PyTorch cannot export this model to ONNX at opset {opset}: {first_line(exc)}") from exc
    _inline_external_data(target)
    return outputs


def _inline_external_data(path: Path) -> None:
    """One self-contained file: the ``torch.export`` exporter writes weights to ``<name>.data`` beside it."""
    import onnx

    sidecars = [p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path]
    if not sidecars:
        return
    onnx.save_model(onnx.load(str(path)), str(path), save_as_external_data=False)
    for sidecar in sidecars:
        sidecar.unlink()


class TorchReference:
    """The PyTorch model itself as a verification subject (outputs named like the exported graph's)."""

    def __init__(self, model: Any, signature: Signature, output_names: list[str]) -> None:
        self._torch = _torch()
        self._model = model.module() if is_program(model) else model
        self.signature = signature
        self.output_names = output_names

    def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [self._torch.from_numpy(np.ascontiguousarray(inputs[name])) for name in self.signature.inputs]
        with self._torch.no_grad():
            result = self._model(*args)
        values = result if isinstance(result, (tuple, list)) else (result,)
        return {name: value.detach().cpu().numpy() for name, value in zip(self.output_names, values)}
