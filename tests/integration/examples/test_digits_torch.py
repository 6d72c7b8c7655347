"""The PyTorch digits example: trained here, converted by ``modelserve convert``, served like ``digits_onnx``.

Uses the built examples folder when it has ``digits_torch`` (``modelserve examples build`` with the pytorch
extra), else builds just this example into a temporary folder. Skipped without PyTorch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import requests

from modelserve import load_model
from modelserve.examples import digits_torch
from servers import serving

pytestmark = pytest.mark.skipif(not digits_torch.available(), reason="PyTorch is not installed (the pytorch extra)")


@pytest.fixture(scope="module")
def torch_examples(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``digits_torch/1`` and ``digits_torch_source/model.pt2``."""
    if (examples_dir / digits_torch.MODEL / "1" / "model.onnx").is_file():
        return examples_dir
    from modelserve.examples import build, digits

    out = tmp_path_factory.mktemp("torch_examples")
    shutil.copyfile(examples_dir / "digits_test.npz", out / "digits_test.npz")
    build.build_digits_torch(out, digits.load_split(seed=0), 0, out / "digits_test.npz")
    return out


@pytest.fixture(scope="module")
def server(torch_examples: Path, tmp_path_factory: pytest.TempPathFactory):
    with serving(
        f"--model_name={digits_torch.MODEL}",
        f"--model_base_path={torch_examples / digits_torch.MODEL}",
        log_path=tmp_path_factory.mktemp("server") / "server.log",
    ) as process:
        yield process


def test_landed_version_and_its_parity_report(torch_examples: Path):
    version = torch_examples / digits_torch.MODEL / "1"
    assert (version / "model.onnx").is_file() and (version / "conversion_report.png").is_file()
    assert (torch_examples / digits_torch.SOURCE_MODEL / "model.pt2").is_file()
    report = json.loads((version / "conversion_report.json").read_text())
    original, landed = report["rows"]
    assert (original["format"], landed["variant"], landed["landed"]) == ("pytorch", "float32", True)
    assert original["accuracy"] >= 0.95 and landed["accuracy"] == original["accuracy"]
    assert landed["max_abs_diff"] <= 1e-5 and landed["top1_agreement"] == 1.0
    assert report["evaluated_on"].startswith("360 examples in ") and report["evaluated_on"].endswith(", labelled")
    with load_model(version) as model:
        images = model.signatures["serving_default"].inputs["images"]
    assert (images.dtype, images.shape) == ("float32", (-1, 8, 8, 1))


def test_metadata_like_digits_onnx(server):
    body = requests.get(f"{server.url}/v1/models/{digits_torch.MODEL}/versions/1/metadata", timeout=10).json()
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert [d["size"] for d in signature["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1", "8", "8", "1"]
    assert sorted(signature["outputs"]) == ["class_index", "probabilities"]


def test_served_answers_match_pytorch(server, torch_examples: Path, digits_test):
    import torch

    images, labels = digits_test
    body = {"instances": images[:40].tolist()}
    answer = requests.post(f"{server.url}/v1/models/{digits_torch.MODEL}:predict", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    served = np.array([p["probabilities"] for p in predictions], dtype=np.float32)
    classes = np.array([p["class_index"] for p in predictions])
    assert np.mean(classes == labels[:40]) >= 0.95
    program = torch.export.load(str(torch_examples / digits_torch.SOURCE_MODEL / "model.pt2")).module()
    with torch.no_grad():
        expected = program(torch.from_numpy(images[:40]))
    np.testing.assert_allclose(served, expected["probabilities"].numpy(), atol=1e-5)
    np.testing.assert_array_equal(classes, expected["class_index"].numpy())


def test_columnar_request_with_one_image(server, digits_test):
    images, _ = digits_test
    body = {"inputs": {"images": images[:1].tolist()}}
    answer = requests.post(f"{server.url}/v1/models/{digits_torch.MODEL}:predict", json=body, timeout=30)
    assert answer.status_code == 200, answer.text
    outputs = answer.json()["outputs"]
    assert np.shape(outputs["probabilities"]) == (1, 10)
    assert outputs["class_index"] == [int(np.argmax(outputs["probabilities"][0]))]
