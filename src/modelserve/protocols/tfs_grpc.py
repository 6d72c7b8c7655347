"""TensorFlow Serving's gRPC API: ``tensorflow.serving.PredictionService`` and ``ModelService``.

:class:`TfsGrpcApi` holds one async handler per RPC; :func:`generic_handlers` registers them on a
``grpc.aio`` server without generated stubs (our messages live in a private descriptor pool, see
:mod:`modelserve.protocols.pb`). Handlers translate messages to the serving core and back; every
:class:`~modelserve.errors.ServingError` becomes the matching gRPC status with its message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from modelserve import dtypes
from modelserve.config import All, Latest, ModelConfig, Specific, VersionPolicy
from modelserve.errors import FailedPrecondition, InvalidArgument, Unimplemented
from modelserve.protocols import pb, tensor_proto
from modelserve.protocols.grpc_common import aborting, unary_service
from modelserve.protocols.tf_example import serialized_examples
from modelserve.repository.remote import check_url, is_url
from modelserve.serving.handle import ServedVersion
from modelserve.serving.service import ModelService
from modelserve.types import CLASSIFY_METHOD, DEFAULT_SIGNATURE, REGRESS_METHOD, Signature, TensorSpec
from modelserve.validation import check_shapes


def _ref(model_spec: Any) -> tuple[str, int | None, str | None]:
    if not model_spec.name:
        raise InvalidArgument("Missing ModelSpec")
    version = model_spec.version.value if model_spec.HasField("version") else None
    label = model_spec.version_label if model_spec.WhichOneof("version_choice") == "version_label" else None
    return model_spec.name, version, label


def _signature(served: ServedVersion, name: str, for_examples: bool = False) -> Signature:
    """TF Serving's messages: Predict's FAILED_PRECONDITION, Classify/Regress's INVALID_ARGUMENT."""
    name = name or DEFAULT_SIGNATURE
    signature = served.model.signatures.get(name)
    if signature is None:
        if for_examples:
            raise InvalidArgument(f"No signature was found with the name: {name}")
        raise FailedPrecondition(f'Serving signature key "{name}" not found.')
    return signature


def _echo_spec(target: Any, served: ServedVersion, signature_name: str) -> None:
    target.name = served.model_name
    target.version.value = served.version
    target.signature_name = signature_name


def _predict_inputs(signature: Signature, protos: Mapping[str, Any], strict_shapes: bool) -> dict[str, np.ndarray]:
    sent, expected = set(protos), set(signature.inputs)
    if sent != expected:
        extra, missing = sorted(sent - expected), sorted(expected - sent)
        raise InvalidArgument(
            f"input size does not match signature: {len(sent)}!={len(expected)} len({{{','.join(sorted(sent))}}}) "
            f"!= len({{{','.join(sorted(expected))}}}). Sent extra: {{{','.join(extra)}}}. "
            f"Missing but required: {{{','.join(missing)}}}."
        )
    arrays = {}
    for index, (name, spec) in enumerate(signature.inputs.items()):
        array = tensor_proto.to_numpy(protos[name])
        arrays[name] = _matching_dtype(index, spec, array)
    if strict_shapes:
        check_shapes(signature, arrays)
    return arrays


def _matching_dtype(index: int, spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    given = dtypes.by_numpy(array.dtype).name
    if given == spec.dtype or (spec.quantization is not None and array.dtype.kind == "f"):
        return array
    expected_tf, given_tf = dtypes.by_name(spec.dtype).tf_name, dtypes.by_name(given).tf_name
    raise InvalidArgument(
        f"Expects arg[{index}] to be {expected_tf[3:].lower()} but {given_tf[3:].lower()} is provided "
        f"(input '{spec.name}')"
    )


def _examples(model_input: Any) -> np.ndarray:
    """Serialized tf.Examples of an ``Input`` as a string tensor."""
    serialized = serialized_examples(model_input)
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return array


def _check_method(signature: Signature, method: str) -> None:
    if signature.method_name != method:
        kind = "classification" if method == CLASSIFY_METHOD else "regression"
        raise InvalidArgument(f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}")


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


def _policy(message: Any) -> VersionPolicy:
    kind = message.WhichOneof("policy_choice")
    if kind == "all":
        return All()
    if kind == "specific":
        return Specific(tuple(message.specific.versions))
    if kind == "latest":
        return Latest(message.latest.num_versions or 1)
    return Latest(1)


def model_configs(config: Any) -> tuple[ModelConfig, ...]:
    """A ``ModelServerConfig`` message as our typed config."""
    if config.WhichOneof("config") != "model_config_list":
        raise InvalidArgument("only model_config_list configs are supported")
    for c in config.model_config_list.config:
        if not c.name:
            raise InvalidArgument("a model config has no name")
        if not is_url(c.base_path) and not Path(c.base_path).is_absolute():
            raise InvalidArgument(f"base_path of model {c.name} must be absolute, got {c.base_path!r}")
    return tuple(
        ModelConfig(
            name=c.name,
            base_path=check_url(c.base_path) if is_url(c.base_path) else Path(c.base_path),
            platform=c.model_platform or None,
            policy=_policy(c.model_version_policy),
            labels=tuple(sorted(c.version_labels.items())),
        )
        for c in config.model_config_list.config
    )


class TfsGrpcApi:
    """Handlers for one server; ``timeout`` is each model call's deadline in seconds (None: no deadline).

    Predict answers with typed fields (``float_val`` ...), as TF Serving does by default, unless
    ``tensor_content`` is set (``--enable_serialization_as_tensor_content``: faster for large outputs).
    """

    protocol = "grpc"

    def __init__(self, service: ModelService, timeout: float | None, tensor_content: bool = False) -> None:
        self.service = service
        self.timeout = timeout
        self.tensor_content = tensor_content

    @aborting
    async def predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        with self.service.borrow(*_ref(request.model_spec)) as served:
            signature = _signature(served, request.model_spec.signature_name)
            inputs = _predict_inputs(signature, request.inputs, served.model.strict_shapes)
            wanted = list(request.output_filter)
            if len(set(wanted)) != len(wanted):
                duplicate = next(a for a in wanted if wanted.count(a) > 1)
                raise InvalidArgument(f"duplicate output tensor alias: {duplicate}")
            for alias in wanted:
                if alias not in signature.outputs:
                    raise InvalidArgument(
                        f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                        f"{{{','.join(sorted(signature.outputs))}}}."
                    )
            outputs = await self.service.run(served, signature.name, inputs, self.timeout)
            response = pb.PredictResponse()
            _echo_spec(response.model_spec, served, signature.name)
            for name in wanted or list(outputs):
                response.outputs[name].CopyFrom(tensor_proto.from_numpy(outputs[name], self.tensor_content))
            return response

    async def _run_examples(self, request: Any, method: str) -> tuple[ServedVersion, Signature, dict, int]:
        served = self.service.borrow(*_ref(request.model_spec))
        with served:
            signature = _signature(served, request.model_spec.signature_name, for_examples=True)
            _check_method(signature, method)
            examples = _examples(request.input)
            inputs = {next(iter(signature.inputs)): examples}
            outputs = await self.service.run(served, signature.name, inputs, self.timeout)
        return served, signature, outputs, len(examples)

    @aborting
    async def classify(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        served, signature, outputs, count = await self._run_examples(request, CLASSIFY_METHOD)
        response = pb.ClassificationResponse()
        _echo_spec(response.model_spec, served, signature.name)
        _fill_classification(response.result, outputs, count)
        return response

    @aborting
    async def regress(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        served, signature, outputs, count = await self._run_examples(request, REGRESS_METHOD)
        response = pb.RegressionResponse()
        _echo_spec(response.model_spec, served, signature.name)
        _fill_regression(response.result, outputs, count)
        return response

    @aborting
    async def multi_inference(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if not request.tasks:
            raise InvalidArgument("Inference request is empty")
        names = {task.model_spec.name for task in request.tasks}
        if "" in names:
            raise InvalidArgument("Found ModelSpec with an empty model name.")
        if len(names) != 1:
            raise InvalidArgument("All ModelSpecs in a MultiInferenceRequest must access the same model name.")
        signature_names = [task.model_spec.signature_name or DEFAULT_SIGNATURE for task in request.tasks]
        for name in signature_names:
            if signature_names.count(name) > 1:
                raise InvalidArgument(f"Duplicate evaluation of signature: {name}")
        response = pb.MultiInferenceResponse()
        for task in request.tasks:
            if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
                raise Unimplemented(f"Unsupported signature method_name: {task.method_name}")
            sub = pb.ClassificationRequest(model_spec=task.model_spec, input=request.input)
            served, signature, outputs, count = await self._run_examples(sub, task.method_name)
            result = response.results.add()
            _echo_spec(result.model_spec, served, signature.name)
            if task.method_name == CLASSIFY_METHOD:
                _fill_classification(result.classification_result, outputs, count)
            else:
                _fill_regression(result.regression_result, outputs, count)
        return response

    @aborting
    async def get_model_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        fields = list(request.metadata_field)
        for field in fields:
            if field != "signature_def":
                raise InvalidArgument(f"Metadata field {field} is not supported")
        if not fields:
            raise InvalidArgument("GetModelMetadataRequest must specify at least one metadata_field")
        with self.service.borrow(*_ref(request.model_spec)) as served:
            signature_map = pb.SignatureDefMap()
            for name, signature in served.model.signatures.items():
                signature_map.signature_def[name].CopyFrom(signature_def(signature))
            response = pb.GetModelMetadataResponse()
            _echo_spec(response.model_spec, served, "")
            response.model_spec.ClearField("signature_name")
            response.metadata["signature_def"].CopyFrom(pb.pack_any(signature_map))
            return response

    @aborting
    async def get_model_status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        name, version, _label = _ref(request.model_spec)  # TF Serving ignores a label here
        response = pb.GetModelStatusResponse()
        for status in self.service.statuses(name, version):
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
