"""The command line as a user runs it: a real subprocess of the installed console script."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODELSERVE = [shutil.which("modelserve") or str(Path(sys.executable).parent / "modelserve")]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*MODELSERVE, *args], capture_output=True, text=True, timeout=120)


def test_inspect_saved_model_like_saved_model_cli(examples_dir: Path):
    result = run("inspect", str(examples_dir / "half_plus_two/00000123"))
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Platform: tensorflow" in text
    assert "signature_def['classify_x_to_y']:" in text
    assert "    inputs['inputs'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)\n" in text
    assert "Method name is: tensorflow/serving/regress" in text
    assert "Size on disk:" in text


@pytest.mark.parametrize(
    ("relative", "platform"),
    [
        ("digits_onnx/1", "onnx"),
        ("digits_tflite/1", "tflite"),
        ("digits_keras/1", "keras"),
        ("digits/1", "tensorflow"),
    ],
)
def test_inspect_json_every_format(examples_dir: Path, relative: str, platform: str):
    result = run("inspect", str(examples_dir / relative), "--json", "--signature", "serving_default")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["platform"] == platform
    assert info["size_bytes"] > 1000
    images = next(iter(info["signatures"]["serving_default"]["inputs"].values()))
    assert (images["dtype"], images["tf_dtype"], images["shape"]) == ("float32", "DT_FLOAT", [-1, 8, 8, 1])


def test_inspect_unknown_signature_is_a_clear_error(examples_dir: Path):
    result = run("inspect", str(examples_dir / "digits_onnx/1"), "--signature", "nope")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: signature 'nope' not found; this model has: serving_default"


def test_predict_prints_json(examples_dir: Path):
    result = run("predict", str(examples_dir / "half_plus_two/00000124"), "--inputs", '{"x": [[1.0], [5.0]]}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"y": [[2.5], [4.5]]}


def test_predict_bad_input_exits_1_with_message(examples_dir: Path):
    result = run("predict", str(examples_dir / "digits_onnx/1"), "--inputs", '{"images": [1, 2]}')
    assert result.returncode == 1
    assert "error: input 'images' expects float32 [-1, 8, 8, 1], got int64 [2]" in result.stderr
    assert "Traceback" not in result.stderr
