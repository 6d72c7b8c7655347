"""TensorFlow SavedModels and Keras ``.keras``/``.h5`` files.

This is the only module that imports TensorFlow, and only the registry imports it, when a TensorFlow
model is loaded. SavedModel signatures (names, method names, dtypes, shapes, tensor names) are read from
``saved_model.pb`` itself, exactly as ``saved_model_cli`` shows them, for TF2 exports and TF1 signature
defs alike (including signatures that take serialized ``tf.Example`` strings). A TF2 export (one with an
object graph) is called through the signature functions of ``tf.saved_model.load``; a TF1 graph (no object
graph: ``Estimator`` and ``tf.compat.v1`` exports, TF Serving's testdata) is loaded as TF Serving loads it,
into a ``tf.compat.v1.Session`` by ``tf.compat.v1.saved_model.loader.load`` (its init and main ops run),
and called with ``Session.run`` on the signature's tensor names. The TF2 loader refuses some TF1 graphs
that TF Serving serves (its pruning gives an unknown-rank ``tf.Example`` input rank 0), and the session
is faster (half_plus_two: 27 us a call through a session callable, against 315 us for the TF2
function). A Keras file gets one ``serving_default`` predict
signature built from the model's inputs and outputs (outputs keyed like ``model.export()``: the model's
own dict keys, else ``output_0``, ``output_1``, ...). Eager signature calls and ``Session.run`` are
thread-safe.
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


# TF1 reference dtypes (variables read as ``DT_FLOAT_REF``) are their value's dtype plus this.
_REF_DTYPE_OFFSET = 100


def _tensor_spec(alias: str, info: meta_graph_pb2.TensorInfo) -> TensorSpec:
    shape_proto = info.tensor_shape
    shape = None if shape_proto.unknown_rank else tuple(int(d.size) for d in shape_proto.dim)
    enum = info.dtype - _REF_DTYPE_OFFSET if info.dtype > _REF_DTYPE_OFFSET else info.dtype
    return TensorSpec(alias, dtypes.by_tf_enum(enum).name, shape, tensor_name=info.name)


def _meta_graph(path: Path, tags: tuple[str, ...]) -> meta_graph_pb2.MetaGraphDef:
    proto = _read_saved_model(path)
    wanted = set(tags)
    for meta_graph in proto.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == wanted:
            return meta_graph
    found = "; ".join(",".join(mg.meta_info_def.tags) for mg in proto.meta_graphs) or "none"
    raise ModelLoadError(f"no MetaGraph tagged {','.join(tags)} in {path} (tag-sets: {found})")


def read_signatures(path: Path, tags: tuple[str, ...] = ("serve",)) -> dict[str, Signature]:
    """Every signature def of the MetaGraph tagged ``tags``, in file order, without loading the model."""
    return _signatures_of(_meta_graph(path, tags))


def _signatures_of(meta_graph: meta_graph_pb2.MetaGraphDef) -> dict[str, Signature]:
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


def _to_numpy(value: tf.Tensor | np.ndarray | object) -> np.ndarray:
    """An output as an array: a scalar stays its dtype (``np.float32(2.0)`` -> float32, rank 0); strings
    are object arrays of ``bytes``."""
    array = value.numpy() if isinstance(value, tf.Tensor) else value
    if isinstance(array, np.ndarray):
        return array.astype(object) if array.dtype.kind == "S" else array
    return np.asarray(array, dtype=object) if isinstance(array, bytes) else np.asarray(array)


def _run_guarded(call: Callable[[], Mapping[str, tf.Tensor | np.ndarray]]) -> dict[str, np.ndarray]:
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


class SessionSavedModel(LoadedModel):
    """A TF1 graph in its own ``tf.compat.v1.Session``, called through one session callable per signature.

    A callable (``CallableOptions`` of the signature's feed and fetch tensor names) runs the graph as TF
    Serving's C++ ``Session::Run`` does: 30 us a call on half_plus_two against 250 us for ``Session.run``,
    and without ``Session.run``'s Python-side check of feeds against the placeholders' static shapes (TF
    Serving feeds ``[2, 2]`` to ``half_plus_two``'s ``[-1, 1]``; the kernels check what they need).
    Callables, like ``Session.run``, are thread-safe.
    """

    platform = "tensorflow"
    strict_shapes = False

    def __init__(self, path: Path, signatures: dict[str, Signature], session: tf.compat.v1.Session) -> None:
        self.path = path
        self.signatures = signatures
        self._session = session
        self._callables = {name: self._callable(signature) for name, signature in signatures.items()}

    def _callable(self, signature: Signature) -> Callable[..., list[np.ndarray]]:
        from tensorflow.core.protobuf import config_pb2

        options = config_pb2.CallableOptions(
            feed=[spec.tensor_name for spec in signature.inputs.values()],
            fetch=[spec.tensor_name for spec in signature.outputs.values()],
        )
        return self._session._make_callable_from_options(options)  # TensorFlow's own fast path (private)

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        signature = self.signature(signature_name)
        call = self._callables.get(signature.name)
        if call is None:
            raise FailedPrecondition(f"model {self.path} was unloaded")
        arrays = [inputs[name] for name in signature.inputs]
        return _run_guarded(lambda: dict(zip(signature.outputs, call(*arrays))))

    def close(self) -> None:
        self._callables = {}
        session, self._session = self._session, None
        if session is not None:
            session.close()


def _load_session(path: Path, meta_graph: meta_graph_pb2.MetaGraphDef, options: RuntimeOptions) -> LoadedModel:
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=options.intra_op_threads,
        inter_op_parallelism_threads=options.inter_op_threads,
    )
    session = tf.compat.v1.Session(graph=tf.Graph(), config=config)
    try:
        with session.graph.as_default():
            tf.compat.v1.saved_model.loader.load(session, list(options.saved_model_tags), str(path))
    except Exception:
        session.close()
        raise
    return SessionSavedModel(path, _signatures_of(meta_graph), session)


def load(path: Path, options: RuntimeOptions) -> LoadedModel:
    """A SavedModel: TF2 exports through ``tf.saved_model.load``, TF1 graphs into a session (see above)."""
    if path.is_file():
        raise ModelLoadError(f"{path} is a file; a SavedModel is a folder holding saved_model.pb")
    meta_graph = _meta_graph(path, options.saved_model_tags)
    if not meta_graph.HasField("object_graph_def"):
        return _load_session(path, meta_graph, options)
    _configure_threads(options)
    loaded = tf.saved_model.load(str(path), tags=list(options.saved_model_tags))
    return SavedModel(path, _signatures_of(meta_graph), loaded)


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
