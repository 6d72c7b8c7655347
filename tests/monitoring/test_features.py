"""Which features drift is measured on, and the prediction ground truth is compared with."""

from __future__ import annotations

import numpy as np

from modelserve.monitoring.features import features, predictions


def test_images_give_pixel_statistics_and_class_scores_the_prediction_and_confidence() -> None:
    images = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    scores = np.eye(10, dtype=np.float32)[[3, 1, 4, 1]] * 0.9 + 0.01
    found = features({"images": images}, {"probabilities": scores})
    assert set(found) == {"images:mean", "images:std", "prediction", "probabilities:max"}
    assert np.allclose(found["images:mean"], images.reshape(4, -1).mean(axis=1))
    assert found["prediction"].tolist() == [3, 1, 4, 1]
    assert np.allclose(found["probabilities:max"], 0.91)


def test_tabular_columns_scalars_and_strings() -> None:
    inputs = {
        "x": np.arange(12, dtype=np.float32).reshape(4, 3),
        "age": np.array([1, 2, 3, 4]),
        "city": np.array([b"oslo", b"rome", b"oslo", b"lima"], dtype=object),
        "wide": np.zeros((4, 100)),
    }
    found = features(inputs, None, categorical=["age"])
    assert {"x[0]", "x[1]", "x[2]", "age", "city", "city:length", "wide:mean", "wide:std"} == set(found)
    assert found["x[2]"].tolist() == [2, 5, 8, 11] and found["age"].dtype == np.int64
    assert found["city"].tolist() == ["oslo", "rome", "oslo", "lima"]


def test_predictions_prefer_class_ids_then_scores_then_values() -> None:
    names = np.array([b"3", b"7"], dtype=object)
    found = predictions({"class_name": names, "class_index": np.array([3, 7]), "p": np.eye(10)[[1, 2]]}, 2)
    assert found.kind == "class" and found.values.tolist() == [3, 7] and found.names.tolist() == ["3", "7"]
    assert predictions({"p": np.eye(4)[[2, 0]]}, 2).values.tolist() == [2, 0]
    value = predictions({"y": np.array([[1.5], [2.5]], np.float32)}, 2)
    assert value.kind == "value" and value.values.tolist() == [1.5, 2.5]
    assert predictions({"y": np.array([1.0, 2.0, 3.0])}, 2) is None  # not one per row


def test_embedding_output_and_outputs_of_another_length_are_skipped_or_summarized() -> None:
    inputs = {"x": np.zeros((2, 1))}
    found = features(inputs, {"emb": np.ones((2, 16), np.float32), "extra": np.ones((5, 3))}, embedding_output="emb")
    assert "emb:mean" in found and "emb:std" in found and not any(k.startswith("extra") for k in found)
