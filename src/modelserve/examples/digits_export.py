"""Export the trained digits classifier as a TF2 SavedModel, a TFLite flatbuffer and a native Keras file.

SavedModel signatures (every one returns ``probabilities`` float32 [-1, 10], ``class_index`` int64 [-1]
and ``class_name`` string [-1], names "0".."9"):

* ``serving_default``: ``images`` float32 [-1, 8, 8, 1], values in [0, 1].
* ``from_bytes``: ``image_bytes`` string [-1], PNG or JPEG of any size; decoded to grayscale, scaled to
  [0, 1] (uint8 / 255) and resized to 8x8 with area interpolation.
* ``input_pass_through``: ``images`` as in serving_default plus ``key`` string [-1], returned unchanged
  as the output ``key``.

TFLite signature ``serving_default``: ``images`` float32 [-1, 8, 8, 1] -> ``probabilities`` float32
[-1, 10], ``class_index`` int64 [-1] (no strings in TFLite).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from modelserve.examples.digits import CLASS_NAMES, IMAGE_SHAPE

if TYPE_CHECKING:
    import keras


def save_saved_model(model: keras.Model, export_dir: Path) -> None:
    """Write ``model`` as a SavedModel with the three signatures above into ``export_dir``."""
    import tensorflow as tf

    module = tf.Module()
    module.model = model  # tracks the variables
    class_names = tf.constant([name.encode() for name in CLASS_NAMES])
    images_spec = tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32, name="images")

    def classify(images: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = model(images, training=False)
        class_index = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "probabilities": probabilities,
            "class_index": class_index,
            "class_name": tf.gather(class_names, class_index),
        }

    def decode(image_bytes: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(image_bytes, channels=1, expand_animations=False)
        image = tf.cast(image, tf.float32) / 255.0
        return tf.image.resize(image, IMAGE_SHAPE[:2], method="area")

    @tf.function(input_signature=[images_spec])
    def serving_default(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return classify(images)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def from_bytes(image_bytes: tf.Tensor) -> dict[str, tf.Tensor]:
        images_out = tf.TensorSpec(IMAGE_SHAPE, tf.float32)
        return classify(tf.map_fn(decode, image_bytes, fn_output_signature=images_out))

    @tf.function(input_signature=[images_spec, tf.TensorSpec([None], tf.string, name="key")])
    def input_pass_through(images: tf.Tensor, key: tf.Tensor) -> dict[str, tf.Tensor]:
        return {**classify(images), "key": tf.identity(key)}

    tf.saved_model.save(
        module,
        str(export_dir),
        signatures={
            "serving_default": serving_default,
            "from_bytes": from_bytes,
            "input_pass_through": input_pass_through,
        },
    )


def save_tflite(model: keras.Model, path: Path) -> None:
    """Convert ``model`` to a float32 ``.tflite`` at ``path`` with the signature described above.

    Goes through a Keras ``export`` SavedModel (its variables freeze into constants on conversion) of a
    wrapper with named dict outputs; ``tf.argmax`` is used directly because ``keras.ops.argmax`` adds
    ops that are not TFLite builtins.
    """
    import keras
    import tensorflow as tf

    class ArgMax(keras.layers.Layer):
        def call(self, probabilities: tf.Tensor) -> tf.Tensor:
            return tf.argmax(probabilities, axis=-1, output_type=tf.int64)

    images = keras.Input(IMAGE_SHAPE, name="images")
    probabilities = model(images)
    wrapper = keras.Model(images, {"probabilities": probabilities, "class_index": ArgMax()(probabilities)})
    with tempfile.TemporaryDirectory() as tmp:
        wrapper.export(tmp, verbose=False)
        path.write_bytes(tf.lite.TFLiteConverter.from_saved_model(tmp).convert())


def save_keras(model: keras.Model, path: Path) -> None:
    """Save ``model`` in the native Keras format (``path`` ends in ``.keras``)."""
    model.save(path)
