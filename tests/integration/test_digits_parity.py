"""The same digits network as SavedModel, ONNX, TFLite and Keras: same classes, same probabilities."""

from pathlib import Path

import numpy as np
import pytest

from modelserve import load_model

FORMATS = ["digits/1", "digits_onnx/1", "digits_tflite/1", "digits_keras/1"]


@pytest.fixture(scope="module")
def probabilities(examples_dir: Path, digits_test) -> dict[str, np.ndarray]:
    images, _ = digits_test
    results = {}
    for relative in FORMATS:
        with load_model(examples_dir / relative) as model:
            outputs = model.predict({"images": images})
            results[relative] = outputs.get("probabilities", outputs.get("output_0"))
    return results


def test_held_out_accuracy_is_at_least_95_percent(probabilities, digits_test):
    _, labels = digits_test
    accuracy = float(np.mean(probabilities["digits/1"].argmax(axis=1) == labels))
    assert accuracy >= 0.95


@pytest.mark.parametrize("relative", FORMATS[1:])
def test_every_format_agrees_with_the_saved_model(probabilities, relative):
    reference = probabilities["digits/1"]
    np.testing.assert_array_equal(probabilities[relative].argmax(axis=1), reference.argmax(axis=1))
    np.testing.assert_allclose(probabilities[relative], reference, atol=1e-4)


def test_class_outputs_agree(examples_dir: Path, digits_test):
    images, _ = digits_test
    with load_model(examples_dir / "digits/1") as saved, load_model(examples_dir / "digits_onnx/1") as onnx:
        tf_out, onnx_out = saved.predict({"images": images}), onnx.predict({"images": images})
    np.testing.assert_array_equal(tf_out["class_index"], tf_out["probabilities"].argmax(axis=1))
    np.testing.assert_array_equal(onnx_out["class_index"], tf_out["class_index"])
    assert tf_out["class_name"].tolist() == [str(i).encode() for i in tf_out["class_index"]]


def test_from_bytes_reads_png_files_of_any_size(examples_dir: Path):
    import csv

    png_dir = examples_dir / "digits_png"
    with open(png_dir / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) >= 10
    payload = [(png_dir / r["filename"]).read_bytes() for r in rows]
    labels = [int(r["label"]) for r in rows]
    with load_model(examples_dir / "digits/1") as model:
        out = model.predict({"image_bytes": payload}, signature="from_bytes")
    assert np.mean(out["class_index"] == np.array(labels)) >= 0.9
    assert out["probabilities"].shape == (len(rows), 10)


def test_input_pass_through_returns_the_key(examples_dir: Path, digits_test):
    images, _ = digits_test
    with load_model(examples_dir / "digits/1") as model:
        out = model.predict({"images": images[:3], "key": ["a", "b", "c"]}, signature="input_pass_through")
        plain = model.predict({"images": images[:3]})
    assert out["key"].tolist() == [b"a", b"b", b"c"]
    np.testing.assert_array_equal(out["class_index"], plain["class_index"])
