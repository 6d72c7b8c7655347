"""The pure parts of ``--to tfjs``: which variants and outputs, the arrays handed to Node and read back, the
signature in ``model.json``, and the install check's message (no TensorFlow, no Node run here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelserve.convert import tfjs, tfjs_node, tfjs_worker
from modelserve.convert.variants import TARGET_VARIANTS, check_target
from modelserve.errors import InvalidArgument, Unimplemented
from modelserve.server.tfjs_files import ENV_DIR
from modelserve.types import Signature, TensorSpec

DIGITS = Signature.from_specs(
    "serving_default",
    [TensorSpec("images", "float32", (-1, 8, 8, 1))],
    [
        TensorSpec("class_index", "int64", (-1,)),
        TensorSpec("class_name", "string", (-1,)),
        TensorSpec("probabilities", "float32", (-1, 10)),
    ],
)


def test_each_target_offers_its_own_variants():
    check_target("tfjs", ["float32", "float16", "uint16", "uint8"])
    with pytest.raises(InvalidArgument, match="--to tfjs has no int8 variant; choose from: none, float16, uint16"):
        check_target("tfjs", ["float32", "int8"])
    with pytest.raises(InvalidArgument, match="--to tflite has no uint8 variant"):
        check_target("tflite", ["uint8"])
    assert set(tfjs_worker.DTYPE_MAPS) == set(TARGET_VARIANTS["tfjs"])


def test_string_outputs_are_left_out_unless_asked_for():
    kept = tfjs.tfjs_outputs(DIGITS, None)
    assert kept == ("class_index", "probabilities")
    assert tfjs.dropped_outputs(DIGITS, kept) == ["class_name"]
    assert tfjs.tfjs_outputs(DIGITS, ("class_name",)) == ("class_name",)
    numeric = Signature.from_specs("s", [TensorSpec("x", "float32", (-1,))], [TensorSpec("y", "float32", (-1,))])
    assert tfjs.tfjs_outputs(numeric, None) is None and tfjs.dropped_outputs(numeric, None) == []


def test_inputs_become_the_dtypes_tfjs_has():
    assert tfjs_node.tfjs_array("x", np.ones((2, 3), np.float64))[0] == "float32"
    dtype, array = tfjs_node.tfjs_array("x", np.arange(4, dtype=np.int64))
    assert dtype == "int32" and array.dtype == np.dtype("<i4") and array.tolist() == [0, 1, 2, 3]
    assert tfjs_node.tfjs_array("x", np.array([True, False]))[0] == "bool"
    with pytest.raises(InvalidArgument, match="outside int32"):
        tfjs_node.tfjs_array("x", np.array([2**40]))
    with pytest.raises(Unimplemented, match="numeric inputs only"):
        tfjs_node.tfjs_array("x", np.array([b"text"], dtype=object))


def test_outputs_read_back_from_the_files_node_writes(tmp_path: Path):
    np.arange(6, dtype="<f4").tofile(tmp_path / "out0_0.bin")
    floats = tfjs_node.read_output(tmp_path, {"dtype": "float32", "shape": [2, 3], "file": "out0_0.bin"})
    assert floats.dtype == np.float32 and floats.shape == (2, 3) and floats[1, 2] == 5
    np.array([1, 0], dtype=np.uint8).tofile(tmp_path / "b.bin")
    assert tfjs_node.read_output(tmp_path, {"dtype": "bool", "shape": [2], "file": "b.bin"}).tolist() == [True, False]
    strings = tfjs_node.read_output(tmp_path, {"dtype": "string", "shape": [2], "strings": ["seven", "three"]})
    assert strings.tolist() == [b"seven", b"three"]


def test_the_signature_recorded_in_model_json(tmp_path: Path):
    recorded = {
        "inputs": {
            "images": {"name": "images:0", "dtype": "DT_FLOAT", "tensorShape": {"dim": [{"size": "-1"}, {"size": "8"}]}}
        },
        "outputs": {
            "class_index": {"name": "Identity:0", "dtype": "DT_INT64", "tensorShape": {"dim": [{"size": "-1"}]}},
            "anything": {"name": "Identity_1:0", "dtype": "DT_HALF", "tensorShape": {"unknownRank": True}},
        },
    }  # fmt: skip
    (tmp_path / "model.json").write_text(json.dumps({"format": "graph-model", "signature": recorded}))
    signature = tfjs_node.signature_of(tmp_path / "model.json")
    assert signature.inputs["images"].dtype == "float32" and signature.inputs["images"].shape == (-1, 8)
    assert signature.outputs["class_index"].dtype == "int64"
    assert signature.outputs["anything"].dtype == "float16" and signature.outputs["anything"].shape is None


def test_a_missing_install_names_the_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV_DIR, str(tmp_path / "nothing-here"))
    with pytest.raises(Unimplemented, match=r"install_tfjs\.sh") as raised:
        tfjs.check_installed()
    assert "@tensorflow/tfjs" in raised.value.message and str(tmp_path / "nothing-here") in raised.value.message
