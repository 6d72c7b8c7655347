"""V2 REST responses: the encoder's JSON and binary outputs, read back by tritonclient's response parser."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from v2_helpers import SAMPLES, assert_same, client_result, serialized

from modelserve.errors import Internal, Unimplemented
from modelserve.protocols.v2.envelope import RequestedOutput
from modelserve.protocols.v2.json_tensors import encode_infer_response

# ----------------------------------------------------------------------------------- responses, via tritonclient


def encode(
    outputs: dict[str, np.ndarray],
    requested: list[RequestedOutput] | None = None,
    binary_default: bool = False,
    request_id: str | None = None,
) -> tuple[bytes, int | None]:
    return encode_infer_response("m", "3", request_id, outputs, requested or [], binary_default)


def header_of(body: bytes, length: int | None) -> dict:
    return json.loads(body[:length] if length is not None else body)


def expected_from_client(datatype: str, array: np.ndarray, binary: bool) -> np.ndarray:
    """What tritonclient's ``as_numpy`` returns for ``array``: JSON BYTES come back as ``str`` objects."""
    if datatype == "BYTES" and not binary:
        return np.array([item.decode() for item in array.reshape(-1)], dtype=object).reshape(array.shape)
    return array


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("datatype", list(SAMPLES))
def test_client_reads_every_datatype(datatype: str, binary: bool) -> None:
    array = SAMPLES[datatype]
    body, length = encode({"y": array}, binary_default=binary)
    forced_binary = datatype == "FP16"
    assert (length is not None) == (binary or forced_binary)
    result = client_result(body, length)
    assert_same(result.as_numpy("y"), expected_from_client(datatype, array, binary or forced_binary))
    assert result.get_output("y")["datatype"] == datatype


def test_client_reads_mixed_outputs_in_request_order() -> None:
    # the serving core answers the requested outputs in the requested order
    outputs = {"d": SAMPLES["BOOL"], "b": SAMPLES["BYTES"], "a": SAMPLES["FP32"], "c": SAMPLES["INT8"]}
    requested = [RequestedOutput("d", True), RequestedOutput("b"), RequestedOutput("a", False), RequestedOutput("c")]
    body, length = encode(outputs, requested, binary_default=True, request_id="r1")
    header = header_of(body, length)
    assert header["model_name"] == "m" and header["model_version"] == "3" and header["id"] == "r1"
    assert [o["name"] for o in header["outputs"]] == ["d", "b", "a", "c"]
    assert header["outputs"][0]["parameters"] == {"binary_data_size": 6}
    assert "data" in header["outputs"][2] and "parameters" not in header["outputs"][2]
    result = client_result(body, length)
    for name, array in outputs.items():
        assert_same(result.as_numpy(name), array)


def test_all_outputs_when_none_requested() -> None:
    body, length = encode({"a": np.arange(3, dtype=np.int32), "b": np.ones(2)})
    assert length is None
    assert header_of(body, length) == {
        "model_name": "m",
        "model_version": "3",
        "outputs": [
            {"name": "a", "datatype": "INT32", "shape": [3], "data": [0, 1, 2]},
            {"name": "b", "datatype": "FP64", "shape": [2], "data": [1.0, 1.0]},
        ],
    }


def test_answered_outputs_are_sent_in_answer_order_with_their_binary_choice() -> None:
    """The serving core selects and orders the outputs; the encoder applies each one's binary_data."""
    body, json_size = encode({"b": np.ones(2), "a": np.arange(3)}, [RequestedOutput("b", True), RequestedOutput("a")])
    outputs = header_of(body, json_size)["outputs"]
    assert [o["name"] for o in outputs] == ["b", "a"]
    assert outputs[0]["parameters"] == {"binary_data_size": 16} and outputs[1]["data"] == [0, 1, 2]


def test_binary_layout_is_json_then_tensors_in_order() -> None:
    a, b = np.arange(3, dtype=np.int16), np.array([[1.5]], np.float32)
    body, length = encode({"a": a, "b": b}, binary_default=True)
    assert body[length:] == a.astype("<i2").tobytes() + b.astype("<f4").tobytes()
    assert header_of(body, length)["outputs"][1] == {
        "name": "b",
        "datatype": "FP32",
        "shape": [1, 1],
        "parameters": {"binary_data_size": 4},
    }


def test_json_float32_is_shortest_round_trip_text() -> None:
    body, _ = encode({"y": np.array([0.1, 1 / 3], np.float32)})
    assert b'"data":[0.1,0.33333334]' in body


def test_non_finite_floats_are_triton_tokens() -> None:
    array = np.array([[1.5, np.nan], [np.inf, -np.inf]], np.float32)
    body, length = encode({"y": array})
    assert b'"data":[1.5,NaN,Infinity,-Infinity]' in body
    parsed = client_result(body, length).as_numpy("y")
    assert np.isnan(parsed[0, 1]) and parsed[1].tolist() == [math.inf, -math.inf]
    assert parsed.dtype == np.float32
    assert np.isnan(json.loads(body)["outputs"][0]["data"][1])  # Python's json reads them too


def test_non_finite_floats_in_binary_are_exact() -> None:
    array = np.array([np.nan, -np.inf], np.float64)
    body, length = encode({"y": array}, binary_default=True)
    assert body[length:] == array.tobytes()


def test_non_utf8_bytes_output_goes_binary() -> None:
    array = np.array([b"\xff", b"ok"], dtype=object)
    body, length = encode({"y": array, "t": np.array([b"fine"], dtype=object)})
    outputs = header_of(body, length)["outputs"]
    assert outputs[0]["parameters"] == {"binary_data_size": 11} and "data" not in outputs[0]
    assert outputs[1]["data"] == ["fine"]
    result = client_result(body, length)
    assert_same(result.as_numpy("y"), array)
    assert result.as_numpy("t").tolist() == ["fine"]


def test_bytes_outputs_from_str_and_fixed_width_arrays() -> None:
    for array in (np.array(["é", "b"]), np.array([b"a", b"bc"]), np.array(["é", b"b"], dtype=object)):
        body, length = encode({"y": array}, binary_default=True)
        assert body[length:] == serialized([str(v).encode() if isinstance(v, str) else bytes(v) for v in array])
        body, _ = encode({"y": array})
        assert header_of(body, None)["outputs"][0]["datatype"] == "BYTES"


def test_bytes_output_with_other_objects_is_internal() -> None:
    with pytest.raises(Internal, match=r"^output 'y' holds a int; BYTES outputs must hold bytes or str$"):
        encode({"y": np.array([1], dtype=object)})


def test_complex_output_is_unimplemented() -> None:
    with pytest.raises(Unimplemented, match=r"^output 'y' is complex64, which the V2 protocol cannot carry$"):
        encode({"y": np.zeros(1, np.complex64)})


def test_non_contiguous_and_scalar_outputs() -> None:
    matrix = np.arange(6, dtype=np.float32).reshape(2, 3)
    for binary in (True, False):
        body, length = encode({"t": matrix.T, "s": np.float64(2.5)}, binary_default=binary)
        result = client_result(body, length)
        assert_same(result.as_numpy("t"), matrix.T.copy())
        assert_same(result.as_numpy("s"), np.array(2.5))


def test_empty_output() -> None:
    body, length = encode({"y": np.zeros((0, 4), np.float32)}, binary_default=True)
    assert header_of(body, length)["outputs"][0]["parameters"] == {"binary_data_size": 0}
    assert client_result(body, length).as_numpy("y").shape == (0, 4)


def test_id_only_when_given() -> None:
    assert "id" not in header_of(encode({"y": np.ones(1)})[0], None)
    assert header_of(encode({"y": np.ones(1)}, request_id="")[0], None)["id"] == ""
