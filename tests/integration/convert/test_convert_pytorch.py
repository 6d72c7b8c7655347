"""The optional PyTorch exporter: a clear message without torch, a real export with it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from modelserve.convert import ConvertRequest, convert
from modelserve.convert.pytorch import parse_input_shapes
from modelserve.errors import InvalidArgument, Unimplemented

HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_input_shapes_are_parsed():
    assert parse_input_shapes(["images=1,3,8,8", "2,4"]) == {"images": (1, 3, 8, 8), "input": (2, 4)}
    with pytest.raises(InvalidArgument):
        parse_input_shapes(["x=1,a"])


@pytest.mark.skipif(HAS_TORCH, reason="checks the message shown when PyTorch is missing")
def test_missing_torch_is_a_clear_error(tmp_path: Path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"not needed: torch is missing")
    with pytest.raises(Unimplemented, match="needs PyTorch, which is not installed: pip install torch"):
        convert(ConvertRequest(source=model, out=tmp_path / "out", to="onnx", input_shapes={"x": (1, 4)}))


def small_cnn():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3)
    ).eval()


def random_images(tmp_path: Path, count: int = 32) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, x=np.random.default_rng(0).standard_normal((count, 3, 8, 8)).astype(np.float32))
    return path


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed (optional extra)")
@pytest.mark.parametrize("kind", ["torchscript", "pickled_module"])
def test_module_to_onnx_matches_pytorch(kind: str, tmp_path: Path):
    import torch

    module = small_cnn()
    path = tmp_path / "model.pt"
    if kind == "torchscript":
        torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3, 8, 8)), str(path))
    else:
        torch.save(module, str(path))
    result = convert(
        ConvertRequest(
            source=path,
            out=tmp_path / "out",
            to="onnx",
            compare=("dynamic", "int8"),
            calibration=random_images(tmp_path),
            input_shapes={"x": (1, 3, 8, 8)},
            latency_runs=2,
        )
    )
    rows = {row.variant: row for row in result.rows}
    assert rows["original"].format == "pytorch"
    assert rows["float32"].max_abs_diff <= 1e-5, result.table()
    assert rows["int8"].top1_agreement >= 0.8, result.table()


@pytest.mark.skipif(
    not HAS_TORCH or importlib.util.find_spec("onnxscript") is None, reason="needs PyTorch and onnxscript"
)
def test_export_program_to_onnx(tmp_path: Path):
    import torch

    path = tmp_path / "model.pt2"
    torch.export.save(torch.export.export(small_cnn(), (torch.zeros(1, 3, 8, 8),)), str(path))
    result = convert(
        ConvertRequest(
            source=path,
            out=tmp_path / "out",
            to="onnx",
            calibration=random_images(tmp_path, 8),
            input_shapes={"x": (1, 3, 8, 8)},
            latency_runs=2,
        )
    )
    assert {row.variant: row for row in result.rows}["float32"].max_abs_diff <= 1e-5, result.table()
