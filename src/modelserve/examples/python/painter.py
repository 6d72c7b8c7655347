"""painter: text in, a handwritten-looking digit out as a PNG, in the spirit of a text-to-image pipeline.

``prompt`` ("7", "seven", "draw a seven") is parsed in Python into a class; a seed gives the latent noise;
the generator (``generator.onnx`` in this folder: a class-conditional linear generator, per-class principal
components of scikit-learn's digits, trained at build time) paints an 8x8 image; Python scales it up and
encodes a PNG. Signatures: ``serving_default`` (``prompt``; seed 0) and ``seeded`` (``prompt`` and
``seed``). The output is ``image_bytes``, so TF Serving's JSON answers it as ``{"b64": ...}``. Served with
``--allow_code_models``.
"""

from __future__ import annotations

import io
import re

import numpy as np

from modelserve import load_model
from modelserve.errors import InvalidArgument
from modelserve.python_model import PythonModel, signature

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
LATENT = 8  # the generator's latent size (see modelserve.examples.python_models)
SIZE = 64  # pixels of the PNG side
TEMPERATURE = 0.8


class Model(PythonModel):
    signatures = {
        "serving_default": signature(inputs={"prompt": ("string", [-1])}, outputs={"image_bytes": ("string", [-1])}),
        "seeded": signature(
            inputs={"prompt": ("string", [-1]), "seed": ("int64", [-1])}, outputs={"image_bytes": ("string", [-1])}
        ),
    }
    thread_safe = True

    def __init__(self, folder):
        super().__init__(folder)
        self.generator = load_model(self.folder / "generator.onnx")

    def predict(self, inputs, signature):
        prompts = inputs["prompt"]
        seeds = inputs["seed"] if "seed" in inputs else np.zeros(len(prompts), np.int64)
        classes = np.array([digit_of(row, p.decode("utf-8", "replace")) for row, p in enumerate(prompts)], np.int64)
        noise = np.stack([np.random.default_rng(int(s)).standard_normal(LATENT) for s in seeds]) * TEMPERATURE
        images = self.generator.predict({"class_index": classes, "z": noise.astype(np.float32)})["image"]
        return {"image_bytes": np.array([_png(image) for image in images], dtype=object)}

    def close(self):
        self.generator.close()


def digit_of(row: int, prompt: str) -> int:
    """The digit a prompt names: a numeral ("7") or an English word ("seven"), the first one found."""
    text = prompt.lower()
    found = re.search(r"\d|" + "|".join(WORDS), text)
    if found is None:
        raise InvalidArgument(f"prompt row {row} ({prompt!r}) names no digit: say 0-9 or zero to nine")
    token = found.group(0)
    return int(token) if token.isdigit() else WORDS.index(token)


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    pixels = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
    big = Image.fromarray(pixels, mode="L").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    big.save(out, format="PNG")
    return out.getvalue()
