"""The Open Inference Protocol over gRPC: ``inference.GRPCInferenceService``.

Health, metadata, ModelInfer (typed ``contents`` and the ``raw_input_contents`` fast path in; always
``raw_output_contents`` out, which every V2 client reads) and the repository RPCs. Inputs are read by
:func:`~modelserve.protocols.v2.binary.decode_model_infer`, outputs written by
:func:`~modelserve.protocols.v2.binary.to_raw`. Errors become gRPC statuses through the same table as every
other front door.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format

from modelserve import __version__, dtypes
from modelserve.errors import InvalidArgument, NotFound, Unimplemented
from modelserve.metrics.record import note
from modelserve.protocols import pb, recorded
from modelserve.protocols.grpc_common import aborting, deadline_of, routing_key_of, unary_service
from modelserve.protocols.v2 import metadata, model_config
from modelserve.protocols.v2.binary import decode_model_infer, to_raw
from modelserve.protocols.v2.metadata import EXTENSIONS
from modelserve.protocols.v2.shared_memory import SharedMemoryRegions, shm_ref
from modelserve.protocols.v2.statistics import statistics_message
from modelserve.serving.service import ModelService
from modelserve.types import DEFAULT_SIGNATURE, InferRequest, InputRules, ModelRef


def parse_version(text: str) -> int | None:
    """A V2 ``model_version``: empty for "the server picks", else ASCII digits."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or int(text) >= 2**63:
        raise InvalidArgument(f"model version must be a non-negative integer, got {text!r}")
    return int(text)


def _parameters(parameters: Any) -> dict[str, Any]:
    """An ``InferParameter`` (or ``ModelRepositoryParameter``) map as plain values."""
    return {
        key: getattr(value, value.WhichOneof("parameter_choice") or "bool_param") for key, value in parameters.items()
    }


class V2GrpcApi:
    """``regions`` are the server's shared-memory regions (``None``: the extension is off)."""

    protocol = "v2_grpc"

    def __init__(
        self, service: ModelService, timeout: float | None, regions: SharedMemoryRegions | None = None
    ) -> None:
        self.service = service
        self.timeout = timeout
        self.regions = regions

    def _read_shared_memory(self, tensor: Any) -> np.ndarray:
        ref = shm_ref(tensor.name, _parameters(tensor.parameters))
        assert ref is not None and self.regions is not None
        return self.regions.read(tensor.name, tensor.datatype, tuple(int(d) for d in tensor.shape), ref)

    @aborting
    async def server_live(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerLiveResponse(live=True)

    @aborting
    async def server_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerReadyResponse(ready=self.service.ready())

    @aborting
    async def model_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            version = parse_version(request.version)
        except InvalidArgument:
            return pb.ModelReadyResponse(ready=False)
        available = self.service.available_versions(request.name)
        return pb.ModelReadyResponse(ready=(version in available) if version is not None else bool(available))

    @aborting
    async def server_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.ServerMetadataResponse(name="modelserve", version=__version__, extensions=list(EXTENSIONS))

    @aborting
    async def model_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        note(model=request.name)
        view = recorded.describe(self.service, ModelRef(request.name, parse_version(request.version)))
        signature = view.signature(DEFAULT_SIGNATURE)
        response = pb.ModelMetadataResponse(
            name=request.name,
            versions=[str(v) for v in self.service.available_versions(request.name)],
            platform=metadata.platform_name(view.platform),
        )
        for target, specs in ((response.inputs, signature.inputs), (response.outputs, signature.outputs)):
            for spec in specs.values():
                target.add(
                    name=spec.name,
                    datatype=dtypes.by_name(spec.dtype).v2_name or spec.dtype,
                    shape=list(spec.shape) if spec.shape is not None else [-1],
                )
        return response

    @aborting
    async def model_config(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        note(model=request.name)
        document = model_config.config_document(self.service, request.name, parse_version(request.version))
        return pb.ModelConfigResponse(config=json_format.ParseDict(document, pb.V2ModelConfig()))

    @aborting
    async def model_infer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        note(model=request.model_name)  # before decoding, so a refused request still counts for its model
        arrays = decode_model_infer(request, self._read_shared_memory if self.regions is not None else None)
        shm_outputs = {o.name: shm_ref(o.name, _parameters(o.parameters)) for o in request.outputs if o.parameters}
        parameters = request.parameters
        signature = parameters["signature_name"].string_param if "signature_name" in parameters else DEFAULT_SIGNATURE
        infer = InferRequest(
            ModelRef(request.model_name, parse_version(request.model_version)), arrays, signature,
            outputs=tuple(o.name for o in request.outputs), routing_key=routing_key_of(context, self.service),
            deadline=deadline_of(context, self.timeout), request_id=request.id, rules=InputRules.V2, api="infer",
        )  # fmt: skip
        answer = await recorded.infer(self.service, infer)
        response = pb.ModelInferResponse(
            model_name=request.model_name, model_version=str(answer.version), id=request.id
        )
        for name, output in answer.outputs.items():
            array = np.asarray(output)
            ref = shm_outputs.get(name)
            if ref is not None:  # written to its region; an empty raw entry keeps the outputs' order
                if self.regions is None:
                    raise Unimplemented(f"output '{name}': shared-memory tensors are not served here")
                datatype, raw = self.regions.write(name, array, ref), b""
            else:
                datatype, raw = to_raw(name, array)
            response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
            response.raw_output_contents.append(raw)
        return response

    # ---- the shared-memory extension ----

    def _regions(self) -> SharedMemoryRegions:
        if self.regions is None:
            raise Unimplemented("the system shared memory extension is off on this server")
        return self.regions

    @aborting
    async def shm_status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        response = pb.SystemSharedMemoryStatusResponse()
        for region in self._regions().status(request.name):
            response.regions[region["name"]].CopyFrom(response.RegionStatus(**region))
        return response

    @aborting
    async def shm_register(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._regions().register(request.name, request.key, request.offset, request.byte_size)
        return pb.SystemSharedMemoryRegisterResponse()

    @aborting
    async def shm_unregister(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self._regions().unregister(request.name)
        return pb.SystemSharedMemoryUnregisterResponse()

    @aborting
    async def cuda_shm_status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if request.name:
            raise NotFound(f"Unable to find cuda shared memory region: '{request.name}'")
        return pb.CudaSharedMemoryStatusResponse()

    @aborting
    async def cuda_shm_unregister(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return pb.CudaSharedMemoryUnregisterResponse()

    @aborting
    async def model_statistics(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return statistics_message(self.service, request.name, parse_version(request.version))

    @aborting
    async def repository_index(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        response = pb.RepositoryIndexResponse()
        for entry in self.service.repository_index():
            if request.ready and entry["state"] != "READY":
                continue
            response.models.add(**entry)
        return response

    @aborting
    async def repository_model_load(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        parameters = _parameters(request.parameters)  # ModelRepositoryParameter: the same oneof name
        load = model_config.load_model
        await asyncio.get_running_loop().run_in_executor(None, load, self.service, request.model_name, parameters)
        return pb.RepositoryModelLoadResponse()

    @aborting
    async def repository_model_unload(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await asyncio.get_running_loop().run_in_executor(None, self.service.unload_model, request.model_name)
        return pb.RepositoryModelUnloadResponse()


def generic_handlers(api: V2GrpcApi) -> list[grpc.GenericRpcHandler]:
    methods = {
        "ServerLive": (api.server_live, pb.ServerLiveRequest),
        "ServerReady": (api.server_ready, pb.ServerReadyRequest),
        "ModelReady": (api.model_ready, pb.ModelReadyRequest),
        "ServerMetadata": (api.server_metadata, pb.ServerMetadataRequest),
        "ModelMetadata": (api.model_metadata, pb.ModelMetadataRequest),
        "ModelInfer": (api.model_infer, pb.ModelInferRequest),
        "ModelConfig": (api.model_config, pb.ModelConfigRequest),
        "ModelStatistics": (api.model_statistics, pb.ModelStatisticsRequest),
        "SystemSharedMemoryStatus": (api.shm_status, pb.SystemSharedMemoryStatusRequest),
        "SystemSharedMemoryRegister": (api.shm_register, pb.SystemSharedMemoryRegisterRequest),
        "SystemSharedMemoryUnregister": (api.shm_unregister, pb.SystemSharedMemoryUnregisterRequest),
        "CudaSharedMemoryStatus": (api.cuda_shm_status, pb.CudaSharedMemoryStatusRequest),
        "CudaSharedMemoryUnregister": (api.cuda_shm_unregister, pb.CudaSharedMemoryUnregisterRequest),
        "RepositoryIndex": (api.repository_index, pb.RepositoryIndexRequest),
        "RepositoryModelLoad": (api.repository_model_load, pb.RepositoryModelLoadRequest),
        "RepositoryModelUnload": (api.repository_model_unload, pb.RepositoryModelUnloadRequest),
    }
    return [unary_service("inference.GRPCInferenceService", methods)]
