"""TF Serving REST JSON codec: TF Serving's json_tensor_test.cc and REST handler cases, exact messages and bytes."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from modelserve.errors import Code, FailedPrecondition, InvalidArgument, ServingError, Unimplemented
from modelserve.protocols.tf_example import Feature, encode_example
from modelserve.protocols.tfs_json import (
    decode_classify_regress,
    decode_predict,
    encode_classify,
    encode_predict,
    encode_regress,
    parse_json,
    signature_name_of,
)
from modelserve.types import Quantization, Signature, TensorSpec

FLOAT_X = Signature.from_specs("serving_default", [TensorSpec("x", "float32", (-1,))], [])


def signature(*inputs: tuple[str, str], quantization: Quantization | None = None) -> Signature:
    specs = [TensorSpec(name, dtype, None, quantization=quantization) for name, dtype in inputs]
    return Signature.from_specs("serving_default", specs, [])


def decode(body: bytes | str, sig: Signature = FLOAT_X):
    doc = parse_json(body.encode() if isinstance(body, str) else body)
    signature_name_of(doc)
    return decode_predict(doc, sig)


def inputs(body: bytes | str, sig: Signature = FLOAT_X) -> dict[str, np.ndarray]:
    return decode(body, sig).inputs


def failure(body: bytes | str, sig: Signature = FLOAT_X, kind: type[ServingError] = InvalidArgument) -> str:
    with pytest.raises(kind) as info:
        decode(body, sig)
    return info.value.message


def assert_array(actual: np.ndarray, expected: list | float, dtype: str) -> None:
    want = np.array(expected, dtype=object if dtype == "object" else dtype)
    assert actual.dtype == want.dtype
    assert actual.shape == want.shape
    assert actual.tolist() == want.tolist()


def row_error(index: int, message: str, code: str = "INVALID_ARGUMENT") -> str:
    return f"Failed to process element: {index} of 'instances' list. Error: {code}: {message}"


# ----------------------------------------------------------------------------------------- parsing


class TestParseJson:
    def test_empty_body(self):
        with pytest.raises(InvalidArgument, match=r"^JSON Parse error: The document is empty$"):
            parse_json(b"")

    def test_whitespace_only_body(self):
        with pytest.raises(InvalidArgument) as info:
            parse_json(b" \n ")
        assert info.value.message == "JSON Parse error: The document is empty. at offset: 3"

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"instances = [1, 2]", "Invalid value. at offset: 0"),
            (b'{"a": [1,]}', "Invalid value. at offset: 9"),
            (b'{"a": 1,}', "Missing a name for object member. at offset: 8"),
            (b'{"a" 1}', "Missing a colon after a name of object member. at offset: 5"),
            (b'{"a": [1 2]}', "Missing a comma or ']' after an array element. at offset: 9"),
            (b'{"a": [1, 2} ', "Missing a comma or ']' after an array element. at offset: 11"),
            (b'{"a": "[" 1}', "Missing a comma or '}' after an object member. at offset: 10"),
            (b'{"a": [[1], {"b": 2}] "c"}', "Missing a comma or '}' after an object member. at offset: 22"),
            (b'{"a": "x', "Missing a closing quotation mark in string. at offset: 6"),
            (b'{"a": "\\q"}', "Invalid escape character in string. at offset: 7"),
            (b'{"a": 1e400}', "Number too big to be stored in double."),
        ],
    )
    def test_malformed(self, body, message):
        with pytest.raises(InvalidArgument) as info:
            parse_json(body)
        assert info.value.message == f"JSON Parse error: {message}"

    def test_nan_and_infinities(self):
        doc = parse_json(b'{"a": [NaN, Infinity, -Infinity, 1]}')
        assert math.isnan(doc["a"][0])
        assert doc["a"][1:] == [math.inf, -math.inf, 1]

    def test_parsing_stops_after_the_first_value(self):
        assert parse_json(b'{"instances": [1]}X') == {"instances": [1]}
        assert parse_json(b'{"instances": [2]} trailing [garbage')["instances"] == [2]
        assert parse_json(b'  {"a": 1} {"b": 2}') == {"a": 1}

    def test_byte_order_mark_is_skipped(self):
        assert parse_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}

    def test_integer_classes_follow_rapidjson(self):
        doc = parse_json(b'{"a": [18446744073709551615, 18446744073709551616, -9223372036854775809, -0]}')
        assert doc["a"][0] == (1 << 64) - 1 and type(doc["a"][0]) is int
        assert doc["a"][1:3] == [float(1 << 64), -float(1 << 63)] and type(doc["a"][1]) is float
        doc = parse_json(b'{"a": [18446744073709551616, NaN]}')
        assert type(doc["a"][0]) is float

    def test_bytes_that_are_not_utf8_are_kept_in_strings(self):
        assert inputs(b'{"instances": ["\xff\xfe"]}', signature(("s", "string")))["s"].tolist() == [b"\xff\xfe"]

    def test_lone_surrogate_escapes_are_refused(self):
        message = "JSON Parse error: The surrogate pair in string is invalid."
        assert failure(b'{"instances": ["\\ud800"]}', signature(("s", "string"))) == message

    def test_deep_nesting_is_refused_cleanly(self):
        body = b'{"instances": [1], "nested": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        with pytest.raises(InvalidArgument, match=r"^JSON Parse error: "):
            parse_json(body)


# --------------------------------------------------------------------------------- signature name


class TestSignatureName:
    def test_default_and_given(self):
        assert signature_name_of({}) == "serving_default"
        assert signature_name_of({"signature_name": ""}) == "serving_default"
        assert signature_name_of({"signature_name": "predict_images"}) == "predict_images"

    def test_not_a_string(self):
        with pytest.raises(InvalidArgument) as info:
            signature_name_of(parse_json(b'{ "signature_name": 100 }'))
        assert info.value.message == (
            'JSON Value: {\n    "signature_name": 100\n} not formatted correctly. '
            "'signature_name' key must be a string value."
        )

    @pytest.mark.parametrize(
        ("body", "text"),
        [(b"[1, 2.5, null]", "[1, 2.5, null]"), (b' "x"', '"x"'), (b"7 {}", "7"), (b"[]", "[]"), (b"true", "true")],
    )
    def test_body_must_be_an_object(self, body, text):
        with pytest.raises(InvalidArgument) as info:
            signature_name_of(parse_json(body))
        assert info.value.message == f"JSON Value: {text} Is not object"


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


def f32_from_decimal(text: str) -> np.float32:
    """Correctly rounded decimal -> float32 (what absl::SimpleAtof does), by exact rational arithmetic."""
    exact = Fraction(text)
    guess = np.float32(float(exact))
    neighbours = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    finite = [n for n in neighbours if np.isfinite(n)]
    return min(finite, key=lambda n: (abs(Fraction(float(n)) - exact), int(n.view(np.uint32)) & 1))


def reference_token(value: np.floating) -> str:
    """TF's WriteDecimal, element by element."""
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = f"{float(value):g}"
    reads_back = f32_from_decimal(text) if value.dtype == np.float32 else np.float64(float(text))
    if reads_back != value:
        text = f"{float(value):.9g}" if value.dtype == np.float32 else f"{float(value):.17g}"
    return text if "." in text or "e" in text else text + ".0"


SPECIAL_FLOATS = [0, -0.0, 1, 2**24, 2**24 + 2, 2**53, 999999.5, 999999.4, 1e6, 0.1, 0.3, 100000.5, 123456.5, 5e-5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_formatting_matches_a_value_by_value_reference(dtype):
    rng = np.random.default_rng(7)
    info = np.finfo(dtype)
    samples = [
        rng.random(2000).astype(dtype),
        (rng.integers(-(10**7), 10**7, 2000) / rng.choice([1, 2, 4, 8, 10, 100, 1000], 2000)).astype(dtype),
        (10.0 ** rng.uniform(np.log10(info.tiny) - 6, np.log10(info.max), 4000)).astype(dtype),
        (10.0 ** rng.integers(int(np.log10(info.tiny)) - 6, int(np.log10(info.max)) + 1, 400)).astype(dtype),
        np.array([*SPECIAL_FLOATS, info.max, info.tiny, info.smallest_subnormal, np.nan, np.inf, -np.inf], dtype),
    ]
    values = np.concatenate(samples)
    with np.errstate(over="ignore"):
        values = np.concatenate([values, -values, np.nextafter(values, dtype(np.inf))])
    tokens = encode_predict({"v": values}, False).decode()[len('{"outputs":[') : -2].split(",")
    expected = [reference_token(value) for value in values]
    assert tokens == expected
    # small outputs take the one-value-at-a-time path: the same text
    small = []
    for start in range(0, len(values), 16):
        small += encode_predict({"v": values[start : start + 16]}, False).decode()[len('{"outputs":[') : -2].split(",")
    assert small == expected


# -------------------------------------------------------------------------------- classify / regress


def examples(body: str) -> list[bytes]:
    doc = parse_json(body.encode())
    signature_name_of(doc)
    return decode_classify_regress(doc)


def examples_failure(body: str) -> str:
    with pytest.raises(InvalidArgument) as info:
        examples(body)
    return info.value.message


class TestClassifyRegressRequests:
    def test_features(self):
        got = examples(
            '{"signature_name": "classify_x_to_y", "examples": [{"x": 80.0, "n": 3, "s": "foo", "b": {"b64": "aGk="},'
            ' "list": [1, true, false], "f": [NaN, Infinity, -Infinity, 1e39], "e": [], "u": "é"}]}'
        )
        assert got == [
            encode_example(
                {
                    "x": Feature("float", [80.0]),
                    "n": Feature("int64", [3]),
                    "s": Feature("bytes", [b"foo"]),
                    "b": Feature("bytes", [b"hi"]),
                    "list": Feature("int64", [1, 1, 0]),
                    "f": Feature("float", [math.nan, math.inf, -math.inf, 1e39]),
                    "e": Feature(None),
                    "u": Feature("bytes", ["é".encode()]),
                }
            )
        ]

    def test_several_examples_without_context(self):
        got = examples('{"examples": [{"x": 1}, {}, {"x": [-9223372036854775808]}]}')
        assert got == [
            encode_example({"x": Feature("int64", [1])}),
            b"",
            encode_example({"x": Feature("int64", [-(1 << 63)])}),
        ]

    def test_context_is_prepended_to_every_example(self):
        context = encode_example({"c": Feature("bytes", [b"ctx"]), "x": Feature("int64", [0])})
        got = examples('{"context": {"c": "ctx", "x": 0}, "examples": [{"x": 1}, {"y": 2.5}]}')
        assert got == [
            context + encode_example({"x": Feature("int64", [1])}),
            context + encode_example({"y": Feature("float", [2.5])}),
        ]
        assert examples('{"context": {}, "examples": [{"x": 1}]}') == [encode_example({"x": Feature("int64", [1])})]

    @pytest.mark.parametrize(
        ("example", "message"),
        [
            ('{"names": null}', "Feature: names has element with unexpected JSON type: Null"),
            ('{"names": [1, null]}', "Feature: names has element with unexpected JSON type: Null"),
            ('{"names": [[1]]}', "Feature: names has element with unexpected JSON type: Array"),
            ('{"names": {"a": 1}}', "Feature: names has element with unexpected JSON type: Object"),
            ('{"names": [10, 10.0]}', "Unexpected element type in feature: names expecting type: int64"),
            ('{"names": [10.0, 10]}', "Unexpected element type in feature: names expecting type: float"),
            ('{"names": ["a", true]}', "Unexpected element type in feature: names expecting type: bytes"),
            ('{"names": [1.5, {"b64": "!"}]}', "Unexpected element type in feature: names expecting type: float"),
            ('{"names": [{"b64": "!"}]}', "Unable to base64 decode"),
            ('{"names": 18446744073709551615}', "Feature: names has uint64_t element. Only int64_t is supported."),
        ],
    )
    def test_feature_errors(self, example, message):
        assert examples_failure(f'{{"examples": [{example}]}}') == message

    def test_feature_names_keep_their_bytes(self):
        [example] = decode_classify_regress(parse_json(b'{"examples": [{"\xff": 1}], "not UTF-8 either": NaN}'))
        assert example == bytes.fromhex("0a0c 0a0a 0a01ff 1205 1a030a0101")  # the name is the raw byte 0xff
        message = "JSON Parse error: The surrogate pair in string is invalid."
        assert examples_failure('{"examples": [{"\\ud800": 1}]}') == message

    def test_above_uint64_is_a_float(self):
        assert examples('{"examples": [{"x": 18446744073709551616}]}') == [
            encode_example({"x": Feature("float", [float(1 << 64)])})
        ]

    def test_examples_errors(self):
        assert examples_failure('{"signature_name": "s"}') == (
            'JSON Value: {\n    "signature_name": "s"\n} When method is classify, key \'examples\' is expected '
            "and was not found"
        )
        assert examples_failure('{"examples": {"x": 1}}') == (
            'JSON Value: {\n    "examples": {\n        "x": 1\n    }\n} Expecting \'examples\' value to be an '
            "list/array"
        )
        assert (
            examples_failure('{"examples": []}')
            == "JSON Value: {\n    \"examples\": []\n} 'examples' value is an empty array"
        )
        assert examples_failure('{"examples": [[1]]}') == "Example must be JSON object but got JSON Array"
        assert examples_failure('{"examples": [1]}') == "Example must be JSON object but got JSON Number"
        assert (
            examples_failure('{"context": "c", "examples": [{}]}') == "Example must be JSON object but got JSON String"
        )

    def test_context_errors_come_first(self):
        assert examples_failure('{"context": {"a": null}}') == "Feature: a has element with unexpected JSON type: Null"


class TestClassifyRegressResponses:
    def test_regress(self):
        assert encode_regress({"outputs": np.array([[42.0]], np.float32)}, 1) == b'{"results":[42.0]}'
        assert encode_regress({"outputs": np.array([0.5, 9e6, np.nan], np.float32)}, 3) == (
            b'{"results":[0.5,9e+06,NaN]}'
        )

    def test_classify_scores_only_has_empty_labels(self):
        assert encode_classify({"scores": np.array([[12.0]], np.float32)}, 1) == b'{"results":[[["",12.0]]]}'

    def test_classify_classes_and_scores(self):
        outputs = {
            "classes": np.array([[b"a", b"b"], [b"c", b'"d"']], object),
            "scores": np.array([[0.25, 0.75], [1, 0]], np.float32),
            "ignored": np.array([1, 2]),
        }
        assert encode_classify(outputs, 2) == (b'{"results":[[["a",0.25],["b",0.75]],[["c",1.0],["\\"d\\"",0.0]]]}')
        classes_only = {"classes": np.array([[b"a"], [b"b"]], object)}
        assert encode_classify(classes_only, 2) == b'{"results":[[["a",0.0]],[["b",0.0]]]}'
        assert encode_classify({}, 2) == b'{"results":[[],[]]}'

    @pytest.mark.parametrize(
        ("outputs", "message"),
        [
            ({"scores": np.zeros(2, np.float32)}, "Expected Tensor shape: [batch_size num_classes] but got [2]"),
            (
                {"classes": np.zeros((2, 1, 1), object)},
                "Expected Tensor shape: [batch_size num_classes] but got [2,1,1]",
            ),
            ({"scores": np.zeros((2, 1))}, "Expected scores Tensor of DT_FLOAT. Got: DT_DOUBLE"),
            ({"classes": np.zeros((2, 1), np.int64)}, "Expected classes Tensor of DT_STRING. Got: DT_INT64"),
            ({"scores": np.zeros((1, 1), np.float32)}, "Expected scores output batch size of 2. Got: 1"),
            (
                {"classes": np.zeros((2, 2), object), "scores": np.zeros((2, 3), np.float32)},
                "Tensors class and score should match in dim_size(1). Got 2 vs. 3",
            ),
        ],
    )
    def test_classify_errors(self, outputs, message):
        with pytest.raises(InvalidArgument) as info:
            encode_classify(outputs, 2)
        assert info.value.message == message

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            (
                np.zeros((2, 2), np.float32),
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [2,2]",
            ),
            (
                np.zeros((), np.float32),
                "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got []",
            ),
            (np.zeros(3, np.float32), "Input batch size did not match output batch size: 2 vs. 3"),
            (np.zeros(2, np.float64), "Expected output Tensor of DT_FLOAT.  Got: DT_DOUBLE"),
        ],
    )
    def test_regress_errors(self, values, message):
        with pytest.raises(InvalidArgument) as info:
            encode_regress({"outputs": values}, 2)
        assert info.value.message == message

    def test_no_examples(self):
        with pytest.raises(InvalidArgument, match=r"^Cannot convert empty ClassificationResults to JSON$"):
            encode_classify({"scores": np.zeros((0, 1), np.float32)}, 0)
        with pytest.raises(InvalidArgument, match=r"^Cannot convert empty RegressionResults to JSON$"):
            encode_regress({"outputs": np.zeros(0, np.float32)}, 0)

    def test_regress_needs_an_outputs_output(self):
        with pytest.raises(FailedPrecondition) as info:
            encode_regress({"scores": np.zeros(1, np.float32)}, 1)
        assert info.value.code is Code.FAILED_PRECONDITION
