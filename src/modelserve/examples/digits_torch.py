"""The digits example in PyTorch: a small CNN trained on the same split, exported, converted by our converter.

Built only when the ``pytorch`` extra is installed (:func:`available`). The network takes ``images`` float32
[batch, 8, 8, 1] (NHWC in [0, 1], like the other digits models) and returns a dict: ``probabilities``
float32 [batch, 10] and ``class_index`` int64 [batch]. It is trained (seeded, ``EPOCHS`` epochs of Adam on
CPU, a few seconds) on :func:`modelserve.examples.digits.load_split`'s training images and must reach
``digits.MIN_ACCURACY`` on the held-out ones.

Files: ``<out>/digits_torch_source/model.pt2``, a ``torch.export`` program with a dynamic batch dimension
(the source, not served: it has no version folder), and ``<out>/digits_torch/1/``: ``model.onnx`` written
by the converter (:mod:`modelserve.convert`: PyTorch -> ONNX, verified against PyTorch on the held-out
set) with its ``conversion_report.{md,json,png}``.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.examples.digits import CLASS_NAMES, IMAGE_SHAPE, MIN_ACCURACY, DigitsSplit

SOURCE_MODEL = "digits_torch_source"
MODEL = "digits_torch"
EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 3e-3


def available() -> bool:
    """Whether PyTorch and onnxscript (the ``pytorch`` extra) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "onnxscript"))


@contextmanager
def one_thread() -> Iterator[None]:
    """PyTorch on one CPU thread for the block. The network is tiny: on a busy 2-core machine, training with
    the default thread pool took 13-21 s and with one thread 1.6 s (measured beside TensorFlow's threads)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def network() -> Any:
    """A new, untrained ``nn.Module``: Conv-Pool-Conv-Pool-Dense-Dense like the Keras digits CNN."""
    import torch
    from torch import nn

    class DigitsNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),
            )
            self.classifier = nn.Sequential(
                nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, len(CLASS_NAMES))
            )

        def logits(self, images: torch.Tensor) -> torch.Tensor:
            return self.classifier(self.features(images.permute(0, 3, 1, 2)))  # NHWC -> NCHW

        def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
            probabilities = torch.softmax(self.logits(images), dim=-1)
            return {"probabilities": probabilities, "class_index": probabilities.argmax(dim=-1)}

    return DigitsNet()


def train(split: DigitsSplit, seed: int) -> tuple[Any, float]:
    """The trained network (eval mode) and its held-out accuracy; RuntimeError below ``MIN_ACCURACY``."""
    import torch

    torch.manual_seed(seed)
    model = network()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    images = torch.from_numpy(split.train_images)
    labels = torch.from_numpy(split.train_labels)
    shuffle = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(len(images), generator=shuffle)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model.logits(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
    model.eval()
    accuracy = float(np.mean(predict(model, split.test_images).argmax(axis=1) == split.test_labels))
    if accuracy < MIN_ACCURACY:
        raise RuntimeError(f"digits_torch test accuracy {accuracy:.4f} is below {MIN_ACCURACY}")
    return model, accuracy


def predict(model: Any, images: np.ndarray) -> np.ndarray:
    """Probabilities float32 [N, 10] of ``model`` on ``images`` in one batch."""
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(images))["probabilities"].numpy()


def save_program(model: Any, path: Path) -> None:
    """``torch.export`` the model with a dynamic batch (example batch 2) and save it to ``path`` (``.pt2``)."""
    import torch

    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (torch.zeros(2, *IMAGE_SHAPE),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))


def convert_into(source: Path, base: Path, evaluation: Path) -> Any:
    """Convert ``source`` to ONNX with ``modelserve convert``, landed as ``base/1``; returns the ConvertResult.

    A previous ``base`` is moved aside to a hidden sibling first and removed once version 1 has landed (put
    back if the conversion fails), so the report names the real folder and no other version is left.
    """
    from modelserve.convert import ConvertRequest, convert

    old = None
    if base.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{base.name}.old-", dir=base.parent)) / base.name
        base.rename(old)
    try:
        result = convert(
            ConvertRequest(
                source=source,
                out=base,
                to="onnx",
                version=1,
                input_shapes={"images": (1, *IMAGE_SHAPE)},
                evaluation=evaluation,
                latency_runs=10,
            )
        )
    except BaseException:
        if old is not None:
            shutil.rmtree(base, ignore_errors=True)
            old.rename(base)
            old.parent.rmdir()
        raise
    if old is not None:
        shutil.rmtree(old.parent)
    return result
