"""Shared by the TF Serving REST JSON tests: signatures, and decoding a body the way the REST door does."""

from __future__ import annotations

import numpy as np
import pytest

from modelserve.errors import InvalidArgument, ServingError
from modelserve.protocols.tfs.json_parse import parse_json, signature_name_of
from modelserve.protocols.tfs.predict_decode import decode_predict
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
