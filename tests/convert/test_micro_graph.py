"""The micro-controller check's pure parts: live ranges, the arena plan, the TFLM op list, the text."""

from __future__ import annotations

from modelserve.convert.micro import text_lines
from modelserve.convert.micro_graph import (
    OpInfo,
    SubgraphInfo,
    TensorInfo,
    greedy_arena_bytes,
    live_ranges,
    peak_live_bytes,
)
from modelserve.convert.micro_ops import TFLM_BUILTIN_OPS, tflm_supports


def tensor(size: int, constant: bool = False, dtype: str = "int8") -> TensorInfo:
    return TensorInfo(f"t{size}", dtype, (size,), (size,), constant)


def chain() -> SubgraphInfo:
    """in(64) -> A -> a(128) -> B -> b(32) -> C -> out(16); B also reads weights w (constant, 1000)."""
    tensors = (tensor(64), tensor(128), tensor(32), tensor(16), tensor(1000, constant=True))
    ops = (OpInfo("A", (0,), (1,)), OpInfo("B", (1, 4), (2,)), OpInfo("C", (2,), (3,)))
    return SubgraphInfo(tensors, ops, inputs=(0,), outputs=(3,))


def test_live_ranges_skip_constants_and_keep_outputs_to_the_end():
    assert live_ranges(chain()) == {0: (0, 0), 1: (0, 1), 2: (1, 2), 3: (2, 2)}


def test_peak_and_greedy_plan_of_a_chain():
    graph = chain()
    assert peak_live_bytes(graph) == 64 + 128  # step 0: the input and A's output
    # 128 at 0; 64 (alive with it) at 128; 32 (alive with the 128 only) at 128; 16 at 0 (the 128 is dead by then)
    assert greedy_arena_bytes(graph) == 192


def test_a_skip_connection_keeps_its_tensor_alive():
    # in(16) -> A -> a(16) -> B -> b(16) -> ADD(a-skip: in) -> out(16): the input lives until the ADD
    tensors = tuple(tensor(16) for _ in range(4))
    ops = (OpInfo("A", (0,), (1,)), OpInfo("B", (1,), (2,)), OpInfo("ADD", (2, 0), (3,)))
    graph = SubgraphInfo(tensors, ops, inputs=(0,), outputs=(3,))
    assert live_ranges(graph)[0] == (0, 2)
    assert peak_live_bytes(graph) == 48
    assert greedy_arena_bytes(graph) == 48


def test_sizes_follow_the_type_and_16_byte_alignment():
    assert TensorInfo("x", "float32", (1, 8, 8, 1), (-1, 8, 8, 1), False).nbytes == 256
    odd = SubgraphInfo((tensor(3),), (), inputs=(0,), outputs=(0,))
    assert greedy_arena_bytes(odd) == 16


def test_tflm_op_list():
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "QUANTIZE"} <= TFLM_BUILTIN_OPS
    assert tflm_supports("MAX_POOL_2D")
    assert not tflm_supports("NON_MAX_SUPPRESSION_V5")
    assert not tflm_supports("CUSTOM:FlexDecodeImage")
    assert tflm_supports("CUSTOM:TFLite_Detection_PostProcess")


def test_text_names_what_blocks_the_verdict():
    check = {
        "ready": False,
        "ops": [{"op": "CONV_2D", "count": 2, "supported": True}, {"op": "ERF", "count": 1, "supported": False}],
        "unsupported_ops": ["ERF"],
        "non_integer_ops": [{"op": "CONV_2D", "count": 2, "dtypes": ["float32"]}],
        "non_int8_io": ["input x (float32)"],
        "int8_io": False,
        "arena_bytes": 5096,
        "planned_bytes": 1280,
        "overhead_bytes": 3816,
        "dynamic_inputs": [],
    }
    lines = text_lines(check)
    assert lines[0] == "TFLite Micro: not ready (ops in TFLM: no, integer ops: no, int8-only I/O: no)"
    assert "  ops TFLite Micro does not have: ERF" in lines
    assert "  ops with non-integer tensors: CONV_2D x2 (float32)" in lines
    assert any(line.startswith("  tensor arena estimate: 5.0 KiB (5096 bytes") for line in lines)
