"""SavedModel -> ONNX through tf2onnx (parity), ONNX -> float16/dynamic/int8 through ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from modelserve import load_model
from modelserve.convert import ConvertRequest, convert
from modelserve.errors import Unimplemented


@pytest.fixture(scope="module")
def onnx_conversion(examples_dir: Path, digits_calibration: Path, tmp_path_factory: pytest.TempPathFactory):
    return convert(
        ConvertRequest(
            source=examples_dir / "digits/1",
            out=tmp_path_factory.mktemp("onnx") / "digits_onnx",
            to="onnx",
            opset=15,
            compare=("float16", "dynamic", "int8"),
            calibration=digits_calibration,
            evaluation=examples_dir / "digits_test.npz",
            latency_runs=3,
        )
    )


def test_float_onnx_matches_the_saved_model(onnx_conversion, examples_dir: Path, digits_test):
    rows = {row.variant: row for row in onnx_conversion.rows}
    assert rows["float32"].max_abs_diff <= 1e-4, onnx_conversion.table()
    assert rows["float32"].top1_agreement == 1.0
    model_file = onnx_conversion.path / "model.onnx"
    assert onnx.load(str(model_file)).opset_import[0].version == 15
    images, _ = digits_test
    with load_model(examples_dir / "digits/1") as original, load_model(model_file) as converted:
        expected = original.predict({"images": images})
        got = converted.predict({"images": images})
    np.testing.assert_allclose(got["probabilities"], expected["probabilities"], atol=1e-4)
    assert got["class_index"].tolist() == expected["class_index"].tolist()
    assert [bytes(v) if not isinstance(v, str) else v.encode() for v in got["class_name"]] == list(
        expected["class_name"]
    )


def test_quantized_onnx_variants_run(onnx_conversion):
    rows = {row.variant: row for row in onnx_conversion.rows}
    for variant in ("float16", "dynamic", "int8"):
        assert rows[variant].top1_agreement >= 0.97, onnx_conversion.table()
        assert rows[variant].size_bytes < rows["float32"].size_bytes
    assert rows["original"].accuracy - rows["int8"].accuracy <= 0.02


def test_onnx_file_to_static_int8(examples_dir: Path, digits_calibration: Path, tmp_path: Path):
    result = convert(
        ConvertRequest(
            source=examples_dir / "digits_onnx/1",
            out=tmp_path / "onnx_int8",
            to="onnx",
            quantize="int8",
            calibration=digits_calibration,
            samples=50,
            evaluation=examples_dir / "digits_test.npz",
            latency_runs=2,
        )
    )
    ops = {node.op_type for node in onnx.load(str(result.path / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    rows = {row.variant: row for row in result.rows}
    assert rows["original"].accuracy - rows["int8"].accuracy <= 0.02, result.table()


def test_unconvertible_signature_names_the_ops(examples_dir: Path, tmp_path: Path):
    with pytest.raises(Unimplemented) as error:
        convert(
            ConvertRequest(
                source=examples_dir / "digits/1",
                out=tmp_path / "bytes",
                to="onnx",
                signature="from_bytes",
                calibration=examples_dir / "digits_png",
                latency_runs=1,
            )
        )
    message = error.value.message
    assert "signature 'from_bytes'" in message and "TensorListStack" in message
    assert not (tmp_path / "bytes").exists()
