"""Models and data for the conversion tests, built once per session by the real frameworks.

- ``digits_calibration``: 200 *training* images of the digits split (the held-out ``digits_test.npz`` is
  only used for evaluation, so calibration never sees the test images).
- ``digits_conversion``: the example ``digits`` SavedModel (``tf.saved_model.save`` with custom signatures)
  converted to every TFLite variant, int8 landed, in-process.
- ``mobilenet_keras``: a MobileNetV3-small with random weights saved as ``.keras`` (10 MB of weights), and a
  folder of random RGB images to calibrate it.
- ``edge_saved_model``: the seeds' edge signature: one HWC image of any size, resized inside the model.
- ``serve``: start real ``modelserve serve`` processes (:class:`servers.ServerProcess`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from servers import ServerProcess


@pytest.fixture(scope="session")
def digits_calibration(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelserve.examples.digits import load_split

    split = load_split(seed=0)
    path = tmp_path_factory.mktemp("calibration") / "digits_train.npz"
    np.savez(path, images=split.train_images[:200], labels=split.train_labels[:200])
    return path


@pytest.fixture(scope="session")
def digits_conversion(examples_dir: Path, digits_calibration: Path, tmp_path_factory: pytest.TempPathFactory):
    from modelserve.convert import ConvertRequest, convert

    request = ConvertRequest(
        source=examples_dir / "digits/1",
        out=tmp_path_factory.mktemp("landed") / "digits_edge",
        to="tflite",
        quantize="int8",
        compare=("none", "float16", "dynamic"),
        calibration=digits_calibration,
        evaluation=examples_dir / "digits_test.npz",
        max_accuracy_drop=0.5,
        latency_runs=5,
    )
    return convert(request)


@pytest.fixture(scope="session")
def mobilenet_keras(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(``mobilenet.keras``, folder of 8 random 96x96 RGB PNGs)."""
    import keras
    from PIL import Image

    folder = tmp_path_factory.mktemp("mobilenet")
    keras.utils.set_random_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras's numpy 2 copy= notices while saving
        model = keras.applications.MobileNetV3Small(weights=None, input_shape=(224, 224, 3))
        model.save(folder / "mobilenet.keras")
    images = folder / "random_images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(images / f"random_{i}.png")
    return folder / "mobilenet.keras", images


@pytest.fixture(scope="session")
def edge_saved_model(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``serving_default``: ``image`` float32 [H, W, 1] of any size -> ``probabilities`` [10], ``class_index``.

    The pattern of the seeds' edge export: ``resize_with_pad`` inside the signature, one image per call.
    """
    import keras
    import tensorflow as tf

    model = keras.models.load_model(next((examples_dir / "digits_keras/1").glob("*.keras")))
    module = tf.Module()
    module.model = model

    @tf.function(input_signature=[tf.TensorSpec([None, None, 1], tf.float32, name="image")])
    def predict_digit(image: tf.Tensor) -> dict[str, tf.Tensor]:
        resized = tf.reshape(tf.image.resize_with_pad(image, 8, 8), [1, 8, 8, 1])
        probabilities = model(resized, training=False)
        return {"probabilities": probabilities[0], "class_index": tf.argmax(probabilities, axis=-1)[0]}

    path = tmp_path_factory.mktemp("edge") / "1"
    tf.saved_model.save(module, str(path), signatures={"serving_default": predict_digit})
    return path


@pytest.fixture
def serve(tmp_path: Path):
    """``serve(*flags)`` starts a server and waits until it is ready; all are stopped after the test."""
    servers: list[ServerProcess] = []

    def start(*args: str) -> ServerProcess:
        server = ServerProcess(*args, log_path=tmp_path / f"server-{len(servers)}.log")
        servers.append(server)
        server.wait_ready(path="/readyz")
        return server

    yield start
    for server in servers:
        server.stop()
