"""The seed's RunInference patterns (examples/beam/) run as written, with outputs equal to in-process predictions."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from modelserve.model import load_model

EXAMPLES = Path(__file__).parents[2] / "examples" / "beam"
QUESTIONS = {"first_question": 105.0, "second_question": 108.0, "third_question": 1000.0, "fourth_question": 1013.0}

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def example():
    """Import an example script as a module (they import each other's helpers by plain name)."""
    sys.path.insert(0, str(EXAMPLES))
    yield lambda name: importlib.import_module(name)
    sys.path.remove(str(EXAMPLES))
    for script in EXAMPLES.glob("*.py"):  # leave no plain names like "images" behind for other tests
        sys.modules.pop(script.stem, None)


@pytest.fixture(scope="module")
def multiply(examples_dir: Path):
    """``f(model, x)``: the model's own answer, computed in process with the predict signature (no Beam)."""
    models = {name: load_model(examples_dir / name / "1") for name in ("multiply_five", "multiply_ten")}

    def predict(name: str, x: float) -> float:
        return float(models[name].predict({"x": np.array([[x]], np.float32)}, signature="predict")["output_0"][0, 0])

    yield predict
    for model in models.values():
        model.close()


def test_plain_tfrecord_in_input_and_output_out(example, multiply, examples_dir: Path, tmp_path: Path):
    got = example("plain").run(examples_dir, tmp_path)
    expected = [
        {"model": "multiply_five:1", "input": x, "output": [multiply("multiply_five", x)]} for x in QUESTIONS.values()
    ]
    assert sorted(got, key=lambda e: e["input"]) == expected
    assert all(abs(e["output"][0] - 5 * e["input"]) < 0.01 * e["input"] for e in got)  # it did learn x5


def test_keyed_keys_pass_through(example, multiply, examples_dir: Path, tmp_path: Path):
    got = example("keyed").run(examples_dir, tmp_path)
    expected = [{"key": k, "input": x, "output": multiply("multiply_five", x)} for k, x in QUESTIONS.items()]
    assert sorted(got, key=lambda e: e["key"]) == sorted(expected, key=lambda e: e["key"])


def test_multi_model_branches_flattened(example, multiply, examples_dir: Path, tmp_path: Path):
    got = example("multi_model").run(examples_dir, tmp_path)
    expected = [{"key": f"{k} * 5", "input": x, "output": multiply("multiply_five", x)} for k, x in QUESTIONS.items()]
    expected += [{"key": f"{k} * 10", "input": x, "output": multiply("multiply_ten", x)} for k, x in QUESTIONS.items()]
    assert sorted(got, key=lambda e: e["key"]) == sorted(expected, key=lambda e: e["key"])


def test_sequential_five_then_ten(example, multiply, examples_dir: Path, tmp_path: Path):
    got = example("sequential").run(examples_dir, tmp_path)
    expected = []
    for key, x in QUESTIONS.items():
        five = multiply("multiply_five", x)
        expected.append(
            {"key": f"{key} original input is {x}", "input": five, "output": multiply("multiply_ten", five)}
        )
    assert sorted(got, key=lambda e: e["key"]) == sorted(expected, key=lambda e: e["key"])


def test_image_folder_to_class_per_file_name(example, examples_dir: Path, tmp_path: Path):
    got = example("images").run(examples_dir, tmp_path)
    names = sorted(p.name for p in (examples_dir / "digits_png").glob("*.png"))
    assert sorted(e["file"] for e in got) == names
    assert all(e["class"] == e["file"].split("_")[1] for e in got)  # digit_<label>_<index>.png
