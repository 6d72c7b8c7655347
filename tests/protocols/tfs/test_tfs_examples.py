"""TF Serving REST classify and regress bodies: TF Serving's REST handler and classifier/regressor cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelserve.errors import Code, FailedPrecondition, InvalidArgument
from modelserve.protocols.tfs.examples import decode_classify_regress, encode_classify, encode_regress
from modelserve.protocols.tfs.json_parse import parse_json, signature_name_of
from modelserve.protocols.tfs.tf_example import Feature, encode_example

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
