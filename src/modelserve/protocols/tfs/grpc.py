"""TensorFlow Serving's gRPC API: ``tensorflow.serving.PredictionService`` and ``ModelService``.

:class:`TfsGrpcApi` holds one async handler per RPC; :func:`generic_handlers` registers them on a
``grpc.aio`` server without generated stubs (our messages live in a private descriptor pool, see
:mod:`modelserve.protocols.pb`). Handlers translate messages to the serving core and back; every
:class:`~modelserve.errors.ServingError` becomes the matching gRPC status with its message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import grpc
import numpy as np
from google.protobuf import text_format

from modelserve import dtypes
from modelserve.config import ModelConfig
from modelserve.config_io import parse_model_config
from modelserve.errors import FailedPrecondition, InvalidArgument, SignatureNotFound
from modelserve.metrics.record import note
from modelserve.protocols import pb, recorded
from modelserve.protocols.grpc_common import aborting, deadline_of, routing_key_of, unary_service
from modelserve.protocols.tfs import tensor_proto
from modelserve.protocols.tfs.examples import check_multi_inference, examples_input
from modelserve.protocols.tfs.tf_example import serialized_examples
from modelserve.serving.service import ModelService
from modelserve.types import (
    CLASSIFY_METHOD,
    DEFAULT_SIGNATURE,
    REGRESS_METHOD,
    InferRequest,
    InferResponse,
    InputRules,
    ModelRef,
    Signature,
)


def _ref(model_spec: Any) -> ModelRef:
    if not model_spec.name:
        raise InvalidArgument("Missing ModelSpec")
    version = model_spec.version.value if model_spec.HasField("version") else None
    label = model_spec.version_label if model_spec.WhichOneof("version_choice") == "version_label" else None
    note(model=model_spec.name)  # before decoding, so a refused request still counts for its model
    return ModelRef(model_spec.name, version, label)


def _echo_spec(target: Any, response: InferResponse) -> None:
    target.name = response.model_name
    target.version.value = response.version
    target.signature_name = response.signature


def _examples(model_input: Any) -> np.ndarray:
    """Serialized tf.Examples of an ``Input`` as a string tensor."""
    serialized = serialized_examples(model_input)
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return array


def _fill_classification(result: Any, outputs: Mapping[str, np.ndarray], count: int) -> None:
    scores, classes = outputs.get("scores"), outputs.get("classes")
    for i in range(count):
        entry = result.classifications.add()
        width = scores.shape[1] if scores is not None else classes.shape[1]
        for j in range(width):
            item = entry.classes.add()
            if classes is not None:
                label = classes[i, j]
                item.label = label.decode("utf-8", "replace") if isinstance(label, bytes) else str(label)
            if scores is not None:
                item.score = float(scores[i, j])


def _fill_regression(result: Any, outputs: Mapping[str, np.ndarray], count: int) -> None:
    values = next(iter(outputs.values())).reshape(count, -1)
    if values.shape[1] != 1:
        raise InvalidArgument(f"Expected output Tensor shape to be [batch_size, 1] but got {list(values.shape)}")
    for value in values[:, 0]:
        result.regressions.add().value = float(value)


def model_configs(config: Any) -> tuple[ModelConfig, ...]:
    """A ``ModelServerConfig`` message as our typed config, read by the one reader of that format (the
    ``--model_config_file`` reader, on the message's text form); relative base paths are refused."""
    if config.WhichOneof("config") != "model_config_list":
        raise InvalidArgument("only model_config_list configs are supported")
    return parse_model_config(text_format.MessageToString(config), "ReloadConfigRequest.config", allow_empty=True)


class TfsGrpcApi:
    """Handlers for one server; ``timeout`` is each model call's deadline in seconds (None: no deadline).

    Predict answers with typed fields (``float_val`` ...), as TF Serving does by default, unless
    ``tensor_content`` is set (``--enable_serialization_as_tensor_content``: faster for large outputs).
    ``check_method_name`` is ``--enable_signature_method_name_check``
    (:func:`~modelserve.protocols.tfs.examples.examples_input`).
    """

    protocol = "grpc"

    def __init__(
        self,
        service: ModelService,
        timeout: float | None,
        tensor_content: bool = False,
        check_method_name: bool = False,
    ) -> None:
        self.service = service
        self.timeout = timeout
        self.tensor_content = tensor_content
        self.check_method_name = check_method_name

    def _deadline(self, context: grpc.aio.ServicerContext) -> float | None:
        return deadline_of(context, self.timeout)

    @aborting
    async def predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        inputs = {name: tensor_proto.to_numpy(proto) for name, proto in request.inputs.items()}
        signature = request.model_spec.signature_name or DEFAULT_SIGNATURE
        infer = InferRequest(
            _ref(request.model_spec), inputs, signature, outputs=tuple(request.output_filter),
            routing_key=routing_key_of(context, self.service), deadline=self._deadline(context),
            rules=InputRules.TF_SERVING, api="predict",
        )  # fmt: skip
        try:
            answer = await recorded.infer(self.service, infer)
        except SignatureNotFound as exc:
            raise FailedPrecondition(f'Serving signature key "{exc.signature}" not found.') from None
        response = pb.PredictResponse()
        _echo_spec(response.model_spec, answer)
        for name, array in answer.outputs.items():
            response.outputs[name].CopyFrom(tensor_proto.from_numpy(array, self.tensor_content))
        return response

    async def _run_examples(
        self, request: Any, method: str, context: grpc.aio.ServicerContext
    ) -> tuple[InferResponse, int]:
        ref = _ref(request.model_spec)
        name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        try:
            signature = self.service.signature(ref, name)
            input_name = examples_input(signature, method, self.check_method_name)
            examples = _examples(request.input)
            infer = InferRequest(
                ref, {input_name: examples}, signature.name,
                routing_key=routing_key_of(context, self.service), deadline=self._deadline(context),
                rules=InputRules.TF_SERVING, api="classify" if method == CLASSIFY_METHOD else "regress",
            )  # fmt: skip
            return await recorded.infer(self.service, infer), len(examples)
        except SignatureNotFound as exc:
            raise InvalidArgument(f"No signature was found with the name: {exc.signature}") from None

    @aborting
    async def classify(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        answer, count = await self._run_examples(request, CLASSIFY_METHOD, context)
        response = pb.ClassificationResponse()
        _echo_spec(response.model_spec, answer)
        _fill_classification(response.result, answer.outputs, count)
        return response

    @aborting
    async def regress(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        answer, count = await self._run_examples(request, REGRESS_METHOD, context)
        response = pb.RegressionResponse()
        _echo_spec(response.model_spec, answer)
        _fill_regression(response.result, answer.outputs, count)
        return response

    @aborting
    async def multi_inference(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        check_multi_inference(request)
        response = pb.MultiInferenceResponse()
        for task in request.tasks:
            sub = pb.ClassificationRequest(model_spec=task.model_spec, input=request.input)
            answer, count = await self._run_examples(sub, task.method_name, context)
            result = response.results.add()
            _echo_spec(result.model_spec, answer)
            if task.method_name == CLASSIFY_METHOD:
                _fill_classification(result.classification_result, answer.outputs, count)
            else:
                _fill_regression(result.regression_result, answer.outputs, count)
        return response

    @aborting
    async def get_model_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        fields = list(request.metadata_field)
        for field in fields:
            if field != "signature_def":
                raise InvalidArgument(f"Metadata field {field} is not supported")
        if not fields:
            raise InvalidArgument("GetModelMetadataRequest must specify at least one metadata_field")
        view = recorded.describe(self.service, _ref(request.model_spec))
        signature_map = pb.SignatureDefMap()
        for name, signature in view.signatures.items():
            signature_map.signature_def[name].CopyFrom(signature_def(signature))
        response = pb.GetModelMetadataResponse()
        response.model_spec.name = view.name
        response.model_spec.version.value = view.version
        response.metadata["signature_def"].CopyFrom(pb.pack_any(signature_map))
        return response

    @aborting
    async def get_model_status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        ref = _ref(request.model_spec)  # TF Serving ignores a label here
        response = pb.GetModelStatusResponse()
        for status in self.service.statuses(ref.name, ref.version):
            entry = response.model_version_status.add()
            entry.version = status.version
            entry.state = int(status.state)
            entry.status.error_code = int(status.error_code)
            entry.status.error_message = status.error_message
        return response

    @aborting
    async def handle_reload_config_request(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        models = model_configs(request.config)
        await asyncio.get_running_loop().run_in_executor(None, self.service.reload_config, models)
        return pb.ReloadConfigResponse()


def signature_def(signature: Signature) -> Any:
    message = pb.SignatureDef(method_name=signature.method_name)
    for target, specs in ((message.inputs, signature.inputs), (message.outputs, signature.outputs)):
        for alias, spec in specs.items():
            info = target[alias]
            info.name = spec.tensor_name
            info.dtype = dtypes.by_name(spec.dtype).tf_enum
            if spec.shape is None:
                info.tensor_shape.unknown_rank = True
            else:
                for size in spec.shape:
                    info.tensor_shape.dim.add().size = size
    return message


def generic_handlers(api: TfsGrpcApi) -> list[grpc.GenericRpcHandler]:
    prediction = {
        "Predict": (api.predict, pb.PredictRequest),
        "Classify": (api.classify, pb.ClassificationRequest),
        "Regress": (api.regress, pb.RegressionRequest),
        "MultiInference": (api.multi_inference, pb.MultiInferenceRequest),
        "GetModelMetadata": (api.get_model_metadata, pb.GetModelMetadataRequest),
    }
    model = {
        "GetModelStatus": (api.get_model_status, pb.GetModelStatusRequest),
        "HandleReloadConfigRequest": (api.handle_reload_config_request, pb.ReloadConfigRequest),
    }
    return [
        unary_service("tensorflow.serving.PredictionService", prediction),
        unary_service("tensorflow.serving.ModelService", model),
    ]
