"""What the try-it form shows for each input of a signature, and the TF Serving request it sends.

:func:`field_for` picks a widget from the input's dtype and shape alone (nothing to write per model):

* ``image``: a string input named ``*_bytes`` or ``*image*`` (PNG/JPEG bytes, sent as ``{"b64": ...}``), or a
  numeric input shaped ``[-1, H, W]`` or ``[-1, H, W, C]`` with C in 1, 3, 4 (the picture is converted to
  that size and channel count: grey, RGB or RGBA; floats are scaled to [0, 1], integers kept in 0..255);
* ``text``: any other string input (one row);
* ``table``: a numeric input shaped ``[-1]`` (one column) or ``[-1, K]`` with K known (K columns), one row
  per example;
* ``json``: anything else, typed as the JSON value of the input (with its batch dimension).

:func:`predict_body` turns the widgets' values into TF Serving's columnar predict body
(``{"signature_name": ..., "inputs": {...}}``): the console sends exactly that body through the REST door's
own code, and its snippets repeat it.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelserve.errors import InvalidArgument
from modelserve.types import Signature, TensorSpec

__all__ = ["Field", "field_for", "fields_of", "image_value", "predict_body", "table_template"]

_INTEGER_DTYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_FLOAT_DTYPES = {"float16", "float32", "float64", "bfloat16"}


@dataclass(frozen=True)
class Field:
    """One input's widget: ``kind`` (``image``, ``text``, ``table``, ``json``), the spec it fills, and for
    images the size and channels a numeric input wants (``size`` (width, height), ``mode`` a Pillow mode)."""

    kind: str
    spec: TensorSpec
    size: tuple[int, int] | None = None
    mode: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    def describe(self) -> str:
        """``images: float32 [-1, 8, 8, 1]``, the label shown above the widget."""
        return f"{self.spec.name}: {self.spec.dtype} {self.spec.shape_text()}"


def _numeric(dtype: str) -> bool:
    return dtype in _INTEGER_DTYPES or dtype in _FLOAT_DTYPES


def field_for(spec: TensorSpec) -> Field:
    """The widget for one input (see the module docstring)."""
    shape = spec.shape
    if spec.dtype == "string":
        name = spec.name.lower()
        if name.endswith("_bytes") or "image" in name:
            return Field("image", spec)
        return Field("text", spec)
    if shape is None or not _numeric(spec.dtype):
        return Field("json", spec)
    dims = list(shape)
    if len(dims) in (3, 4) and dims[0] == -1 and all(d > 0 for d in dims[1:]):
        channels = dims[3] if len(dims) == 4 else 1
        if channels in (1, 3, 4) and dims[1] >= 4 and dims[2] >= 4:
            mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
            return Field("image", spec, size=(dims[2], dims[1]), mode=mode)
    if len(dims) == 1 or (len(dims) == 2 and dims[1] > 0):
        return Field("table", spec)
    return Field("json", spec)


def fields_of(signature: Signature) -> list[Field]:
    return [field_for(spec) for spec in signature.inputs.values()]


def table_template(field: Field) -> list[list[float]]:
    """One row of zeros with the input's columns (the table's starting value)."""
    columns = field.spec.shape[1] if field.spec.shape is not None and len(field.spec.shape) == 2 else 1
    return [[0] * columns]


def json_template(field: Field) -> str:
    """A JSON value of the input's shape with one example (unknown dimensions as 1), filled with zeros or ''."""
    shape = field.spec.shape
    dims = [1 if d < 0 else d for d in shape] if shape is not None else [1]
    fill: Any = "" if field.spec.dtype == "string" else 0
    value: Any = fill
    for size in reversed(dims):
        value = [value] * min(size, 16)
    return json.dumps(value)


def image_value(field: Field, image: Any) -> Any:
    """The JSON value of one picture (a Pillow image or an array) for ``field``: ``[{"b64": PNG}]`` for
    bytes inputs, else the pixels resized to the input's size, as a batch of one."""
    from PIL import Image

    if image is None:
        raise InvalidArgument(f"input '{field.name}': choose or draw a picture first")
    picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    if field.size is None:
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        return [{"b64": base64.b64encode(buffer.getvalue()).decode("ascii")}]
    converted = picture.convert(field.mode).resize(field.size, Image.Resampling.BILINEAR)
    pixels = np.asarray(converted)
    if field.spec.dtype in _FLOAT_DTYPES:
        pixels = np.round(pixels.astype(np.float64) / 255.0, 6)
    if len(field.spec.shape or ()) == 4 and pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    return [pixels.tolist()]


def _table_value(field: Field, rows: Any) -> list:
    """Rows of a table widget (a pandas DataFrame or a list of lists) as the input's JSON value."""
    if hasattr(rows, "values") and hasattr(rows, "columns"):
        rows = rows.values.tolist()
    cleaned = [[_cell(field, cell) for cell in row] for row in rows or [] if any(str(c).strip() for c in row)]
    if not cleaned:
        raise InvalidArgument(f"input '{field.name}': the table has no rows")
    if len(field.spec.shape or ()) == 1:
        return [row[0] for row in cleaned]
    return cleaned


def _cell(field: Field, cell: Any) -> float | int:
    try:
        number = float(cell)
    except (TypeError, ValueError):
        raise InvalidArgument(f"input '{field.name}': {cell!r} is not a number") from None
    return int(number) if field.spec.dtype in _INTEGER_DTYPES and number.is_integer() else number


def _json_value(field: Field, text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"input '{field.name}' is not JSON: {exc}") from None


def predict_body(signature: Signature, values: dict[str, Any]) -> dict[str, Any]:
    """TF Serving's columnar predict body for the widgets' ``values`` (by input name)."""
    inputs = {}
    for field in fields_of(signature):
        value = values.get(field.name)
        if field.kind == "image":
            inputs[field.name] = image_value(field, value)
        elif field.kind == "text":
            inputs[field.name] = [value or ""]
        elif field.kind == "table":
            inputs[field.name] = _table_value(field, value)
        else:
            inputs[field.name] = _json_value(field, value if isinstance(value, str) else json.dumps(value))
    return {"signature_name": signature.name, "inputs": inputs}
