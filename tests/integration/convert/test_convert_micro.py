"""TFLite Micro readiness of the digits TFLite variants: in Python, in ``modelserve inspect``, in the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from convert_helpers import run_cli

from modelserve.convert import ConvertRequest, convert
from modelserve.convert.micro import check_micro


@pytest.fixture(scope="module")
def probabilities_int8(examples_dir: Path, digits_calibration: Path, tmp_path_factory: pytest.TempPathFactory):
    """The digits model, int8 with int8 I/O, keeping only ``probabilities`` (no int64/string outputs)."""
    return convert(
        ConvertRequest(
            source=examples_dir / "digits/1",
            out=tmp_path_factory.mktemp("micro") / "digits_micro",
            to="tflite",
            quantize="int8",
            outputs=("probabilities",),
            calibration=digits_calibration,
            latency_runs=2,
        )
    )


def test_int8_probabilities_only_is_ready(probabilities_int8):
    check = check_micro((probabilities_int8.path / "model.tflite").read_bytes())
    assert check.ready, check
    assert check.int8_io and not check.unsupported_ops and not check.non_integer_ops
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= {use.op for use in check.ops}
    # Largest live pair: the first convolution's int8 output [1, 8, 8, 16] (1024 B) beside its input (64 B).
    assert check.peak_live_bytes == check.planned_bytes == 1280
    assert 4 * 1024 < check.arena_bytes < 8 * 1024
    assert check.dynamic_inputs == ["images [-1, 8, 8, 1]"]
    [row] = [row for row in probabilities_int8.rows if row.variant == "int8"]
    assert row.micro_ready is True and row.micro_arena_bytes == check.arena_bytes
    assert "| yes (arena ~" in probabilities_int8.table()


def test_int8_with_every_output_is_not_ready(digits_conversion):
    check = check_micro((digits_conversion.path / "model.tflite").read_bytes())
    assert not check.ready
    assert check.unsupported_ops == []  # every op exists in TFLM ...
    assert {issue.op: issue.dtypes for issue in check.non_integer_ops} == {
        "ARG_MAX": ("int64",),  # ... but TFLM's ARG_MAX writes int32 only, and it has no strings
        "GATHER": ("int64", "string"),
    }
    assert set(check.non_int8_io) == {"output class_index (int64)", "output class_name (string)"}
    rows = {row.variant: row for row in digits_conversion.rows}
    assert rows["int8"].micro_ready is False and rows["float32"].micro_ready is False
    assert rows["original"].micro_ready is None


def test_float_model_is_not_ready_and_needs_a_bigger_arena(examples_dir: Path, probabilities_int8):
    check = check_micro((examples_dir / "digits_tflite/1/model.tflite").read_bytes())
    assert not check.ready and not check.int8_io
    assert "input images (float32)" in check.non_int8_io
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= {issue.op for issue in check.non_integer_ops}
    int8 = check_micro((probabilities_int8.path / "model.tflite").read_bytes())
    assert check.planned_bytes == 4 * int8.planned_bytes  # float32 activations: four bytes per value


def test_inspect_shows_the_micro_report(probabilities_int8, examples_dir: Path):
    text = run_cli("inspect", str(probabilities_int8.path))
    assert text.returncode == 0, text.stderr
    assert "TFLite Micro: ready (ops in TFLM: yes, integer ops: yes, int8-only I/O: yes)" in text.stdout
    assert "tensor arena estimate: " in text.stdout and "Edge TPU: " in text.stdout
    as_json = run_cli("inspect", str(examples_dir / "digits_tflite/1"), "--json")
    micro = json.loads(as_json.stdout)["tflite_micro"]
    assert micro["ready"] is False and micro["int8_io"] is False
    assert micro["arena_bytes"] == micro["planned_bytes"] + micro["overhead_bytes"]


def test_estimate_is_close_to_tflite_micro_itself(probabilities_int8):
    """Against the real TFLM interpreter (``pip install tflite-micro``; skipped without it)."""
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    import numpy as np

    data = (probabilities_int8.path / "model.tflite").read_bytes()
    check = check_micro(data)
    interpreter = runtime.Interpreter.from_bytes(data, arena_size=check.arena_bytes)  # fails when too small
    interpreter.set_input(np.zeros((1, 8, 8, 1), np.int8), 0)
    interpreter.invoke()
    assert interpreter.get_output(0).shape == (1, 10)
    with pytest.raises(RuntimeError):  # and the estimate is not wildly generous: half of it is too small
        runtime.Interpreter.from_bytes(data, arena_size=check.arena_bytes // 2)
