"""Toy regressions ``y = factor * x`` (``multiply_five``, ``multiply_ten``): one trained Dense(1) unit.

The Dense unit is trained on inputs and targets scaled by 1/100 (well conditioned, so plain SGD converges
in a fraction of a second); the served model wraps it as ``Rescaling(1/100) -> Dense(1) -> Rescaling(100)``.

SavedModel signatures:

* ``serving_default``: ``examples`` string [-1], serialized tf.Examples with the float feature ``x``
  (FixedLenFeature([1])) -> ``output_0`` float32 [-1, 1].
* ``predict``: ``x`` float32 [-1, 1] -> ``output_0`` float32 [-1, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

SCALE = 100.0
EPOCHS = 3
LEARNING_RATE = 0.3


def train_multiplier(factor: float, seed: int) -> keras.Model:
    """Fit ``factor * x`` on x in 0..99 and return the served model (input [-1, 1] -> output [-1, 1])."""
    import keras

    keras.utils.set_random_seed(seed)
    unit = keras.layers.Dense(1, name="unit")
    scaled = keras.Sequential([keras.Input((1,)), unit])
    scaled.compile(keras.optimizers.SGD(LEARNING_RATE), loss="mse")
    x = np.tile(np.arange(100, dtype=np.float32), 20)[:, np.newaxis] / SCALE
    scaled.fit(x, factor * x, epochs=EPOCHS, batch_size=20, verbose=0)
    return keras.Sequential(
        [keras.Input((1,), name="x"), keras.layers.Rescaling(1 / SCALE), unit, keras.layers.Rescaling(SCALE)],
        name=f"multiply_{factor:g}",
    )


def save_multiplier(model: keras.Model, export_dir: Path) -> None:
    """Write ``model`` as a SavedModel with the ``serving_default`` and ``predict`` signatures above."""
    import tensorflow as tf

    module = tf.Module()
    module.model = model  # tracks the variables
    feature = {"x": tf.io.FixedLenFeature([1], tf.float32)}

    @tf.function(input_signature=[tf.TensorSpec([None, 1], tf.float32, name="x")])
    def predict(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"output_0": model(x, training=False)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serving_default(examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(tf.io.parse_example(examples, feature)["x"])

    tf.saved_model.save(module, str(export_dir), signatures={"serving_default": serving_default, "predict": predict})
