"""Optional extra: PyTorch -> ONNX (``pip install 'modelserve[pytorch]'``; imported only to convert PyTorch).

Sources: a TorchScript file (``torch.jit.save``, ``.pt``/``.pth``), a pickled ``nn.Module`` (``torch.save``
of the whole module; only load files you trust), a ``torch.export`` program (``torch.export.save``,
``.pt2``), or, from Python, any of those objects. :func:`torch_to_onnx` exports through:

- ``torch.export`` (the ``dynamo`` exporter, needs ``onnxscript``) for programs and ``nn.Module`` objects.
  A module is exported with a dynamic first (batch) dimension on every input, traced at a batch of 2 (a
  size-1 dimension would be fixed by PyTorch); when its code fixes the batch, torch.export refuses that
  and it is exported again with the example's shapes. A program keeps the shapes it was exported with:
  export it with ``dynamic_shapes={"images": {0: torch.export.Dim("batch")}}`` for a dynamic batch.
- the TorchScript exporter (``dynamo=False``) for TorchScript modules, with the batch dynamic
  (``dynamic_axes``), and for modules ``torch.export`` cannot capture (traced at the example input).

Example input: ``shapes`` gives each input's name and shape, float32 zeros (``--input-shape NAME=D0,...``).
A program may omit it: its saved example inputs and input names are used. Outputs are named after the keys
when the model returns a dict of tensors (``{"probabilities": p}``), else ``output_0``, ``output_1``, ...

    export = torch_to_onnx(module, {"images": (1, 8, 8, 1)}, Path("model.onnx"))
    export.exporter, export.dynamic_batch, export.outputs     # "torch.export", True, ["probabilities"]
    export.reference.run({"images": batch})                   # PyTorch itself, for verification
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.errors import InvalidArgument, ModelLoadError, Unimplemented
from modelserve.runtimes.registry import first_line
from modelserve.types import DEFAULT_SIGNATURE, Signature

Shapes = Mapping[str, tuple[int, ...]]
TORCH_EXPORT, TORCHSCRIPT = "torch.export", "torchscript"


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise Unimplemented(
            "converting a PyTorch model needs PyTorch, which is not installed: pip install 'modelserve[pytorch]' "
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
    """Whether ``model`` is a ``torch.export`` program."""
    return isinstance(model, _torch().export.ExportedProgram)


def is_torchscript(model: Any) -> bool:
    torch = _torch()
    return isinstance(model, (torch.jit.ScriptModule, torch.jit.ScriptFunction))


@dataclass(frozen=True)
class TorchExport:
    """The result of :func:`torch_to_onnx`: which exporter wrote the file, whether its batch is dynamic
    (every input's first dimension unknown), the output names, and the PyTorch model as a reference."""

    exporter: str
    dynamic_batch: bool
    outputs: list[str]
    reference: TorchReference


def torch_to_onnx(model: Any, shapes: Shapes | None, target: Path, opset: int = 17) -> TorchExport:
    """Export ``model`` (``nn.Module``, TorchScript or ``ExportedProgram``) to ``target`` (one self-contained
    file); Unimplemented when no exporter can, InvalidArgument without a usable example input."""
    torch = _torch()
    names, examples = _examples(model, shapes)
    callable_model = model.module() if is_program(model) else model
    with torch.no_grad():
        outputs = _output_names(callable_model(*examples))
    if is_torchscript(model):
        exporter = _export_torchscript(model, examples, names, outputs, target, opset)
    elif is_program(model):
        _export_dynamo(model, examples, names, outputs, target, opset, dynamic=False)
        exporter = TORCH_EXPORT
    else:
        exporter = _export_module(model, examples, names, outputs, target, opset)
    signature = _onnx_signature(target)
    dynamic = all(spec.shape and spec.shape[0] == -1 for spec in signature.inputs.values())
    return TorchExport(exporter, dynamic, outputs, TorchReference(model, signature, outputs))


def _examples(model: Any, shapes: Shapes | None) -> tuple[list[str], tuple[Any, ...]]:
    """Input names and example tensors: float32 zeros of ``shapes``, else a program's own example inputs."""
    torch = _torch()
    if is_program(model):
        user_inputs = list(model.graph_signature.user_inputs)
        if shapes and len(shapes) != len(user_inputs):
            raise InvalidArgument(
                f"the program takes {len(user_inputs)} input(s) ({', '.join(user_inputs)}); "
                f"--input-shape gave {len(shapes)}"
            )
        if not shapes:
            stored = model.example_inputs
            if stored is None or stored[1] or len(stored[0]) != len(user_inputs):
                raise InvalidArgument("this program has no example inputs saved: pass --input-shape NAME=D0,D1,...")
            return user_inputs, tuple(stored[0])
    if not shapes:
        raise InvalidArgument("a PyTorch model needs --input-shape NAME=D0,D1,... (the example input to trace)")
    return list(shapes), tuple(torch.zeros(shape) for shape in shapes.values())


def _output_names(sample: Any) -> list[str]:
    torch = _torch()
    if isinstance(sample, Mapping):
        values, names = list(sample.values()), [str(key) for key in sample]
    elif isinstance(sample, (tuple, list)):
        values, names = list(sample), [f"output_{i}" for i in range(len(sample))]
    else:
        values, names = [sample], ["output_0"]
    if not all(isinstance(value, torch.Tensor) for value in values):
        raise Unimplemented("the model must return a tensor, a tuple or list of tensors, or a dict of tensors")
    return names


def _export_torchscript(
    model: Any, examples: tuple[Any, ...], names: list[str], outputs: list[str], target: Path, opset: int
) -> str:
    torch = _torch()
    try:
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
        raise Unimplemented(
            f"PyTorch cannot export this model to ONNX at opset {opset}: {first_line(exc)} (TorchScript models must "
            "return tensors or tuples of tensors; for dict outputs save a torch.export program instead)"
        ) from exc
    return TORCHSCRIPT


def _export_module(
    model: Any, examples: tuple[Any, ...], names: list[str], outputs: list[str], target: Path, opset: int
) -> str:
    """``torch.export`` with a dynamic batch, then with fixed shapes, then the TorchScript exporter."""
    errors = []
    for dynamic in (True, False):
        try:
            _export_dynamo(model, examples, names, outputs, target, opset, dynamic=dynamic)
            return TORCH_EXPORT
        except Unimplemented as exc:
            errors.append(str(exc))
    try:
        return _export_torchscript(model, examples, names, outputs, target, opset)
    except Unimplemented as exc:
        raise Unimplemented(f"{errors[0]}; and the TorchScript exporter: {exc}") from exc


def _export_dynamo(
    model: Any,
    examples: tuple[Any, ...],
    names: list[str],
    outputs: list[str],
    target: Path,
    opset: int,
    dynamic: bool,
) -> None:
    import importlib.util

    torch = _torch()
    if importlib.util.find_spec("onnxscript") is None:
        raise Unimplemented("exporting with torch.export needs onnxscript: pip install onnxscript")
    dynamic_shapes = None
    if dynamic:  # a strict Dim with an example batch of 2: torch.export raises if the code fixes the batch
        batch = torch.export.Dim("batch")
        dynamic_shapes = tuple({0: batch} for _ in examples)
        examples = tuple(e.expand(2, *e.shape[1:]).contiguous() if e.dim() and e.shape[0] == 1 else e for e in examples)
    try:
        torch.onnx.export(
            model,
            examples,
            str(target),
            input_names=names,
            output_names=outputs,
            opset_version=opset,
            dynamic_shapes=dynamic_shapes,
            external_data=False,
            verbose=False,
            dynamo=True,
        )
    except Exception as exc:
        raise Unimplemented(
            f"torch.export cannot export this model to ONNX at opset {opset}: {first_line(exc)}"
        ) from exc


def _onnx_signature(path: Path) -> Signature:
    """The exported graph's inputs and outputs as ONNX Runtime sees them (fails if it cannot load the file)."""
    from modelserve.model import load_model

    with load_model(path, platform="onnx") as model:
        return model.signatures[DEFAULT_SIGNATURE]


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
        if isinstance(result, Mapping):
            values = list(result.values())
        else:
            values = list(result) if isinstance(result, (tuple, list)) else [result]
        return {name: value.detach().cpu().numpy() for name, value in zip(self.output_names, values)}
