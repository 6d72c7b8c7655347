"""Is a TFLite file ready for the Edge TPU compiler? Read from the flatbuffer itself, no interpreter needed.

The Coral Edge TPU compiler maps a model onto the accelerator only when it is *fully integer*: every input
and output int8 or uint8, and every op a builtin whose tensors are 8-bit integers (int32 is allowed for
biases, shapes and indices); it also needs *fixed tensor sizes*. :func:`check_tflite` reports both:

- ``fully_integer``: int8/uint8 inputs and outputs, and no op with another tensor type (float32, float16,
  int64, string, bool, int16, ...) and no custom or Flex op. Offending ops are listed by name
  (``ARG_MAX (int64)``), offending inputs and outputs by signature name and type.
- ``static_shapes``: no input has an unknown dimension (convert with ``--batch-size 1`` to fix the batch).
- ``ready``: both.

    check = check_tflite(Path("model.tflite").read_bytes())
    check.ready, check.non_integer_ops        # False, [OpIssue('QUANTIZE', 1, ('float32',)), ...]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

_INTEGER_TYPES = frozenset({"int8", "uint8"})
_HELPER_TYPES = frozenset({"int32"})  # biases, shapes, indices


@dataclass(frozen=True)
class OpIssue:
    """An op (``CONV_2D``, or ``CUSTOM:FlexDecodeImage``) that is not int8: how often, which tensor types."""

    op: str
    count: int
    dtypes: tuple[str, ...]


@dataclass(frozen=True)
class EdgeTpuCheck:
    fully_integer: bool
    static_shapes: bool
    non_integer_io: list[str] = field(default_factory=list)
    non_integer_ops: list[OpIssue] = field(default_factory=list)
    dynamic_inputs: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.fully_integer and self.static_shapes

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ready"] = self.ready
        out["non_integer_ops"] = [{**asdict(issue), "dtypes": list(issue.dtypes)} for issue in self.non_integer_ops]
        return out


def text_lines(check: dict[str, Any]) -> list[str]:
    """The verdict and what stands in its way, one finding per line, from :meth:`EdgeTpuCheck.as_dict`."""
    lines = [
        f"Edge TPU: {'ready' if check['ready'] else 'not ready'} "
        f"(fully integer: {_yes(check['fully_integer'])}, fixed shapes: {_yes(check['static_shapes'])})"
    ]
    if check["non_integer_io"]:
        lines.append("  inputs/outputs that are not int8/uint8: " + ", ".join(check["non_integer_io"]))
    if check["non_integer_ops"]:
        ops = [f"{op['op']} x{op['count']} ({', '.join(op['dtypes'])})" for op in check["non_integer_ops"]]
        lines.append("  ops that are not int8: " + ", ".join(ops))
    if check["dynamic_inputs"]:
        lines.append("  inputs with unknown sizes: " + ", ".join(check["dynamic_inputs"]))
    return lines


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def check_tflite(data: bytes) -> EdgeTpuCheck:
    """Analyse a TFLite flatbuffer (see the module docstring)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}

    def tensor_type(subgraph: Any, index: int) -> str:
        return type_names.get(subgraph.Tensors(index).Type(), "unknown")

    issues: dict[str, tuple[int, set[str]]] = {}
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            operator = subgraph.Operators(o)
            code = model.OperatorCodes(operator.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = op_names.get(builtin, str(builtin))
            tensors = [i for i in (*operator.InputsAsNumpy(), *operator.OutputsAsNumpy()) if i >= 0]
            types = {tensor_type(subgraph, i) for i in tensors}
            bad = types - _INTEGER_TYPES - _HELPER_TYPES
            if name == "CUSTOM":
                name = f"CUSTOM:{(code.CustomCode() or b'?').decode()}"
                bad.add("custom")
            if bad:
                count, seen = issues.get(name, (0, set()))
                issues[name] = (count + 1, seen | bad)
    io_problems, dynamic = _io_findings(model, tensor_type)
    ops = [OpIssue(name, count, tuple(sorted(types))) for name, (count, types) in sorted(issues.items())]
    return EdgeTpuCheck(not ops and not io_problems, not dynamic, io_problems, ops, dynamic)


def _io_findings(model: Any, tensor_type: Any) -> tuple[list[str], list[str]]:
    """(inputs/outputs that are not int8/uint8, inputs with an unknown dimension), named by signature."""
    problems: list[str] = []
    dynamic: list[str] = []
    for kind, names in _io_tensors(model).items():
        for name, (subgraph_index, tensor_index) in names.items():
            subgraph = model.Subgraphs(subgraph_index)
            dtype = tensor_type(subgraph, tensor_index)
            if dtype not in _INTEGER_TYPES:
                problems.append(f"{kind} {name} ({dtype})")
            tensor = subgraph.Tensors(tensor_index)
            dims = tensor.ShapeSignatureAsNumpy() if tensor.ShapeSignatureLength() else tensor.ShapeAsNumpy()
            if kind == "input" and any(int(d) < 0 for d in dims):
                dynamic.append(f"{name} {[int(d) for d in dims]}")
    return problems, dynamic


def _io_tensors(model: Any) -> dict[str, dict[str, tuple[int, int]]]:
    """{"input"|"output": {name: (subgraph, tensor)}} from the signature defs, else subgraph 0's tensors."""
    found: dict[str, dict[str, tuple[int, int]]] = {"input": {}, "output": {}}
    if model.SignatureDefsLength():
        for d in range(model.SignatureDefsLength()):
            definition = model.SignatureDefs(d)
            subgraph = definition.SubgraphIndex()
            for kind, length, item in (
                ("input", definition.InputsLength(), definition.Inputs),
                ("output", definition.OutputsLength(), definition.Outputs),
            ):
                for i in range(length):
                    tensor_map = item(i)
                    found[kind][tensor_map.Name().decode()] = (subgraph, tensor_map.TensorIndex())
        return found
    subgraph = model.Subgraphs(0)
    for kind, indices in (("input", subgraph.InputsAsNumpy()), ("output", subgraph.OutputsAsNumpy())):
        for index in indices:
            found[kind][subgraph.Tensors(int(index)).Name().decode()] = (0, int(index))
    return found
