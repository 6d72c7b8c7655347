"""A TFLite flatbuffer read as a graph for the micro-controller check: ops in execution order, tensor sizes.

Read with the flatbuffer schema LiteRT ships (``ai_edge_litert.schema_py_generated``), no interpreter. A
tensor is *constant* when its buffer holds data (weights live in flash on a micro-controller) and
*planned* otherwise (activations, inputs, outputs: they need RAM in the tensor arena). Sizes use the
stored ``shape``, where an unknown dimension is kept as 1, as TFLite Micro allocates it.

:func:`greedy_arena_bytes` places every planned tensor of a subgraph at an offset in one arena, largest
first, at the lowest offset that does not overlap a tensor alive at the same time (the strategy of
TFLite Micro's greedy memory planner; its exact choices may differ by a few alignments).

    graph = read_graph(Path("model.tflite").read_bytes())
    [op.name for op in graph.subgraphs[0].ops]            # ['QUANTIZE', 'CONV_2D', ...]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Bytes per element of each TFLite tensor type (sub-byte types rounded up to one byte: an upper bound).
TYPE_BYTES = {
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "float64": 8,
    "int2": 1,
    "int4": 1,
    "uint4": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "int32": 4,
    "uint32": 4,
    "int64": 8,
    "uint64": 8,
    "bool": 1,
    "complex64": 8,
    "complex128": 16,
    "float8_e4m3fn": 1,
    "float8_e5m2": 1,
}
#: TFLite Micro aligns every arena buffer to 16 bytes (``MicroArenaBufferAlignment``).
ALIGNMENT = 16


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    constant: bool

    @property
    def nbytes(self) -> int:
        count = 1
        for dim in self.shape:
            count *= max(int(dim), 1)
        return count * TYPE_BYTES.get(self.dtype, 4)


@dataclass(frozen=True)
class OpInfo:
    """An op: builtin name (``CONV_2D``) or ``CUSTOM:<code>``; its input and output tensor indices."""

    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class SubgraphInfo:
    tensors: tuple[TensorInfo, ...]
    ops: tuple[OpInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class GraphInfo:
    """Subgraphs, and each signature's inputs and outputs: {"input"|"output": {name: (subgraph, tensor)}}."""

    subgraphs: tuple[SubgraphInfo, ...]
    io: dict[str, dict[str, tuple[int, int]]]


def read_graph(data: bytes) -> GraphInfo:
    """Parse a ``.tflite`` flatbuffer (IndexError/ValueError for a file that is not one)."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    type_names = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    op_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    subgraphs = []
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        tensors = tuple(_tensor(model, subgraph.Tensors(t), type_names) for t in range(subgraph.TensorsLength()))
        ops = []
        for o in range(subgraph.OperatorsLength()):
            operator = subgraph.Operators(o)
            code = model.OperatorCodes(operator.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            name = op_names.get(builtin, str(builtin))
            if name == "CUSTOM":
                name = f"CUSTOM:{(code.CustomCode() or b'?').decode()}"
            ops.append(OpInfo(name, _indices(operator.InputsAsNumpy()), _indices(operator.OutputsAsNumpy())))
        subgraphs.append(
            SubgraphInfo(tensors, tuple(ops), _indices(subgraph.InputsAsNumpy()), _indices(subgraph.OutputsAsNumpy()))
        )
    return GraphInfo(tuple(subgraphs), _signature_io(model, subgraphs))


def _indices(values: Any) -> tuple[int, ...]:
    """Tensor indices of an op or subgraph (``-1``, an omitted optional input, dropped)."""
    if isinstance(values, int):  # the flatbuffers reader returns 0 for an absent vector
        return ()
    return tuple(int(v) for v in values if int(v) >= 0)


def _tensor(model: Any, tensor: Any, type_names: dict[int, str]) -> TensorInfo:
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    signature = tuple(int(d) for d in tensor.ShapeSignatureAsNumpy()) if tensor.ShapeSignatureLength() else shape
    buffer = model.Buffers(tensor.Buffer()) if tensor.Buffer() < model.BuffersLength() else None
    constant = buffer is not None and (buffer.DataLength() > 0 or buffer.Offset() > 1)  # inline or appended data
    return TensorInfo(
        (tensor.Name() or b"").decode(), type_names.get(tensor.Type(), "unknown"), shape, signature, constant
    )


def _signature_io(model: Any, subgraphs: list[SubgraphInfo]) -> dict[str, dict[str, tuple[int, int]]]:
    """Inputs and outputs named by the signature defs, else subgraph 0's tensors by their names."""
    found: dict[str, dict[str, tuple[int, int]]] = {"input": {}, "output": {}}
    if model.SignatureDefsLength():
        for d in range(model.SignatureDefsLength()):
            definition = model.SignatureDefs(d)
            prefix = "" if model.SignatureDefsLength() == 1 else f"{(definition.SignatureKey() or b'').decode()}/"
            for kind, length, item in (
                ("input", definition.InputsLength(), definition.Inputs),
                ("output", definition.OutputsLength(), definition.Outputs),
            ):
                for i in range(length):
                    tensor_map = item(i)
                    name = prefix + tensor_map.Name().decode()
                    found[kind][name] = (definition.SubgraphIndex(), tensor_map.TensorIndex())
        return found
    if subgraphs:
        first = subgraphs[0]
        for kind, indices in (("input", first.inputs), ("output", first.outputs)):
            for index in indices:
                found[kind][first.tensors[index].name] = (0, index)
    return found


def live_ranges(subgraph: SubgraphInfo) -> dict[int, tuple[int, int]]:
    """{planned tensor: (first step, last step)}: graph inputs from step 0, graph outputs to the last step."""
    last_step = max(len(subgraph.ops) - 1, 0)
    ranges: dict[int, list[int]] = {}

    def touch(index: int, step: int) -> None:
        if subgraph.tensors[index].constant:
            return
        span = ranges.setdefault(index, [step, step])
        span[0], span[1] = min(span[0], step), max(span[1], step)

    for index in subgraph.inputs:
        touch(index, 0)
    for step, op in enumerate(subgraph.ops):
        for index in (*op.inputs, *op.outputs):
            touch(index, step)
    for index in subgraph.outputs:
        touch(index, last_step)
    return {index: (span[0], span[1]) for index, span in ranges.items()}


def _aligned(size: int) -> int:
    return -(-size // ALIGNMENT) * ALIGNMENT


def peak_live_bytes(subgraph: SubgraphInfo) -> int:
    """The most bytes of planned tensors alive at one step (a lower bound for any arena plan)."""
    ranges = live_ranges(subgraph)
    steps = max(len(subgraph.ops), 1)
    return max(
        (
            sum(_aligned(subgraph.tensors[i].nbytes) for i, (first, last) in ranges.items() if first <= step <= last)
            for step in range(steps)
        ),
        default=0,
    )


def greedy_arena_bytes(subgraph: SubgraphInfo) -> int:
    """The arena a largest-first, lowest-offset plan of the planned tensors needs (see the module docstring)."""
    ranges = live_ranges(subgraph)
    order = sorted(ranges, key=lambda i: (-subgraph.tensors[i].nbytes, ranges[i][0], i))
    placed: list[tuple[int, int, int, int]] = []  # (offset, size, first, last)
    end = 0
    for index in order:
        size = _aligned(subgraph.tensors[index].nbytes)
        first, last = ranges[index]
        busy = sorted((o, o + s) for o, s, f, la in placed if f <= last and first <= la)
        offset = 0
        for start, stop in busy:
            if offset + size <= start:
                break
            offset = max(offset, stop)
        placed.append((offset, size, first, last))
        end = max(end, offset + size)
    return end
