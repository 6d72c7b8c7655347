"""gRPC clients for TF Serving's ``PredictionService`` and the V2 ``GRPCInferenceService``.

Same contract as :mod:`modelserve.batch.rest_client`: ``describe`` reads metadata once, ``predict`` sends one
batch. Messages come from our own descriptor pool (:mod:`modelserve.protocols.pb`), so no TensorFlow and no
generated stubs are needed. gRPC status codes become ServingErrors with the same code.

TF Serving: ``Predict`` with ``TensorProto`` inputs (``tensor_content`` for numbers); metadata from
``GetModelMetadata``. V2: ``ModelInfer`` with ``raw_input_contents`` (the binary layout), outputs read from
``raw_output_contents``; metadata from ``ModelMetadata`` (the default signature; other signatures are
called with the ``signature_name`` parameter, as modelserve reads it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import grpc
import numpy as np

from modelserve import dtypes
from modelserve.batch.client_errors import error
from modelserve.batch.info import ModelInfo, TensorInfo
from modelserve.batch.rest_client import RemoteClient, require_default_signature
from modelserve.batch.targets import ServerTarget
from modelserve.errors import Code, Internal, ServingError
from modelserve.protocols import pb
from modelserve.protocols.status import code_of_grpc
from modelserve.protocols.tfs import tensor_proto
from modelserve.protocols.v2 import binary
from modelserve.types import DEFAULT_SIGNATURE

Arrays = dict[str, np.ndarray]

#: Batches can be large: lift gRPC's 4 MiB default on both directions.
MAX_MESSAGE_BYTES = 2**31 - 1


class GrpcClient(RemoteClient):
    def __init__(self, target: ServerTarget, timeout: float) -> None:
        super().__init__(target, timeout)
        self._channel = grpc.insecure_channel(
            target.address,
            options=[
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )

    def close(self) -> None:
        self._channel.close()

    def _method(self, service: str, method: str) -> Callable[..., Any]:
        _request_type, response_type = pb.method_types(service, method)
        return self._channel.unary_unary(
            pb.method_path(service, method),
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_type.FromString,
        )

    def _invoke(self, call: Callable[..., Any], request: Any) -> Any:
        try:
            return call(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            status = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise error(code_of_grpc(status), f"{self._where()}: {status.name}: {details}") from None


class TfsGrpcClient(GrpcClient):
    """TF Serving's gRPC API: modelserve, TensorFlow Serving."""

    def __init__(self, target: ServerTarget, timeout: float) -> None:
        super().__init__(target, timeout)
        self._predict = self._method(pb.PREDICTION_SERVICE, "Predict")
        self._metadata = self._method(pb.PREDICTION_SERVICE, "GetModelMetadata")

    def _spec(self, spec: Any, signature: str = "") -> None:
        spec.name = self.target.model
        if self.target.version is not None:
            spec.version.value = self.target.version
        elif self.target.label is not None:
            spec.version_label = self.target.label
        if signature:
            spec.signature_name = signature

    def _describe(self, signature: str) -> ModelInfo:
        request = pb.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec)
        response = self._invoke(self._metadata, request)
        try:
            defs = pb.unpack_any(response.metadata["signature_def"], pb.SignatureDefMap).signature_def
        except (KeyError, ValueError):
            raise Internal(f"{self._where()}: GetModelMetadata returned no signature_def") from None
        if signature not in defs:
            known = ", ".join(sorted(defs)) or "none"
            raise error(Code.NOT_FOUND, f"{self._where()}: no signature {signature!r}; it has: {known}")
        definition = defs[signature]
        version = response.model_spec.version.value if response.model_spec.HasField("version") else None
        return ModelInfo(
            self.target.model_id(version),
            signature,
            tuple(_tf_tensor(n, t) for n, t in definition.inputs.items()),
            tuple(_tf_tensor(n, t) for n, t in definition.outputs.items()),
            pid=0,
        )

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> tuple[str, Arrays]:
        request = pb.PredictRequest()
        self._spec(request.model_spec, signature)
        for name, array in inputs.items():
            request.inputs[name].CopyFrom(tensor_proto.from_numpy(np.asarray(array)))
        response = self._invoke(self._predict, request)
        outputs = {name: tensor_proto.to_numpy(proto) for name, proto in response.outputs.items()}
        version = response.model_spec.version.value if response.model_spec.HasField("version") else None
        return self.target.model_id(version), outputs


class V2GrpcClient(GrpcClient):
    """The Open Inference Protocol over gRPC: modelserve, KServe, Triton, MLServer."""

    def __init__(self, target: ServerTarget, timeout: float) -> None:
        super().__init__(target, timeout)
        self._infer = self._method(pb.INFERENCE_SERVICE, "ModelInfer")
        self._metadata = self._method(pb.INFERENCE_SERVICE, "ModelMetadata")
        self._version = "" if target.version is None else str(target.version)

    def _describe(self, signature: str) -> ModelInfo:
        require_default_signature(self.target, signature)
        response = self._invoke(self._metadata, pb.ModelMetadataRequest(name=self.target.model, version=self._version))
        versions = [v for v in response.versions if v.isdigit()]
        version = self.target.version or (max(versions, key=int) if versions else None)
        return ModelInfo(
            self.target.model_id(version),
            signature,
            tuple(_v2_tensor(t) for t in response.inputs),
            tuple(_v2_tensor(t) for t in response.outputs),
            response.platform,
            pid=0,
        )

    def predict(self, signature: str, inputs: Mapping[str, np.ndarray]) -> tuple[str, Arrays]:
        request = pb.ModelInferRequest(model_name=self.target.model, model_version=self._version)
        if signature != DEFAULT_SIGNATURE:
            request.parameters["signature_name"].string_param = signature
        for name, array in inputs.items():
            array = np.asarray(array)
            datatype, raw = binary.to_raw(name, array)
            request.inputs.add(name=name, datatype=datatype, shape=list(array.shape))
            request.raw_input_contents.append(raw)
        response = self._invoke(self._infer, request)
        raw_outputs = list(response.raw_output_contents)
        if len(raw_outputs) != len(response.outputs):
            raise Internal(f"{self._where()}: {len(raw_outputs)} raw outputs for {len(response.outputs)} outputs")
        outputs = {
            t.name: binary.from_raw(t.name, t.datatype, tuple(t.shape), raw, "raw_output_contents").copy()
            for t, raw in zip(response.outputs, raw_outputs)
        }
        return self.target.model_id(response.model_version), outputs


def _tf_tensor(name: str, info: Any) -> TensorInfo:
    shape_proto = info.tensor_shape
    shape = None if shape_proto.unknown_rank else tuple(d.size for d in shape_proto.dim)
    try:
        dtype = dtypes.by_tf_enum(info.dtype).name
    except ServingError:
        dtype = "string"
    return TensorInfo(name, dtype, shape)


def _v2_tensor(tensor: Any) -> TensorInfo:
    return TensorInfo(tensor.name, dtypes.by_v2_name(tensor.datatype).name, tuple(tensor.shape))
