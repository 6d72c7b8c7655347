"""Shared by the V2 REST tests: sample tensors of every datatype, and tritonclient used without a server.

tritonclient.http is used without a server: ``InferenceServerClient.generate_request_body`` builds the exact bytes the
client would POST, and ``InferResult.from_response_body`` parses the bytes we would answer.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from modelserve.errors import InvalidArgument, ServingError
from modelserve.protocols.v2.envelope import V2Request, decode_infer_request

httpclient = pytest.importorskip("tritonclient.http")

SAMPLES: dict[str, np.ndarray] = {
    "BOOL": np.array([[True, False, True], [False, False, True]]),
    "UINT8": np.array([[0, 1, 255], [7, 8, 9]], dtype=np.uint8),
    "UINT16": np.array([[0, 1, 65535], [7, 8, 9]], dtype=np.uint16),
    "UINT32": np.array([[0, 1, 2**32 - 1], [7, 8, 9]], dtype=np.uint32),
    "UINT64": np.array([[0, 1, 2**64 - 1], [7, 8, 9]], dtype=np.uint64),
    "INT8": np.array([[-128, 0, 127], [7, 8, 9]], dtype=np.int8),
    "INT16": np.array([[-(2**15), 0, 2**15 - 1], [7, 8, 9]], dtype=np.int16),
    "INT32": np.array([[-(2**31), 0, 2**31 - 1], [7, 8, 9]], dtype=np.int32),
    "INT64": np.array([[-(2**63), 0, 2**63 - 1], [7, 8, 9]], dtype=np.int64),
    "FP16": np.array([[0.5, -1.25, 65504.0], [1e-3, 2.0, 3.0]], dtype=np.float16),
    "FP32": np.array([[0.1, -1.5, 3.4e38], [1e-30, 2.0, 3.0]], dtype=np.float32),
    "FP64": np.array([[0.1, -1.5, 1.7e308], [5e-324, 2.0, 3.0]], dtype=np.float64),
    "BYTES": np.array([[b"", b"a\x00b", "héllo".encode()], [b"x" * 300, b"\x00", b"end "]], dtype=object),
}
JSON_ABLE = [datatype for datatype in SAMPLES if datatype != "FP16"]


def client_request(
    tensors: list[tuple[str, np.ndarray, str, bool]],
    outputs: list[tuple[str, bool]] | None = None,
    request_id: str = "",
    parameters: dict | None = None,
) -> tuple[bytes, int | None]:
    """The body tritonclient would send: ``tensors`` as (name, array, datatype, binary)."""
    inputs = []
    for name, array, datatype, binary in tensors:
        infer_input = httpclient.InferInput(name, list(array.shape), datatype)
        infer_input.set_data_from_numpy(array, binary_data=binary)
        inputs.append(infer_input)
    requested = [httpclient.InferRequestedOutput(name, binary_data=binary) for name, binary in outputs or []]
    body, json_size = httpclient.InferenceServerClient.generate_request_body(
        inputs, outputs=requested or None, request_id=request_id, parameters=parameters
    )
    return (body.encode() if isinstance(body, str) else body), json_size


def client_result(body: bytes, header_length: int | None):
    return httpclient.InferResult.from_response_body(body, verbose=False, header_length=header_length)


def decode(document: object, binary: bytes = b"") -> V2Request:
    header = json.dumps(document).encode()  # not orjson: some tests need integers beyond 64 bits
    return decode_infer_request(header + binary, len(header) if binary else None)


def failure(document: object, binary: bytes = b"", kind: type[ServingError] = InvalidArgument) -> str:
    with pytest.raises(kind) as info:
        decode(document, binary)
    return info.value.message


def tensor(name: str = "x", shape: object = (2,), datatype: object = "FP32", **fields: object) -> dict:
    return {"name": name, "shape": list(shape) if isinstance(shape, tuple) else shape, "datatype": datatype, **fields}


def serialized(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def assert_same(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    assert actual.tolist() == expected.tolist()
