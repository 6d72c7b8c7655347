"""The optional PyTorch exporter: a clear message without torch; with it, TorchScript, modules and torch.export
programs to ONNX with a dynamic batch, checked against PyTorch, landed as versions, from Python and the CLI."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from convert_helpers import run_cli

from modelserve import load_model
from modelserve.convert import ConvertRequest, convert
from modelserve.convert.pytorch import parse_input_shapes
from modelserve.errors import InvalidArgument, Unimplemented

HAS_TORCH = all(importlib.util.find_spec(name) is not None for name in ("torch", "onnxscript"))
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed (the pytorch extra)")


def test_input_shapes_are_parsed():
    assert parse_input_shapes(["images=1,3,8,8", "2,4"]) == {"images": (1, 3, 8, 8), "input": (2, 4)}
    with pytest.raises(InvalidArgument):
        parse_input_shapes(["x=1,a"])


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="checks the message without PyTorch")
def test_missing_torch_is_a_clear_error(tmp_path: Path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"not needed: torch is missing")
    with pytest.raises(
        Unimplemented, match=r"needs PyTorch, which is not installed: pip install 'modelserve\[pytorch\]'"
    ):
        convert(ConvertRequest(source=model, out=tmp_path / "out", to="onnx", input_shapes={"x": (1, 4)}))


def small_cnn():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3)
    ).eval()


def named_outputs():
    """A module returning a dict: the ONNX outputs take its keys."""
    import torch

    class Scores(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = small_cnn()

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            scores = torch.softmax(self.body(x), dim=-1)
            return {"scores": scores, "best": scores.argmax(dim=-1)}

    return Scores().eval()


def random_images(tmp_path: Path, count: int = 32) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, x=np.random.default_rng(0).standard_normal((count, 3, 8, 8)).astype(np.float32))
    return path


def onnx_batch_dims(path: Path) -> list[int]:
    with load_model(path) as model:
        return [spec.shape[0] for spec in model.signatures["serving_default"].inputs.values()]


@needs_torch
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
    assert onnx_batch_dims(result.path / "model.onnx") == [-1]  # verified on batches of 32


@needs_torch
def test_exporters_batch_and_output_names(tmp_path: Path):
    import torch

    from modelserve.convert.pytorch import TORCH_EXPORT, TORCHSCRIPT, torch_to_onnx

    batch = np.random.default_rng(1).standard_normal((7, 3, 8, 8)).astype(np.float32)
    module = named_outputs()
    export = torch_to_onnx(module, {"x": (1, 3, 8, 8)}, tmp_path / "module.onnx")
    assert (export.exporter, export.dynamic_batch, export.outputs) == (TORCH_EXPORT, True, ["scores", "best"])
    with load_model(tmp_path / "module.onnx") as model:
        served = model.predict({"x": batch})
    expected = export.reference.run({"x": batch})
    np.testing.assert_allclose(served["scores"], expected["scores"], atol=1e-6)
    np.testing.assert_array_equal(served["best"], expected["best"])

    scripted = torch.jit.trace(small_cnn(), torch.zeros(1, 3, 8, 8))
    export = torch_to_onnx(scripted, {"x": (1, 3, 8, 8)}, tmp_path / "script.onnx")
    assert (export.exporter, export.dynamic_batch, export.outputs) == (TORCHSCRIPT, True, ["output_0"])


@needs_torch
def test_module_that_fixes_its_batch_is_exported_with_fixed_shapes(tmp_path: Path):
    import torch

    from modelserve.convert.pytorch import TORCH_EXPORT, torch_to_onnx

    class FixedBatch(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.reshape(1, 4) * 2.0  # one example only: torch.export cannot make this batch dynamic

    export = torch_to_onnx(FixedBatch(), {"x": (1, 4)}, tmp_path / "fixed.onnx")
    assert (export.exporter, export.dynamic_batch) == (TORCH_EXPORT, False)
    assert onnx_batch_dims(tmp_path / "fixed.onnx") == [1]


def save_program(tmp_path: Path, dynamic: bool) -> Path:
    import torch

    path = tmp_path / ("dynamic.pt2" if dynamic else "static.pt2")
    shapes = ({0: torch.export.Dim("batch")},) if dynamic else None
    example = torch.zeros(2 if dynamic else 1, 3, 8, 8)
    program = torch.export.export(named_outputs(), (example,), dynamic_shapes=shapes)
    torch.export.save(program, str(path))
    return path


@needs_torch
def test_dynamic_program_needs_no_input_shape_and_keeps_its_names(tmp_path: Path):
    result = convert(
        ConvertRequest(source=save_program(tmp_path, True), out=tmp_path / "out", to="onnx", latency_runs=2)
    )
    float32 = {row.variant: row for row in result.rows}["float32"]
    assert float32.max_abs_diff <= 1e-5 and float32.top1_agreement == 1.0, result.table()
    with load_model(result.path / "model.onnx") as model:
        signature = model.signatures["serving_default"]
    assert [(name, spec.shape) for name, spec in signature.inputs.items()] == [("x", (-1, 3, 8, 8))]
    assert sorted(signature.outputs) == ["best", "scores"]


@needs_torch
def test_static_program_keeps_its_shapes(tmp_path: Path):
    result = convert(
        ConvertRequest(
            source=save_program(tmp_path, False),
            out=tmp_path / "out",
            to="onnx",
            calibration=random_images(tmp_path, 8),
            input_shapes={"images": (1, 3, 8, 8)},  # renames the input
            latency_runs=2,
        )
    )
    assert {row.variant: row for row in result.rows}["float32"].max_abs_diff <= 1e-5, result.table()
    with load_model(result.path / "model.onnx") as model:
        assert model.signatures["serving_default"].inputs["images"].shape == (1, 3, 8, 8)


@needs_torch
def test_conversions_land_as_versions_with_their_reports(tmp_path: Path):
    import torch

    module = small_cnn()
    source = tmp_path / "model.pt"
    torch.save(module, str(source))
    data = tmp_path / "labelled.npz"
    images = np.random.default_rng(2).standard_normal((40, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        labels = module(torch.from_numpy(images)).argmax(dim=-1).numpy()  # PyTorch's answers: 100% for the original
    np.savez(data, x=images, labels=labels)
    base = tmp_path / "served"
    request = ConvertRequest(
        source=source, out=base, to="onnx", evaluation=data, input_shapes={"x": (1, 3, 8, 8)}, latency_runs=2
    )
    first = convert(request)
    second = convert(replace(request, max_accuracy_drop=0.0))  # the float32 graph answers exactly like PyTorch
    assert (first.version, second.version) == (1, 2) and first.accepted and second.accepted
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
    report = json.loads((base / "1" / "conversion_report.json").read_text())
    assert report["rows"][0]["format"] == "pytorch" and report["rows"][1]["landed"] is True
    assert report["rows"][0]["accuracy"] == 1.0 and report["rows"][1]["accuracy"] == 1.0
    assert "passed" in second.summary


@needs_torch
def test_cli_converts_a_program(tmp_path: Path):
    result = run_cli(
        "convert", str(save_program(tmp_path, True)), "--to", "onnx", "--out", str(tmp_path / "out"),
        "--input-shape", "x=1,3,8,8", "--latency-runs", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "| original | pytorch |" in result.stdout and "| float32 * | onnx |" in result.stdout
    assert "float32 landed as version 1" in result.stdout
    assert (tmp_path / "out" / "1" / "model.onnx").is_file()


@needs_torch
def test_module_without_an_example_input_is_refused(tmp_path: Path):
    import torch

    source = tmp_path / "model.pt"
    torch.save(small_cnn(), str(source))
    with pytest.raises(InvalidArgument, match="needs --input-shape"):
        convert(ConvertRequest(source=source, out=tmp_path / "out", to="onnx"))
