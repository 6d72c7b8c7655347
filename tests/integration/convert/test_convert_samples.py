"""Calibration and evaluation data: image folders, .npz and TFRecord files read for a signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modelserve.convert.samples import batched, feeds, load_samples, random_samples
from modelserve.errors import InvalidArgument, NotFound
from modelserve.types import Signature, TensorSpec


def signature(*inputs: TensorSpec) -> Signature:
    return Signature.from_specs("serving_default", list(inputs), [])


NHWC = signature(TensorSpec("images", "float32", (-1, 8, 8, 1)))
HWC_ANY = signature(TensorSpec("image", "float32", (-1, -1, 3)))


def write_png(path: Path, value: int, size: tuple[int, int] = (16, 16), mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, value, value)).save(path)


def test_image_folder_with_labels_csv_is_resized_and_scaled(examples_dir: Path, digits_test):
    samples = load_samples(examples_dir / "digits_png", NHWC)
    assert len(samples) == 10
    assert sorted(samples.labels.tolist()) == list(range(10))
    first = samples.examples[0]["images"]
    assert first.shape == (8, 8, 1) and first.dtype == np.float32
    assert first.min() >= 0.0 and first.max() <= 1.0
    # digit_<label>_<test index>.png is the test image upscaled 4x: area resizing gives it back
    name = sorted(p.name for p in (examples_dir / "digits_png").glob("*.png"))[0]
    index = int(name.split("_")[2].split(".")[0])
    np.testing.assert_allclose(first, digits_test[0][index], atol=1 / 255)


def test_class_subfolders_give_labels_and_pixel_range(tmp_path: Path):
    write_png(tmp_path / "cat" / "a.png", 255, mode="RGB")
    write_png(tmp_path / "dog" / "b.png", 0, mode="RGB")
    samples = load_samples(tmp_path, HWC_ANY, pixel_range=(-1.0, 1.0))
    assert samples.labels.tolist() == [0, 1]
    image = samples.examples[0]["image"]
    assert image.shape == (16, 16, 3)  # unknown size: kept as it is
    assert image.min() == image.max() == 1.0
    assert samples.examples[1]["image"].max() == -1.0
    assert not batched(HWC_ANY, samples)


def test_folder_without_labels_and_limit_spreads_the_pick(tmp_path: Path):
    for i in range(10):
        write_png(tmp_path / f"img_{i}.png", i * 20)
    samples = load_samples(tmp_path, NHWC, limit=3, pixel_range=(0.0, 255.0))
    assert samples.labels is None
    assert [float(s["images"][0, 0, 0]) for s in samples.examples] == [0.0, 80.0, 180.0]
    assert samples.origin.startswith("3 of 10 images")


def test_npz_by_input_name_and_batches(tmp_path: Path):
    path = tmp_path / "data.npz"
    np.savez(path, images=np.ones((5, 8, 8, 1)), labels=np.arange(5))
    samples = load_samples(path, NHWC)
    assert samples.labels.tolist() == [0, 1, 2, 3, 4]
    steps = list(feeds(NHWC, samples, 2))
    assert [rows for rows, _ in steps] == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert steps[0][1]["images"].shape == (2, 8, 8, 1) and steps[0][1]["images"].dtype == np.float32


def test_npz_with_wrong_names_or_shapes_is_refused(tmp_path: Path):
    two = signature(TensorSpec("a", "float32", (-1, 2)), TensorSpec("b", "float32", (-1, 2)))
    path = tmp_path / "data.npz"
    np.savez(path, x=np.ones((3, 2)))
    with pytest.raises(InvalidArgument, match=r"values named after the inputs of 'serving_default' \(a, b\)"):
        load_samples(path, two)
    np.savez(path, images=np.ones((3, 5)))
    samples = load_samples(path, NHWC)
    with pytest.raises(InvalidArgument, match="has shape"):
        list(feeds(NHWC, samples, 2))
    with pytest.raises(NotFound):
        load_samples(tmp_path / "missing.npz", NHWC)
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(InvalidArgument, match="cannot read"):
        load_samples(tmp_path / "data.csv", NHWC)


def test_tfrecord_of_examples(tmp_path: Path):
    import io

    import tensorflow as tf

    path = tmp_path / "data.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for label in range(3):
            png = io.BytesIO()
            Image.new("L", (8, 8), label * 100).save(png, format="PNG")
            feature = {
                "images": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png.getvalue()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    samples = load_samples(path, NHWC, pixel_range=(0.0, 255.0))
    assert samples.labels.tolist() == [0, 1, 2]
    assert [float(s["images"].max()) for s in samples.examples] == [0.0, 100.0, 200.0]

    flat = tmp_path / "flat.tfrecord"
    with tf.io.TFRecordWriter(str(flat)) as writer:
        values = tf.train.Feature(float_list=tf.train.FloatList(value=np.arange(64, dtype=np.float32)))
        writer.write(tf.train.Example(features=tf.train.Features(feature={"x": values})).SerializeToString())
    [example] = load_samples(flat, NHWC).examples
    assert example["images"].shape == (8, 8, 1) and example["images"][7, 7, 0] == 63.0


def test_random_samples_fill_unknown_sizes():
    samples = random_samples(NHWC, 4, (0.0, 255.0))
    assert len(samples) == 4 and samples.labels is None
    assert samples.examples[0]["images"].shape == (8, 8, 1)
    assert samples.examples[0]["images"].min() >= 0.0 and samples.examples[0]["images"].max() <= 255.0
    any_size = signature(TensorSpec("image", "float32", (-1, -1, -1, 3)))
    assert random_samples(any_size, 1).examples[0]["image"].shape == (32, 32, 3)
    strings = signature(TensorSpec("key", "string", (-1,)))
    with pytest.raises(InvalidArgument, match="string input 'key'"):
        random_samples(strings, 2)
