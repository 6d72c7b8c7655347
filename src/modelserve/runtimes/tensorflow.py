"""TensorFlow SavedModels and Keras ``.keras``/``.h5`` files.

This is the only module that imports TensorFlow, and only the registry imports it, when a TensorFlow
model is loaded. SavedModel signatures (names, method names, dtypes, shapes, tensor names) are read from
``saved_model.pb`` itself, exactly as ``saved_model_cli`` shows them, for TF2 exports and TF1 signature
defs alike (including signatures that take serialized ``tf.Example`` strings); calls go through the
signature functions of ``tf.saved_model.load``. A Keras file gets one ``serving_default`` predict
signature built from the model's inputs and outputs (outputs keyed like ``model.export()``: the model's
own dict keys, else ``output_0``, ``output_1``, ...). Eager signature calls are thread-safe.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

# TensorFlow's C++ INFO and WARNING lines flood a server's stderr; errors still show. Set the variable
# yourself before loading a model to choose otherwise.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from modelserve import dtypes
from modelserve.errors import FailedPrecondition, InvalidArgument, ModelLoadError
from modelserve.runtimes.base import LoadedModel, RuntimeOptions, single_file
from modelserve.runtimes.registry import first_line
from modelserve.types import DEFAULT_SIGNATURE, Signature, TensorSpec

# TensorFlow's import leaves ~360,000 tracked Python objects, and every full collection (the manager runs one
# per unload) walks them all: 300-380 ms with every request thread stopped. Freezing what exists now, before
# any TensorFlow model loads, leaves collections only what came later (~1 ms). Measured: docs/warmup.md.
gc.collect()
gc.freeze()

_INIT_OP_SIGNATURE = "__saved_model_init_op"


def _configure_threads(options: RuntimeOptions) -> None:
    """Thread pools can only be set before TensorFlow's runtime starts; later calls keep the first values."""
    try:
        if options.intra_op_threads:
            tf.config.threading.set_intra_op_parallelism_threads(options.intra_op_threads)
        if options.inter_op_threads:
            tf.config.threading.set_inter_op_parallelism_threads(options.inter_op_threads)
    except RuntimeError:
        pass


def _read_saved_model(path: Path) -> saved_model_pb2.SavedModel:
    proto = saved_model_pb2.SavedModel()
    binary = path / "saved_model.pb"
    if binary.is_file():
        proto.ParseFromString(binary.read_bytes())
    else:
        from google.protobuf import text_format

        text_format.Parse((path / "saved_model.pbtxt").read_text(), proto)
    return proto


def _tensor_spec(alias: str, info: meta_graph_pb2.TensorInfo) -> TensorSpec:
    shape_proto = info.tensor_shape
    shape = None if shape_proto.unknown_rank else tuple(int(d.size) for d in shape_proto.dim)
    return TensorSpec(alias, dtypes.by_tf_enum(info.dtype).name, shape, tensor_name=info.name)


def read_signatures(path: Path, tags: tuple[str, ...] = ("serve",)) -> dict[str, Signature]:
    """Every signature def of the MetaGraph tagged ``tags``, in file order, without loading the model."""
    proto = _read_saved_model(path)
    wanted = set(tags)
    for meta_graph in proto.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == wanted:
            break
    else:
        found = "; ".join(",".join(mg.meta_info_def.tags) for mg in proto.meta_graphs) or "none"
        raise ModelLoadError(f"no MetaGraph tagged {','.join(tags)} in {path} (tag-sets: {found})")
    return {
        name: Signature(
            name,
            {alias: _tensor_spec(alias, info) for alias, info in sorted(sig.inputs.items())},
            {alias: _tensor_spec(alias, info) for alias, info in sorted(sig.outputs.items())},
            sig.method_name,
        )
        for name, sig in meta_graph.signature_def.items()
        if name != _INIT_OP_SIGNATURE
    }


def _to_numpy(value: tf.Tensor) -> np.ndarray:
    array = value.numpy()
    return array if isinstance(array, np.ndarray) else np.asarray(array, dtype=object)


def _run_guarded(call: Callable[[], Mapping[str, tf.Tensor]]) -> dict[str, np.ndarray]:
    """Run a TensorFlow call, turning framework errors into our vocabulary and tensors into numpy."""
    try:
        outputs = call()
    except tf.errors.InvalidArgumentError as exc:
        raise InvalidArgument(f"TensorFlow rejected the input: {exc.message.strip()}") from exc
    except UnicodeDecodeError as exc:
        # TensorFlow failed to build its own error because the message quotes non-UTF-8 input bytes.
        text = exc.object.decode("utf-8", "replace") if isinstance(exc.object, bytes) else str(exc)
        raise InvalidArgument(f"TensorFlow rejected the input: {text.strip().splitlines()[0]}") from exc
    except (TypeError, ValueError) as exc:  # inputs that do not bind to the function's input signature
        raise InvalidArgument(f"TensorFlow rejected the input: {first_line(exc)}") from exc
    except tf.errors.OpError as exc:
        raise FailedPrecondition(f"TensorFlow failed to run the model: {exc.message.strip()}") from exc
    return {name: _to_numpy(value) for name, value in outputs.items()}


class SavedModel(LoadedModel):
    platform = "tensorflow"
    strict_shapes = False

    def __init__(self, path: Path, signatures: dict[str, Signature], loaded: object) -> None:
        self.path = path
        self.signatures = signatures
        self._loaded = loaded
        self._functions = {name: loaded.signatures[name] for name in signatures if name in loaded.signatures}

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        signature = self.signature(signature_name)
        function = self._functions.get(signature.name)
        if function is None:
            raise FailedPrecondition(f"signature {signature.name!r} cannot be called in TensorFlow 2")
        return _run_guarded(lambda: function(**{n: tf.convert_to_tensor(a) for n, a in inputs.items()}))

    def close(self) -> None:
        self._functions = {}
        self._loaded = None


def load(path: Path, options: RuntimeOptions) -> SavedModel:
    if path.is_file():
        raise ModelLoadError(f"{path} is a file; a SavedModel is a folder holding saved_model.pb")
    signatures = read_signatures(path, options.saved_model_tags)
    _configure_threads(options)
    loaded = tf.saved_model.load(str(path), tags=list(options.saved_model_tags))
    return SavedModel(path, signatures, loaded)


def _keras_spec(name: str, tensor: object) -> TensorSpec:
    shape = tuple(-1 if d is None else int(d) for d in tensor.shape)
    return TensorSpec(name, dtypes.by_name(str(tensor.dtype)).name, shape, tensor_name=tensor.name)


def _structure(model: object, nested: str, flat: str) -> object:
    """``model.input`` (a tensor, list or dict); Sequential models only have the flat ``model.inputs``."""
    try:
        return getattr(model, nested)
    except AttributeError:
        tensors = getattr(model, flat)
        return tensors[0] if len(tensors) == 1 else list(tensors)


class KerasModel(LoadedModel):
    """A Keras model wrapped in one traced ``tf.function`` (fixed input signature, no retracing)."""

    platform = "keras"

    def __init__(self, path: Path, model: object) -> None:
        self.path = path
        self._model = model
        input_struct = _structure(model, "input", "inputs")
        self._input_names = (
            list(input_struct) if isinstance(input_struct, dict) else [t.name for t in tf.nest.flatten(input_struct)]
        )
        flat_inputs = tf.nest.flatten(input_struct)
        output_struct = _structure(model, "output", "outputs")
        flat_outputs = tf.nest.flatten(output_struct)
        self._output_names = (
            sorted(output_struct)
            if isinstance(output_struct, dict)
            else [f"output_{i}" for i in range(len(flat_outputs))]
        )
        inputs = [_keras_spec(n, t) for n, t in zip(self._input_names, flat_inputs)]
        outputs = [_keras_spec(n, t) for n, t in zip(self._output_names, flat_outputs)]
        self.signatures = {DEFAULT_SIGNATURE: Signature.from_specs(DEFAULT_SIGNATURE, inputs, outputs)}
        specs = [tf.TensorSpec([None if d < 0 else d for d in s.shape], s.dtype) for s in inputs]

        def serve(*tensors: tf.Tensor) -> dict[str, tf.Tensor]:
            packed = (
                dict(zip(self._input_names, tensors))
                if isinstance(input_struct, dict)
                else (tf.nest.pack_sequence_as(input_struct, list(tensors)))
            )
            result = model(packed, training=False)
            flat = [result[k] for k in self._output_names] if isinstance(result, dict) else tf.nest.flatten(result)
            return dict(zip(self._output_names, flat))

        self._serve = tf.function(serve, input_signature=specs)

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.signature(signature_name)
        return _run_guarded(lambda: self._serve(*[tf.convert_to_tensor(inputs[n]) for n in self._input_names]))

    def close(self) -> None:
        self._serve = None
        self._model = None


def load_keras(path: Path, options: RuntimeOptions) -> KerasModel:
    import keras

    model_file = single_file(path, (".keras", ".h5", ".hdf5"), "Keras")
    _configure_threads(options)
    return KerasModel(model_file, keras.models.load_model(model_file, compile=False))
