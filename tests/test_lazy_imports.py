"""TensorFlow is imported only when a TensorFlow model is loaded."""

import subprocess
import sys
from pathlib import Path


def _modules_after(code: str) -> set[str]:
    script = code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_the_package_imports_no_framework():
    modules = _modules_after("import modelserve, modelserve.cli, modelserve.inspection")
    assert not {"tensorflow", "keras", "onnxruntime", "ai_edge_litert"} & modules


def test_loading_onnx_leaves_tensorflow_out(examples_dir: Path):
    path = examples_dir / "digits_onnx/1"
    modules = _modules_after(
        "import numpy as np, modelserve\n"
        f"m = modelserve.load_model({str(path)!r})\n"
        "m.predict({'images': np.zeros((1, 8, 8, 1), np.float32)})"
    )
    assert "onnxruntime" in modules
    assert "tensorflow" not in modules
    assert "keras" not in modules


def test_loading_tflite_leaves_tensorflow_out(examples_dir: Path):
    path = examples_dir / "digits_tflite/1"
    modules = _modules_after(f"import modelserve\nmodelserve.load_model({str(path)!r})")
    assert "tensorflow" not in modules


def test_serving_onnx_over_every_front_door_leaves_tensorflow_out(examples_dir: Path):
    """The composed server (REST app, gRPC services, V2) with only an ONNX model configured."""
    path = examples_dir / "digits_onnx"
    modules = _modules_after(
        "import asyncio\n"
        "from pathlib import Path\n"
        "from modelserve.config import ModelConfig, ServerConfig\n"
        "from modelserve.serving.service import ModelService\n"
        "from modelserve.server.app import RestApp\n"
        "from modelserve.server.grpc_server import GrpcFrontDoor\n"
        f"config = ServerConfig(models=(ModelConfig(name='d', base_path=Path({str(path)!r})),), grpc_port=0,"
        " settle_seconds=0.05, file_system_poll_wait_seconds=0)\n"
        "service = ModelService(config)\n"
        "service.start()\n"
        "assert service.ready()\n"
        "RestApp(service, config)\n"
        "async def main():\n"
        "    door = GrpcFrontDoor(service, config)\n"
        "    await door.start()\n"
        "    await door.stop(0)\n"
        "asyncio.run(main())\n"
        "service.stop()"
    )
    assert {"grpc", "onnxruntime"} <= modules
    assert "tensorflow" not in modules
    assert "keras" not in modules
