"""The entry format: every payload form decodes, and through the serving core's input gate becomes the
signature's arrays; results and dead letters encode."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest

from modelserve.errors import InvalidArgument, NotFound
from modelserve.serving.inputs import admit
from modelserve.streaming.messages import dead_letter_fields, decode_entry, encode_npz, result_fields
from modelserve.types import Signature, TensorSpec

PAIR = Signature.from_specs(
    "serving_default",
    [TensorSpec("x", "float32", (-1, 3)), TensorSpec("tag", "string", (-1,))],
    [TensorSpec("y", "float32", (-1, 3)), TensorSpec("tag_out", "string", (-1,))],
)
SINGLE = Signature.from_specs("single", [TensorSpec("x", "float32", (-1, 3))], [TensorSpec("y", "float32", (-1, 3))])
SIGNATURES = {s.name: s for s in (PAIR, SINGLE)}


def signature_of(name: str) -> Signature:
    if name not in SIGNATURES:
        raise NotFound(f"signature {name!r} not found")
    return SIGNATURES[name]


def decode(fields: dict, default: str = "serving_default", strict: bool = True):
    """Decode an entry and admit its inputs as ``ModelService.infer`` does for the worker."""
    request = decode_entry({k.encode(): v for k, v in fields.items()}, signature_of, default)
    inputs = admit(signature_of(request.signature), request.inputs, request.rules, strict)
    return dataclasses.replace(request, inputs=inputs)


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_tf_serving_rows_decode_with_the_signature_dtypes_and_keep_the_key():
    body = {"instances": [{"x": [1, 2, 3], "tag": "a"}, {"x": [4.5, 5, 6], "tag": "b"}]}
    request = decode({"request": json.dumps(body).encode(), "key": b"order-17", "trace": b"ignored"})
    assert (request.form, request.signature, request.key) == ("instances", "serving_default", b"order-17")
    assert request.inputs["x"].dtype == np.float32
    np.testing.assert_array_equal(request.inputs["x"], [[1, 2, 3], [4.5, 5, 6]])
    assert request.inputs["tag"].tolist() == [b"a", b"b"]


def test_tf_serving_columns_and_signature_choice():
    request = decode({"request": b'{"signature_name": "single", "inputs": [[1, 2, 3]]}'})
    assert (request.form, request.signature) == ("inputs", "single")
    assert decode({"request": b'{"inputs": [[1, 2, 3]]}', "signature": b"single"}).signature == "single"
    assert decode({"request": b'{"inputs": [[1, 2, 3]]}'}, default="single").signature == "single"
    assert (
        decode({"request": b'{"signature_name": "single", "inputs": [[1, 2, 3]]}'}, default="x").signature == "single"
    )
    with pytest.raises(InvalidArgument, match="disagrees"):
        decode({"request": b'{"signature_name": "serving_default", "inputs": [[1, 2, 3]]}', "signature": b"single"})
    with pytest.raises(NotFound):
        decode({"request": b'{"inputs": [[1, 2, 3]]}', "signature": b"nope"})


def test_v2_requests_are_recognised_and_their_datatypes_checked_strictly():
    body = {
        "id": "r1",
        "inputs": [
            {"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "tag", "shape": [1], "datatype": "BYTES", "data": ["a"]},
        ],
    }
    request = decode({"request": json.dumps(body).encode()})
    assert request.form == "v2" and request.v2 is not None and request.v2.id == "r1"
    np.testing.assert_array_equal(request.inputs["x"], [[1, 2, 3]])
    body["inputs"][0]["datatype"] = "FP64"
    with pytest.raises(InvalidArgument, match="FP64"):
        decode({"request": json.dumps(body).encode()})


def test_npy_for_one_input_and_npz_for_several():
    request = decode({"npy": npy(np.ones((2, 3), np.float64))}, default="single")
    assert request.form == "npy" and request.inputs["x"].dtype == np.float32 and request.inputs["x"].shape == (2, 3)
    with pytest.raises(InvalidArgument, match="send them in an 'npz' field"):
        decode({"npy": npy(np.ones((2, 3), np.float32))})
    buffer = io.BytesIO()
    np.savez(buffer, x=np.zeros((1, 3), np.float32), tag=np.array([b"t"]))
    request = decode({"npz": buffer.getvalue()})
    assert request.form == "npz" and request.inputs["tag"].tolist() == [b"t"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"key": b"k"}, "entry has no payload: expected one field of request, npy, npz; got fields: key"),
        ({"request": b"{}", "npy": b""}, "several payloads"),
        ({"request": b"{nope"}, "JSON Parse error"),
        ({"request": b'{"instances": [[1, 2]]}', "signature": b"single"}, "expects float32 [-1, 3], got float32"),
        ({"npy": b"not an array", "signature": b"single"}, "field 'npy' is not a .npy array"),
        ({"npz": b"PK junk"}, "field 'npz' is not an .npz archive"),
        ({"npz": npy(np.zeros((1, 3)))}, "single array"),
        ({"npy": npy(np.array([{"a": 1}], dtype=object)), "signature": b"single"}, "pickled"),
        ({"request": b'{"inputs": [[1, 2, 3]]}', "signature": b"\xff"}, "not UTF-8"),
    ],
)
def test_undecodable_entries_say_what_is_wrong(fields: dict, message: str):
    with pytest.raises(InvalidArgument) as caught:
        decode(fields)
    assert message in caught.value.message


def test_tensorflow_leniency_is_the_gate_s_own():
    """Rank 2 or less: TensorFlow graphs take any shape (TF Serving's rule); strict runtimes the declared one."""
    request = decode({"request": b'{"instances": [1, 2, 3]}', "signature": b"single"}, strict=False)
    assert request.inputs["x"].shape == (3,)
    assert decode({"request": b'{"instances": [[1, 2]]}', "signature": b"single"}, strict=False).inputs["x"].shape == (
        1,
        2,
    )
    with pytest.raises(InvalidArgument, match=r"expects float32 \[-1, 3\], got float32 \[1, 2\]"):
        decode({"request": b'{"instances": [[1, 2]]}', "signature": b"single"}, strict=True)


def test_results_mirror_the_request_form():
    outputs = {"y": np.array([[2.0, 4.0, 6.0]], np.float32), "tag_out": np.array([b"a"], dtype=object)}
    rows = decode({"request": b'{"instances": [{"x": [1, 2, 3], "tag": "a"}]}', "key": b"k1"})
    fields = result_fields(rows, outputs, b"5-0", "pair", 3, "w1")
    assert {k: v for k, v in fields.items() if k != "response"} == {
        "id": b"5-0", "key": b"k1", "model": b"pair", "version": b"3", "signature": b"serving_default",
        "consumer": b"w1",
    }  # fmt: skip
    assert json.loads(fields["response"]) == {"predictions": [{"y": [2.0, 4.0, 6.0], "tag_out": "a"}]}
    columns = decode({"request": b'{"inputs": {"x": [[1, 2, 3]], "tag": ["a"]}}'})
    assert json.loads(result_fields(columns, outputs, b"6-0", "pair", None, "w1")["response"]) == {
        "outputs": {"y": [[2.0, 4.0, 6.0]], "tag_out": ["a"]}
    }
    binary = decode({"npy": npy(np.ones((1, 3), np.float32))}, default="single")
    fields = result_fields(binary, outputs, b"7-0", "pair", None, "w1")
    assert "version" not in fields and "key" not in fields
    with np.load(io.BytesIO(fields["npz"]), allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["y"], outputs["y"])
        assert archive["tag_out"].tolist() == [b"a"]


def test_v2_results_are_v2_responses():
    body = {"id": "r1", "inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}
    request = decode({"request": json.dumps(body).encode(), "signature": b"single"})
    fields = result_fields(request, {"y": np.array([[2, 4, 6]], np.float32)}, b"8-0", "pair", 3, "w1")
    response = json.loads(fields["response"])
    assert response["id"] == "r1" and response["model_version"] == "3"
    assert response["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [1, 3], "data": [2.0, 4.0, 6.0]}]


def test_dead_letters_keep_the_original_fields_and_rename_clashing_ones():
    original = {b"request": b"{nope", b"key": b"k", b"reason": b"mine", b"original_x": b"1"}
    letter = dead_letter_fields(b"9-0", original, "in", "g", "w1", "INVALID_ARGUMENT", "bad JSON", 2)
    assert letter == {
        "id": b"9-0", "stream": b"in", "group": b"g", "consumer": b"w1", "code": b"INVALID_ARGUMENT",
        "reason": b"bad JSON", "deliveries": b"2", "request": b"{nope", "key": b"k", "original_reason": b"mine",
        "original_original_x": b"1",
    }  # fmt: skip
    long = dead_letter_fields(b"9-1", {}, "in", "g", "w1", "INTERNAL", "x" * 10_000, 1)["reason"]
    assert len(long) == 4000 and long.endswith(b"(truncated)")


def test_npz_results_load_without_pickle():
    data = encode_npz({"s": np.array([[b"a", b"bc"]], dtype=object), "n": np.arange(3)})
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        assert archive["s"].tolist() == [[b"a", b"bc"]]
        np.testing.assert_array_equal(archive["n"], [0, 1, 2])
