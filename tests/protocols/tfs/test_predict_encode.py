"""TF Serving REST predict responses: TF Serving's json_tensor_test.cc cases, exact bytes and messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from modelserve.errors import InvalidArgument
from modelserve.protocols.tfs.predict_encode import encode_predict

# ---------------------------------------------------------------------------------- predict: encode


def encoded(outputs: dict[str, np.ndarray], row_format: bool) -> str:
    text = encode_predict(outputs, row_format).decode()
    json.loads(text)  # valid for Python's json (NaN and Infinity included)
    return text


def encode_failure(outputs: dict[str, np.ndarray], row_format: bool) -> str:
    with pytest.raises(InvalidArgument) as info:
        encode_predict(outputs, row_format)
    return info.value.message


class TestEncodePredict:
    def test_one_output_collapses(self):
        y = np.array([2.5, 3.0, 4.5], np.float32)
        assert encoded({"y": y}, True) == '{"predictions":[2.5,3.0,4.5]}'
        assert encoded({"y": y}, False) == '{"outputs":[2.5,3.0,4.5]}'

    def test_nested_ints(self):
        t = np.array([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], np.int32)
        assert encoded({"t": t}, True) == '{"predictions":[[[1,2],[3,4],[5,6]],[[7,8],[9,0],[1,2]]]}'
        assert encoded({"t": t}, False) == '{"outputs":[[[1,2],[3,4],[5,6]],[[7,8],[9,0],[1,2]]]}'

    def test_several_outputs(self):
        outputs = {"a": np.array([[1, 2], [3, 4]], np.int64), "b": np.array([True, False]), "c": np.array([0.5, 1])}
        assert encoded(outputs, True) == (
            '{"predictions":[{"a":[1,2],"b":true,"c":0.5},{"a":[3,4],"b":false,"c":1.0}]}'
        )
        assert encoded(outputs, False) == '{"outputs":{"a":[[1,2],[3,4]],"b":[true,false],"c":[0.5,1.0]}}'

    def test_columnar_keeps_each_shape(self):
        outputs = {"scalar": np.array(7, np.uint8), "m": np.zeros((2, 0), np.float32), "v": np.array([1], np.uint64)}
        assert encoded(outputs, False) == '{"outputs":{"scalar":7,"m":[[],[]],"v":[1]}}'

    def test_strings(self):
        strings = np.array([b"hello", b'q"\\\n\x01\x7f', "é".encode(), b"\xff"], dtype=object)
        assert encoded({"s": strings}, False) == '{"outputs":["hello","q\\"\\\\\\n\\u0001\x7f","é","\ufffd"]}'
        assert encoded({"s_bytes": strings[:2]}, True) == '{"predictions":[{"b64":"aGVsbG8="},{"b64":"cSJcCgF/"}]}'
        assert encoded({"s_bytes": np.array([b"tf", b"serving"], object), "n": np.array([1, 2])}, True) == (
            '{"predictions":[{"s_bytes":{"b64":"dGY="},"n":1},{"s_bytes":{"b64":"c2VydmluZw=="},"n":2}]}'
        )
        numbers_bytes = np.array([1, 2], np.int32)  # only string tensors become b64
        assert encoded({"n_bytes": numbers_bytes}, False) == '{"outputs":[1,2]}'

    def test_float_formatting(self):
        floats = np.array([[9000000, 999999, 0.5], [0.0003, 0.00003, 555557.5]], np.float32)
        assert encoded({"f": floats}, True) == '{"predictions":[[9e+06,999999.0,0.5],[0.0003,3e-05,555557.5]]}'
        values = np.array([3, 0, -0.0, 0.1, 1 / 3, 16777217, 1e9, 123456789, 1e-45, 3.4028235e38, -2.5], np.float32)
        assert encoded({"f": values}, False) == (
            '{"outputs":[3.0,0.0,-0.0,0.1,0.333333343,16777216.0,1e+09,123456792.0,1.4013e-45,3.40282347e+38,-2.5]}'
        )
        doubles = np.array([0.1, 1 / 3, 1e17, 1e16, 2.0**53 + 2, 5e-324, 1e-310, 123456.0, 1234567.0])
        assert encoded({"d": doubles}, False) == (
            '{"outputs":[0.1,0.33333333333333331,1e+17,1e+16,9007199254740994.0,4.94066e-324,1e-310,123456.0,'
            "1234567.0]}"
        )

    def test_non_finite(self):
        values = np.array([[np.nan, np.inf], [3, -np.inf]], np.float32)
        assert encoded({"f": values}, True) == '{"predictions":[[NaN,Infinity],[3.0,-Infinity]]}'

    def test_zero_batch(self):
        assert encoded({"y": np.zeros((0, 3), np.float32)}, True) == '{"predictions":[]}'
        assert encoded({"a": np.zeros((0,)), "b": np.zeros((0, 2), np.int32)}, True) == '{"predictions":[]}'
        assert encoded({"y": np.zeros((0, 3), np.float32)}, False) == '{"outputs":[]}'

    def test_row_form_needs_a_shared_batch(self):
        outputs = {"x": np.zeros(2), "y": np.zeros(1)}
        assert encode_failure(outputs, True) == "Tensor name: y has inconsistent batch size: 1 expecting: 2"
        assert encoded(outputs, False) == '{"outputs":{"x":[0.0,0.0],"y":[0.0]}}'
        assert (
            encode_failure({"x": np.zeros(2), "y": np.array(1.0)}, True) == "Tensor name: y has no shape information "
        )

    @pytest.mark.parametrize(
        ("dtype", "name"),
        [(np.float16, "half"), (np.complex64, "complex64"), (np.complex128, "complex128"), (np.uint16, "uint16")],
    )
    def test_dtypes_json_cannot_carry(self, dtype, name):
        message = f"Failed to write JSON value for tensor type: {name}"
        assert encode_failure({"y": np.zeros(2, dtype)}, False) == message
        assert encode_failure({"y": np.zeros((2, 1), dtype)}, True) == message
        assert encoded({"y": np.zeros((2, 0), dtype)}, False) == '{"outputs":[[],[]]}'  # nothing to write

    def test_no_outputs(self):
        assert encode_failure({}, True) == "Cannot convert empty tensor map to JSON"

    def test_bfloat16(self):
        ml_dtypes = pytest.importorskip("ml_dtypes")
        message = encode_failure({"y": np.zeros(2, ml_dtypes.bfloat16)}, False)
        assert message == "Failed to write JSON value for tensor type: bfloat16"

    def test_escaped_names(self):
        outputs = {'a"b': np.array([1]), "c": np.array([2])}
        assert encoded(outputs, True) == '{"predictions":[{"a\\"b":1,"c":2}]}'
