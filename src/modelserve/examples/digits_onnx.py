"""The trained digits CNN as an ONNX graph written with ``onnx.helper`` from the Keras weights.

Graph (opset ``OPSET``): input ``images`` float32 [batch, 8, 8, 1] (NHWC, values in [0, 1]) -> outputs
``probabilities`` float32 [batch, 10], ``class_index`` int64 [batch] and ``class_name`` string [batch]
("0".."9"). Convolutions run in NCHW; the activations go back to NHWC before flattening so the dense
weights see Keras's flatten order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from modelserve.examples.digits import CLASS_NAMES, IMAGE_SHAPE

if TYPE_CHECKING:
    import keras
    import onnx

OPSET = 17
IR_VERSION = 8


def build_onnx(model: keras.Model) -> onnx.ModelProto:
    """Translate the digits CNN (Conv-Pool-Conv-Pool-Flatten-Dense-Dense, see digits.py) to ONNX."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    (conv1_w, conv1_b), (conv2_w, conv2_b), (dense1_w, dense1_b), (dense2_w, dense2_b) = (
        [weight.numpy() for weight in layer.weights] for layer in model.layers if layer.weights
    )
    arrays = {
        "conv1_w": conv1_w.transpose(3, 2, 0, 1),  # Keras [kh, kw, in, out] -> ONNX [out, in, kh, kw]
        "conv1_b": conv1_b,
        "conv2_w": conv2_w.transpose(3, 2, 0, 1),
        "conv2_b": conv2_b,
        "flat_shape": np.array([-1, dense1_w.shape[0]], dtype=np.int64),
        "dense1_w": dense1_w,
        "dense1_b": dense1_b,
        "dense2_w": dense2_w,
        "dense2_b": dense2_b,
    }
    initializers = [numpy_helper.from_array(array, name) for name, array in arrays.items()]
    names = [name.encode() for name in CLASS_NAMES]
    initializers.append(helper.make_tensor("class_names", TensorProto.STRING, [len(names)], names))

    node = helper.make_node
    pool = {"kernel_shape": [2, 2], "strides": [2, 2]}
    nodes = [
        node("Transpose", ["images"], ["nchw"], perm=[0, 3, 1, 2]),
        node("Conv", ["nchw", "conv1_w", "conv1_b"], ["conv1"], pads=[1, 1, 1, 1]),
        node("Relu", ["conv1"], ["relu1"]),
        node("MaxPool", ["relu1"], ["pool1"], **pool),
        node("Conv", ["pool1", "conv2_w", "conv2_b"], ["conv2"], pads=[1, 1, 1, 1]),
        node("Relu", ["conv2"], ["relu2"]),
        node("MaxPool", ["relu2"], ["pool2"], **pool),
        node("Transpose", ["pool2"], ["nhwc"], perm=[0, 2, 3, 1]),  # flatten in Keras's (NHWC) order
        node("Reshape", ["nhwc", "flat_shape"], ["flat"]),
        node("Gemm", ["flat", "dense1_w", "dense1_b"], ["dense1"]),
        node("Relu", ["dense1"], ["hidden"]),
        node("Gemm", ["hidden", "dense2_w", "dense2_b"], ["logits"]),
        node("Softmax", ["logits"], ["probabilities"], axis=-1),
        node("ArgMax", ["probabilities"], ["class_index"], axis=1, keepdims=0),
        node("Gather", ["class_names", "class_index"], ["class_name"], axis=0),
    ]
    graph = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", *IMAGE_SHAPE])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(names)]),
            helper.make_tensor_value_info("class_index", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("class_name", TensorProto.STRING, ["batch"]),
        ],
        initializer=initializers,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="modelserve.examples",
    )
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def save_onnx(model: keras.Model, path: Path) -> None:
    """Write ``build_onnx(model)`` to ``path``."""
    path.write_bytes(build_onnx(model).SerializeToString())
