"""Calibration and evaluation data: a folder of images, an ``.npz`` or a TFRecord file, read for one signature.

Every loader returns a :class:`SampleSet`: one ``{input name: array}`` per example, *without* a batch
dimension, plus integer labels when the data has them. Whether a signature is fed in batches is decided
per input by rank: an input of rank ``r`` fed examples of rank ``r - 1`` is batched (rows are stacked);
an input fed examples of its own rank takes one example per call (the edge pattern: one HWC image,
resized inside the model).

- **Image folder** (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, ``.gif``, ``.webp``, recursively): the
  signature needs one image input (float or uint8, rank 3 or 4, or a string input that takes encoded
  bytes). Images get the input's channel count (1: grayscale, 3: RGB, 4: RGBA) and, when the input's
  height and width are fixed, that size (area averaging when shrinking, bilinear when growing); float
  inputs get pixels mapped linearly from 0..255 to ``pixel_range``. Labels: ``labels.csv``
  (``filename,label``) at the top, else class subfolders (sorted names -> 0, 1, ...), else none.
- **.npz**: arrays named after the inputs (a one-input signature may use the one array that is not the
  labels); the first axis indexes examples; labels from ``label_key`` (``labels`` or ``label``).
- **TFRecord** (``.tfrecord``, ``.tfrecords``, ``.tfrec``; ``.gz`` for GZIP): ``tf.train.Example`` records
  with one feature per input (``float_list``/``int64_list`` reshaped to the input's fixed example shape, or
  ``bytes_list``: encoded images for numeric inputs, raw bytes for string inputs) and an ``int64`` label.

``limit`` keeps that many examples spread evenly over the set (so a calibration subset sees every part of
a sorted folder), in order.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.errors import InvalidArgument, NotFound
from modelserve.types import Signature, TensorSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec")
_LABEL_KEYS = ("labels", "label")
_UNKNOWN_DIM = 32  # size given to unknown dimensions of random examples


@dataclass(frozen=True)
class SampleSet:
    """Examples (one dict each, no batch dimension), optional int64 labels [N], and where they came from."""

    examples: tuple[dict[str, np.ndarray], ...]
    labels: np.ndarray | None
    origin: str

    def __len__(self) -> int:
        return len(self.examples)

    def head(self, count: int) -> SampleSet:
        """At most ``count`` examples, spread evenly over the set."""
        if count >= len(self.examples):
            return self
        keep = _spread(len(self.examples), count)
        labels = None if self.labels is None else self.labels[keep]
        return SampleSet(tuple(self.examples[i] for i in keep), labels, f"{len(keep)} of {self.origin}")


def _spread(total: int, count: int) -> np.ndarray:
    return np.unique(np.linspace(0, total - 1, max(count, 1)).round().astype(np.int64))


def load_samples(
    path: Path,
    signature: Signature,
    limit: int | None = None,
    pixel_range: tuple[float, float] = (0.0, 1.0),
    label_key: str | None = None,
) -> SampleSet:
    """Read ``path`` (image folder, ``.npz`` or TFRecord) as examples for ``signature``'s inputs."""
    path = Path(path)
    if not path.exists():
        raise NotFound(f"data path {path} does not exist")
    if path.is_dir():
        samples = _image_folder(path, signature, pixel_range)
    elif path.suffix.lower() == ".npz":
        samples = _npz(path, signature, label_key)
    elif _is_tfrecord(path):
        samples = _tfrecord(path, signature, pixel_range, label_key)
    else:
        raise InvalidArgument(
            f"cannot read {path} as data: expected a folder of images, an .npz file or a TFRecord file "
            f"({', '.join(TFRECORD_SUFFIXES)})"
        )
    if not samples.examples:
        raise InvalidArgument(f"{path} holds no examples")
    return samples.head(limit) if limit else samples


def random_samples(
    signature: Signature, count: int, pixel_range: tuple[float, float] = (0.0, 1.0), seed: int = 0
) -> SampleSet:
    """``count`` uniform random examples in ``pixel_range`` (batched inputs; unknown sizes become 32)."""
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(count):
        example = {}
        for name, spec in signature.inputs.items():
            if spec.dtype == "string":
                raise InvalidArgument(f"cannot make up values for string input {name!r}: pass --calibration or --eval")
            shape = [_UNKNOWN_DIM if d is None or d < 0 else d for d in (spec.shape or (None,))[1:]]
            values = rng.uniform(pixel_range[0], pixel_range[1], shape)
            dtype = np.dtype(spec.dtype)
            example[name] = (values if dtype.kind == "f" else values.round()).astype(dtype)
        examples.append(example)
    return SampleSet(tuple(examples), None, f"{count} random examples")


def is_batched(spec: TensorSpec, example: np.ndarray) -> bool:
    """Whether ``spec`` takes a batch of examples shaped like ``example`` (rank + 1) or one (same rank)."""
    if spec.shape is None:
        return True
    if len(spec.shape) == example.ndim + 1:
        return True
    if len(spec.shape) == example.ndim:
        return False
    raise InvalidArgument(
        f"input {spec.name!r} has shape {list(spec.shape)} but the data's examples have shape {list(example.shape)}"
    )


def batched(signature: Signature, samples: SampleSet) -> bool:
    """Whether ``signature`` takes ``samples`` in stacked batches (True) or one example per call (False)."""
    first = samples.examples[0]
    missing = sorted(set(signature.inputs) - set(first))
    if missing:
        raise InvalidArgument(f"the data has no values for input(s) {', '.join(missing)}")
    kinds = {is_batched(spec, first[name]) for name, spec in signature.inputs.items()}
    if len(kinds) > 1:
        raise InvalidArgument("the data batches some inputs and not others; give every input examples of one kind")
    return kinds.pop() if kinds else True


def feeds(signature: Signature, samples: SampleSet, batch_size: int) -> Iterator[tuple[slice, dict[str, np.ndarray]]]:
    """``(rows, inputs)`` for each call: stacked batches of ``batch_size``, or one unbatched example per call."""
    if not batched(signature, samples):
        for index, example in enumerate(samples.examples):
            yield slice(index, index + 1), {name: example[name] for name in signature.inputs}
        return
    for start in range(0, len(samples.examples), batch_size):
        rows = samples.examples[start : start + batch_size]
        yield (
            slice(start, start + len(rows)),
            {name: _stack([row[name] for row in rows]) for name in signature.inputs},
        )


def _stack(values: Sequence[np.ndarray]) -> np.ndarray:
    if values[0].dtype == object:
        out = np.empty((len(values), *values[0].shape), dtype=object)
        for i, value in enumerate(values):
            out[i] = value.item() if value.ndim == 0 else value
        return out
    return np.stack(values)


# ------------------------------------------------------------------------------------------------ images


def _image_input(signature: Signature) -> TensorSpec:
    candidates = [
        spec
        for spec in signature.inputs.values()
        if spec.dtype == "string" or spec.shape is None or len(spec.shape) in (3, 4)
    ]
    if len(signature.inputs) == 1:
        return next(iter(signature.inputs.values()))
    if len(candidates) != 1:
        raise InvalidArgument(
            f"a folder of images needs a signature with one image input; {signature.name!r} has "
            f"{', '.join(signature.inputs)}"
        )
    return candidates[0]


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _folder_labels(folder: Path, files: list[Path]) -> np.ndarray | None:
    table = folder / "labels.csv"
    if table.is_file():
        with table.open(newline="") as f:
            rows = {row["filename"]: int(row["label"]) for row in csv.DictReader(f)}
        try:
            return np.array([rows[p.relative_to(folder).as_posix()] for p in files], dtype=np.int64)
        except KeyError as exc:
            raise InvalidArgument(f"{table} has no label for {exc.args[0]}") from None
        except (ValueError, TypeError) as exc:
            raise InvalidArgument(f"{table} must have columns filename,label with integer labels: {exc}") from None
    parents = {p.parent for p in files}
    if folder in parents:
        return None
    classes = {name: index for index, name in enumerate(sorted(p.name for p in parents))}
    return np.array([classes[p.parent.name] for p in files], dtype=np.int64)


def _image_folder(folder: Path, signature: Signature, pixel_range: tuple[float, float]) -> SampleSet:
    spec = _image_input(signature)
    files = _image_files(folder)
    if not files:
        raise InvalidArgument(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    labels = _folder_labels(folder, files)
    examples = tuple({spec.name: _image_example(p.read_bytes(), spec, pixel_range, str(p))} for p in files)
    return SampleSet(examples, labels, f"{len(files)} images in {folder}")


def _image_example(data: bytes, spec: TensorSpec, pixel_range: tuple[float, float], what: str) -> np.ndarray:
    """Encoded image bytes -> one example for ``spec`` (raw bytes when it takes strings)."""
    if spec.dtype == "string":
        return np.array(data, dtype=object)
    import io

    from PIL import Image, UnidentifiedImageError

    shape = list(spec.shape) if spec.shape is not None else [-1, -1, -1, 3]
    example_shape = shape[1:] if len(shape) == 4 else shape
    if len(example_shape) != 3:
        raise InvalidArgument(f"input {spec.name!r} with shape {shape} does not take images (HWC or NHWC)")
    height, width, channels = (d if d is not None and d > 0 else None for d in example_shape)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(channels or 3)
    if mode is None:
        raise InvalidArgument(f"input {spec.name!r} has {channels} channels; images give 1, 3 or 4")
    try:
        image = Image.open(io.BytesIO(data))
        image = image.convert(mode)
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidArgument(f"cannot read image {what}: {exc}") from None
    if height and width and image.size != (width, height):
        shrinking = image.width >= width and image.height >= height
        image = image.resize((width, height), Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR)
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        low, high = pixel_range
        return (low + (high - low) * pixels.astype(np.float64) / 255.0).astype(dtype)
    return pixels.astype(dtype)


# ------------------------------------------------------------------------------------------------ npz


def _npz(path: Path, signature: Signature, label_key: str | None) -> SampleSet:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"cannot read {path} as .npz: {exc}") from None
    label_name = _label_name(arrays, label_key, str(path))
    labels = None if label_name is None else np.asarray(arrays.pop(label_name)).astype(np.int64).reshape(-1)
    columns = _match_inputs(signature, arrays, str(path))
    counts = {len(a) for a in columns.values()} | ({len(labels)} if labels is not None else set())
    if len(counts) != 1:
        raise InvalidArgument(f"arrays in {path} have different numbers of examples: {sorted(counts)}")
    converted = {name: _as_input(columns[name], signature.inputs[name]) for name in columns}
    count = counts.pop()
    examples = tuple({name: _row(array, i) for name, array in converted.items()} for i in range(count))
    return SampleSet(examples, labels, f"{count} examples in {path}")


def _row(array: np.ndarray, index: int) -> np.ndarray:
    """Row ``index`` as an array (object arrays would give a bare ``bytes``)."""
    return np.array(array[index], dtype=object) if array.dtype == object else array[index]


def _label_name(found: Mapping[str, Any], label_key: str | None, what: str) -> str | None:
    if label_key:
        if label_key not in found:
            raise InvalidArgument(f"{what} has no labels named {label_key!r} (it has: {', '.join(sorted(found))})")
        return label_key
    return next((key for key in _LABEL_KEYS if key in found), None)


def _match_inputs(signature: Signature, found: Mapping[str, Any], what: str) -> dict[str, Any]:
    """Input name -> the value named after it; a one-input signature may take the one value there is."""
    if all(name in found for name in signature.inputs):
        return {name: found[name] for name in signature.inputs}
    if len(signature.inputs) == 1 and len(found) == 1:
        return {next(iter(signature.inputs)): next(iter(found.values()))}
    raise InvalidArgument(
        f"{what} must hold values named after the inputs of {signature.name!r} ({', '.join(signature.inputs)}); "
        f"it has: {', '.join(sorted(found)) or 'nothing'}"
    )


def _as_input(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if spec.dtype == "string":
        return np.array([bytes(v) if not isinstance(v, str) else v.encode() for v in array.tolist()], dtype=object)
    return np.asarray(array).astype(np.dtype(spec.dtype), copy=False)


# ------------------------------------------------------------------------------------------------ TFRecord


def _is_tfrecord(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in TFRECORD_SUFFIXES


def _tfrecord(path: Path, signature: Signature, pixel_range: tuple[float, float], label_key: str | None) -> SampleSet:
    import tensorflow as tf

    compression = "GZIP" if path.suffix.lower() == ".gz" else ""
    examples: list[dict[str, np.ndarray]] = []
    labels: list[int] = []
    try:
        for record in tf.data.TFRecordDataset(str(path), compression_type=compression).as_numpy_iterator():
            features = dict(tf.train.Example.FromString(record).features.feature)
            label_name = _label_name(features, label_key, str(path))
            if label_name is not None:
                labels.append(int(features.pop(label_name).int64_list.value[0]))
            columns = _match_inputs(signature, features, str(path))
            examples.append(
                {name: _feature_value(columns[name], signature.inputs[name], pixel_range) for name in columns}
            )
    except tf.errors.OpError as exc:
        raise InvalidArgument(f"cannot read {path} as a TFRecord file: {exc.message.splitlines()[0]}") from None
    if labels and len(labels) != len(examples):
        raise InvalidArgument(f"some records in {path} have a label and some do not")
    label_array = np.array(labels, dtype=np.int64) if labels else None
    return SampleSet(tuple(examples), label_array, f"{len(examples)} records in {path}")


def _feature_value(feature: Any, spec: TensorSpec, pixel_range: tuple[float, float]) -> np.ndarray:
    kind = feature.WhichOneof("kind")
    if kind == "bytes_list":
        values = list(feature.bytes_list.value)
        if spec.dtype == "string":
            return np.array(values[0] if len(values) == 1 else values, dtype=object)
        return _image_example(values[0], spec, pixel_range, f"feature {spec.name!r}")
    values = np.array(feature.float_list.value if kind == "float_list" else feature.int64_list.value)
    shape = list(spec.shape or ())[1:]
    if any(d is None or d < 0 for d in shape):
        raise InvalidArgument(
            f"input {spec.name!r} has unknown sizes {list(spec.shape or ())}; cannot reshape features"
        )
    return values.reshape(shape).astype(np.dtype(spec.dtype))
