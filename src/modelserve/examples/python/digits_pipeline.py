"""digits_pipeline: PNG bytes in, the top-3 digits with scores out.

Pre-processing (decode, grey, resize to 8x8, scale to [0, 1]) and post-processing (top 3, label names) in
Python around the digits ONNX network, which runs in process (``digits.onnx`` in this folder). Served with
``--allow_code_models``.
"""

from __future__ import annotations

import io

import numpy as np

from modelserve import load_model
from modelserve.errors import InvalidArgument
from modelserve.python_model import PythonModel, signature

TOP = 3


class Model(PythonModel):
    signatures = {
        "serving_default": signature(
            inputs={"image_bytes": ("string", [-1])},
            outputs={"labels": ("string", [-1, TOP]), "scores": ("float32", [-1, TOP])},
        )
    }
    thread_safe = True  # Pillow decodes and ONNX Runtime sessions are safe on several threads

    def __init__(self, folder):
        super().__init__(folder)
        self.digits = load_model(self.folder / "digits.onnx")
        self.names = (self.folder / "labels.txt").read_text().split()

    def predict(self, inputs, signature):
        images = np.stack([_pixels(row, png) for row, png in enumerate(inputs["image_bytes"])])
        probabilities = self.digits.predict({"images": images})["probabilities"]
        top = np.argsort(-probabilities, axis=1, kind="stable")[:, :TOP]
        labels = np.array([[self.names[i] for i in row] for row in top], dtype=object)
        return {"labels": labels, "scores": np.take_along_axis(probabilities, top, axis=1).astype(np.float32)}

    def close(self):
        self.digits.close()


def _pixels(row: int, png: bytes) -> np.ndarray:
    """One image as the network wants it: float32 [8, 8, 1] in [0, 1], white digit on black."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(png))
        grey = image.convert("L").resize((8, 8), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidArgument(f"image_bytes row {row} is not an image Pillow can read: {exc}") from None
    return (np.asarray(grey, dtype=np.float32) / 255.0)[..., np.newaxis]
