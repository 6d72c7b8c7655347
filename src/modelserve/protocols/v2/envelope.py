"""V2 (Open Inference Protocol) REST infer requests: the JSON envelope, :func:`decode_infer_request`.

Everything wire-format for a V2 REST request starts here; routing and the model call live in
:mod:`modelserve.protocols.v2.rest`. Every error is an :class:`~modelserve.errors.InvalidArgument` unless noted.

- The body is JSON, or, when ``Inference-Header-Content-Length`` is given, that many bytes of JSON followed by the
  binary tensor data of the inputs that carry a ``binary_data_size`` parameter, in input order
  (:mod:`modelserve.protocols.v2.binary`); the other inputs carry JSON ``data``
  (:mod:`modelserve.protocols.v2.json_tensors`).
- An input or output may name a registered shared-memory region instead (``shared_memory_region``,
  ``shared_memory_offset``, ``shared_memory_byte_size`` parameters; :mod:`modelserve.protocols.v2.shared_memory`).
- The classification extension is :class:`~modelserve.errors.Unimplemented`.
- Datatypes are not compared with the model's here: the serving core's input gate does that, as strictly as
  Triton (no coercion).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelserve.errors import InvalidArgument, Unimplemented
from modelserve.protocols.v2.binary import V2_TYPES, BinaryData, from_binary
from modelserve.protocols.v2.json_tensors import from_json
from modelserve.protocols.v2.shared_memory import SharedMemoryRegions, ShmRef, shm_ref

__all__ = ["RequestedOutput", "V2Request", "decode_infer_request", "parse_object"]

_VALID_TYPES = ", ".join(V2_TYPES)
_MAX_RANK = 32  # numpy 1.x's limit (2.x allows 64)


@dataclass(frozen=True)
class RequestedOutput:
    """An output named in a request; ``binary`` is its ``binary_data`` parameter (``None`` when absent);
    ``shm`` the shared-memory region it is to be written to."""

    name: str
    binary: bool | None = None
    shm: ShmRef | None = None


@dataclass(frozen=True)
class V2Request:
    """A decoded V2 inference request body (the serving core's ``InferRequest`` is built from it).

    ``inputs`` are in the order sent, each already of the numpy dtype of its ``input_datatypes`` entry (BYTES:
    object arrays of ``bytes``). ``outputs`` is empty when the request named none (meaning all).
    """

    id: str | None
    parameters: dict[str, Any]
    inputs: dict[str, np.ndarray]
    input_datatypes: dict[str, str]
    outputs: list[RequestedOutput]
    binary_output_default: bool


def decode_infer_request(
    body: bytes, header_length: int | None, regions: SharedMemoryRegions | None = None
) -> V2Request:
    """Decode a V2 infer body; ``header_length`` is ``Inference-Header-Content-Length`` (``None``: all JSON);
    ``regions`` the server's shared-memory regions (``None``: shared-memory tensors are refused)."""
    view = memoryview(body)
    if header_length is not None and not 0 <= header_length <= len(view):
        raise InvalidArgument(
            f"Inference-Header-Content-Length is {header_length} but the request body has {len(view)} bytes"
        )
    binary = BinaryData(view[header_length:] if header_length is not None else None)
    request = _parse_json(view[:header_length] if header_length is not None else view)
    if not isinstance(request, dict):
        raise InvalidArgument("inference request must be a JSON object")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string")
    parameters = _object(request.get("parameters"), "request 'parameters'")
    inputs, datatypes = _decode_inputs(request.get("inputs"), binary, regions)
    binary.finish()
    return V2Request(
        id=request_id,
        parameters=parameters,
        inputs=inputs,
        input_datatypes=datatypes,
        outputs=_decode_outputs(request.get("outputs")),
        binary_output_default=bool(_bool(parameters.get("binary_data_output"), "parameter 'binary_data_output'")),
    )


def parse_object(body: bytes, what: str) -> dict[str, Any]:
    """A JSON object body (e.g. a shared-memory register request)."""
    document = _parse_json(memoryview(body)) if body.strip() else {}
    if not isinstance(document, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    return document


def _parse_json(header: memoryview) -> Any:
    """orjson, falling back to ``json`` for the ``NaN``/``Infinity`` tokens Triton's parser (and tritonclient) allow."""
    try:
        return orjson.loads(header)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(bytes(header))
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"invalid JSON in inference request: {exc}") from None


def _decode_inputs(
    tensors: Any, binary: BinaryData, regions: SharedMemoryRegions | None
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if tensors is None:
        raise InvalidArgument("inference request has no 'inputs'")
    if not isinstance(tensors, list):
        raise InvalidArgument("'inputs' must be a list of tensors")
    arrays: dict[str, np.ndarray] = {}
    datatypes: dict[str, str] = {}
    for index, tensor in enumerate(tensors):
        name, datatype, array = _decode_input(index, tensor, binary, regions)
        if name in arrays:
            raise InvalidArgument(f"input '{name}' appears more than once")
        arrays[name] = array
        datatypes[name] = datatype
    return arrays, datatypes


def _decode_input(
    index: int, tensor: Any, binary: BinaryData, regions: SharedMemoryRegions | None
) -> tuple[str, str, np.ndarray]:
    if not isinstance(tensor, dict):
        raise InvalidArgument(f"input #{index} must be a JSON object")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"input #{index}: 'name' must be a non-empty string")
    datatype = _datatype(name, tensor)
    shape = _shape(name, tensor)
    parameters = _object(tensor.get("parameters"), f"input '{name}': 'parameters'")
    ref = shm_ref(name, parameters)
    size = parameters.get("binary_data_size")
    if ref is not None:
        if "data" in tensor or size is not None:
            raise InvalidArgument(
                f"input '{name}' must set only one of 'data', 'binary_data_size' in 'parameters', "
                "'shared_memory_region' in 'parameters'"
            )
        return name, datatype, _from_shared_memory(name, datatype, shape, ref, regions)
    if size is None:
        if "data" not in tensor:
            raise InvalidArgument(f"input '{name}' has neither 'data' nor a 'binary_data_size' parameter")
        return name, datatype, from_json(name, datatype, shape, tensor["data"])
    if "data" in tensor:
        raise InvalidArgument(f"input '{name}' has both 'data' and a 'binary_data_size' parameter")
    if type(size) is not int or size < 0:
        raise InvalidArgument(f"input '{name}': 'binary_data_size' must be a non-negative integer")
    return name, datatype, from_binary(name, datatype, shape, size, binary)


def _from_shared_memory(
    name: str, datatype: str, shape: tuple[int, ...], ref: ShmRef, regions: SharedMemoryRegions | None
) -> np.ndarray:
    if regions is None:
        raise Unimplemented(f"input '{name}': shared-memory tensors are not served here")
    return regions.read(name, datatype, shape, ref)


def _datatype(name: str, tensor: dict[str, Any]) -> str:
    if "datatype" not in tensor:
        raise InvalidArgument(f"input '{name}': missing 'datatype'")
    datatype = tensor["datatype"]
    if not isinstance(datatype, str) or datatype not in V2_TYPES:
        raise InvalidArgument(f"input '{name}': unknown datatype {datatype!r}; valid datatypes: {_VALID_TYPES}")
    return datatype


def _shape(name: str, tensor: dict[str, Any]) -> tuple[int, ...]:
    if "shape" not in tensor:
        raise InvalidArgument(f"input '{name}': missing 'shape'")
    shape = tensor["shape"]
    if not isinstance(shape, list) or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise InvalidArgument(f"input '{name}': 'shape' must be a list of non-negative integers")
    if len(shape) > _MAX_RANK:
        raise InvalidArgument(f"input '{name}': rank {len(shape)} is above the supported maximum of {_MAX_RANK}")
    return tuple(shape)


def _decode_outputs(tensors: Any) -> list[RequestedOutput]:
    if tensors is None:
        return []
    if not isinstance(tensors, list):
        raise InvalidArgument("'outputs' must be a list of tensors")
    outputs: list[RequestedOutput] = []
    for index, tensor in enumerate(tensors):
        if not isinstance(tensor, dict):
            raise InvalidArgument(f"output #{index} must be a JSON object")
        name = tensor.get("name")
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"output #{index}: 'name' must be a non-empty string")
        if any(output.name == name for output in outputs):
            raise InvalidArgument(f"output '{name}' is requested more than once")
        parameters = _object(tensor.get("parameters"), f"output '{name}': 'parameters'")
        binary = _bool(parameters.get("binary_data"), f"output '{name}': 'binary_data'")
        ref = shm_ref(name, parameters)
        if ref is not None and binary:
            raise InvalidArgument(f"Output can't set both 'shared_memory_region' and 'binary_data' (output '{name}')")
        if parameters.get("classification"):
            raise Unimplemented(f"output '{name}': the classification extension is not supported")
        outputs.append(RequestedOutput(name, binary, ref))
    return outputs


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    return value


def _bool(value: Any, what: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidArgument(f"{what} must be true or false")
    return value
