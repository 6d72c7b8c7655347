"""The calls Triton's own Python client examples make, with the official ``tritonclient``, against a stand-in of
their model ``simple`` (INT32 ``[-1, 16]`` INPUT0/INPUT1 -> sum OUTPUT0, difference OUTPUT1, as ONNX).

Mirrors ``simple_http_infer_client.py`` / ``simple_grpc_infer_client.py`` (infer, then statistics),
``simple_http_shm_client.py`` / ``simple_grpc_shm_client.py`` (system shared memory for inputs and outputs),
and checks the extension list and the shared-memory safety rules (bounds, keys).
"""

from __future__ import annotations

import importlib
import os
import sys
import types
import uuid

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from factories import onnx_triton_simple, onnx_triton_simple_string


def _shared_memory_module():
    """``tritonclient.utils.shared_memory`` finds its C library through ``pkg_resources``, which setuptools 81+
    no longer ships; give it the one function it uses when it is missing."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: os.path.join(  # type: ignore[attr-defined]
            os.path.dirname(importlib.import_module(package).__file__), name
        )
        sys.modules["pkg_resources"] = shim
    import tritonclient.utils.shared_memory as shm

    return shm


@pytest.fixture(scope="module")
def simple_server(tmp_path_factory):
    from servers import ServerProcess

    root = tmp_path_factory.mktemp("triton")
    onnx_triton_simple(root / "simple" / "1")
    onnx_triton_simple_string(root / "simple_string" / "1")
    server = ServerProcess(
        f"--model_repository={root}", "--file_system_poll_wait_seconds=0", log_path=root / "server.log"
    )
    server.wait_ready(path="/readyz")
    yield server
    server.stop()


@pytest.fixture(params=["http", "grpc"])
def client(request, simple_server):
    if request.param == "http":
        made = triton_http.InferenceServerClient(simple_server.url.removeprefix("http://"))
    else:
        made = triton_grpc.InferenceServerClient(simple_server.grpc_target)
    yield request.param, made
    made.close()


def _module(kind: str):
    return triton_http if kind == "http" else triton_grpc


INPUT0 = np.arange(16, dtype=np.int32).reshape(1, 16)
INPUT1 = np.full((1, 16), -1, dtype=np.int32)


def test_simple_infer_then_statistics(client):
    """simple_*_infer_client.py: one input as JSON/contents, one binary; then the statistics of ``simple``."""
    kind, triton = client
    module = _module(kind)
    inputs = [module.InferInput("INPUT0", [1, 16], "INT32"), module.InferInput("INPUT1", [1, 16], "INT32")]
    if kind == "http":
        inputs[0].set_data_from_numpy(INPUT0, binary_data=False)
        inputs[1].set_data_from_numpy(INPUT1, binary_data=True)
        outputs = [
            module.InferRequestedOutput("OUTPUT0", binary_data=True),
            module.InferRequestedOutput("OUTPUT1", binary_data=False),
        ]
        result = triton.infer("simple", inputs, outputs=outputs, query_params={"test_1": 1, "test_2": 2})
    else:
        inputs[0].set_data_from_numpy(INPUT0)
        inputs[1].set_data_from_numpy(INPUT1)
        outputs = [module.InferRequestedOutput("OUTPUT0"), module.InferRequestedOutput("OUTPUT1")]
        result = triton.infer("simple", inputs, outputs=outputs)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), INPUT0 + INPUT1)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), INPUT0 - INPUT1)

    statistics = triton.get_inference_statistics(model_name="simple")
    stats = statistics["model_stats"] if kind == "http" else statistics.model_stats
    assert len(stats) == 1
    one = stats[0] if kind == "http" else _as_dict(stats[0])
    assert one["name"] == "simple" and one["version"] == "1"
    assert int(one["inference_count"]) >= 1 and int(one["execution_count"]) >= 1
    assert int(one["last_inference"]) > 0
    success = one["inference_stats"]["success"]
    assert int(success["count"]) >= 1 and int(success["ns"]) > 0
    assert int(one["inference_stats"]["compute_infer"]["count"]) >= 1
    assert any(int(b["batch_size"]) == 1 for b in one["batch_stats"])


def _as_dict(message) -> dict:
    from google.protobuf import json_format

    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def test_statistics_of_every_model_and_errors(client):
    kind, triton = client
    every = triton.get_inference_statistics()
    names = [s["name"] for s in every["model_stats"]] if kind == "http" else [s.name for s in every.model_stats]
    assert sorted(names) == ["simple", "simple_string"]
    one_version = triton.get_inference_statistics(model_name="simple", model_version="1")
    assert len(one_version["model_stats"] if kind == "http" else one_version.model_stats) == 1
    with pytest.raises(InferenceServerException, match="requested model 'nope' is not available"):
        triton.get_inference_statistics(model_name="nope")
    with pytest.raises(InferenceServerException, match="requested model version is not available"):
        triton.get_inference_statistics(model_name="simple", model_version="9")


def test_extensions_tell_the_truth(client):
    kind, triton = client
    metadata = triton.get_server_metadata()
    extensions = metadata["extensions"] if kind == "http" else list(metadata.extensions)
    for extension in ("binary_tensor_data", "statistics", "system_shared_memory", "model_repository"):
        assert extension in extensions
    assert "cuda_shared_memory" not in extensions


@pytest.fixture
def shm():
    module = _shared_memory_module()
    handles = []
    yield module, handles
    for handle in handles:
        module.destroy_shared_memory_region(handle)


def test_shared_memory_inputs_and_outputs(client, shm):
    """simple_*_shm_client.py, call for call."""
    kind, triton = client
    module = _module(kind)
    shm_module, handles = shm
    tag = uuid.uuid4().hex[:8]
    triton.unregister_system_shared_memory()
    triton.unregister_cuda_shared_memory()
    byte_size = INPUT0.size * INPUT0.itemsize
    output_handle = shm_module.create_shared_memory_region("output_data", f"/output_simple_{tag}", byte_size * 2)
    input_handle = shm_module.create_shared_memory_region("input_data", f"/input_simple_{tag}", byte_size * 2)
    handles += [output_handle, input_handle]
    triton.register_system_shared_memory("output_data", f"/output_simple_{tag}", byte_size * 2)
    shm_module.set_shared_memory_region(input_handle, [INPUT0, INPUT1])
    triton.register_system_shared_memory("input_data", f"/input_simple_{tag}", byte_size * 2)
    status = triton.get_system_shared_memory_status()
    names = [r["name"] for r in status] if kind == "http" else list(status.regions)
    assert sorted(names) == ["input_data", "output_data"]

    inputs = [module.InferInput("INPUT0", [1, 16], "INT32"), module.InferInput("INPUT1", [1, 16], "INT32")]
    inputs[0].set_shared_memory("input_data", byte_size)
    inputs[1].set_shared_memory("input_data", byte_size, offset=byte_size)
    outputs = [
        module.InferRequestedOutput("OUTPUT0", binary_data=True)
        if kind == "http"
        else module.InferRequestedOutput("OUTPUT0"),
        module.InferRequestedOutput("OUTPUT1", binary_data=True)
        if kind == "http"
        else module.InferRequestedOutput("OUTPUT1"),
    ]
    outputs[0].set_shared_memory("output_data", byte_size)
    outputs[1].set_shared_memory("output_data", byte_size, offset=byte_size)
    result = triton.infer("simple", inputs, outputs=outputs)

    for index, (name, expected) in enumerate((("OUTPUT0", INPUT0 + INPUT1), ("OUTPUT1", INPUT0 - INPUT1))):
        output = result.get_output(name)
        datatype = output["datatype"] if kind == "http" else output.datatype
        shape = output["shape"] if kind == "http" else list(output.shape)
        assert (datatype, shape) == ("INT32", [1, 16])
        got = shm_module.get_contents_as_numpy(output_handle, np.int32, shape, offset=index * byte_size)
        np.testing.assert_array_equal(got, expected)

    triton.unregister_system_shared_memory("input_data")
    with pytest.raises(InferenceServerException, match="Unable to find shared memory region: 'input_data'"):
        triton.infer("simple", inputs, outputs=outputs)
    triton.unregister_system_shared_memory()
    status = triton.get_system_shared_memory_status()
    assert len(status) == 0 if kind == "http" else len(status.regions) == 0


def test_shared_memory_strings(client, shm):
    """simple_*_shm_string_client.py: BYTES tensors, length-prefixed, in and out through regions sized exactly."""
    from tritonclient import utils

    kind, triton = client
    module = _module(kind)
    shm_module, handles = shm
    tag = uuid.uuid4().hex[:8]
    triton.unregister_system_shared_memory()
    triton.unregister_cuda_shared_memory()
    in0, in1 = np.arange(16, dtype=np.int32), np.ones(16, dtype=np.int32)
    texts = [np.array([str(x).encode() for x in values], dtype=object) for values in (in0, in1, in0 + in1, in0 - in1)]
    serialized = [utils.serialize_byte_tensor(t) for t in texts]
    sizes = [utils.serialized_byte_size(s) for s in serialized]
    regions = {}
    for index, role in enumerate(("input0", "input1", "output0", "output1")):
        key = f"/{role}_simple_{tag}"
        regions[role] = shm_module.create_shared_memory_region(f"{role}_data", key, sizes[index])
        handles.append(regions[role])
        if role.startswith("input"):
            shm_module.set_shared_memory_region(regions[role], [serialized[index]])
        triton.register_system_shared_memory(f"{role}_data", key, sizes[index])
    try:
        inputs = [module.InferInput(f"INPUT{i}", [1, 16], "BYTES") for i in (0, 1)]
        for i, infer_input in enumerate(inputs):
            infer_input.set_shared_memory(f"input{i}_data", sizes[i])
        if kind == "http":
            outputs = [module.InferRequestedOutput(f"OUTPUT{i}", binary_data=True) for i in (0, 1)]
        else:
            outputs = [module.InferRequestedOutput(f"OUTPUT{i}") for i in (0, 1)]
        for i, output in enumerate(outputs):
            output.set_shared_memory(f"output{i}_data", sizes[2 + i])
        result = triton.infer("simple_string", inputs, outputs=outputs)
        for i in (0, 1):
            output = result.get_output(f"OUTPUT{i}")
            datatype = output["datatype"] if kind == "http" else output.datatype
            shape = output["shape"] if kind == "http" else list(output.shape)
            got = shm_module.get_contents_as_numpy(regions[f"output{i}"], utils.triton_to_np_dtype(datatype), shape)
            assert list(got[0]) == list(texts[2 + i])
    finally:
        triton.unregister_system_shared_memory()


def test_shared_memory_is_checked_before_any_byte_moves(client, shm):
    kind, triton = client
    module = _module(kind)
    shm_module, handles = shm
    tag = uuid.uuid4().hex[:8]
    handles.append(shm_module.create_shared_memory_region("small", f"/small_{tag}", 64))
    triton.unregister_system_shared_memory()
    with pytest.raises(InferenceServerException, match="outside the 64 bytes"):
        triton.register_system_shared_memory("too_big", f"/small_{tag}", 128)
    for key in ("/../etc/passwd", "/a/b", "..", "/"):
        with pytest.raises(InferenceServerException, match="invalid shm key"):
            triton.register_system_shared_memory("bad", key, 8)
    with pytest.raises(InferenceServerException, match="Unable to open shared memory region"):
        triton.register_system_shared_memory("missing", f"/no_such_region_{tag}", 8)
    triton.register_system_shared_memory("small", f"/small_{tag}", 64)
    with pytest.raises(InferenceServerException, match="already in manager"):
        triton.register_system_shared_memory("small", f"/small_{tag}", 64)
    try:
        inputs = [module.InferInput("INPUT0", [1, 16], "INT32"), module.InferInput("INPUT1", [1, 16], "INT32")]
        inputs[0].set_shared_memory("small", 64)
        inputs[1].set_shared_memory("small", 64, offset=32)  # runs 32 bytes past the region
        with pytest.raises(InferenceServerException, match="Invalid offset \\+ byte size"):
            triton.infer("simple", inputs)
        inputs[1] = module.InferInput("INPUT1", [1, 16], "INT32")  # the client keeps an old offset: a new input
        inputs[1].set_shared_memory("small", 60)  # too few bytes for [1, 16] INT32
        with pytest.raises(InferenceServerException, match="needs 64"):
            triton.infer("simple", inputs)
        inputs[1].set_shared_memory("small", 64)
        output = module.InferRequestedOutput("OUTPUT0", binary_data=True) if kind == "http" else None
        output = output or module.InferRequestedOutput("OUTPUT0")
        output.set_shared_memory("small", 32)  # 64 bytes of results do not fit in 32
        with pytest.raises(InferenceServerException, match="should be at least 64 bytes"):
            triton.infer("simple", inputs, outputs=[output])
        with pytest.raises(InferenceServerException, match="Unable to find system shared memory region: 'nope'"):
            triton.get_system_shared_memory_status("nope")
    finally:
        triton.unregister_system_shared_memory()


def test_model_control_with_a_config_override(client):
    """simple_*_model_control.py: load, a malformed override refused, an override applied and reported, unload,
    an unknown model refused; then a load without an override goes back to the model's own config."""
    kind, triton = client
    module = _module(kind)
    triton.load_model("simple")
    assert triton.is_model_ready("simple")
    with pytest.raises(InferenceServerException, match="failed to load 'simple': invalid config override"):
        triton.load_model("simple", config='"parameters": {"config": {{"max_batch_size": "16"}}}')
    with pytest.raises(InferenceServerException, match="'instance_group' is not served here"):
        triton.load_model("simple", config='{"instance_group": [{"count": 2}]}')
    with pytest.raises(InferenceServerException, match="input 'INPUT0' is TYPE_INT32, not TYPE_FP32"):
        triton.load_model("simple", config='{"input": [{"name": "INPUT0", "data_type": "TYPE_FP32"}]}')
    assert triton.is_model_ready("simple")  # still serving as it was

    triton.load_model("simple", config='{"max_batch_size":"16"}')
    config = triton.get_model_config("simple")
    config = config if kind == "http" else _as_dict(config.config)
    assert int(config["max_batch_size"]) == 16
    assert [int(d) for d in config["input"][0]["dims"]] == [16]  # without the batch dimension, as Triton's
    rows = np.zeros((17, 16), np.int32)
    inputs = [module.InferInput("INPUT0", [17, 16], "INT32"), module.InferInput("INPUT1", [17, 16], "INT32")]
    for infer_input in inputs:
        infer_input.set_data_from_numpy(rows)
    with pytest.raises(InferenceServerException, match="batch-size must be <= 16 for 'simple'"):
        triton.infer("simple", inputs)

    triton.load_model(
        "simple", config='{"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 500}}'
    )
    config = triton.get_model_config("simple")
    config = config if kind == "http" else _as_dict(config.config)
    assert int(config["dynamic_batching"]["max_queue_delay_microseconds"]) == 500
    small = [module.InferInput("INPUT0", [2, 16], "INT32"), module.InferInput("INPUT1", [2, 16], "INT32")]
    for infer_input in small:
        infer_input.set_data_from_numpy(np.ones((2, 16), np.int32))
    np.testing.assert_array_equal(triton.infer("simple", small).as_numpy("OUTPUT0"), np.full((2, 16), 2))

    triton.unload_model("simple")
    assert not triton.is_model_ready("simple")
    with pytest.raises(InferenceServerException, match="failed to load 'wrong_model_name'"):
        triton.load_model("wrong_model_name")
    triton.load_model("simple")
    assert triton.is_model_ready("simple")
    config = triton.get_model_config("simple")
    config = config if kind == "http" else _as_dict(config.config)
    assert int(config.get("max_batch_size", 0)) == 0
    assert "dynamic_batching" not in config
