"""TensorFlow Serving's ``saved_model_half_plus_two_cpu`` test fixture, rebuilt locally in TF1 graph mode.

The graph: variables ``a=0.5``, ``b=2.0``, ``c=3.0``; a ``tf_example`` placeholder (DT_STRING, [-1]) parsed
into float features ``x`` and ``x2`` (FixedLenFeature([1]), default 0.0); ``y = a*x + b``,
``y2 = a*x + c``, ``y3 = a*x2 + c``. Signatures (tag "serve"):

* ``serving_default`` (predict): input ``x`` float32 [-1, 1] -> output ``y``. ``x`` is the identity of the
  parsed feature, so callers feed it directly (works both in a TF1 session and via ``tf.saved_model.load``).
* ``classify_x_to_y`` / ``classify_x2_to_y3`` (classify): input ``inputs`` = serialized tf.Examples
  -> output ``scores`` = ``y`` / ``y3``.
* ``regress_x_to_y`` / ``regress_x_to_y2`` / ``regress_x2_to_y3`` (regress): input ``inputs``
  -> output ``outputs`` = ``y`` / ``y2`` / ``y3``.

Like the fixture, it carries the asset ``assets/foo.txt`` containing ``asset-file-contents``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

VERSIONS = ("00000123", "00000124")
ASSET_NAME = "foo.txt"
ASSET_CONTENTS = "asset-file-contents"


def build_half_plus_two(export_dir: Path) -> None:
    """Write the half-plus-two SavedModel into ``export_dir``, which must be absent or empty."""
    import tensorflow as tf

    v1 = tf.compat.v1
    sm = v1.saved_model
    with tempfile.TemporaryDirectory() as asset_dir, tf.Graph().as_default() as graph:
        asset_path = Path(asset_dir) / ASSET_NAME
        asset_path.write_text(ASSET_CONTENTS)
        v1.add_to_collection(v1.GraphKeys.ASSET_FILEPATHS, tf.constant(str(asset_path), name="asset_path"))

        a = v1.Variable(0.5, name="a")
        b = v1.Variable(2.0, name="b")
        c = v1.Variable(3.0, name="c")
        tf_example = v1.placeholder(tf.string, shape=[None], name="tf_example")
        feature = tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])
        parsed = tf.io.parse_example(tf_example, {"x": feature, "x2": feature})
        x = tf.identity(parsed["x"], name="x")
        x2 = tf.identity(parsed["x2"], name="x2")
        y = tf.add(a * x, b, name="y")
        y2 = tf.add(a * x, c, name="y2")
        y3 = tf.add(a * x2, c, name="y3")

        signatures = {
            "serving_default": sm.predict_signature_def({"x": x}, {"y": y}),
            "classify_x_to_y": sm.classification_signature_def(tf_example, None, y),
            "classify_x2_to_y3": sm.classification_signature_def(tf_example, None, y3),
            "regress_x_to_y": sm.regression_signature_def(tf_example, y),
            "regress_x_to_y2": sm.regression_signature_def(tf_example, y2),
            "regress_x2_to_y3": sm.regression_signature_def(tf_example, y3),
        }
        with v1.Session(graph=graph) as sess:
            sess.run(v1.global_variables_initializer())
            builder = sm.Builder(str(export_dir))
            builder.add_meta_graph_and_variables(
                sess,
                [sm.SERVING],
                signature_def_map=signatures,
                assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
            )
            builder.save()
