"""REST clients for TF Serving's API and the Open Inference Protocol (V2): one batch per request.

Both implement :class:`RemoteClient`: :meth:`~RemoteClient.describe` reads the model's metadata once, and
:meth:`~RemoteClient.predict` sends a whole batch (``{input: array[N, ...]}``) and returns
``(model_id, {output: array[N, ...]})``. A client is shared by the threads of one worker process
(``requests.Session`` pools connections). Failures are raised as ServingErrors (see
:mod:`modelserve.batch.client_errors`): the HTTP status mapped back to a code, connection failures as
``UNAVAILABLE``, timeouts as ``DEADLINE_EXCEEDED``.

TF Serving: ``POST /v1/models/NAME[/versions/N|/labels/L]:predict`` with the columnar ``inputs`` form (string
tensors as ``{"b64": ...}``). V2: ``POST /v2/models/NAME[/versions/N]/infer`` with binary tensor data both
ways (``binary_data_size``, ``binary_data_output``), so arrays travel as raw bytes instead of JSON numbers.
"""

from __future__ import annotations

import abc
import base64
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson
import requests

from modelserve import dtypes
from modelserve.batch.client_errors import error, http_code, retry_after_seconds
from modelserve.batch.info import ModelInfo, TensorInfo
from modelserve.batch.targets import ServerTarget
from modelserve.errors import Code, Internal, InvalidArgument, Unimplemented
from modelserve.protocols.v2 import binary
from modelserve.types import DEFAULT_SIGNATURE

Arrays = dict[str, np.ndarray]


class RemoteClient(abc.ABC):
    """One model on one server. Thread-safe; :meth:`close` releases connections."""

    def __init__(self, target: ServerTarget, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self._described: dict[str, ModelInfo] = {}

    def describe(self, signature: str = DEFAULT_SIGNATURE) -> ModelInfo:
        """The signature's inputs and outputs as the server reports them (cached)."""
        info = self._described.get(signature)
        if info is None:
            info = self._describe(signature)
            self._described[signature] = info
        return info

    @abc.abstractmethod
    def _describe(self, signature: str) -> ModelInfo: ...

    @abc.abstractmethod
    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> tuple[str, Arrays]:
        """Run one batch remotely: ``(model_id of the version that answered, outputs)``."""

    def close(self) -> None:  # noqa: B027 - clients without connections have nothing to release
        """Release connections (the default has none)."""

    def _where(self) -> str:
        return self.target.url()


class RestClient(RemoteClient):
    """Shared HTTP plumbing: a pooled session, error bodies, transport failures."""

    def __init__(self, target: ServerTarget, timeout: float, pool_size: int = 16) -> None:
        super().__init__(target, timeout)
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._base = target.address + target.model_path

    def close(self) -> None:
        self._session.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise error(Code.DEADLINE_EXCEEDED, f"{url}: no answer within {self.timeout:g} s") from None
        except requests.ConnectionError as exc:
            raise error(Code.UNAVAILABLE, f"{url}: cannot reach the server ({_reason(exc)})") from None
        if response.status_code != 200:
            raise error(
                http_code(response.status_code, response.headers.get("x-error-code")),
                f"{url}: HTTP {response.status_code}: {_error_text(response)}",
                retry_after_seconds(response.headers.get("Retry-After")),
            )
        return response


class TfsRestClient(RestClient):
    """TF Serving's REST API (``/v1``): modelserve, TensorFlow Serving, and servers that copy it."""

    def _describe(self, signature: str) -> ModelInfo:
        body = _json(self._call("GET", self._base + "/metadata"), self._base + "/metadata")
        try:
            signature_defs = body["metadata"]["signature_def"]["signature_def"]
            version = body.get("model_spec", {}).get("version")
        except (KeyError, TypeError, AttributeError):
            raise Internal(f"{self._base}/metadata: not TF Serving's metadata format") from None
        if signature not in signature_defs:
            known = ", ".join(sorted(signature_defs)) or "none"
            raise error(Code.NOT_FOUND, f"{self._where()}: no signature {signature!r}; it has: {known}")
        definition = signature_defs[signature]
        return ModelInfo(
            self.target.model_id(version),
            signature,
            tuple(_tfs_tensor(n, t) for n, t in definition.get("inputs", {}).items()),
            tuple(_tfs_tensor(n, t) for n, t in definition.get("outputs", {}).items()),
            pid=0,
        )

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> tuple[str, Arrays]:
        info = self.describe(signature)
        payload = {"signature_name": signature, "inputs": {n: _json_value(a) for n, a in inputs.items()}}
        url = self._base + ":predict"
        response = self._call("POST", url, data=orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY))
        outputs = _json(response, url).get("outputs")
        if outputs is None:
            raise Internal(f"{url}: the answer has no 'outputs'")
        if not isinstance(outputs, dict) or (len(info.outputs) == 1 and set(outputs) != {info.outputs[0].name}):
            outputs = {info.outputs[0].name: outputs}  # TF Serving sends a lone output bare
        arrays = {}
        for name, value in outputs.items():
            tensor = next((t for t in info.outputs if t.name == name), None)
            arrays[name] = _from_json(value, "string" if tensor is None else tensor.dtype)
        version = response.headers.get("X-Model-Version")
        return (self.target.model_id(version) if version else info.model_id), arrays


class V2RestClient(RestClient):
    """The Open Inference Protocol over REST (``/v2``): modelserve, KServe, Triton, MLServer."""

    def _describe(self, signature: str) -> ModelInfo:
        require_default_signature(self.target, signature)
        body = _json(self._call("GET", self._base), self._base)
        try:
            versions = body.get("versions") or []
            return ModelInfo(
                self.target.model_id(self.target.version or (max(versions, key=int) if versions else None)),
                signature,
                tuple(_v2_tensor(t) for t in body["inputs"]),
                tuple(_v2_tensor(t) for t in body["outputs"]),
                body.get("platform", ""),
                pid=0,
            )
        except (KeyError, TypeError, ValueError):
            raise Internal(f"{self._base}: not the V2 model metadata format") from None

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> tuple[str, Arrays]:
        tensors, chunks = [], []
        for name, array in inputs.items():
            datatype, raw = binary.to_raw(name, np.asarray(array))
            tensors.append(
                {
                    "name": name,
                    "shape": list(np.shape(array)),
                    "datatype": datatype,
                    "parameters": {"binary_data_size": len(raw)},
                }
            )
            chunks.append(raw)
        parameters: dict[str, Any] = {"binary_data_output": True}
        if signature != DEFAULT_SIGNATURE:
            parameters["signature_name"] = signature
        header = orjson.dumps({"inputs": tensors, "parameters": parameters})
        url = self._base + "/infer"
        response = self._call(
            "POST",
            url,
            data=b"".join([header, *chunks]),
            headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
        )
        return _v2_outputs(self.target, response, url)


def require_default_signature(target: ServerTarget, signature: str) -> None:
    """V2 metadata describes a model's default signature only, so other signatures cannot be planned for."""
    if signature != DEFAULT_SIGNATURE:
        raise InvalidArgument(
            f"{target.url()}: the V2 protocol describes only the default signature; to call {signature!r} "
            f"use TF Serving's API ({target.address if target.transport == 'rest' else 'grpc://' + target.address}"
            f"/v1/models/{target.model})"
        )


def _v2_outputs(target: ServerTarget, response: requests.Response, url: str) -> tuple[str, Arrays]:
    content = response.content
    length = response.headers.get("Inference-Header-Content-Length")
    header_bytes = content[: int(length)] if length else content
    try:
        body = json.loads(header_bytes)
        offset = len(header_bytes)
        outputs: Arrays = {}
        for tensor in body["outputs"]:
            name, datatype, shape = tensor["name"], tensor["datatype"], tuple(tensor["shape"])
            size = (tensor.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                chunk = memoryview(content)[offset : offset + size]
                offset += size
                outputs[name] = binary.from_raw(name, datatype, shape, chunk, "the answer").copy()
            else:
                outputs[name] = _from_json(tensor["data"], dtypes.by_v2_name(datatype).name).reshape(shape)
    except (KeyError, TypeError, ValueError) as exc:
        raise Internal(f"{url}: cannot read the V2 answer ({exc})") from None
    return target.model_id(body.get("model_version")), outputs


# ---- JSON values ----


def _json_value(array: np.ndarray) -> Any:
    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind in "SU":
        return _b64_tree(array.tolist())
    return np.ascontiguousarray(array)


def _b64_tree(value: Any) -> Any:
    if isinstance(value, list):
        return [_b64_tree(v) for v in value]
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, (bytes, np.bytes_)):
        return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    raise InvalidArgument(f"a string tensor holds a {type(value).__name__}, not bytes or str")


def _from_json(value: Any, dtype: str) -> np.ndarray:
    if dtype != "string":
        return np.asarray(value, dtype=dtypes.by_name(dtype).numpy)
    return np.array(_bytes_tree(value), dtype=object)


def _bytes_tree(value: Any) -> Any:
    if isinstance(value, list):
        return [_bytes_tree(v) for v in value]
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    if isinstance(value, str):
        return value.encode("utf-8")
    return str(value).encode("utf-8")


def _tf_names() -> dict[str, str]:
    names = {}
    for number in range(1, 32):
        try:
            dtype = dtypes.by_tf_enum(number)
        except Unimplemented:
            continue
        names[dtype.tf_name] = dtype.name
    return names


_TF_NAMES = _tf_names()


def _tfs_tensor(name: str, info: Mapping[str, Any]) -> TensorInfo:
    shape_info = info.get("tensor_shape", {})
    dims = shape_info.get("dim", [])
    shape = None if shape_info.get("unknown_rank") else tuple(int(d.get("size", -1)) for d in dims)
    dtype_name = info.get("dtype", "DT_INVALID")
    return TensorInfo(name, _TF_NAMES.get(dtype_name, "string"), shape)


def _v2_tensor(tensor: Mapping[str, Any]) -> TensorInfo:
    return TensorInfo(
        tensor["name"], dtypes.by_v2_name(tensor["datatype"]).name, tuple(int(d) for d in tensor["shape"])
    )


def _json(response: requests.Response, url: str) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        try:  # NaN / Infinity tokens (Triton's writer) are not strict JSON
            body = json.loads(response.content)
        except ValueError:
            raise Internal(f"{url}: the answer is not JSON: {response.content[:120]!r}") from None
    if not isinstance(body, dict):
        raise Internal(f"{url}: the answer is not a JSON object")
    return body


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return str(body)[:300]


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Connection reset", "Connection aborted", "Remote end closed"):
        if marker in text:
            return marker.lower()
    return text.splitlines()[0][:200] if text else type(exc).__name__
