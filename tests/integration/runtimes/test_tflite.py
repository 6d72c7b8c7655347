"""LiteRT: signature runners, the quantization rule, and the interpreter pool under threads."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from factories import tflite_int8
from modelserve import load_model
from modelserve.runtimes.tflite import dequantize, quantize


@pytest.fixture(scope="module")
def int8_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tflite_int8(tmp_path_factory.mktemp("tflite"))


def test_quantized_specs_carry_scale_and_zero_point(int8_path: Path):
    with load_model(int8_path) as model:
        signature = model.signatures["serving_default"]
    x, y = signature.inputs["x"], signature.outputs["output_0"]
    assert (x.dtype, y.dtype) == ("int8", "int8")
    assert x.quantization is not None and x.quantization.scale > 0
    assert y.quantization is not None


def test_float_in_float_out(int8_path: Path):
    batch = np.random.default_rng(3).uniform(-1, 1, (5, 4)).astype(np.float32)
    with load_model(int8_path) as model:
        signature = model.signatures["serving_default"]
        as_float = model.predict({"x": batch})["output_0"]
        as_int = model.predict({"x": quantize(batch, signature.inputs["x"])})["output_0"]
    assert as_float.dtype == np.float32
    assert as_int.dtype == np.int8
    np.testing.assert_allclose(as_float, dequantize(as_int, signature.outputs["output_0"]))


def test_quantize_rounds_and_clips():
    from modelserve.types import Quantization, TensorSpec

    spec = TensorSpec("x", "int8", (-1,), quantization=Quantization(0.5, 10))
    assert quantize(np.array([0.0, 1.0, 1000.0, -1000.0]), spec).tolist() == [10, 12, 127, -128]
    assert dequantize(np.array([10, 12], np.int8), spec).tolist() == [0.0, 1.0]


def test_float_model_batch_sizes(examples_dir: Path, digits_test):
    images, _ = digits_test
    with load_model(examples_dir / "digits_tflite/1") as model:
        assert model.predict({"images": images[:1]})["probabilities"].shape == (1, 10)
        assert model.predict({"images": images[:32]})["probabilities"].shape == (32, 10)


def test_concurrent_calls_match_serial_results(examples_dir: Path, digits_test):
    images, _ = digits_test
    chunks = [images[i : i + 7] for i in range(0, 140, 7)]
    with load_model(examples_dir / "digits_tflite/1", interpreter_pool_size=3) as model:
        serial = [model.predict({"images": c})["probabilities"] for c in chunks]
        with ThreadPoolExecutor(8) as pool:
            parallel = list(pool.map(lambda c: model.predict({"images": c})["probabilities"], chunks * 3))
        assert model.runtime._pool._created <= 3
    for i, result in enumerate(parallel):
        np.testing.assert_array_equal(result, serial[i % len(chunks)])


def test_file_without_signatures_exposes_its_tensors(tmp_path: Path):
    from factories import tflite_without_signatures

    with load_model(tflite_without_signatures(tmp_path)) as model:
        signature = model.signatures["serving_default"]
        assert [(s.name, s.shape) for s in signature.inputs.values()] == [("x", (-1, 3))]
        [output] = signature.outputs
        for batch in (1, 4):
            values = np.arange(3 * batch, dtype=np.float32).reshape(batch, 3)
            np.testing.assert_allclose(model.predict({"x": values})[output], values * 2 + 1)
