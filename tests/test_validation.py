"""coerce_inputs: the one gate between caller data and a runtime."""

import numpy as np
import pytest

from modelserve.errors import InvalidArgument
from modelserve.types import Quantization, Signature, TensorSpec
from modelserve.validation import coerce_inputs

IMAGES = Signature.from_specs(
    "serving_default",
    [TensorSpec("x", "float32", (-1, 784))],
    [TensorSpec("y", "float32", (-1, 10))],
)
TWO_INPUTS = Signature.from_specs(
    "pass_through",
    [TensorSpec("images", "float32", (-1, 2)), TensorSpec("key", "string", (-1,))],
    [TensorSpec("key", "string", (-1,))],
)


def test_message_names_input_expected_and_got():
    with pytest.raises(InvalidArgument) as err:
        coerce_inputs(IMAGES, {"x": np.zeros((2, 3), dtype=np.int64)})
    assert err.value.message == "input 'x' expects float32 [-1, 784], got int64 [2, 3]"


def test_nested_lists_take_the_signature_dtype():
    out = coerce_inputs(TWO_INPUTS, {"images": [[1, 2], [3, 4.5]], "key": ["a", b"b"]})
    assert out["images"].dtype == np.float32
    assert out["images"].tolist() == [[1.0, 2.0], [3.0, 4.5]]
    assert out["key"].dtype == object
    assert out["key"].tolist() == [b"a", b"b"]


def test_float64_array_is_narrowed_to_float32():
    out = coerce_inputs(IMAGES, {"x": np.ones((1, 784))})
    assert out["x"].dtype == np.float32


def test_bare_value_for_single_input_signature():
    out = coerce_inputs(IMAGES, np.zeros((3, 784), np.float32))
    assert set(out) == {"x"}


def test_bare_value_refused_for_several_inputs():
    with pytest.raises(InvalidArgument, match="has 2 inputs"):
        coerce_inputs(TWO_INPUTS, [[1.0, 2.0]])


def test_missing_input():
    with pytest.raises(InvalidArgument) as err:
        coerce_inputs(TWO_INPUTS, {"images": [[1.0, 2.0]]})
    assert "missing input 'key' (string [-1])" in err.value.message


def test_unknown_input_lists_the_real_ones():
    with pytest.raises(InvalidArgument) as err:
        coerce_inputs(IMAGES, {"x": np.zeros((1, 784)), "z": 1})
    assert "unknown input 'z'" in err.value.message
    assert "x (float32 [-1, 784])" in err.value.message


def test_ragged_lists():
    with pytest.raises(InvalidArgument, match="ragged"):
        coerce_inputs(TWO_INPUTS, {"images": [[1.0, 2.0], [3.0]], "key": ["a", "b"]})


def test_string_into_float():
    with pytest.raises(InvalidArgument, match="expects float32 \\[-1, 2\\], got string"):
        coerce_inputs(TWO_INPUTS, {"images": [["a", "b"]], "key": ["a"]})


def test_number_into_string():
    with pytest.raises(InvalidArgument, match="bytes or str"):
        coerce_inputs(TWO_INPUTS, {"images": [[1.0, 2.0]], "key": [3]})


def test_float_into_int_is_refused_not_truncated():
    sig = Signature.from_specs("s", [TensorSpec("n", "int32", (-1,))], [])
    with pytest.raises(InvalidArgument, match="expects int32 \\[-1\\], got float64 \\[2\\]"):
        coerce_inputs(sig, {"n": [1.5, 2.0]})


def test_int_out_of_range():
    sig = Signature.from_specs("s", [TensorSpec("n", "int8", (-1,))], [])
    with pytest.raises(InvalidArgument, match="do not fit int8"):
        coerce_inputs(sig, {"n": [1, 300]})
    assert coerce_inputs(sig, {"n": [1, -128]})["n"].dtype == np.int8


def test_rank_and_fixed_dims_checked():
    with pytest.raises(InvalidArgument, match="got float32 \\[784\\]"):
        coerce_inputs(IMAGES, {"x": np.zeros(784, np.float32)})
    with pytest.raises(InvalidArgument, match="got float32 \\[1, 783\\]"):
        coerce_inputs(IMAGES, {"x": np.zeros((1, 783), np.float32)})


def test_unknown_rank_accepts_any_shape():
    sig = Signature.from_specs("s", [TensorSpec("x", "float32", None)], [])
    assert coerce_inputs(sig, {"x": 3.0})["x"].shape == ()


def test_quantized_input_keeps_floats_for_the_runtime():
    spec = TensorSpec("x", "int8", (-1, 2), quantization=Quantization(0.5, -3))
    sig = Signature.from_specs("s", [spec], [])
    assert coerce_inputs(sig, {"x": [[0.5, 1.0]]})["x"].dtype == np.float32
    assert coerce_inputs(sig, {"x": np.array([[1, 2]], np.int8)})["x"].dtype == np.int8


def test_bool_not_accepted_for_float():
    with pytest.raises(InvalidArgument):
        coerce_inputs(IMAGES, {"x": np.zeros((1, 784), bool)})
