"""``modelserve convert`` and ``modelserve inspect`` as a user runs them: real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

from convert_helpers import run_cli


def test_gate_failure_exits_3_and_lands_nothing(examples_dir: Path, tmp_path: Path):
    base = tmp_path / "digits_edge"
    result = run_cli(
        "convert",
        str(examples_dir / "digits/1"),
        "--to=tflite",
        "--quantize=int8",
        f"--calibration={examples_dir / 'digits_png'}",
        "--pixel-range=0:0.05",  # calibrated on images 20 times too dark: int8 ranges far too narrow
        f"--eval={examples_dir / 'digits_test.npz'}",
        "--max-accuracy-drop=0.5",
        f"--out={base}",
        "--latency-runs=2",
        "--json",
    )
    assert result.returncode == 3, result.stderr
    assert "error: int8 rejected; kept for inspection at" in result.stderr
    assert "(FAILED)" in result.stderr
    assert sorted(p.name for p in base.iterdir()) == ["1.rejected"]
    report = json.loads(result.stdout)
    assert report["accepted"] is False
    int8 = next(row for row in report["rows"] if row["variant"] == "int8")
    assert int8["accuracy_drop_points"] > 0.5 and int8["landed"] is False
    assert (base / "1.rejected" / "conversion_report.png").is_file()


def test_unsupported_ops_are_named_without_converter_noise(examples_dir: Path, tmp_path: Path):
    result = run_cli(
        "convert",
        str(examples_dir / "digits/1"),
        "--to=tflite",
        "--signature=from_bytes",
        f"--calibration={examples_dir / 'digits_png'}",
        f"--out={tmp_path / 'out'}",
        "--latency-runs=1",
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: TFLite cannot convert signature 'from_bytes' of "
        f"{examples_dir / 'digits/1'}: ops not supported by TFLite's builtin op set: DecodeImage, ResizeArea. "
        "Convert a signature without them (--signature), or move that work out of the model"
    ]
    assert "Traceback" not in result.stderr and "loc(" not in result.stderr and "W0000" not in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_verbose_shows_the_converter_log(examples_dir: Path, tmp_path: Path):
    result = run_cli(
        "convert",
        str(examples_dir / "digits/1"),
        "--to=tflite",
        "--signature=from_bytes",
        f"--calibration={examples_dir / 'digits_png'}",
        f"--out={tmp_path / 'out'}",
        "--latency-runs=1",
        "--verbose",
    )
    assert result.returncode == 1
    assert "TF Select ops: DecodeImage" in result.stderr  # the converter's own diagnostics
    assert "error: TFLite cannot convert signature 'from_bytes'" in result.stderr


def test_corrupt_model_is_a_clear_error(tmp_path: Path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"this is not a protobuf")
    result = run_cli("convert", str(broken), "--to=tflite", f"--out={tmp_path / 'out'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: could not load tensorflow model at {broken}: ")
    assert "Traceback" not in result.stderr


def test_inspect_reports_edge_tpu_readiness(digits_conversion, examples_dir: Path):
    int8 = run_cli("inspect", str(digits_conversion.path))
    assert int8.returncode == 0, int8.stderr
    assert "Edge TPU: not ready (fully integer: no, fixed shapes: no)" in int8.stdout
    assert "output class_index (int64)" in int8.stdout and "ARG_MAX x1 (int64)" in int8.stdout
    float_model = run_cli("inspect", str(examples_dir / "digits_tflite/1"), "--json")
    check = json.loads(float_model.stdout)["edge_tpu"]
    assert check["fully_integer"] is False and check["ready"] is False
    assert "input images (float32)" in check["non_integer_io"]
    assert {"CONV_2D", "FULLY_CONNECTED"} <= {op["op"] for op in check["non_integer_ops"]}
    assert check["dynamic_inputs"] == ["images [-1, 8, 8, 1]"]


def test_help_lists_the_flags():
    result = run_cli("convert", "--help", timeout=60)
    assert result.returncode == 0
    for flag in ("--to", "--quantize", "--calibration", "--samples", "--signature", "--out", "--version"):
        assert flag in result.stdout
    assert "--max-accuracy-drop" in result.stdout and "--eval" in result.stdout
