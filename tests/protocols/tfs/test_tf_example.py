"""Hand-written tf.train.Example encoding, checked by parsing it with the real TensorFlow protos."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelserve.protocols.tfs.tf_example import Feature, encode_example

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def parse(tf, data: bytes):
    return tf.train.Example.FromString(data)


def test_bytes_float_and_int64_features_parse_back(tf):
    data = encode_example(
        {
            "names": Feature("bytes", [b"foo", b"", b"\x00\xff"]),
            "scores": Feature("float", [1.5, -0.25, 3.0]),
            "ids": Feature("int64", [0, 1, 127, 128, 300, INT64_MAX]),
        }
    )
    feature = parse(tf, data).features.feature
    assert list(feature["names"].bytes_list.value) == [b"foo", b"", b"\x00\xff"]
    assert list(feature["scores"].float_list.value) == [1.5, -0.25, 3.0]
    assert list(feature["ids"].int64_list.value) == [0, 1, 127, 128, 300, INT64_MAX]


def test_negative_int64_are_ten_byte_varints(tf):
    values = [-1, -2, -300, INT64_MIN]
    data = encode_example({"n": Feature("int64", values)})
    assert list(parse(tf, data).features.feature["n"].int64_list.value) == values
    assert encode_example({"n": Feature("int64", [-1])}).endswith(b"\xff" * 9 + b"\x01")


def test_floats_are_float32_with_nan_and_infinities(tf):
    values = [0.1, math.nan, math.inf, -math.inf, 1e39, -1e39, 1e-46, 1435774380.0]
    got = list(parse(tf, encode_example({"f": Feature("float", values)})).features.feature["f"].float_list.value)
    assert got[0] == float(np.float32(0.1))
    assert math.isnan(got[1])
    assert got[2:] == [math.inf, -math.inf, math.inf, -math.inf, 0.0, 1435774336.0]


@pytest.mark.parametrize("kind", ["bytes", "float", "int64"])
def test_empty_value_lists_keep_their_kind(tf, kind):
    feature = parse(tf, encode_example({"e": Feature(kind, [])})).features.feature["e"]
    assert feature.WhichOneof("kind") == f"{kind}_list"


def test_a_feature_without_kind(tf):
    example = parse(tf, encode_example({"e": Feature(None)}))
    assert "e" in example.features.feature
    assert example.features.feature["e"].WhichOneof("kind") is None


def test_no_features_is_the_empty_message(tf):
    assert encode_example({}) == b""
    assert parse(tf, b"") == tf.train.Example()


def test_unicode_and_empty_keys(tf):
    data = encode_example(
        {"größe": Feature("int64", [1]), "名前": Feature("bytes", ["値".encode()]), "": Feature(None)}
    )
    feature = parse(tf, data).features.feature
    assert feature["größe"].int64_list.value == [1]
    assert feature["名前"].bytes_list.value == ["値".encode()]
    assert "" in feature


def test_matches_protobuf_serialization_byte_for_byte(tf):
    features = {"a": Feature("int64", [1, -1]), "b": Feature("float", [2.5]), "c": Feature("bytes", [b"xy"])}
    for name, feature in features.items():
        expected = tf.train.Example()
        target = expected.features.feature[name]
        if feature.kind == "bytes":
            target.bytes_list.value.extend(feature.values)
        elif feature.kind == "float":
            target.float_list.value.extend(feature.values)
        else:
            target.int64_list.value.extend(feature.values)
        assert encode_example({name: feature}) == expected.SerializeToString()


def test_golden_bytes():
    # Example{features{feature{key:"a" value{int64_list{value:1}}}}}
    assert encode_example({"a": Feature("int64", [1])}) == bytes.fromhex("0a0c0a0a0a016112051a030a0101")


def test_concatenation_merges_context_and_example_with_example_winning(tf):
    context = encode_example(
        {
            "shared": Feature("int64", [1, 2]),
            "only_context": Feature("bytes", [b"ctx"]),
            "kind": Feature("float", [1.0]),
        }
    )
    example = encode_example(
        {"shared": Feature("int64", [7]), "only_example": Feature("float", [0.5]), "kind": Feature("bytes", [b"now"])}
    )
    feature = parse(tf, context + example).features.feature
    assert set(feature) == {"shared", "only_context", "only_example", "kind"}
    assert list(feature["shared"].int64_list.value) == [7]
    assert list(feature["only_context"].bytes_list.value) == [b"ctx"]
    assert list(feature["only_example"].float_list.value) == [0.5]
    assert feature["kind"].WhichOneof("kind") == "bytes_list"
    assert list(feature["kind"].bytes_list.value) == [b"now"]


def test_long_values_use_multi_byte_lengths(tf):
    blob = bytes(range(256)) * 100
    many = list(range(-5000, 5000))
    data = encode_example({"blob": Feature("bytes", [blob]), "many": Feature("int64", many)})
    feature = parse(tf, data).features.feature
    assert feature["blob"].bytes_list.value == [blob]
    assert list(feature["many"].int64_list.value) == many
