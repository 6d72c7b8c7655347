"""Serialized ``tf.train.Example`` protos without TensorFlow: the protobuf wire encoding, written by hand.

The messages (``tensorflow/core/example/{example,feature}.proto``)::

    Example   { Features features = 1; }
    Features  { map<string, Feature> feature = 1; }
    Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }
    FloatList { repeated float value = 1 [packed = true]; }
    Int64List { repeated int64 value = 1 [packed = true]; }

Protobuf merges concatenated messages, map entries by key with the later one winning. TensorFlow Serving relies
on this for ``ExampleListWithContext``: each model input is ``encode_example(context) + encode_example(example)``,
which parses as the context's features plus the example's, the example's winning on a shared name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

FeatureKind = Literal["bytes", "float", "int64"]

# Field number of each value list inside ``Feature``.
_KIND_FIELD = {"bytes": 1, "float": 2, "int64": 3}
_UINT64_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Feature:
    """One feature of an Example: a kind and its values.

    ``bytes`` takes ``bytes``; ``float`` takes Python floats, stored as float32 (rounded to nearest, ±inf past
    float32's range, NaN kept); ``int64`` takes ints in the int64 range. ``kind=None`` (with no values) is a
    ``Feature`` whose ``kind`` oneof is unset, which is what TensorFlow Serving builds for a JSON ``[]``.
    """

    kind: FeatureKind | None
    values: Sequence[bytes] | Sequence[float] | Sequence[int] = ()


def encode_example(features: Mapping[str, Feature]) -> bytes:
    """The serialized ``tf.train.Example`` holding ``features`` (``b""`` when there are none).

    Map entries are written in ``features``' order, each with both its key and its value, as protobuf's C++
    serializer does. Names are UTF-8; U+DC80..U+DCFF (Python's ``surrogateescape`` stand-ins for bytes that
    were not UTF-8) are written as those bytes.
    """
    if not features:
        return b""
    entries = b"".join(
        _field(1, _field(1, name.encode("utf-8", "surrogateescape")) + _field(2, _encode_feature(feature)))
        for name, feature in features.items()
    )
    return _field(1, entries)


def _encode_feature(feature: Feature) -> bytes:
    if feature.kind is None:
        return b""
    if feature.kind == "bytes":
        payload = b"".join(_field(1, value) for value in feature.values)
    elif feature.kind == "float":
        with np.errstate(over="ignore"):
            packed = np.asarray(feature.values, dtype=np.float64).astype("<f4").tobytes()
        payload = _field(1, packed) if packed else b""
    else:
        packed = b"".join(_varint(value & _UINT64_MASK) for value in feature.values)
        payload = _field(1, packed) if packed else b""
    return _field(_KIND_FIELD[feature.kind], payload)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): tag, length, payload."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    """Base-128 varint of a non-negative int (int64 negatives arrive as their two's complement)."""
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def serialized_examples(model_input: Any) -> list[bytes]:
    """The serialized tf.Examples of a ``tensorflow.serving.Input`` (Classify, Regress, MultiInference); with
    a context, context bytes + example bytes (a protobuf merge, so the example wins on shared features).

    Raises InvalidArgument("Input is empty") when there are none, as TF Serving does."""
    from modelserve.errors import InvalidArgument

    kind = model_input.WhichOneof("kind")
    if kind == "example_list":
        serialized = [e.SerializeToString() for e in model_input.example_list.examples]
    elif kind == "example_list_with_context":
        context = model_input.example_list_with_context.context.SerializeToString()
        serialized = [context + e.SerializeToString() for e in model_input.example_list_with_context.examples]
    else:
        serialized = []
    if not serialized:
        raise InvalidArgument("Input is empty")
    return serialized
