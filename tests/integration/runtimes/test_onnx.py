"""ONNX Runtime: signatures from the graph, string tensors, providers and threads."""

from pathlib import Path

import numpy as np
import pytest

from factories import onnx_double_and_echo
from modelserve import ModelLoadError, load_model
from modelserve.runtimes.onnx import choose_providers


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return onnx_double_and_echo(tmp_path_factory.mktemp("onnx"))


def test_graph_inputs_and_outputs_are_serving_default(onnx_path: Path):
    with load_model(onnx_path.parent) as model:
        signature = model.signatures["serving_default"]
    assert [(s.name, s.dtype, s.shape) for s in signature.inputs.values()] == [
        ("x", "float32", (-1, 3)),
        ("tag", "string", (-1,)),
    ]
    assert list(signature.outputs) == ["y", "tag_out"]
    assert signature.method_name == "tensorflow/serving/predict"


def test_run_with_strings(onnx_path: Path):
    with load_model(onnx_path) as model:
        out = model.predict({"x": [[1, 2, 3], [4, 5, 6]], "tag": ["héllo", b"bytes"]})
    np.testing.assert_array_equal(out["y"], [[2, 4, 6], [8, 10, 12]])
    assert out["tag_out"].tolist() == ["héllo".encode(), b"bytes"]


def test_thread_options_reach_the_session(onnx_path: Path):
    with load_model(onnx_path, intra_op_threads=1, inter_op_threads=1) as model:
        options = model.runtime._session.get_session_options()
        assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
        assert model.runtime.providers == ["CPUExecutionProvider"]


def test_provider_choice_prefers_accelerators():
    available = ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]
    assert choose_providers(available, None) == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert choose_providers(["CPUExecutionProvider"], None) == ["CPUExecutionProvider"]


def test_requesting_a_missing_provider_fails_at_load(onnx_path: Path):
    with pytest.raises(ModelLoadError, match=r"CUDAExecutionProvider .* not in this onnxruntime build"):
        load_model(onnx_path, providers=("CUDAExecutionProvider",))
