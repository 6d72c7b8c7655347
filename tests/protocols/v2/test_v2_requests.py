"""V2 REST requests: the envelope, JSON tensors and the binary extension, byte-compatible with tritonclient."""

from __future__ import annotations

import math
import struct

import numpy as np
import orjson
import pytest
from v2_helpers import JSON_ABLE, SAMPLES, assert_same, client_request, decode, failure, serialized, tensor

from modelserve.errors import InvalidArgument, ServingError, Unimplemented
from modelserve.protocols.v2.envelope import RequestedOutput, decode_infer_request

# ----------------------------------------------------------------------------------- tritonclient requests


@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_client_binary_inputs_decode_exactly(datatype: str) -> None:
    array = SAMPLES[datatype]
    body, json_size = client_request([("x", array, datatype, True)])
    assert json_size is not None
    request = decode_infer_request(body, json_size)
    assert request.input_datatypes == {"x": datatype}
    assert_same(request.inputs["x"], array)


@pytest.mark.parametrize("datatype", JSON_ABLE)
def test_client_json_inputs_decode_exactly(datatype: str) -> None:
    array = SAMPLES[datatype]
    body, json_size = client_request([("x", array, datatype, False)])
    assert json_size is None
    request = decode_infer_request(body, None)
    assert_same(request.inputs["x"], array)


def test_client_json_fp16_is_refused_with_a_hint() -> None:
    body, json_size = client_request([("x", SAMPLES["FP16"], "FP16", False)])
    with pytest.raises(InvalidArgument, match=r"^input 'x': FP16 has no JSON form; send it as binary data$"):
        decode_infer_request(body, json_size)


def test_client_bf16_is_unimplemented() -> None:
    body, json_size = client_request([("x", np.ones((2, 2), np.float32), "BF16", True)])
    with pytest.raises(Unimplemented, match=r"BF16 is not supported \(numpy has no bfloat16 type\)"):
        decode_infer_request(body, json_size)


def test_client_request_fields_and_mixed_inputs() -> None:
    body, json_size = client_request(
        [
            ("a", SAMPLES["FP32"], "FP32", True),
            ("b", SAMPLES["INT64"], "INT64", False),
            ("c", SAMPLES["BYTES"], "BYTES", True),
            ("d", SAMPLES["BOOL"], "BOOL", True),
        ],
        outputs=[("y", True), ("z", False)],
        request_id="req-7",
        parameters={"signature_name": "other", "k": 3},
    )
    request = decode_infer_request(body, json_size)
    assert request.id == "req-7"
    assert request.parameters == {"signature_name": "other", "k": 3}
    assert list(request.inputs) == ["a", "b", "c", "d"]
    for name, datatype in zip("abcd", ["FP32", "INT64", "BYTES", "BOOL"]):
        assert_same(request.inputs[name], SAMPLES[datatype])
    assert request.outputs == [RequestedOutput("y", True), RequestedOutput("z", False)]
    assert request.binary_output_default is False


def test_client_without_outputs_asks_for_binary_outputs() -> None:
    body, json_size = client_request([("x", SAMPLES["FP32"], "FP32", False)])
    request = decode_infer_request(body, json_size)
    assert request.id is None
    assert request.outputs == []
    assert request.binary_output_default is True


def test_client_non_finite_json_floats_are_read() -> None:
    array = np.array([np.nan, np.inf, -np.inf, 1.5], dtype=np.float32)
    body, json_size = client_request([("x", array, "FP32", False)])
    assert b"NaN" in body  # tritonclient (python-rapidjson) writes the bare tokens, as Triton accepts
    decoded = decode_infer_request(body, json_size).inputs["x"]
    assert np.isnan(decoded[0]) and decoded[1:].tolist() == [math.inf, -math.inf, 1.5]


def test_client_non_utf8_bytes_go_binary() -> None:
    array = np.array([b"\xff\xfe", b"ok"], dtype=object)
    body, json_size = client_request([("x", array, "BYTES", True)])
    assert_same(decode_infer_request(body, json_size).inputs["x"], array)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("datatype", ["FP32", "BYTES", "BOOL"])
def test_client_empty_tensors(datatype: str, binary: bool) -> None:
    array = np.empty((0, 3), dtype=SAMPLES[datatype].dtype)
    body, json_size = client_request([("x", array, datatype, binary)])
    assert_same(decode_infer_request(body, json_size).inputs["x"], array)


def test_binary_inputs_are_zero_copy_views() -> None:
    body, json_size = client_request([("x", SAMPLES["FP32"], "FP32", True)])
    decoded = decode_infer_request(body, json_size).inputs["x"]
    assert np.shares_memory(decoded, np.frombuffer(body, np.uint8))
    assert not decoded.flags.writeable


# ----------------------------------------------------------------------------------- JSON inputs


def test_nested_and_flat_json_data_are_row_major() -> None:
    nested = decode({"inputs": [tensor(shape=(2, 2), data=[[1, 2], [3, 4]])]}).inputs["x"]
    flat = decode({"inputs": [tensor(shape=(2, 2), data=[1, 2, 3, 4])]}).inputs["x"]
    regrouped = decode({"inputs": [tensor(shape=(2, 2), data=[[1], [2], [3], [4]])]}).inputs["x"]
    for array in (nested, flat, regrouped):
        assert_same(array, np.array([[1, 2], [3, 4]], np.float32))


def test_nested_bytes_data() -> None:
    array = decode({"inputs": [tensor(shape=(2, 1), datatype="BYTES", data=[["ä"], ["b"]])]}).inputs["x"]
    assert_same(array, np.array([["ä".encode()], [b"b"]], dtype=object))


def test_scalar_tensor() -> None:
    assert_same(decode({"inputs": [tensor(shape=(), datatype="INT32", data=[5])]}).inputs["x"], np.array(5, np.int32))


@pytest.mark.parametrize(
    ("shape", "data", "message"),
    [
        ((2, 3), [1, 2, 3, 4, 5], "input 'x': shape [2, 3] needs 6 elements but 'data' has 5"),
        ((1,), [1, 2], "input 'x': shape [1] needs 1 elements but 'data' has 2"),
        ((2,), [[1, 2], [3]], "input 'x': 'data' is not a regular array: "),
        ((1,), 5, "input 'x': 'data' must be a JSON array"),
        ((2,), [1, "a"], "input 'x': FP32 data must be numbers"),
        ((2,), [1, None], "input 'x': FP32 data must be numbers"),
        ((2,), [True, False], "input 'x': FP32 data must be numbers"),
    ],
)
def test_json_data_errors(shape: tuple, data: object, message: str) -> None:
    assert failure({"inputs": [tensor(shape=shape, data=data)]}).startswith(message)


@pytest.mark.parametrize(
    ("datatype", "data", "message"),
    [
        ("INT8", [128], "input 'x': INT8 data must be integers from -128 to 127"),
        ("INT8", [-129], "input 'x': INT8 data must be integers from -128 to 127"),
        ("UINT8", [-1], "input 'x': UINT8 data must be integers from 0 to 255"),
        ("INT32", [1.5], "input 'x': INT32 data must be integers from -2147483648 to 2147483647"),
        ("INT32", [1.0], "input 'x': INT32 data must be integers from -2147483648 to 2147483647"),
        ("INT64", [2**63], "input 'x': INT64 data must be integers from -9223372036854775808 to 9223372036854775807"),
        ("UINT64", [2**64], "input 'x': UINT64 data must be integers from 0 to 18446744073709551615"),
        ("INT16", [True], "input 'x': INT16 data must be integers from -32768 to 32767"),
        (
            "INT64",
            [-1, 2**63],
            "input 'x': INT64 data must be integers from -9223372036854775808 to 9223372036854775807",
        ),
        ("UINT64", [-1, 2**63], "input 'x': UINT64 data must be integers from 0 to 18446744073709551615"),
        ("INT32", [1, 2.5, 2**64], "input 'x': INT32 data must be integers from -2147483648 to 2147483647"),
        ("BOOL", [1], "input 'x': BOOL data must be true or false"),
        ("BOOL", ["true"], "input 'x': BOOL data must be true or false"),
        ("BYTES", [1], "input 'x': BYTES data must be strings"),
        ("BYTES", [["a"], [None]], "input 'x': BYTES data must be strings"),
        ("FP16", [1.0], "input 'x': FP16 has no JSON form; send it as binary data"),
        ("BF16", [1.0], "input 'x': BF16 has no JSON form; send it as binary data"),
    ],
)
def test_json_value_errors(datatype: str, data: list, message: str) -> None:
    assert failure({"inputs": [tensor(shape=(len(data),), datatype=datatype, data=data)]}) == message


def test_integer_extremes_are_exact() -> None:
    # numpy reads [0, 2**64 - 1] as float64 (int64 and uint64 mixed); the codec must not round through it
    uint64 = decode({"inputs": [tensor(shape=(3,), datatype="UINT64", data=[0, 2**64 - 1, 2**53 + 1])]}).inputs["x"]
    assert_same(uint64, np.array([0, 2**64 - 1, 2**53 + 1], np.uint64))
    nested = decode({"inputs": [tensor(shape=(2, 1), datatype="UINT64", data=[[1], [2**64 - 1]])]}).inputs["x"]
    assert_same(nested, np.array([[1], [2**64 - 1]], np.uint64))


def test_bool_among_numbers_reads_as_number() -> None:
    """The documented leniency: numpy promotes true/false mixed with numbers to 1/0."""
    assert decode({"inputs": [tensor(data=[1.5, True])]}).inputs["x"].tolist() == [1.5, 1.0]


def test_lone_surrogate_in_bytes_is_refused() -> None:
    body = b'{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":["\\ud800"]}]}'
    with pytest.raises(InvalidArgument, match=r"^input 'x': BYTES data holds a string that is not valid Unicode$"):
        decode_infer_request(body, None)


def test_deeply_nested_bytes_data() -> None:
    body = b'{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":' + b"[" * 1000 + b'"a"' + b"]" * 1000
    assert decode_infer_request(body + b"}]}", None).inputs["x"].tolist() == [b"a"]


def test_numeric_data_nested_beyond_numpy_is_refused() -> None:
    body = b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":' + b"[" * 1000 + b"1" + b"]" * 1000
    with pytest.raises(InvalidArgument, match=r"^input 'x': 'data' is not a regular array: "):
        decode_infer_request(body + b"}]}", None)


def test_too_deeply_nested_json_is_refused() -> None:
    body = b'{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":' + b"[" * 5000 + b"1" + b"]" * 5000
    with pytest.raises(InvalidArgument, match=r"^invalid JSON in inference request: "):
        decode_infer_request(body + b"}]}", None)


# ----------------------------------------------------------------------------------- request structure errors


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "inference request must be a JSON object"),
        ({}, "inference request has no 'inputs'"),
        ({"inputs": {}}, "'inputs' must be a list of tensors"),
        ({"inputs": [1]}, "input #0 must be a JSON object"),
        ({"inputs": [{"shape": [1], "datatype": "FP32", "data": [1]}]}, "input #0: 'name' must be a non-empty string"),
        ({"inputs": [tensor(name="")]}, "input #0: 'name' must be a non-empty string"),
        ({"inputs": [{"name": "x", "shape": [1], "data": [1]}]}, "input 'x': missing 'datatype'"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}, "input 'x': missing 'shape'"),
        ({"inputs": [tensor(shape=[-1], data=[1])]}, "input 'x': 'shape' must be a list of non-negative integers"),
        ({"inputs": [tensor(shape=[1.0], data=[1])]}, "input 'x': 'shape' must be a list of non-negative integers"),
        ({"inputs": [tensor(shape=[True], data=[1])]}, "input 'x': 'shape' must be a list of non-negative integers"),
        ({"inputs": [tensor(shape=3, data=[1])]}, "input 'x': 'shape' must be a list of non-negative integers"),
        ({"inputs": [tensor(shape=[1] * 33, data=[1])]}, "input 'x': rank 33 is above the supported maximum of 32"),
        ({"inputs": [tensor()]}, "input 'x' has neither 'data' nor a 'binary_data_size' parameter"),
        ({"inputs": [tensor(parameters=[])]}, "input 'x': 'parameters' must be a JSON object"),
        ({"inputs": [tensor(data=[1, 2]), tensor(data=[1, 2])]}, "input 'x' appears more than once"),
        ({"inputs": [], "id": 5}, "'id' must be a string"),
        ({"inputs": [], "parameters": 1}, "request 'parameters' must be a JSON object"),
        (
            {"inputs": [], "parameters": {"binary_data_output": 1}},
            "parameter 'binary_data_output' must be true or false",
        ),
        ({"inputs": [], "outputs": {}}, "'outputs' must be a list of tensors"),
        ({"inputs": [], "outputs": ["y"]}, "output #0 must be a JSON object"),
        ({"inputs": [], "outputs": [{}]}, "output #0: 'name' must be a non-empty string"),
        ({"inputs": [], "outputs": [{"name": "y"}, {"name": "y"}]}, "output 'y' is requested more than once"),
        ({"inputs": [], "outputs": [{"name": "y", "parameters": 1}]}, "output 'y': 'parameters' must be a JSON object"),
        (
            {"inputs": [], "outputs": [{"name": "y", "parameters": {"binary_data": "yes"}}]},
            "output 'y': 'binary_data' must be true or false",
        ),
    ],
)
def test_request_structure_errors(document: object, message: str) -> None:
    assert failure(document) == message


@pytest.mark.parametrize("datatype", ["FP8", "float32", "fp32", 7, None])
def test_unknown_datatype_lists_valid_ones(datatype: object) -> None:
    message = failure({"inputs": [tensor(datatype=datatype, data=[1, 2])]})
    assert message == (
        f"input 'x': unknown datatype {datatype!r}; valid datatypes: "
        "BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BF16, BYTES"
    )


def test_malformed_json() -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid JSON in inference request: Expecting"):
        decode_infer_request(b'{"inputs": [', None)
    with pytest.raises(InvalidArgument, match=r"^invalid JSON in inference request: "):
        decode_infer_request(b"", None)
    with pytest.raises(InvalidArgument, match=r"^invalid JSON in inference request: "):
        decode_infer_request(b'{"inputs": []}\xff', None)


@pytest.mark.parametrize(
    ("parameters", "kind", "message"),
    [
        (
            {"shared_memory_region": "r", "shared_memory_byte_size": 8},
            Unimplemented,
            "input 'x': shared-memory tensors are not served here",
        ),
        (
            {"shared_memory_region": "r"},
            InvalidArgument,
            "'shared_memory_byte_size' must be specified along with 'shared_memory_region' for tensor 'x'",
        ),
        (
            {"shared_memory_offset": 8},
            InvalidArgument,
            "'shared_memory_offset' can not be specified without 'shared_memory_region' for tensor 'x'",
        ),
        (
            {"shared_memory_region": "r", "shared_memory_byte_size": 8, "binary_data_size": 8},
            InvalidArgument,
            "input 'x' must set only one of 'data', 'binary_data_size' in 'parameters', 'shared_memory_region' in "
            "'parameters'",
        ),
        (
            {"shared_memory_region": "r", "shared_memory_byte_size": -8},
            InvalidArgument,
            "'shared_memory_byte_size' of tensor 'x' must be a non-negative integer",
        ),
        ({"binary_data_size": -1}, InvalidArgument, "input 'x': 'binary_data_size' must be a non-negative integer"),
        ({"binary_data_size": "8"}, InvalidArgument, "input 'x': 'binary_data_size' must be a non-negative integer"),
    ],
)
def test_input_parameter_errors(parameters: dict, kind: type[ServingError], message: str) -> None:
    assert failure({"inputs": [tensor(parameters=parameters)]}, b"\0" * 8, kind) == message


@pytest.mark.parametrize(
    ("parameters", "kind", "message"),
    [
        (
            {"shared_memory_region": "r", "shared_memory_byte_size": 8, "binary_data": True},
            InvalidArgument,
            "Output can't set both 'shared_memory_region' and 'binary_data' (output 'y')",
        ),
        ({"classification": 3}, Unimplemented, "output 'y': the classification extension is not supported"),
    ],
)
def test_output_parameter_errors(parameters: dict, kind: type[ServingError], message: str) -> None:
    document = {"inputs": [], "outputs": [{"name": "y", "parameters": parameters}]}
    assert failure(document, kind=kind) == message


# ----------------------------------------------------------------------------------- binary input errors


def binary_tensor(size: int, shape: tuple = (2,), datatype: str = "FP32", name: str = "x") -> dict:
    return tensor(name=name, shape=shape, datatype=datatype, parameters={"binary_data_size": size})


def test_binary_size_must_match_shape() -> None:
    message = failure({"inputs": [binary_tensor(12, shape=(2, 2))]}, b"\0" * 12)
    assert message == "input 'x': binary_data_size is 12 bytes but shape [2, 2] of FP32 needs 16"


def test_binary_size_beyond_the_body() -> None:
    message = failure({"inputs": [binary_tensor(8), binary_tensor(8, name="y")]}, b"\0" * 12)
    assert message == "input 'y': binary_data_size is 8 bytes but only 4 bytes of binary data are left"


def test_trailing_binary_bytes_are_refused() -> None:
    message = failure({"inputs": [binary_tensor(8)]}, b"\0" * 11)
    assert message == "the request has 3 bytes of binary data that no input claims"
    assert (
        failure({"inputs": [tensor(data=[1, 2])]}, b"\0")
        == "the request has 1 bytes of binary data that no input claims"
    )


def test_binary_input_without_binary_part() -> None:
    body = orjson.dumps({"inputs": [binary_tensor(8)]})
    with pytest.raises(InvalidArgument) as info:
        decode_infer_request(body, None)
    assert info.value.message == (
        "input 'x' has a 'binary_data_size' parameter but the request has no binary data "
        "(no Inference-Header-Content-Length header)"
    )


def test_binary_and_json_data_together() -> None:
    document = {"inputs": [tensor(data=[1, 2], parameters={"binary_data_size": 8})]}
    assert failure(document, b"\0" * 8) == "input 'x' has both 'data' and a 'binary_data_size' parameter"


@pytest.mark.parametrize("length", [-1, 1000])
def test_header_length_outside_the_body(length: int) -> None:
    with pytest.raises(InvalidArgument, match=rf"^Inference-Header-Content-Length is {length} but the request body"):
        decode_infer_request(b'{"inputs": []}', length)


def test_header_length_equal_to_body() -> None:
    body = orjson.dumps({"inputs": [tensor(data=[1, 2])]})
    assert decode_infer_request(body, len(body)).inputs["x"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("payload", "shape", "message"),
    [
        (serialized([b"ab"]) + b"\x01\x00", (2,), "input 'x': BYTES data ends inside the 4-byte length of element 1"),
        (struct.pack("<I", 9) + b"abc", (1,), "input 'x': BYTES element 0 claims 9 bytes but only 3 are left"),
        (serialized([b"a", b"b"]), (3,), "input 'x': shape [3] needs 3 elements but the BYTES data holds 2"),
        (serialized([b"a", b"b"]), (1,), "input 'x': shape [1] needs 1 elements but the BYTES data holds 2"),
    ],
)
def test_binary_bytes_errors(payload: bytes, shape: tuple, message: str) -> None:
    assert failure({"inputs": [binary_tensor(len(payload), shape=shape, datatype="BYTES")]}, payload) == message


def test_binary_bool_and_fp16_sizes() -> None:
    request = decode(
        {"inputs": [binary_tensor(3, shape=(3,), datatype="BOOL"), binary_tensor(4, datatype="FP16", name="h")]},
        b"\x01\x00\x01" + np.array([1.5, -2], "<f2").tobytes(),
    )
    assert request.inputs["x"].tolist() == [True, False, True]
    assert_same(request.inputs["h"], np.array([1.5, -2], np.float16))
