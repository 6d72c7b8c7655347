"""Our protobuf messages, in a private descriptor pool.

TensorFlow Serving's and the Open Inference Protocol's gRPC messages are defined by our own .proto files
under ``protos/`` (same package, message, field and method names and numbers as the originals, so the wire
formats agree). ``scripts/gen_protos.py`` compiles them into ``protos/descriptors.binpb``; this module loads
that file into a private :class:`~google.protobuf.descriptor_pool.DescriptorPool` and builds message classes
from it. Nothing is registered in protobuf's default pool, so this module can be imported in the same
process as TensorFlow, ``tensorflow_serving.apis`` or ``tritonclient``, which register the same full names
there. No protoc, grpcio-tools or generated ``_pb2`` module is needed at run time.

    from modelserve.protocols import pb

    request = pb.PredictRequest.FromString(data)
    response = pb.PredictResponse()
    response.model_spec.name = request.model_spec.name
    pb.method_path("tensorflow.serving.PredictionService", "Predict")
    # '/tensorflow.serving.PredictionService/Predict'

Classes are plain protobuf message classes; nested types are attributes of their parent
(``pb.TensorShapeProto.Dim``, ``pb.ModelInferRequest.InferInputTensor``) and nested enum values are class
attributes (``pb.ModelVersionStatus.AVAILABLE``). A message from this pool cannot be ``CopyFrom``-ed into
or out of TensorFlow's class of the same name: convert through bytes (``SerializeToString``/``FromString``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any as _AnyType

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message, message_factory
from google.protobuf.internal import enum_type_wrapper

DESCRIPTOR_SET = Path(__file__).with_name("protos") / "descriptors.binpb"
"""The compiled ``FileDescriptorSet`` (regenerate with ``scripts/gen_protos.py``)."""

TYPE_URL_PREFIX = "type.googleapis.com/"


def _load_pool(path: Path) -> descriptor_pool.DescriptorPool:
    files = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes()).file
    pool = descriptor_pool.DescriptorPool()
    for file_proto in files:  # protoc writes dependencies before their importers
        pool.AddSerializedFile(file_proto.SerializeToString())
    return pool


POOL: descriptor_pool.DescriptorPool = _load_pool(DESCRIPTOR_SET)
"""The private pool holding every message, enum and service defined under ``protos/``."""


def message_class(full_name: str) -> type[message.Message]:
    """The message class for a full name in :data:`POOL`, e.g. ``"tensorflow.serving.PredictRequest"``."""
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(full_name))


def enum_type(full_name: str) -> enum_type_wrapper.EnumTypeWrapper:
    """An enum of :data:`POOL` with ``Name``/``Value`` lookups, e.g. ``enum_type("tensorflow.DataType")``."""
    return enum_type_wrapper.EnumTypeWrapper(POOL.FindEnumTypeByName(full_name))


def service(full_name: str) -> descriptor.ServiceDescriptor:
    """A service descriptor, e.g. ``service("inference.GRPCInferenceService")``."""
    return POOL.FindServiceByName(full_name)


def method_path(service_name: str, method: str) -> str:
    """The gRPC path of a method, ``/<package>.<Service>/<Method>``; raises ``KeyError`` if there is none."""
    found = service(service_name).methods_by_name.get(method)
    if found is None:
        raise KeyError(f"{service_name} has no method {method!r}")
    return f"/{service_name}/{found.name}"


def method_paths(service_name: str) -> dict[str, str]:
    """Every method of a service, by name, to its gRPC path."""
    return {m.name: f"/{service_name}/{m.name}" for m in service(service_name).methods}


def method_types(service_name: str, method: str) -> tuple[type[message.Message], type[message.Message]]:
    """The request and response classes of a method."""
    found = service(service_name).methods_by_name[method]
    return (
        message_factory.GetMessageClass(found.input_type),
        message_factory.GetMessageClass(found.output_type),
    )


# --- services (full names, as gRPC and reflection know them) ---

PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
INFERENCE_SERVICE = "inference.GRPCInferenceService"
SERVICE_NAMES = (PREDICTION_SERVICE, MODEL_SERVICE, INFERENCE_SERVICE)

# --- well-known types (this pool's own copies) ---

Any = message_class("google.protobuf.Any")
Int64Value = message_class("google.protobuf.Int64Value")

# --- TensorFlow core (package tensorflow) ---

DataType = enum_type("tensorflow.DataType")
TensorShapeProto = message_class("tensorflow.TensorShapeProto")
TensorProto = message_class("tensorflow.TensorProto")
BytesList = message_class("tensorflow.BytesList")
FloatList = message_class("tensorflow.FloatList")
Int64List = message_class("tensorflow.Int64List")
Feature = message_class("tensorflow.Feature")
Features = message_class("tensorflow.Features")
Example = message_class("tensorflow.Example")
TensorInfo = message_class("tensorflow.TensorInfo")
SignatureDef = message_class("tensorflow.SignatureDef")
ErrorCode = enum_type("tensorflow.error.Code")

# --- TensorFlow Serving (package tensorflow.serving) ---

ModelSpec = message_class("tensorflow.serving.ModelSpec")
PredictRequest = message_class("tensorflow.serving.PredictRequest")
PredictResponse = message_class("tensorflow.serving.PredictResponse")
ExampleList = message_class("tensorflow.serving.ExampleList")
ExampleListWithContext = message_class("tensorflow.serving.ExampleListWithContext")
Input = message_class("tensorflow.serving.Input")
Class = message_class("tensorflow.serving.Class")
Classifications = message_class("tensorflow.serving.Classifications")
ClassificationResult = message_class("tensorflow.serving.ClassificationResult")
ClassificationRequest = message_class("tensorflow.serving.ClassificationRequest")
ClassificationResponse = message_class("tensorflow.serving.ClassificationResponse")
Regression = message_class("tensorflow.serving.Regression")
RegressionResult = message_class("tensorflow.serving.RegressionResult")
RegressionRequest = message_class("tensorflow.serving.RegressionRequest")
RegressionResponse = message_class("tensorflow.serving.RegressionResponse")
InferenceTask = message_class("tensorflow.serving.InferenceTask")
InferenceResult = message_class("tensorflow.serving.InferenceResult")
MultiInferenceRequest = message_class("tensorflow.serving.MultiInferenceRequest")
MultiInferenceResponse = message_class("tensorflow.serving.MultiInferenceResponse")
SignatureDefMap = message_class("tensorflow.serving.SignatureDefMap")
GetModelMetadataRequest = message_class("tensorflow.serving.GetModelMetadataRequest")
GetModelMetadataResponse = message_class("tensorflow.serving.GetModelMetadataResponse")
StatusProto = message_class("tensorflow.serving.StatusProto")
ModelVersionStatus = message_class("tensorflow.serving.ModelVersionStatus")
GetModelStatusRequest = message_class("tensorflow.serving.GetModelStatusRequest")
GetModelStatusResponse = message_class("tensorflow.serving.GetModelStatusResponse")
ServableVersionPolicy = message_class("tensorflow.serving.FileSystemStoragePathSourceConfig.ServableVersionPolicy")
ModelType = enum_type("tensorflow.serving.ModelType")
ModelConfig = message_class("tensorflow.serving.ModelConfig")
ModelConfigList = message_class("tensorflow.serving.ModelConfigList")
ModelServerConfig = message_class("tensorflow.serving.ModelServerConfig")
Metric = message_class("tensorflow.serving.Metric")
ReloadConfigRequest = message_class("tensorflow.serving.ReloadConfigRequest")
ReloadConfigResponse = message_class("tensorflow.serving.ReloadConfigResponse")

# --- Open Inference Protocol / Triton (package inference) ---

ServerLiveRequest = message_class("inference.ServerLiveRequest")
ServerLiveResponse = message_class("inference.ServerLiveResponse")
ServerReadyRequest = message_class("inference.ServerReadyRequest")
ServerReadyResponse = message_class("inference.ServerReadyResponse")
ModelReadyRequest = message_class("inference.ModelReadyRequest")
ModelReadyResponse = message_class("inference.ModelReadyResponse")
ServerMetadataRequest = message_class("inference.ServerMetadataRequest")
ServerMetadataResponse = message_class("inference.ServerMetadataResponse")
ModelMetadataRequest = message_class("inference.ModelMetadataRequest")
ModelMetadataResponse = message_class("inference.ModelMetadataResponse")
TensorMetadata = ModelMetadataResponse.TensorMetadata
InferParameter = message_class("inference.InferParameter")
InferTensorContents = message_class("inference.InferTensorContents")
ModelInferRequest = message_class("inference.ModelInferRequest")
InferInputTensor = ModelInferRequest.InferInputTensor
InferRequestedOutputTensor = ModelInferRequest.InferRequestedOutputTensor
ModelInferResponse = message_class("inference.ModelInferResponse")
InferOutputTensor = ModelInferResponse.InferOutputTensor
ModelConfigRequest = message_class("inference.ModelConfigRequest")
ModelConfigResponse = message_class("inference.ModelConfigResponse")
V2DataType = enum_type("inference.DataType")
V2ModelConfig = message_class("inference.ModelConfig")
"""Triton's ``inference.ModelConfig`` (``ModelConfig`` here is TF Serving's)."""
ModelVersionPolicy = message_class("inference.ModelVersionPolicy")
ModelInput = message_class("inference.ModelInput")
ModelOutput = message_class("inference.ModelOutput")
ModelTensorReshape = message_class("inference.ModelTensorReshape")
ModelRepositoryParameter = message_class("inference.ModelRepositoryParameter")
RepositoryIndexRequest = message_class("inference.RepositoryIndexRequest")
RepositoryIndexResponse = message_class("inference.RepositoryIndexResponse")
ModelIndex = RepositoryIndexResponse.ModelIndex
RepositoryModelLoadRequest = message_class("inference.RepositoryModelLoadRequest")
RepositoryModelLoadResponse = message_class("inference.RepositoryModelLoadResponse")
RepositoryModelUnloadRequest = message_class("inference.RepositoryModelUnloadRequest")
RepositoryModelUnloadResponse = message_class("inference.RepositoryModelUnloadResponse")
ModelStatisticsRequest = message_class("inference.ModelStatisticsRequest")
ModelStatisticsResponse = message_class("inference.ModelStatisticsResponse")
SystemSharedMemoryStatusRequest = message_class("inference.SystemSharedMemoryStatusRequest")
SystemSharedMemoryStatusResponse = message_class("inference.SystemSharedMemoryStatusResponse")
SystemSharedMemoryRegisterRequest = message_class("inference.SystemSharedMemoryRegisterRequest")
SystemSharedMemoryRegisterResponse = message_class("inference.SystemSharedMemoryRegisterResponse")
SystemSharedMemoryUnregisterRequest = message_class("inference.SystemSharedMemoryUnregisterRequest")
SystemSharedMemoryUnregisterResponse = message_class("inference.SystemSharedMemoryUnregisterResponse")
CudaSharedMemoryStatusRequest = message_class("inference.CudaSharedMemoryStatusRequest")
CudaSharedMemoryStatusResponse = message_class("inference.CudaSharedMemoryStatusResponse")
CudaSharedMemoryUnregisterRequest = message_class("inference.CudaSharedMemoryUnregisterRequest")
CudaSharedMemoryUnregisterResponse = message_class("inference.CudaSharedMemoryUnregisterResponse")


# --- Any ---


def pack_any(msg: message.Message) -> _AnyType:
    """An ``Any`` (of this pool) holding ``msg``: ``type.googleapis.com/<full name>`` and its bytes.

    Works for a message of any pool (ours, TensorFlow's): only its full name and bytes are used.
    """
    return Any(type_url=TYPE_URL_PREFIX + msg.DESCRIPTOR.full_name, value=msg.SerializeToString())


def unpack_any(packed: message.Message, cls: type[message.Message]) -> message.Message:
    """The message inside an ``Any`` (of any pool) as a ``cls``; ``ValueError`` if it holds another type.

    The type is the part of ``type_url`` after its last ``/``, as protobuf defines it.
    """
    held = packed.type_url.rpartition("/")[2]
    expected = cls.DESCRIPTOR.full_name
    if held != expected:
        raise ValueError(f"Any holds {held or 'nothing'} (type_url {packed.type_url!r}), not {expected}")
    return cls.FromString(packed.value)


def packed_numbers(msg: message.Message, field_name: str, dtype: _AnyType) -> _AnyType:
    """A packed repeated fixed-width field (``float``, ``double``) of ``msg`` as a read-only numpy array,
    straight from the wire bytes: one copy instead of one Python float per element. ``dtype`` is the numpy
    little-endian type of the field (``<f4``, ``<f8``). Returns None when the field is not one packed run
    (then read the container the usual way)."""
    import numpy as np

    number = msg.DESCRIPTOR.fields_by_name[field_name].number
    data = msg.SerializeToString()
    position, size, found = 0, len(data), None
    while position < size:
        key, position = _varint(data, position)
        wire = key & 7
        if key >> 3 == number:
            if wire != 2 or found is not None:
                return None
            length, position = _varint(data, position)
            found = (position, length)
            position += length
        elif wire == 0:
            _, position = _varint(data, position)
        elif wire == 1:
            position += 8
        elif wire == 2:
            length, position = _varint(data, position)
            position += length
        elif wire == 5:
            position += 4
        else:
            return None
    itemsize = np.dtype(dtype).itemsize
    if found is None:
        return np.empty(0, dtype)
    start, length = found
    if length % itemsize:
        return None
    return np.frombuffer(data, dtype=dtype, count=length // itemsize, offset=start)


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
