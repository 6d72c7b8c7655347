"""steps.py of the digits_ensemble pipeline: its Python steps (the models in between are served ones).

``decode``: PNG bytes -> the digits networks' input; ``vote``: the average of two probability tables -> the
top-3 labels with scores.
"""

from __future__ import annotations

import io

import numpy as np

from modelserve.errors import InvalidArgument

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TOP = 3


def decode(inputs):
    """``png`` string [N] -> ``images`` float32 [N, 8, 8, 1] in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for row, png in enumerate(inputs["png"]):
        try:
            grey = Image.open(io.BytesIO(png)).convert("L").resize((8, 8), Image.Resampling.BILINEAR)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise InvalidArgument(f"row {row} is not an image Pillow can read: {exc}") from None
        images.append((np.asarray(grey, dtype=np.float32) / 255.0)[..., np.newaxis])
    return {"images": np.stack(images)}


def vote(inputs):
    """The ensemble: the mean of ``a`` and ``b`` (probabilities [N, 10]) -> ``labels``/``scores`` [N, 3]."""
    mean = (inputs["a"] + inputs["b"]) / 2
    top = np.argsort(-mean, axis=1, kind="stable")[:, :TOP]
    labels = np.array([[WORDS[i] for i in row] for row in top], dtype=object)
    return {"labels": labels, "scores": np.take_along_axis(mean, top, axis=1).astype(np.float32)}
