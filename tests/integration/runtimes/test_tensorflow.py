"""TensorFlow runtime on real SavedModels (TF1 signature defs, TF2 exports) and Keras files."""

from pathlib import Path

import numpy as np
import pytest

from factories import keras_files
from modelserve import InvalidArgument, load_model

CLASSIFY, REGRESS, PREDICT = (
    "tensorflow/serving/classify",
    "tensorflow/serving/regress",
    "tensorflow/serving/predict",
)


def tf_examples(feature: str, values: list[float]) -> list[bytes]:
    import tensorflow as tf

    return [
        tf.train.Example(
            features=tf.train.Features(feature={feature: tf.train.Feature(float_list=tf.train.FloatList(value=[v]))})
        ).SerializeToString()
        for v in values
    ]


@pytest.fixture(scope="module")
def half_plus_two(examples_dir: Path):
    with load_model(examples_dir / "half_plus_two/00000123") as model:
        yield model


def test_half_plus_two_signatures_match_tf_serving_fixture(half_plus_two):
    sigs = half_plus_two.signatures
    assert {name: sig.method_name for name, sig in sigs.items()} == {
        "serving_default": PREDICT,
        "classify_x_to_y": CLASSIFY,
        "classify_x2_to_y3": CLASSIFY,
        "regress_x_to_y": REGRESS,
        "regress_x_to_y2": REGRESS,
        "regress_x2_to_y3": REGRESS,
    }
    x = sigs["serving_default"].inputs["x"]
    assert (x.dtype, x.shape) == ("float32", (-1, 1))
    assert sigs["serving_default"].outputs["y"].dtype == "float32"
    tf_example = sigs["classify_x_to_y"].inputs["inputs"]
    assert (tf_example.dtype, tf_example.shape) == ("string", (-1,))
    assert list(sigs["classify_x_to_y"].outputs) == ["scores"]
    assert list(sigs["regress_x_to_y"].outputs) == ["outputs"]


def test_half_plus_two_predict(half_plus_two):
    out = half_plus_two.predict({"x": [[1.0], [2.0], [5.0]]})
    np.testing.assert_allclose(out["y"], [[2.5], [3.0], [4.5]])


def test_regress_and_classify_over_serialized_tf_examples(half_plus_two):
    regress = half_plus_two.predict({"inputs": tf_examples("x", [80.0])}, signature="regress_x_to_y")
    np.testing.assert_allclose(regress["outputs"], [[42.0]])
    classify = half_plus_two.predict({"inputs": tf_examples("x", [20.0])}, signature="classify_x_to_y")
    np.testing.assert_allclose(classify["scores"], [[12.0]])
    y3 = half_plus_two.predict({"inputs": tf_examples("x2", [4.0])}, signature="regress_x2_to_y3")
    np.testing.assert_allclose(y3["outputs"], [[5.0]])


def test_garbage_tf_example_is_invalid_argument(half_plus_two):
    with pytest.raises(InvalidArgument, match="TensorFlow rejected the input"):
        half_plus_two.predict({"inputs": [b"\xff\xfe not a tf.Example"]}, signature="regress_x_to_y")


def test_multiply_models_take_tf_examples(examples_dir: Path):
    for name, factor in (("multiply_five", 5), ("multiply_ten", 10)):
        with load_model(examples_dir / name / "1") as model:
            assert model.signatures["serving_default"].inputs["examples"].dtype == "string"
            out = model.predict({"examples": tf_examples("x", [3.0, 40.0])})["output_0"]
            np.testing.assert_allclose(out[:, 0], [3 * factor, 40 * factor], rtol=0.02)
            direct = model.predict({"x": [[3.0]]}, signature="predict")["output_0"]
            np.testing.assert_allclose(direct, out[:1], rtol=1e-5)


def test_digits_savedmodel_has_the_three_seed_signatures(examples_dir: Path):
    with load_model(examples_dir / "digits/1") as model:
        sigs = model.signatures
    assert set(sigs) == {"serving_default", "from_bytes", "input_pass_through"}
    assert {n: s.dtype for n, s in sigs["serving_default"].outputs.items()} == {
        "probabilities": "float32",
        "class_index": "int64",
        "class_name": "string",
    }
    assert sigs["from_bytes"].inputs["image_bytes"].dtype == "string"
    assert set(sigs["input_pass_through"].inputs) == {"images", "key"}


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_files(tmp_path: Path, suffix: str):
    native, legacy, reference = keras_files(tmp_path)
    path = native if suffix == ".keras" else legacy
    with load_model(path) as model:
        signature = model.signatures["serving_default"]
        assert [(s.name, s.shape) for s in signature.inputs.values()] == [("features", (-1, 4))]
        out = model.predict({"features": np.arange(8, dtype=np.float32).reshape(2, 4)})
    assert model.platform == "keras"
    np.testing.assert_allclose(out["output_0"], reference, atol=1e-6)
