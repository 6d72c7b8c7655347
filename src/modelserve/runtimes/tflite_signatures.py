"""SignatureDefs embedded in a ``.tflite`` file, as TF Serving reads them.

TensorFlow's ``signature_def_util`` stores a SavedModel's SignatureDef map in the flatbuffer's metadata
entry ``signature_defs_metadata``: a FlexBuffer map from signature key to the serialized
``tensorflow.SignatureDef`` proto. TF Serving serves a TFLite model through those signatures (aliases
such as ``x`` for the tensor ``tflite_input:0``) when they are there. This module reads them with the
flatbuffer schema and FlexBuffer reader that LiteRT itself ships (no TensorFlow needed), and decodes the
few SignatureDef fields it needs straight from the protobuf wire format.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelserve.errors import ModelLoadError

METADATA_NAME = "signature_defs_metadata"


@dataclass(frozen=True)
class EmbeddedSignature:
    """One SignatureDef: aliases to tensor names (``:0`` left out, as LiteRT names tensors)."""

    key: str
    method_name: str
    inputs: dict[str, str]
    outputs: dict[str, str]


def embedded_signatures(model_content: bytes) -> dict[str, EmbeddedSignature]:
    """The SignatureDefs stored in the model's metadata, in file order; ``{}`` when it has none."""
    from ai_edge_litert import schema_py_generated as schema

    try:
        model = schema.Model.GetRootAs(model_content, 0)
        for i in range(model.MetadataLength()):
            metadata = model.Metadata(i)
            if metadata.Name() == METADATA_NAME.encode():
                buffer = model.Buffers(metadata.Buffer())
                return _read_map(buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b"")
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"unreadable {METADATA_NAME} in the TFLite file: {exc}") from None
    return {}


def _read_map(data: bytes) -> dict[str, EmbeddedSignature]:
    from flatbuffers import flexbuffers

    if not data:
        return {}
    root = flexbuffers.GetRoot(bytearray(data)).AsMap
    signatures = {}
    for key_ref, value_ref in zip(root.Keys, root.Values):
        key = key_ref.AsKey
        signatures[key] = _signature_def(key, _string_bytes(flexbuffers, value_ref))
    return signatures


def _string_bytes(flexbuffers: object, ref: object) -> bytes:
    """A FlexBuffer string's raw bytes (a serialized proto need not be UTF-8, which ``AsString`` demands)."""
    try:
        return bytes(flexbuffers.String(ref._Indirect(), ref._byte_width).Bytes)  # type: ignore[attr-defined]
    except AttributeError:  # the reader's internals changed: fall back to the public, UTF-8 decoding accessor
        return ref.AsString.encode("utf-8")  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------ protobuf wire format
# SignatureDef: 1 inputs (map<string, TensorInfo>), 2 outputs (same), 3 method_name.
# A map entry: 1 key, 2 value. TensorInfo: 1 name (the tensor's name).


def _signature_def(key: str, data: bytes) -> EmbeddedSignature:
    inputs: dict[str, str] = {}
    outputs: dict[str, str] = {}
    method = ""
    for number, value in _fields(data):
        if number in (1, 2) and isinstance(value, bytes):
            alias, tensor = _map_entry(value)
            (inputs if number == 1 else outputs)[alias] = tensor.split(":", 1)[0]
        elif number == 3 and isinstance(value, bytes):
            method = value.decode("utf-8")
    return EmbeddedSignature(key, method, inputs, outputs)


def _map_entry(data: bytes) -> tuple[str, str]:
    alias, tensor = "", ""
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            alias = value.decode("utf-8")
        elif number == 2 and isinstance(value, bytes):
            for inner_number, inner in _fields(value):
                if inner_number == 1 and isinstance(inner, bytes):
                    tensor = inner.decode("utf-8")
    return alias, tensor


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """``(field number, value)`` pairs: varints as ints, length-delimited fields as bytes."""
    fields: list[tuple[int, int | bytes]] = []
    position = 0
    while position < len(data):
        tag, position = _varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            fields.append((number, value))
        elif wire_type == 2:
            size, position = _varint(data, position)
            if position + size > len(data):
                raise ValueError("a field runs past the end of the SignatureDef")
            fields.append((number, data[position : position + size]))
            position += size
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
        else:
            raise ValueError(f"unexpected protobuf wire type {wire_type}")
    return fields


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data):
            raise ValueError("a varint runs past the end of the SignatureDef")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
