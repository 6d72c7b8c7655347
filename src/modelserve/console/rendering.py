"""How the try-it page shows an answer to people: from TF Serving's predict JSON to a list of :class:`Shown`.

Rules, per output of the signature (first example of the batch for labels and pictures):

* ``labels``: a float output shaped ``[-1, K]`` (K >= 2) whose values lie in [0, 1] (class probabilities or
  scores) becomes ranked labels with bars. Label names come from a string output of the same shape (the
  names of those scores, e.g. a top-k pair), else the model's ``labels.txt`` (one name per line, in the
  version folder or its ``assets/``) when it has K lines, else the class index;
* ``image``: a string output named ``*_bytes`` or ``*image*`` holding PNG/JPEG bytes, or a numeric output
  shaped ``[-1, H, W]`` / ``[-1, H, W, C]`` (C in 1, 3, 4; H, W >= 8), rescaled to 0..255 for display;
* ``table``: other numeric or string outputs of rank 1 or 2 (one row per example);
* ``json``: the rest.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.types import Signature, TensorSpec

__all__ = ["Shown", "label_names", "outputs_of_answer", "shown_outputs"]


@dataclass  # not frozen: Gradio hashes what a page keeps in its state, and a dict value is not hashable
class Shown:
    """One thing to draw: ``kind`` (``labels``, ``image``, ``table``, ``json``), a title and its value
    (``{name: score}`` for labels, a Pillow image, a list of rows, any JSON value)."""

    kind: str
    title: str
    value: Any


def outputs_of_answer(signature: Signature, answer: dict[str, Any]) -> dict[str, Any]:
    """The outputs by name of a predict answer: columnar (``outputs``) or row (``predictions``: one object
    per example with several outputs); one output collapses to its value on the wire in both."""
    if "predictions" in answer:
        rows = answer["predictions"]
        if isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows):
            return {name: [row.get(name) for row in rows] for name in rows[0]}
        return {next(iter(signature.outputs)): rows} if len(signature.outputs) == 1 else {"predictions": rows}
    outputs = answer.get("outputs", {})
    if len(signature.outputs) == 1 and not (isinstance(outputs, dict) and set(outputs) == set(signature.outputs)):
        return {next(iter(signature.outputs)): outputs}
    return outputs if isinstance(outputs, dict) else {}


def label_names(version_folder: Path | None, count: int) -> list[str] | None:
    """The model's class names, from ``labels.txt`` with ``count`` lines (None when there is none)."""
    if version_folder is None:
        return None
    for candidate in (version_folder / "labels.txt", version_folder / "assets" / "labels.txt"):
        try:
            names = [line.strip() for line in candidate.read_text().splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError):
            continue
        if len(names) == count:
            return names
    return None


def _is_image_bytes(spec: TensorSpec) -> bool:
    name = spec.name.lower()
    return spec.dtype == "string" and (name.endswith("_bytes") or "image" in name)


def _picture(value: Any, spec: TensorSpec) -> Any | None:
    from PIL import Image, UnidentifiedImageError

    if _is_image_bytes(spec):
        first = value[0] if isinstance(value, list) and value else value
        data = first.get("b64") if isinstance(first, dict) else None
        if not isinstance(data, str):
            return None
        try:
            return Image.open(io.BytesIO(base64.b64decode(data))).copy()
        except (UnidentifiedImageError, OSError, ValueError):
            return None
    try:
        pixels = np.asarray(value, dtype=np.float64)[0]
    except (TypeError, ValueError, IndexError):
        return None
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim not in (2, 3) or min(pixels.shape[:2]) < 8 or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
        return None
    low, high = float(np.min(pixels)), float(np.max(pixels))
    already_bytes = low >= 0 and 1 < high <= 255
    scaled = pixels if already_bytes else (pixels - low) / (high - low or 1.0) * 255.0
    return Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8))


def _scores(value: Any) -> np.ndarray | None:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if array.ndim != 2 or array.shape[1] < 2 or array.shape[0] < 1:
        return None
    first = array[0]
    if not np.all(np.isfinite(first)) or first.min() < 0 or first.max() > 1:
        return None
    return first


def shown_outputs(signature: Signature, outputs: dict[str, Any], version_folder: Path | None = None) -> list[Shown]:
    """What to draw for ``outputs`` (by name, as JSON values) of ``signature`` (see the module docstring)."""
    shown: list[Shown] = []
    used: set[str] = set()
    specs = signature.outputs
    for name, value in outputs.items():
        spec = specs.get(name)
        if spec is None or name in used:
            continue
        scores = _scores(value) if spec.dtype != "string" else None
        if scores is not None:
            names = _sibling_names(specs, outputs, name, len(scores), used)
            names = names or label_names(version_folder, len(scores)) or [str(i) for i in range(len(scores))]
            shown.append(Shown("labels", name, {str(label): float(s) for label, s in zip(names, scores)}))
            used.add(name)
    for name, value in outputs.items():
        spec = specs.get(name)
        if name in used:
            continue
        picture = _picture(value, spec) if spec is not None else None  # unknown names: a table or JSON
        if picture is not None:
            shown.append(Shown("image", name, picture))
        elif isinstance(value, list) and _depth(value) in (1, 2):
            rows = [row if isinstance(row, list) else [row] for row in value]
            shown.append(Shown("table", name, rows))
        else:
            shown.append(Shown("json", name, value))
    return shown


def _sibling_names(
    specs: Any, outputs: dict[str, Any], scores_name: str, count: int, used: set[str]
) -> list[str] | None:
    """The first example's names from a string output shaped like the scores (e.g. ``labels`` beside
    ``scores``); that output is then drawn as part of the labels."""
    for name, value in outputs.items():
        spec = specs.get(name)
        if name == scores_name or spec is None or spec.dtype != "string" or not isinstance(value, list) or not value:
            continue
        first = value[0]
        if isinstance(first, list) and len(first) == count and all(isinstance(x, str) for x in first):
            used.add(name)
            return first
    return None


def _depth(value: Any) -> int:
    depth = 0
    while isinstance(value, list):
        depth += 1
        if not value:
            break
        value = value[0]
    return depth
