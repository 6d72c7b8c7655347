"""The input gate: every door's names, dtypes and shapes checked in one place (CAST, TF_SERVING and V2 rules),
and TensorFlow's rank leniency kept only where TF Serving's users rely on it."""

import numpy as np
import pytest

from modelserve.errors import InvalidArgument, Unimplemented
from modelserve.serving.inputs import admit, check_outputs, select_outputs, shape_fits
from modelserve.types import InputRules, Quantization, Signature, TensorSpec


def coerce_inputs(signature, inputs, strict_shapes=True):
    return admit(signature, inputs, InputRules.CAST, strict_shapes)


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


# ------------------------------------------------------------------------------------- shapes, every runtime


@pytest.mark.parametrize(
    ("declared", "shape", "strict", "fits"),
    [
        ((-1, 8, 8, 1), (2, 8, 8, 1), True, True),
        ((-1, 8, 8, 1), (2, 9, 9, 2), True, False),
        ((-1, 8, 8, 1), (2, 9, 9, 2), False, False),  # same rank: sizes checked for TensorFlow too
        ((-1, 8, 8, 1), (1, 4), False, False),  # the rank oneDNN's Conv2D aborts on
        ((-1, 8, 8, 1), (2, 64), False, False),
        ((-1, 8, 8, 1), (2, 8, 8), False, False),  # rank 3+ inputs need their rank and sizes
        ((-1, 1), (3,), False, True),  # TF Serving's half_plus_two: {"instances": [1.0, 2.0, 5.0]}
        ((-1, 1), (3,), True, False),
        ((-1, 1), (3, 1, 1), False, True),
        ((-1, 1), (), False, True),
        ((-1, 1), (2, 2), False, True),  # TF Serving's own handler test: [[1, 2], [3, 4]]
        ((-1, 1), (3, 2), True, False),
        ((-1, 784), (784,), False, True),  # one instance without its batch dim: TensorFlow decides
        ((-1, 784), (1, 783), False, True),  # TensorFlow's MatMul refuses it, cleanly
        ((-1, 784), (1, 783), True, False),
        ((-1, 784), (783,), True, False),
        ((-1, 784), (2, 392), True, False),
        ((-1, 3), (1, 1, 3), False, True),
        ((-1,), (3,), True, True),
        ((-1,), (3, 1), False, True),
        ((-1,), (3, 2), True, False),
        (None, (1, 2, 3, 4, 5), True, True),
    ],
)
def test_shape_rule(declared, shape, strict, fits):
    assert shape_fits(declared, shape, strict) is fits


def test_tensorflow_leniency_only_below_rank_three():
    images = Signature.from_specs("s", [TensorSpec("images", "float32", (-1, 8, 8, 1))], [])
    with pytest.raises(InvalidArgument) as err:
        coerce_inputs(images, np.zeros((2, 64), np.int64), strict_shapes=False)
    assert err.value.message == "input 'images' expects float32 [-1, 8, 8, 1], got int64 [2, 64]"
    half = Signature.from_specs("s", [TensorSpec("x", "float32", (-1, 1))], [])
    assert coerce_inputs(half, [1.0, 2.0, 5.0], strict_shapes=False)["x"].shape == (3,)


# ------------------------------------------------------------------------------------- TF Serving rules

SIGNATURE = Signature.from_specs(
    "serving_default",
    [TensorSpec("images", "float32", (-1, 8, 8, 1)), TensorSpec("ids", "string", None)],
    [TensorSpec("scores", "float32", (-1, 10)), TensorSpec("labels", "string", (-1,))],
)
BATCH = np.zeros((3, 8, 8, 1), np.float32)
IDS = np.array([b"a"], dtype=object)


def failure(rules: InputRules, **inputs: np.ndarray) -> str:
    with pytest.raises(InvalidArgument) as info:
        admit(SIGNATURE, inputs, rules)
    return info.value.message


def test_tf_serving_rules_need_the_signature_dtype():
    admitted = admit(SIGNATURE, {"ids": IDS, "images": BATCH}, InputRules.TF_SERVING)
    assert list(admitted) == ["images", "ids"] and admitted["images"] is BATCH
    assert failure(InputRules.TF_SERVING, images=BATCH.astype(np.float64), ids=IDS) == (
        "Expects arg[0] to be float but double is provided (input 'images')"
    )
    assert failure(InputRules.TF_SERVING, images=BATCH) == (
        "input size does not match signature: 1!=2 len({images}) != len({ids,images}). Sent extra: {}. "
        "Missing but required: {ids}."
    )
    assert failure(InputRules.TF_SERVING, images=np.zeros((1, 4), np.float32), ids=IDS) == (
        "input 'images' expects float32 [-1, 8, 8, 1], got float32 [1, 4]"
    )


def test_tf_serving_rules_take_floats_for_quantized_inputs():
    spec = TensorSpec("x", "int8", (-1, 2), quantization=Quantization(0.5, -3))
    sig = Signature.from_specs("s", [spec], [])
    assert admit(sig, {"x": np.ones((1, 2), np.float32)}, InputRules.TF_SERVING)["x"].dtype == np.float32


# ------------------------------------------------------------------------------------- V2 rules


def test_v2_rules_accept_matching_inputs_in_signature_order():
    admitted = admit(SIGNATURE, {"ids": IDS, "images": BATCH}, InputRules.V2)
    assert list(admitted) == ["images", "ids"]
    assert admitted["images"] is BATCH
    assert admit(SIGNATURE, {"images": BATCH, "ids": np.zeros((2, 2, 2), object)}, InputRules.V2)["ids"].ndim == 3


def test_v2_rules_errors():
    v2 = InputRules.V2
    assert failure(v2, images=BATCH) == "missing input 'ids' for signature 'serving_default'; it takes: images, ids"
    assert failure(v2, images=BATCH, ids=IDS, extra=IDS) == (
        "unknown input 'extra' for signature 'serving_default'; it takes: images, ids"
    )
    assert failure(v2, images=BATCH.astype(np.int64), ids=IDS) == (
        "input 'images' has datatype INT64 but the model expects FP32"
    )
    assert failure(v2, images=BATCH.astype(np.float64), ids=IDS) == (
        "input 'images' has datatype FP64 but the model expects FP32"
    )
    assert failure(v2, images=np.zeros((2, 64), np.float32), ids=IDS) == (
        "input 'images' has shape [2, 64] but the model expects [-1, 8, 8, 1]"
    )
    assert failure(v2, images=np.zeros((2, 8, 8, 2), np.float32), ids=IDS) == (
        "input 'images' has shape [2, 8, 8, 2] but the model expects [-1, 8, 8, 1]"
    )


def test_v2_complex_input_is_unimplemented():
    signature = Signature.from_specs("s", [TensorSpec("z", "complex64", (1,))], [])
    with pytest.raises(Unimplemented, match=r"^input 'z' is complex64, which the V2 protocol cannot carry$"):
        admit(signature, {"z": np.zeros(1, np.float32)}, InputRules.V2)


# ------------------------------------------------------------------------------------- outputs


def test_requested_outputs_are_checked_before_running_in_each_doors_words():
    check_outputs(SIGNATURE, ("labels", "scores"), InputRules.V2)
    with pytest.raises(InvalidArgument, match=r"^unknown output 'z'; the model has: scores, labels$"):
        check_outputs(SIGNATURE, ("z",), InputRules.V2)
    with pytest.raises(InvalidArgument, match=r"^output 'scores' is requested more than once$"):
        check_outputs(SIGNATURE, ("scores", "scores"), InputRules.CAST)
    with pytest.raises(InvalidArgument, match=r"^output tensor alias not found in signature: z Outputs expected"):
        check_outputs(SIGNATURE, ("z",), InputRules.TF_SERVING)
    with pytest.raises(InvalidArgument, match=r"^duplicate output tensor alias: scores$"):
        check_outputs(SIGNATURE, ("scores", "scores"), InputRules.TF_SERVING)


def test_selected_outputs_follow_the_request():
    outputs = {"scores": np.ones(1), "labels": np.zeros(1)}
    assert list(select_outputs(outputs, ("labels",))) == ["labels"]
    assert select_outputs(outputs, ()) is outputs
