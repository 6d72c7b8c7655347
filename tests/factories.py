"""Small real models made by the real frameworks, for runtime tests that need a shape the examples lack.

Each factory writes files under a folder the caller owns and returns the model path. TensorFlow is
imported inside the factories that need it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def onnx_double_and_echo(folder: Path) -> Path:
    """ONNX: ``y = 2 * x`` (float32 [N, 3]) and ``tag_out = tag`` (string [N])."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("Mul", ["x", "two"], ["y"]),
            helper.make_node("Identity", ["tag"], ["tag_out"]),
        ],
        "double_and_echo",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("tag", TensorProto.STRING, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3]),
            helper.make_tensor_value_info("tag_out", TensorProto.STRING, ["batch"]),
        ],
        initializer=[helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    return _save_onnx(graph, folder)


def keras_files(folder: Path) -> tuple[Path, Path, np.ndarray]:
    """A small Dense Keras model saved as ``.keras`` and ``.h5``; returns both paths and reference output."""
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((4,), name="features"), keras.layers.Dense(3, name="scores")])
    folder.mkdir(parents=True, exist_ok=True)
    native, legacy = folder / "model.keras", folder / "model.h5"
    model.save(native)
    model.save(legacy)
    reference = np.asarray(model(np.arange(8, dtype=np.float32).reshape(2, 4)))
    return native, legacy, reference


def tflite_int8(folder: Path) -> Path:
    """A full-integer TFLite model (int8 input and output) of ``y = x @ w`` on [N, 4] -> [N, 2]."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(2, name="y")])
    export_dir = folder / "export"
    model.export(str(export_dir), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(export_dir))
    rng = np.random.default_rng(0)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.uniform(-1, 1, (1, 4)).astype(np.float32)] for _ in range(50))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    path = folder / "model.tflite"
    path.write_bytes(converter.convert())
    return path


def onnx_slow_matmul(folder: Path, size: int = 1024, layers: int = 8) -> Path:
    """ONNX: ``y = x @ W @ W ...`` (``layers`` matmuls of [size, size]); slow enough to keep requests in flight."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array((rng.standard_normal((size, size)) / size).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "w"], [f"h{i + 1}"]) for i in range(layers)]
    nodes.append(helper.make_node("Identity", [f"h{layers}"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", size])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


def tflite_without_signatures(folder: Path) -> Path:
    """A TFLite file with no signature defs (converted from a bare concrete function): ``y = 2x + 1``."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")], autograph=False)
    def double_plus_one(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"y": x * 2.0 + 1.0}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([double_plus_one.get_concrete_function()])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.tflite"
    path.write_bytes(converter.convert())
    return path


def onnx_triton_simple(folder: Path) -> Path:
    """ONNX stand-in for Triton's example model ``simple``: INT32 ``[-1, 16]`` inputs ``INPUT0``/``INPUT1``,
    ``OUTPUT0 = INPUT0 + INPUT1`` and ``OUTPUT1 = INPUT0 - INPUT1``."""
    from onnx import TensorProto, helper

    def int32(name: str) -> object:
        return helper.make_tensor_value_info(name, TensorProto.INT32, ["batch", 16])

    graph = helper.make_graph(
        [
            helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
            helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"]),
        ],
        "simple",
        [int32("INPUT0"), int32("INPUT1")],
        [int32("OUTPUT0"), int32("OUTPUT1")],
    )
    return _save_onnx(graph, folder)


def _save_onnx(graph: object, folder: Path) -> Path:
    """A checked opset-17 model of ``graph`` at ``folder/model.onnx``."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.onnx"
    onnx.save(model, str(path))
    return path


def onnx_triton_simple_string(folder: Path) -> Path:
    """ONNX stand-in for Triton's ``simple_string``: BYTES ``[-1, 16]`` decimal strings in, their sum and
    difference out as decimal strings (ONNX ``Cast`` parses and prints them)."""
    from onnx import TensorProto, helper

    def strings(name: str) -> object:
        return helper.make_tensor_value_info(name, TensorProto.STRING, ["batch", 16])

    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["INPUT0"], ["a"], to=TensorProto.INT32),
            helper.make_node("Cast", ["INPUT1"], ["b"], to=TensorProto.INT32),
            helper.make_node("Add", ["a", "b"], ["sum"]),
            helper.make_node("Sub", ["a", "b"], ["difference"]),
            helper.make_node("Cast", ["sum"], ["OUTPUT0"], to=TensorProto.STRING),
            helper.make_node("Cast", ["difference"], ["OUTPUT1"], to=TensorProto.STRING),
        ],
        "simple_string",
        [strings("INPUT0"), strings("INPUT1")],
        [strings("OUTPUT0"), strings("OUTPUT1")],
    )
    return _save_onnx(graph, folder)
