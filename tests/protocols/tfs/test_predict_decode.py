"""TF Serving REST predict requests: TF Serving's json_tensor_test.cc and REST handler cases, exact messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tfs_helpers import assert_array, decode, failure, inputs, row_error, signature

from modelserve.errors import InvalidArgument, Unimplemented
from modelserve.types import Quantization, Signature

# ----------------------------------------------------------------------------------- predict: ok


class TestPredictRows:
    def test_scalars(self):
        body = decode('{"instances": [1.0, 2.0, 5.0]}')
        assert body.row_format is True
        assert_array(body.inputs["x"], [1.0, 2.0, 5.0], "float32")

    def test_nested_lists(self):
        sig = signature(("default", "int32"))
        assert_array(inputs('{"instances": [[1,2],[3,4],[5,6]]}', sig)["default"], [[1, 2], [3, 4], [5, 6]], "int32")
        assert inputs('{"instances": [[[1,2]],[[3,4]]]}', sig)["default"].shape == (2, 1, 2)

    def test_objects_for_one_input(self):
        sig = signature(("x", "float32"))
        assert_array(inputs('{"instances": [{"x": [1, 2]}, {"x": [3, 4]}]}', sig)["x"], [[1, 2], [3, 4]], "float32")

    def test_named_inputs(self):
        sig = signature(
            ("int_tensor", "int32"), ("str_tensor", "string"), ("float_tensor", "float32"), ("dbl_tensor", "float64")
        )
        got = inputs(
            """{"instances": [
                {"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"],
                 "float_tensor": [1.0, NaN], "dbl_tensor": [NaN]},
                {"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"],
                 "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}]}""",
            sig,
        )
        assert_array(got["int_tensor"], [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], "int32")
        assert_array(got["str_tensor"], [[b"foo", b"bar"], [b"baz", b"bat"]], "object")
        assert got["float_tensor"].dtype == np.float32 and got["float_tensor"].shape == (2, 2)
        assert math.isnan(got["float_tensor"][0, 1]) and got["float_tensor"][1, 1] == np.inf
        assert got["dbl_tensor"].dtype == np.float64 and got["dbl_tensor"][1, 0] == 2.0

    def test_tag_and_signal_rows_equal_columns(self):
        sig = signature(("tag", "string"), ("signal", "int64"))
        rows = inputs('{"instances": [{"tag": "foo", "signal": [1, 2]}, {"tag": "bar", "signal": [3, 4]}]}', sig)
        columns = inputs('{"inputs": {"tag": ["foo", "bar"], "signal": [[1, 2], [3, 4]]}}', sig)
        for name in ("tag", "signal"):
            assert rows[name].tolist() == columns[name].tolist()
            assert rows[name].dtype == columns[name].dtype

    def test_b64(self):
        sig = signature(("default", "string"))
        assert_array(
            inputs('{"instances": [{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}]}', sig)["default"],
            [b"hello", b"world"],
            "object",
        )
        assert_array(
            inputs('{"instances": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}', sig)["default"],
            [[b"hello"], [b"world"]],
            "object",
        )
        named = '{"instances": [{"default": [[{"b64": "aGVsbG8="}], [{"b64": "d29ybGQ="}]]}]}'
        assert inputs(named, sig)["default"].shape == (1, 2, 1)

    def test_b64_like_absl(self):
        sig = signature(("s", "string"))

        def value(text: str) -> bytes:
            return inputs(json.dumps({"inputs": {"b64": text}}), sig)["s"].item()

        assert value("aGk=") == value("aGk") == value(" a G k = ") == value("aGk.") == b"hi"
        assert value("") == b""
        assert value("/+8=") == b"\xff\xef"
        for bad in ("aGk==", "a", "aGk=x", "aG-k", "aGk_", "====", "aGVsbG8=aGk="):
            with pytest.raises(InvalidArgument, match=r"^Unable to base64 decode$"):
                value(bad)

    def test_trailing_data_and_other_keys(self):
        assert_array(inputs('{"instances": [1], "extra": {"ignored": true}}garbage')["x"], [1.0], "float32")

    def test_ints_into_floats_and_float32_narrowing(self):
        got = inputs(
            '{"instances": [1, 2.0, 1435774380, 1435774380.0, 1.7976931348623157e308, -1.7976931348623157e308,'
            " 2.2250738585072014e-308, -2.2250738585072014e-308, 9223372036854775807, 18446744073709551615]}"
        )["x"]
        assert got.dtype == np.float32
        assert got[:6].tolist() == [1.0, 2.0, 1435774336.0, 1435774336.0, math.inf, -math.inf]
        assert got[6] == 0 and not math.copysign(1, got[6]) < 0
        assert got[7] == 0 and math.copysign(1, got[7]) < 0
        assert got[8:].tolist() == [float(np.float32(2.0**63)), float(np.float32(2.0**64))]

    def test_doubles_keep_full_precision(self):
        sig = signature(("x", "float64"))
        assert inputs('{"instances": [0.1, 9007199254740993]}', sig)["x"].tolist() == [0.1, 9007199254740992.0]

    @pytest.mark.parametrize(
        ("dtype", "values", "expected"),
        [
            ("int8", "[127, 128, -129, 300]", [127, -128, 127, 44]),  # TF wraps: no narrower range check
            ("uint8", "[255, 256, -1]", [255, 0, 255]),
            ("int16", "[2147483647, -2147483648]", [-1, 0]),
            ("int32", "[2147483647, -2147483648]", [2147483647, -2147483648]),
            ("int64", "[9223372036854775807, -9223372036854775808]", [(1 << 63) - 1, -(1 << 63)]),
            ("uint32", "[0, 4294967295]", [0, (1 << 32) - 1]),
            ("uint64", "[0, 18446744073709551615]", [0, (1 << 64) - 1]),
            ("bool", "[true, false]", [True, False]),
            ("string", '["a", "é", ""]', [b"a", "é".encode(), b""]),
        ],
    )
    def test_dtypes(self, dtype, values, expected):
        got = inputs(f'{{"instances": {values}}}', signature(("v", dtype)))["v"]
        assert_array(got, expected, "object" if dtype == "string" else dtype)

    def test_empty_elements(self):
        assert inputs('{"instances": [[], []]}')["x"].shape == (2, 0)
        assert inputs('{"instances": [[[]], [[]]]}')["x"].shape == (2, 1, 0)

    def test_empty_tensor_of_a_type_json_cannot_carry(self):
        assert_array(inputs('{"instances": [[], []]}', signature(("h", "float16")))["h"], [[], []], "float16")
        message = failure('{"instances": [[], []]}', signature(("b", "bfloat16")), Unimplemented)
        assert message == "Conversion of JSON Value: [] to type: bfloat16"  # numpy has no bfloat16

    def test_rank_is_limited_to_numpys(self):
        deepest = "[" * 64 + "1" + "]" * 64
        assert inputs(f'{{"inputs": {deepest}}}')["x"].shape == (1,) * 64
        too_deep = "[" * 65 + "1" + "]" * 65
        assert failure(f'{{"inputs": {too_deep}}}') == "Tensors of rank 65 are not supported (at most 64)"


class TestPredictColumns:
    def test_value(self):
        body = decode('{"inputs": [2.0, 3.0, 4.0]}')
        assert body.row_format is False
        assert_array(body.inputs["x"], [2.0, 3.0, 4.0], "float32")
        sig = signature(("int_tensor", "int32"))
        assert inputs('{"inputs": [[[1,2],[3,4],[5,6]]]}', sig)["int_tensor"].shape == (1, 3, 2)

    def test_scalars(self):
        assert_array(inputs('{"inputs": 5}')["x"], 5.0, "float32")
        assert_array(inputs('{"inputs": {"b64": "aGVsbG8="}}', signature(("s", "string")))["s"], b"hello", "object")

    def test_map_with_mixed_batch_sizes_and_extra_keys(self):
        sig = signature(("int_tensor", "int32"), ("str_tensor", "string"), ("bin_tensor", "string"))
        got = inputs(
            '{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"],'
            ' "bin_tensor": {"b64": "aGVsbG8="}, "unused": [1, 2, 3]}}',
            sig,
        )
        assert set(got) == {"int_tensor", "str_tensor", "bin_tensor"}
        assert got["int_tensor"].shape == (1, 3, 2)
        assert_array(got["str_tensor"], [b"foo", b"bar"], "object")
        assert_array(got["bin_tensor"], b"hello", "object")

    def test_one_input_given_as_a_map(self):
        assert_array(inputs('{"inputs": {"x": [1, 2], "other": 1}}')["x"], [1.0, 2.0], "float32")


class TestQuantizedInputs:
    sig = signature(("q", "int8"), quantization=Quantization(0.5, 0))

    def test_integers_go_in_raw(self):
        assert_array(inputs('{"instances": [[1, -2]]}', self.sig)["q"], [[1, -2]], "int8")

    def test_any_float_means_real_values_for_the_runtime(self):
        assert_array(inputs('{"instances": [[1, 0.5]]}', self.sig)["q"], [[1.0, 0.5]], "float32")
        assert_array(inputs('{"inputs": {"q": [0.25]}}', self.sig)["q"], [0.25], "float32")


# ------------------------------------------------------------------------------- predict: errors


class TestPredictErrors:
    def test_both_keys(self):
        assert failure('{"instances": [1], "inputs": [2]}') == (
            'JSON Value: {\n    "instances": [1],\n    "inputs": [2]\n} Not formatted correctly expecting only '
            "one of 'inputs' or 'instances' keys to exist "
        )

    def test_neither_key(self):
        assert failure('{"signature_name": "serving_default"}') == "Missing 'inputs' or 'instances' key"

    def test_instances_not_a_list_or_empty(self):
        assert failure('{"instances": 1}') == (
            "JSON Value: {\n    \"instances\": 1\n} Expecting 'instances' to be an list/array"
        )
        assert failure('{"instances": []}') == "JSON Value: {\n    \"instances\": []\n} No values in 'instances' array"

    def test_long_values_are_cut_after_256_bytes(self):
        body = json.dumps({"instances": list(range(100)), "inputs": 1})
        expected = '{\n    "instances": [' + ", ".join(map(str, range(62)))
        assert failure(body) == (
            f"JSON Value: {expected} Not formatted correctly expecting only one of 'inputs' or 'instances' keys "
            "to exist "
        )

    def test_values_are_shown_as_rapidjson_pretty_prints_them(self):
        body = (
            '{"inputs": {"x": [1], "q": [0.000001, -0.0, 12345678901234567890123.0, 1.5e-7, 100.0, 1e300,'
            ' "q\\"\\n\\u0001/é", true, null], "o": {}}, "instances": 1}'
        )
        shown = (
            '{\n    "inputs": {\n        "x": [1],\n        "q": [0.000001, -0.0, 1.2345678901234568e22, 1.5e-7,'
            ' 100.0, 1e300, "q\\"\\n\\u0001/é", true, null],\n        "o": {}\n    },\n    "instances": 1\n}'
        )
        assert failure(body) == (
            f"JSON Value: {shown} Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "
        )

    @pytest.mark.parametrize(
        ("instances", "message"),
        [
            ("[[1,2],[3,4],[5,6,7]]", row_error(2, "Expecting tensor size: 2 but got: 3")),
            ("[[1,2],[3,4],[[5,6]]]", row_error(2, "Expecting shape [2] but got: [1,2]")),
            ("[1, [1]]", row_error(1, "Expecting shape [] but got: [1]")),
            ("[[1], 1]", row_error(1, "Expecting shape [1] but got: []")),
            ("[[[1,2],[3]]]", row_error(0, "Encountered list at unexpected size: 1 at level: 1 expected size: 2")),
            (
                "[[[1,2],3]]",
                row_error(0, "JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2"),
            ),
            ("[[1, [2]]]", row_error(0, "Encountered list at unexpected level: 1 expected < 1")),
        ],
    )
    def test_ragged(self, instances, message):
        assert failure(f'{{"instances": {instances}}}') == message

    def test_ragged_columns(self):
        assert failure('{"inputs": [[1, 2], [3]]}') == (
            "Encountered list at unexpected size: 1 at level: 1 expected size: 2"
        )

    @pytest.mark.parametrize(
        ("dtype", "value", "text"),
        [
            ("float32", '"x"', 'JSON Value: "x" Type: String is not of expected type: float'),
            ("float64", "true", "JSON Value: true Type: True is not of expected type: double"),
            ("float32", "null", "JSON Value: null Type: Null is not of expected type: float"),
            ("float32", '{"a": 1}', 'JSON Value: {\n    "a": 1\n} Type: Object is not of expected type: float'),
            ("int32", "1.0", "JSON Value: 1.0 Type: Number is not of expected type: int32"),
            ("int32", "2147483648", "JSON Value: 2147483648 Type: Number is not of expected type: int32"),
            ("int8", "-2147483649", "JSON Value: -2147483649 Type: Number is not of expected type: int8"),
            (
                "int64",
                "9223372036854775808",
                "JSON Value: 9223372036854775808 Type: Number is not of expected type: int64",
            ),
            ("int64", "NaN", "JSON Value:  Type: Number is not of expected type: int64"),
            ("uint32", "-1", "JSON Value: -1 Type: Number is not of expected type: uint32"),
            (
                "uint64",
                "18446744073709551616",
                "JSON Value: 18446744073709552000.0 Type: Number is not of expected type: uint64",
            ),
            ("bool", "1", "JSON Value: 1 Type: Number is not of expected type: bool"),
            ("bool", '"true"', 'JSON Value: "true" Type: String is not of expected type: bool'),
            ("string", "1", "JSON Value: 1 Type: Number is not of expected type: string"),
            ("string", "false", "JSON Value: false Type: False is not of expected type: string"),
            (
                "string",
                '{"b64": "aGk=", "x": 1}',
                'JSON Value: {\n    "b64": "aGk=",\n    "x": 1\n} not formatted correctly for base64 data',
            ),
            ("string", '{"b64": 1}', 'JSON Value: {\n    "b64": 1\n} not formatted correctly for base64 data'),
            ("string", '{"b64": "!!"}', "Unable to base64 decode"),
        ],
    )
    def test_dtype_mismatch(self, dtype, value, text):
        sig = signature(("v", dtype))
        assert failure(f'{{"inputs": [{value}]}}', sig) == text
        assert failure(f'{{"instances": [[{value}]]}}', sig) == row_error(0, text)  # an object element names inputs

    @pytest.mark.parametrize("dtype", ["float16", "bfloat16", "uint16", "complex64", "complex128"])
    def test_dtypes_json_cannot_carry(self, dtype):
        name = {"float16": "half"}.get(dtype, dtype)
        sig = signature(("v", dtype))
        assert failure('{"inputs": [0]}', sig, Unimplemented) == f"Conversion of JSON Value: 0 to type: {name}"
        assert failure('{"instances": [0]}', sig) == row_error(
            0, f"Conversion of JSON Value: 0 to type: {name}", "UNIMPLEMENTED"
        )

    def test_string_into_int_in_a_later_row(self):
        assert failure('{"instances": [[1,2],["a", "b"]]}', signature(("default", "int32"))) == row_error(
            1, 'JSON Value: "a" Type: String is not of expected type: int32'
        )

    def test_mixed_objects_and_lists(self):
        sig = signature(("int_tensor", "int32"), ("str_tensor", "string"))
        body = """{"instances": [{"int_tensor": [[1,2]], "str_tensor": ["foo"]}, [1, 20, 30],
                                 {"int_tensor": [[7,8]], "str_tensor": ["baz"]}]}"""
        assert failure(body, sig) == "Expecting object but got list at item 1 of input list"
        sig = signature(("str_tensor", "string"))
        body = '{"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}'
        assert failure(body, sig) == "Expecting value/list but got object at item 1 of input list"

    def test_plain_values_for_several_inputs(self):
        sig = signature(("a", "int32"), ("b", "int32"))
        assert failure('{"instances": [1, 2]}', sig) == (
            "instances is a plain list, but expecting list of objects as multiple input tensors required as per "
            "tensorinfo_map"
        )
        assert failure('{"inputs": [1, 2]}', sig) == (
            "inputs is a plain value/list, but expecting an object as multiple input tensors required as per "
            "tensorinfo_map"
        )

    def test_row_object_keys_must_equal_the_inputs(self):
        sig = signature(("b", "int32"), ("a", "int32"))
        assert failure('{"instances": [{"a": 1, "b": 2}, {"a": 1}]}', sig) == (
            "Failed to process element: 1 of 'instances' list. JSON object: {\n    \"a\": 1\n} keys must be "
            "equal to: a,b"
        )
        assert failure('{"instances": [{"a": 1, "c": 2, "b": 3}]}', sig) == (
            "Failed to process element: 0 key: c of 'instances' list. Error: INVALID_ARGUMENT: "
            "JSON object: does not have named input: c"
        )

    def test_row_shapes_are_checked_per_name(self):
        sig = signature(("int_tensor", "int32"), ("str_tensor", "string"))
        body = """{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]},
                                 {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}"""
        assert failure(body, sig) == (
            "Failed to process element: 1 key: int_tensor of 'instances' list. Error: INVALID_ARGUMENT: "
            "Expecting shape [3,2] but got: [1,3,2]"
        )

    def test_missing_named_input(self):
        sig = signature(("x", "float32"), ("y", "float32"))
        assert failure('{"inputs": {"y": [1], "z": [2]}}', sig) == "Missing named input: x in 'inputs' object."

    def test_signature_without_inputs(self):
        empty = Signature.from_specs("nothing", [], [])
        assert failure('{"instances": [1]}', empty) == "Failed to get input map for signature: nothing"
