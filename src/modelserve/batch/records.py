"""Input records to model rows, and results to output and dead-letter records (no Beam here).

Formats (``--format``), each record becoming one row for the model's signature (:class:`Decoder`):

* ``jsonl``: one JSON object per line, fields named after the signature's inputs (numbers, nested lists,
  strings, ``{"b64": ...}`` for bytes); other fields are ignored. A line that is not an object is the value
  of a one-input signature.
* ``csv``: a header row; a column per input, holding a number, a JSON list (``"[1, 2]"``), or text for string
  inputs.
* ``tfrecord``: serialized ``tf.train.Example`` records. A signature with a single string input gets the
  serialized bytes (TF Serving's ``examples``/``inputs`` convention); otherwise each input is read from the
  feature of the same name.
* ``images``: one image file per record. A string input gets the file's bytes; a numeric input
  ``[-1, H, W, C]`` gets the image decoded with Pillow (grayscale for C=1, RGB for C=3), resized to HxW and
  scaled by ``image_scale`` (1/255 for float inputs).

Values are converted to the input's dtype and checked against its row shape (a value with the right number
of elements is reshaped); a record that does not fit raises :class:`~modelserve.errors.InvalidArgument`
naming what is wrong, so it is dead-lettered alone. Keys: ``key_field`` names a field (jsonl, csv) or
feature (tfrecord); without it, and for images, the key is the record's source (``file.jsonl:17``,
``digit_3_2.png``).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import orjson

from modelserve.batch.info import ModelInfo
from modelserve.batch.rows import coerce_value
from modelserve.errors import InvalidArgument, ServingError

FORMATS = ("jsonl", "csv", "tfrecord", "images")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tfrecord": "tfrecord"}


class RecordError(InvalidArgument):
    """A record that does not fit the signature, with its key when the key could be read."""

    def __init__(self, message: str, key: str | None) -> None:
        super().__init__(message)
        self.key = key


class RecordId(NamedTuple):
    """Who a record is: the user's key, and where it came from (``file:line`` or ``file#index``)."""

    key: str
    source: str


def format_for(path: str) -> str | None:
    """The format a file name suggests (``.jsonl`` -> jsonl, ``.png`` -> images), or None."""
    lower = path.lower()
    for suffix in IMAGE_SUFFIXES:
        if lower.endswith(suffix):
            return "images"
    for suffix, fmt in _SUFFIX_FORMATS.items():
        if lower.endswith(suffix) or lower.endswith(suffix + ".gz"):
            return fmt
    return None


@dataclass(frozen=True)
class Decoder:
    """Turns one raw record (``source``, ``payload``) into ``(RecordId, row)`` for ``info``'s signature.

    Payloads per format: a line of text (jsonl), a ``{column: text}`` dict (csv), serialized Example bytes
    (tfrecord), file bytes (images).
    """

    info: ModelInfo
    format: str
    key_field: str | None = None
    image_scale: float | None = None
    image_resample: str = "box"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InvalidArgument(f"unknown format {self.format!r}; use one of: {', '.join(FORMATS)}")
        if self.format == "images" and len(self.info.inputs) != 1:
            raise InvalidArgument(
                f"images need a signature with one input; {self.info.model_id} {self.info.signature!r} takes "
                f"{self.info.describe_inputs()} (choose another --signature)"
            )
        if self.format == "images" and self.key_field:
            raise InvalidArgument("--key does not apply to images: an image's key is its file name")

    def __call__(self, record: tuple[str, Any]) -> tuple[RecordId, dict[str, np.ndarray]]:
        """``(RecordId, row)``; :class:`RecordError` (with the key, when known) for a record that does not fit."""
        source, payload = record
        decode = getattr(self, "_" + self.format)
        key, row = decode(payload)
        return RecordId(source if key is None else key, source), row

    def _keyed_row(self, key: str | None, values: Any, given: list[str] | None = None) -> tuple[str | None, Any]:
        try:
            return key, self._row(values, given)
        except InvalidArgument as exc:
            raise RecordError(exc.message, key) from None

    # ---- formats ----

    def _jsonl(self, line: str | bytes) -> tuple[str | None, dict[str, np.ndarray]]:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            try:
                value = json.loads(line)  # NaN / Infinity tokens
            except ValueError as exc:
                raise InvalidArgument(f"not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            return None, self._row({self.info.inputs[0].name: value} if len(self.info.inputs) == 1 else value)
        return self._keyed_row(self._key(value), value)

    def _csv(self, row: Mapping[str, str]) -> tuple[str | None, dict[str, np.ndarray]]:
        key = self._key(row)
        values = {}
        try:
            for tensor in self.info.inputs:
                if tensor.name in row and row[tensor.name] is not None:
                    values[tensor.name] = _csv_cell(row[tensor.name], tensor.dtype, tensor.name)
        except InvalidArgument as exc:
            raise RecordError(exc.message, key) from None
        return self._keyed_row(key, values, given=list(row))

    def _tfrecord(self, data: bytes) -> tuple[str | None, dict[str, np.ndarray]]:
        inputs = self.info.inputs
        if len(inputs) == 1 and inputs[0].dtype == "string" and not self.key_field:
            return None, self._row({inputs[0].name: data})
        features = parse_example(data)
        key = None
        if self.key_field:
            if self.key_field not in features:
                raise InvalidArgument(f"the Example has no feature {self.key_field!r} for the key")
            key = _key_text(features[self.key_field])
        if len(inputs) == 1 and inputs[0].dtype == "string" and inputs[0].name not in features:
            return key, self._row({inputs[0].name: data})
        return self._keyed_row(key, features, given=list(features))

    def _images(self, data: bytes) -> tuple[str | None, dict[str, np.ndarray]]:
        tensor = self.info.inputs[0]
        if tensor.dtype == "string":
            return None, self._row({tensor.name: data})
        return None, self._row({tensor.name: decode_image(data, tensor.row_spec().shape, tensor.dtype, self)})

    # ---- shared ----

    def _key(self, record: Mapping[str, Any]) -> str | None:
        if not self.key_field:
            return None
        if self.key_field not in record or record[self.key_field] is None:
            raise InvalidArgument(f"the record has no key field {self.key_field!r}")
        return _key_text(record[self.key_field])

    def _row(self, values: Any, given: list[str] | None = None) -> dict[str, np.ndarray]:
        if not isinstance(values, Mapping):
            raise InvalidArgument(f"expected a JSON object with the inputs {self.info.describe_inputs()}")
        row = {}
        for tensor in self.info.inputs:
            if tensor.name not in values:
                has = ", ".join(map(str, given if given is not None else values)) or "nothing"
                raise InvalidArgument(
                    f"missing input {tensor.name!r} ({tensor.describe()}); the record has: {has}; "
                    f"the model takes: {self.info.describe_inputs()}"
                )
            value = values[tensor.name]
            if tensor.dtype == "string":
                value = _as_bytes_tree(value)
            row[tensor.name] = coerce_value(tensor.row_spec(), value)
        return row


def _csv_cell(text: str, dtype: str, name: str) -> Any:
    text = text.strip()
    if dtype == "string":
        return text.encode("utf-8")
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise InvalidArgument(f"column {name!r}: {text[:40]!r} is not a JSON list") from None
    try:
        return int(text) if dtype.startswith(("int", "uint")) else float(text)
    except ValueError:
        raise InvalidArgument(f"column {name!r}: {text[:40]!r} is not a number") from None


def _as_bytes_tree(value: Any) -> Any:
    if isinstance(value, list):
        return [_as_bytes_tree(v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:
            raise InvalidArgument("a {'b64': ...} value is not valid base64") from None
    return value


def _key_text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size == 1 else value.tolist()
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, str) else json.dumps(value)


# ---- tf.Example and images ----


def parse_example(data: bytes) -> dict[str, np.ndarray]:
    """A serialized ``tf.train.Example`` as ``{feature: array}`` (float32, int64 or object of bytes)."""
    from modelserve.protocols import pb

    try:
        example = pb.Example.FromString(data)
    except Exception:  # protobuf's DecodeError
        raise InvalidArgument("not a serialized tf.train.Example") from None
    features: dict[str, np.ndarray] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "float_list":
            features[name] = np.asarray(feature.float_list.value, dtype=np.float32)
        elif kind == "int64_list":
            features[name] = np.asarray(feature.int64_list.value, dtype=np.int64)
        elif kind == "bytes_list":
            values = np.empty(len(feature.bytes_list.value), dtype=object)
            values[:] = list(feature.bytes_list.value)
            features[name] = values
    return features


_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def decode_image(data: bytes, shape: tuple[int, ...] | None, dtype: str, decoder: Decoder) -> np.ndarray:
    """Image bytes to an array of ``shape`` ([H, W, C] or [H, W]; -1 keeps the image's size)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with the examples extra
        raise InvalidArgument("decoding images for a numeric input needs Pillow (pip install pillow)") from None
    if shape is None or len(shape) not in (2, 3):
        raise InvalidArgument(f"an image input must be [-1, H, W] or [-1, H, W, C], not {shape}")
    channels = shape[2] if len(shape) == 3 else 1
    if channels not in _MODES:
        raise InvalidArgument(f"cannot make an image with {channels} channels (1, 3 or 4)")
    try:
        image = Image.open(io.BytesIO(data))
        image = image.convert(_MODES[channels])
        height, width = shape[0], shape[1]
        if (height, width) != (-1, -1) and (image.height, image.width) != (height, width):
            target = (image.width if width < 0 else width, image.height if height < 0 else height)
            image = image.resize(target, getattr(Image.Resampling, decoder.image_resample.upper()))
        pixels = np.asarray(image)
    except (OSError, ValueError, AttributeError) as exc:
        raise InvalidArgument(f"cannot decode the image: {exc}") from None
    if len(shape) == 3 and pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    scale = decoder.image_scale
    if scale is None:
        scale = 1 / 255 if dtype.startswith("float") else 1.0
    return pixels.astype(np.float32) * np.float32(scale) if scale != 1.0 else pixels


# ---- output ----


def jsonable(value: Any) -> Any:
    """Arrays, numpy scalars and bytes as JSON values (bytes: UTF-8 text, else ``{"b64": ...}``)."""
    if isinstance(value, np.ndarray):
        if value.dtype != object and value.dtype.kind not in "SU":
            return value.tolist()
        return [jsonable(v) for v in value.tolist()] if value.ndim else jsonable(value.item())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def output_record(
    record_id: RecordId, inference: Any, model_id: str | None, inputs: Any = None, include_inputs: bool = False
) -> dict[str, Any]:
    """``{"key", "model", "outputs"}`` (+ ``"inputs"``: the example and its prediction together)."""
    out: dict[str, Any] = {"key": record_id.key, "model": model_id}
    if include_inputs:
        out["inputs"] = jsonable(inputs)
    out["outputs"] = jsonable(inference)
    return out


def reason(exc: BaseException) -> str:
    """``INVALID_ARGUMENT: input 'x' ...`` for our errors, ``ValueError: ...`` for others."""
    if isinstance(exc, ServingError):
        return f"{exc.code.name}: {exc.message}"
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0]}"


def dead_letter(
    record_id: RecordId | None, source: str, stage: str, exc: BaseException, payload: Any
) -> dict[str, Any]:
    """One failed record: where it came from, which stage refused it, why, and the record itself."""
    return {
        "key": None if record_id is None else record_id.key,
        "source": source,
        "stage": stage,
        "error": reason(exc),
        "record": _payload(payload),
    }


def _payload(payload: Any) -> Any:
    if isinstance(payload, (bytes, bytearray)):
        if len(payload) > 4096:
            return {"b64_prefix": base64.b64encode(bytes(payload[:4096])).decode("ascii"), "bytes": len(payload)}
        return {"b64": base64.b64encode(bytes(payload)).decode("ascii")}
    if isinstance(payload, str):
        return payload
    return jsonable(payload)
