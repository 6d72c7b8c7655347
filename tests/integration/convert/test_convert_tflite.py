"""SavedModel/Keras -> TFLite: every variant of the digits model, MobileNet's int8 size, the edge signature."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelserve import load_model
from modelserve.convert import ConvertRequest, convert
from modelserve.convert.edgetpu import check_tflite
from modelserve.convert.report import accuracy_drop_points


def rows_by_variant(result) -> dict:
    return {row.variant: row for row in result.rows}


def test_digits_int8_keeps_accuracy_and_is_smaller(digits_conversion):
    rows = rows_by_variant(digits_conversion)
    original, int8, float32 = rows["original"], rows["int8"], rows["float32"]
    assert original.accuracy is not None and original.accuracy > 0.95
    drop = accuracy_drop_points(int8, original)
    assert drop is not None and drop <= 0.5, digits_conversion.table()
    ratio = float32.size_bytes / int8.size_bytes
    assert ratio > 2.0, f"int8 is only {ratio:.2f}x smaller than float32"
    assert int8.top1_agreement >= 0.98
    assert digits_conversion.accepted and int8.landed


def test_digits_float_variants_run_and_agree(digits_conversion):
    rows = rows_by_variant(digits_conversion)
    assert rows["float32"].max_abs_diff < 1e-5  # frozen graph, same arithmetic
    for variant in ("float16", "dynamic"):
        row = rows[variant]
        assert row.top1_agreement >= 0.99, digits_conversion.table()
        assert row.max_abs_diff < 0.1
        assert row.size_bytes < rows["float32"].size_bytes
        assert row.latency_p50_ms > 0


def test_int8_file_is_integer_inside_with_int8_io(digits_conversion):
    landed = digits_conversion.path / "model.tflite"
    with load_model(landed) as model:
        signature = model.signatures["serving_default"]
    assert signature.inputs["images"].dtype == "int8"
    assert signature.outputs["probabilities"].dtype == "int8"
    check = check_tflite(landed.read_bytes())
    assert {issue.op for issue in check.non_integer_ops} <= {"ARG_MAX", "GATHER"}  # the int64/string outputs
    assert not check.ready


def test_report_files_hold_the_table(digits_conversion):
    paths = digits_conversion.report
    data = json.loads(paths["json"].read_text())
    assert [row["variant"] for row in data["rows"]] == ["original", "float32", "float16", "dynamic", "int8"]
    assert data["accepted"] is True and data["version"] == 1
    assert "| int8 * | tflite |" in paths["markdown"].read_text()
    assert paths["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(path.parent == digits_conversion.path for path in paths.values())


def test_landed_version_is_complete_and_alone(digits_conversion):
    base = digits_conversion.path.parent
    assert sorted(p.name for p in base.iterdir()) == ["1"]  # no staging folder left behind
    assert digits_conversion.path.stat().st_mode & 0o755 == 0o755  # readable by a server running as another user


def test_mobilenet_int8_is_at_least_3_5_times_smaller(mobilenet_keras, tmp_path: Path):
    model_file, images = mobilenet_keras
    result = convert(
        ConvertRequest(
            source=model_file,
            out=tmp_path / "mobilenet",
            to="tflite",
            quantize="int8",
            compare=("none",),
            calibration=images,
            pixel_range=(0.0, 255.0),
            latency_runs=2,
        )
    )
    rows = rows_by_variant(result)
    ratio = rows["float32"].size_bytes / rows["int8"].size_bytes
    print(f"MobileNetV3-small: float32 {rows['float32'].size_bytes} B, int8 {rows['int8'].size_bytes} B, {ratio:.2f}x")
    assert ratio >= 3.5, result.table()
    assert rows["int8"].top1_agreement is not None  # ran on the calibration images


def test_edge_signature_one_image_resized_inside(edge_saved_model: Path, examples_dir: Path, digits_test, tmp_path):
    result = convert(
        ConvertRequest(
            source=edge_saved_model,
            out=tmp_path / "edge",
            to="tflite",
            quantize="int8",
            io_type="uint8",
            calibration=examples_dir / "digits_png",  # 32x32 PNGs, kept at their size: the model resizes
            evaluation=examples_dir / "digits_test.npz",  # 8x8 images, one per call
            latency_runs=2,
        )
    )
    rows = rows_by_variant(result)
    assert rows["int8"].accuracy >= rows["original"].accuracy - 0.02, result.table()
    with load_model(result.path) as model:
        signature = model.signatures["serving_default"]
        assert signature.inputs["image"].dtype == "uint8"
        assert signature.inputs["image"].shape == (-1, -1, 1)
        images, labels = digits_test
        big = np.kron(images[0, :, :, 0], np.ones((5, 5), np.float32))[..., np.newaxis]  # 40x40
        assert int(model.predict({"image": big})["class_index"]) == labels[0]


def test_edge_tpu_ready_with_one_output_and_fixed_batch(examples_dir: Path, digits_calibration: Path, tmp_path):
    result = convert(
        ConvertRequest(
            source=examples_dir / "digits/1",
            out=tmp_path / "tpu",
            to="tflite",
            quantize="int8",
            calibration=digits_calibration,
            samples=50,
            outputs=("probabilities",),
            batch_size=1,
            evaluation=examples_dir / "digits_test.npz",
            latency_runs=2,
        )
    )
    check = check_tflite((result.path / "model.tflite").read_bytes())
    assert check.ready, check
    assert rows_by_variant(result)["int8"].edge_tpu_ready is True


def test_custom_signature_is_converted_not_the_default(examples_dir: Path, digits_test, tmp_path: Path):
    images, labels = digits_test
    data = tmp_path / "with_keys.npz"
    np.savez(data, images=images[:40], key=np.array([f"k{i}".encode() for i in range(40)]), labels=labels[:40])
    result = convert(
        ConvertRequest(
            source=examples_dir / "digits/1",
            out=tmp_path / "pass_through",
            to="tflite",
            quantize="dynamic",
            signature="input_pass_through",
            latency_runs=2,
            evaluation=data,
        )
    )
    assert rows_by_variant(result)["dynamic"].top1_agreement == 1.0
    with load_model(result.path) as model:
        inputs = model.signatures["serving_default"].inputs
        assert set(inputs) == {"images", "key"}
        out = model.predict({"images": np.zeros((2, 8, 8, 1), np.float32), "key": [b"a", b"b"]})
    assert out["key"].tolist() == [b"a", b"b"]


def test_int8_without_calibration_is_refused(examples_dir: Path, tmp_path: Path):
    from modelserve.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="--calibration"):
        convert(ConvertRequest(source=examples_dir / "digits/1", out=tmp_path / "x", quantize="int8"))
    assert not (tmp_path / "x").exists()
