"""TF Serving REST JSON parsing and the signature name: rapidjson's reading and error texts, exact messages."""

from __future__ import annotations

import math

import pytest
from tfs_helpers import failure, inputs, signature

from modelserve.errors import InvalidArgument
from modelserve.protocols.tfs.json_parse import parse_json, signature_name_of

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
