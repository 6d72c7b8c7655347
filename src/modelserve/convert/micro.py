"""Is a TFLite file ready for a micro-controller (TensorFlow Lite for Microcontrollers)? Read from the flatbuffer.

:func:`check_micro` reports, beside the Edge TPU check (:mod:`.edgetpu`):

- ``ops``: every op the graph uses, with counts; ``unsupported_ops``: those TFLM's op resolver does not
  have (:mod:`.micro_ops`, a list taken from TFLM's sources).
- ``non_integer_ops``: ops with a tensor type other than int8, int16, int32 or bool. Micro-controller
  builds run integer kernels (CMSIS-NN and the like); TFLM's kernels also miss many types: no strings at
  all, and int64 mostly not (ARG_MAX writing int64 fails when invoked).
- ``non_int8_io``: inputs and outputs that are not int8 (convert with ``--quantize int8 --io-type int8``).
- ``arena_bytes``: an **estimate** of the ``tensor_arena`` to give ``MicroInterpreter``:
  ``planned_bytes``, the activations, inputs and outputs placed in one buffer by a largest-first plan
  over the graph's execution order (:func:`.micro_graph.greedy_arena_bytes`), plus ``overhead_bytes``,
  a rough allowance for the interpreter's own records (24 B per tensor, 64 B per input/output tensor,
  192 B per op, 1 KiB fixed). On the int8 digits model (probabilities only) it gave 5,096 B where TFLM
  (the ``tflite-micro`` package, 2026-10) allocated 5,088 B; kernel scratch buffers of large models are
  not counted, so leave a margin.
- ``dynamic_inputs``: inputs with an unknown dimension; TFLM does not resize, it runs the stored size (1).
- ``ready``: no unsupported op, no non-integer op and int8-only inputs and outputs.

    check = check_micro(Path("model.tflite").read_bytes())
    check.ready, check.arena_bytes              # True, 5096
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from modelserve.convert.edgetpu import OpIssue
from modelserve.convert.micro_graph import GraphInfo, SubgraphInfo, greedy_arena_bytes, peak_live_bytes, read_graph
from modelserve.convert.micro_ops import tflm_supports

_INTEGER_TYPES = frozenset({"int8", "int16", "int32", "bool"})
_PER_TENSOR, _PER_IO_TENSOR, _PER_OP, _FIXED = 24, 64, 192, 1024


@dataclass(frozen=True)
class OpUse:
    op: str
    count: int
    supported: bool


@dataclass(frozen=True)
class MicroCheck:
    ops: list[OpUse]
    unsupported_ops: list[str]
    non_integer_ops: list[OpIssue]
    non_int8_io: list[str]
    planned_bytes: int
    peak_live_bytes: int
    overhead_bytes: int
    dynamic_inputs: list[str] = field(default_factory=list)

    @property
    def arena_bytes(self) -> int:
        """Estimated ``tensor_arena`` size: planned tensors plus the interpreter's records."""
        return self.planned_bytes + self.overhead_bytes

    @property
    def int8_io(self) -> bool:
        return not self.non_int8_io

    @property
    def ready(self) -> bool:
        return not self.unsupported_ops and not self.non_integer_ops and self.int8_io

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["non_integer_ops"] = [{**asdict(issue), "dtypes": list(issue.dtypes)} for issue in self.non_integer_ops]
        out.update(arena_bytes=self.arena_bytes, int8_io=self.int8_io, ready=self.ready)
        return out


def check_micro(data: bytes) -> MicroCheck:
    """Analyse a TFLite flatbuffer (see the module docstring)."""
    graph = read_graph(data)
    counts: dict[str, int] = {}
    issues: dict[str, tuple[int, set[str]]] = {}
    tensor_count = op_count = 0
    for subgraph in graph.subgraphs:
        tensor_count += len(subgraph.tensors)
        op_count += len(subgraph.ops)
        for op in subgraph.ops:
            counts[op.name] = counts.get(op.name, 0) + 1
            types = {subgraph.tensors[i].dtype for i in (*op.inputs, *op.outputs)}
            bad = types - _INTEGER_TYPES
            if bad:
                count, seen = issues.get(op.name, (0, set()))
                issues[op.name] = (count + 1, seen | bad)
    ops = [OpUse(name, count, tflm_supports(name)) for name, count in sorted(counts.items())]
    io_count = sum(len(names) for names in graph.io.values())
    return MicroCheck(
        ops=ops,
        unsupported_ops=[use.op for use in ops if not use.supported],
        non_integer_ops=[OpIssue(name, n, tuple(sorted(types))) for name, (n, types) in sorted(issues.items())],
        non_int8_io=_non_int8_io(graph),
        planned_bytes=sum(greedy_arena_bytes(s) for s in graph.subgraphs),
        peak_live_bytes=max((peak_live_bytes(s) for s in graph.subgraphs), default=0),
        overhead_bytes=_PER_TENSOR * tensor_count + _PER_IO_TENSOR * io_count + _PER_OP * op_count + _FIXED,
        dynamic_inputs=_dynamic_inputs(graph),
    )


def _tensor(graph: GraphInfo, where: tuple[int, int]) -> Any:
    subgraph: SubgraphInfo = graph.subgraphs[where[0]]
    return subgraph.tensors[where[1]]


def _non_int8_io(graph: GraphInfo) -> list[str]:
    return [
        f"{kind} {name} ({_tensor(graph, where).dtype})"
        for kind, names in graph.io.items()
        for name, where in names.items()
        if _tensor(graph, where).dtype != "int8"
    ]


def _dynamic_inputs(graph: GraphInfo) -> list[str]:
    found = []
    for name, where in graph.io["input"].items():
        dims = _tensor(graph, where).shape_signature
        if any(d < 0 for d in dims):
            found.append(f"{name} {list(dims)}")
    return found


def _kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


def text_lines(check: dict[str, Any]) -> list[str]:
    """The verdict and its findings, one per line, from :meth:`MicroCheck.as_dict`."""
    lines = [
        f"TFLite Micro: {'ready' if check['ready'] else 'not ready'} "
        f"(ops in TFLM: {_yes(not check['unsupported_ops'])}, integer ops: {_yes(not check['non_integer_ops'])}, "
        f"int8-only I/O: {_yes(check['int8_io'])})",
        "  ops: " + ", ".join(f"{use['op']} x{use['count']}" for use in check["ops"]),
    ]
    if check["unsupported_ops"]:
        lines.append("  ops TFLite Micro does not have: " + ", ".join(check["unsupported_ops"]))
    if check["non_integer_ops"]:
        ops = [f"{op['op']} x{op['count']} ({', '.join(op['dtypes'])})" for op in check["non_integer_ops"]]
        lines.append("  ops with non-integer tensors: " + ", ".join(ops))
    if check["non_int8_io"]:
        lines.append("  inputs/outputs that are not int8: " + ", ".join(check["non_int8_io"]))
    lines.append(
        f"  tensor arena estimate: {_kib(check['arena_bytes'])} ({check['arena_bytes']} bytes: "
        f"{check['planned_bytes']} planned for tensors, {check['overhead_bytes']} for the interpreter; "
        "kernel scratch buffers not included)"
    )
    if check["dynamic_inputs"]:
        lines.append("  inputs with unknown sizes (TFLM runs them at size 1): " + ", ".join(check["dynamic_inputs"]))
    return lines


def _yes(value: bool) -> str:
    return "yes" if value else "no"
