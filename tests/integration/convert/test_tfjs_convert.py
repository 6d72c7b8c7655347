"""``--to tfjs`` end to end: the example digits SavedModel and Keras model converted to TF.js graph models,
run in Node.js (tfjs + wasm backend) on the whole digits test set and compared with the original."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from convert_helpers import MODELSERVE, run_cli

from tfjs_conversions import digits_tfjs, require_tfjs

AGREEMENT = 0.995  # issue #20: top-1 agreement with the SavedModel


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path):
    return digits_tfjs(tmp_path_factory, examples_dir)


def test_digits_runs_in_node_and_agrees_with_the_saved_model(digits):
    assert digits.accepted and digits.variant == "float32" and digits.version == 1
    rows = {row.variant: row for row in digits.rows}
    assert list(rows) == ["original", "float32", "float16", "uint16", "uint8"]
    for variant in ("float32", "float16", "uint16", "uint8"):
        row = rows[variant]
        assert row.format == "tfjs" and row.file == "model.json"
        assert row.top1_agreement is not None and row.top1_agreement >= AGREEMENT, (variant, row)
        assert row.latency_p50_ms is not None and row.latency_p50_ms > 0
    assert rows["float32"].max_abs_diff < 1e-4  # the same float graph, another runtime
    assert rows["uint8"].size_bytes < rows["uint16"].size_bytes < rows["float32"].size_bytes
    assert rows["float16"].size_bytes < rows["float32"].size_bytes
    assert abs(rows["float32"].accuracy - rows["original"].accuracy) <= 0.005


def test_the_landed_version_is_a_saved_model_with_the_tfjs_model_beside_it(digits):
    folder: Path = digits.path
    assert folder.name == "1" and (folder / "saved_model.pb").is_file()
    model = json.loads((folder / "tfjs" / "model.json").read_text())
    assert model["format"] == "graph-model" and "TensorFlow.js Converter v4.22.0" in model["convertedBy"]
    assert sorted(model["signature"]["outputs"]) == ["class_index", "probabilities"]  # class_name: a string
    shards = [path for group in model["weightsManifest"] for path in group["paths"]]
    assert shards and all((folder / "tfjs" / shard).is_file() for shard in shards)
    report = json.loads((folder / "conversion_report.json").read_text())
    assert report["target"] == "tfjs" and "wasm backend" in report["verified_in"]
    assert "| uint8 | tfjs |" in (folder / "conversion_report.md").read_text()


def test_a_keras_model_converts_through_a_saved_model_export(examples_dir: Path, tmp_path: Path):
    require_tfjs()
    done = run_cli(
        "convert", str(examples_dir / "digits_keras/1"), "--to", "tfjs", "--quantize", "uint8",
        "--eval", str(examples_dir / "digits_test.npz"), "--out", str(tmp_path / "keras_tfjs"),
        "--latency-runs", "5", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    landed = next(row for row in report["rows"] if row["landed"])
    assert landed["variant"] == "uint8" and landed["format"] == "tfjs"
    assert landed["top1_agreement"] >= AGREEMENT
    assert (tmp_path / "keras_tfjs" / "1" / "tfjs" / "model.json").is_file()


def test_requests_tfjs_cannot_serve_fail_before_any_work(examples_dir: Path, tmp_path: Path):
    out = tmp_path / "never"
    int8 = run_cli("convert", str(examples_dir / "digits/1"), "--to", "tfjs", "--quantize", "int8", "--out", str(out))
    assert int8.returncode == 1 and "--to tfjs has no int8 variant" in int8.stderr
    onnx = run_cli("convert", str(examples_dir / "digits_onnx/1"), "--to", "tfjs", "--out", str(out))
    assert onnx.returncode == 1 and "takes a SavedModel or Keras model" in onnx.stderr
    assert not out.exists()


def test_a_missing_runtime_names_the_install_script(examples_dir: Path, tmp_path: Path):
    env = {**os.environ, "MODELSERVE_TFJS_DIR": str(tmp_path / "empty")}
    done = subprocess.run(
        [MODELSERVE, "convert", str(examples_dir / "digits/1"), "--to", "tfjs", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 1 and "scripts/install_tfjs.sh" in done.stderr
    assert not (tmp_path / "out").exists()


def test_outputs_are_paired_with_their_names_whatever_order_model_json_keeps(digits, digits_test, tmp_path: Path):
    from modelserve.convert.samples import SampleSet
    from modelserve.convert.tfjs_node import run_in_node, signature_of

    images, labels = digits_test
    samples = SampleSet(tuple({"images": image} for image in images[:16]), labels[:16], "16 test digits")
    folder = tmp_path / "tfjs"
    shutil.copytree(digits.path / "tfjs", folder)
    model = json.loads((folder / "model.json").read_text())
    outputs = model["signature"]["outputs"]
    for order in (sorted(outputs), sorted(outputs, reverse=True)):  # a protobuf map: either order happens
        model["signature"]["outputs"] = {key: outputs[key] for key in order}
        (folder / "model.json").write_text(json.dumps(model))
        ran = run_in_node(folder / "model.json", signature_of(folder / "model.json"), samples, runs=1)
        values = ran.outputs.values
        assert values["probabilities"].shape == (16, 10) and values["class_index"].shape == (16,), order
        assert (values["probabilities"].argmax(-1) == values["class_index"]).all(), order
