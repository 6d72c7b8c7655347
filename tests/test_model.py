"""The in-memory API: load_model / signatures / predict / close, and its errors."""

from pathlib import Path

import numpy as np
import pytest

from modelserve import FailedPrecondition, InvalidArgument, Model, NotFound, ServingError, load_model


@pytest.fixture(scope="module")
def digits_onnx(examples_dir: Path):
    with load_model(examples_dir / "digits_onnx/1") as model:
        yield model


def test_predict_returns_numpy_outputs(digits_onnx: Model, digits_test):
    images, _labels = digits_test
    out = digits_onnx.predict({"images": images[:4]})
    assert out["probabilities"].shape == (4, 10)
    assert out["probabilities"].dtype == np.float32
    np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, rtol=1e-5)


def test_nested_lists_work(digits_onnx: Model, digits_test):
    images, _ = digits_test
    assert digits_onnx.predict({"images": images[:2].tolist()})["probabilities"].shape == (2, 10)


def test_unknown_signature_lists_the_real_ones(digits_onnx: Model):
    with pytest.raises(NotFound, match="signature 'from_bytes' not found; this model has: serving_default"):
        digits_onnx.predict({"images": np.zeros((1, 8, 8, 1))}, signature="from_bytes")


def test_wrong_shape_message(digits_onnx: Model):
    with pytest.raises(InvalidArgument) as err:
        digits_onnx.predict({"images": np.zeros((2, 64), np.int64)})
    assert err.value.message == "input 'images' expects float32 [-1, 8, 8, 1], got int64 [2, 64]"


@pytest.mark.parametrize("relative", ["digits_tflite/1", "digits_keras/1"])
def test_same_error_from_every_shape_checked_runtime(examples_dir: Path, relative: str):
    with load_model(examples_dir / relative) as model, pytest.raises(InvalidArgument) as err:
        model.predict({"images": np.zeros((2, 64), np.int64)})
    assert err.value.message == "input 'images' expects float32 [-1, 8, 8, 1], got int64 [2, 64]"


@pytest.mark.parametrize("shape", [(2, 64), (1, 4), (2, 8, 8), (2, 9, 9, 2)])
def test_saved_model_shapes_are_checked_before_tensorflow_runs(examples_dir: Path, shape: tuple):
    """Wrong ranks abort oneDNN's Conv2D (the whole process) and wrong sizes gave made-up predictions:
    the gate refuses both; TF Serving's leniency for rank-2 inputs (``[N]`` for ``[-1, 1]``) stays."""
    with load_model(examples_dir / "digits/1") as model, pytest.raises(InvalidArgument) as err:
        model.predict({"images": np.zeros(shape, np.int64)})
    assert err.value.message == f"input 'images' expects float32 [-1, 8, 8, 1], got int64 {list(shape)}"
    with load_model(examples_dir / "half_plus_two/00000123") as model:
        np.testing.assert_allclose(model.predict({"x": [1.0, 2.0, 5.0]})["y"], [2.5, 3.0, 4.5])


def test_errors_share_one_vocabulary(digits_onnx: Model):
    with pytest.raises(ServingError) as err:
        digits_onnx.predict({"pixels": [1.0]})
    assert err.value.code.name == "INVALID_ARGUMENT"


def test_closed_model_refuses_calls(examples_dir: Path):
    model = load_model(examples_dir / "digits_onnx/1")
    model.close()
    model.close()
    with pytest.raises(FailedPrecondition, match="is closed"):
        model.predict({"images": np.zeros((1, 8, 8, 1))})


def test_repr_names_platform_and_signatures(digits_onnx: Model):
    assert "platform='onnx'" in repr(digits_onnx)
    assert "serving_default" in repr(digits_onnx)
