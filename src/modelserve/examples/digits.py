"""The digits example: scikit-learn's bundled 8x8 digits, a small Keras CNN, and the held-out test files.

Images are float32 [N, 8, 8, 1] scaled to [0, 1] (raw values 0..16 divided by 16); labels are int64 [N];
class names are the strings "0".."9". ``TEST_FRACTION`` of the data, split stratified with the build seed,
is held out as the test set.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

IMAGE_SHAPE = (8, 8, 1)
CLASS_NAMES = tuple(str(i) for i in range(10))
TEST_FRACTION = 0.2
MIN_ACCURACY = 0.95
PNG_SCALE = 4
EPOCHS = 20
BATCH_SIZE = 64
LEARNING_RATE = 3e-3


@dataclass(frozen=True)
class DigitsSplit:
    """Train and held-out test arrays: images float32 [N, 8, 8, 1] in [0, 1], labels int64 [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def load_split(seed: int) -> DigitsSplit:
    """Load the bundled digits and split them, stratified and deterministic for ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[..., np.newaxis]
    labels = data.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=TEST_FRACTION, stratify=labels, random_state=seed
    )
    return DigitsSplit(x_train, y_train, x_test, y_test)


def train_classifier(split: DigitsSplit, seed: int) -> tuple[keras.Model, float]:
    """Train the CNN (softmax probabilities [N, 10]) and return it with its held-out accuracy.

    Raises RuntimeError if the accuracy is below ``MIN_ACCURACY``.
    """
    import keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input(IMAGE_SHAPE, name="images"),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(len(CLASS_NAMES), activation="softmax"),
        ],
        name="digits",
    )
    model.compile(keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy")
    model.fit(split.train_images, split.train_labels, epochs=EPOCHS, batch_size=BATCH_SIZE, verbose=0)
    predicted = predict(model, split.test_images).argmax(axis=1)
    accuracy = float(np.mean(predicted == split.test_labels))
    if accuracy < MIN_ACCURACY:
        raise RuntimeError(f"digits test accuracy {accuracy:.4f} is below {MIN_ACCURACY}")
    return model, accuracy


def predict(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Probabilities float32 [N, 10] of ``model`` on ``images`` in one batch."""
    return np.asarray(model(images, training=False), dtype=np.float32)


def write_test_set(split: DigitsSplit, path: Path) -> None:
    """Write the held-out set to ``path`` as an .npz with ``images`` and ``labels``."""
    with path.open("wb") as f:
        np.savez(f, images=split.test_images, labels=split.test_labels)


def write_reference(split: DigitsSplit, path: Path) -> None:
    """The training images as a drift reference dataset (``reference.npz``, :mod:`modelserve.monitoring`):
    served versions compare live inputs and predictions with these."""
    with open(path, "wb") as f:
        np.savez(f, images=split.train_images)


def write_test_pngs(split: DigitsSplit, png_dir: Path) -> dict[str, int]:
    """Write the first held-out image of each class as a PNG plus ``labels.csv`` (``filename,label``).

    Each image is upscaled ``PNG_SCALE`` times with nearest neighbour to uint8 grayscale, value
    ``round(pixel * 255)``, and named ``digit_<label>_<test index>.png``. Returns {filename: label}.
    """
    from PIL import Image

    labels = {}
    for label in range(len(CLASS_NAMES)):
        index = int(np.flatnonzero(split.test_labels == label)[0])
        pixels = np.round(split.test_images[index, :, :, 0] * 255).astype(np.uint8)
        pixels = np.kron(pixels, np.ones((PNG_SCALE, PNG_SCALE), dtype=np.uint8))
        name = f"digit_{label}_{index}.png"
        Image.fromarray(pixels).save(png_dir / name)
        labels[name] = label
    with (png_dir / "labels.csv").open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("filename", "label"))
        writer.writerows(labels.items())
    return labels
