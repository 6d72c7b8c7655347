"""The model to convert: what kind it is, and (for TensorFlow) one signature frozen into a plain function.

Why freezing: a SavedModel written by ``tf.saved_model.save`` with custom signatures (the multi-signature
pattern of the example ``digits`` model) keeps its weights in resource variables. Converting it with
``TFLiteConverter.from_saved_model`` leaves ``READ_VARIABLE`` ops that fail at run time, and int8
calibration fails (TF 2.21). :func:`frozen_signature` instead loads the SavedModel, takes the chosen
signature's concrete function, turns its variables into constants
(``convert_variables_to_constants_v2``) and wraps the result in a new ``tf.function`` whose inputs carry the
signature's input names and whose outputs are the signature's output dict. TFLite and tf2onnx both
convert that function; it works the same for Keras 3 ``model.export()`` SavedModels and for ``.keras``/``.h5``
files (exported to a temporary SavedModel first).

    with frozen_signature(Path("models/digits/1"), "tensorflow", "serving_default") as frozen:
        frozen.concrete            # ConcreteFunction: images -> {class_index, class_name, probabilities}
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelserve.errors import ModelLoadError, NotFound, Unimplemented
from modelserve.runtimes.base import single_file
from modelserve.runtimes.registry import detect_platform, first_line

TORCH_SUFFIXES = (".pt", ".pth", ".pt2")
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def source_platform(path: Path) -> str:
    """``tensorflow``, ``keras``, ``onnx``, ``tflite`` (as the runtimes name them) or ``pytorch``."""
    if not path.exists():
        raise NotFound(f"model path {path} does not exist")
    if path.is_file() and path.suffix.lower() in TORCH_SUFFIXES:
        return "pytorch"
    return detect_platform(path)


@dataclass(frozen=True)
class FrozenSignature:
    """One signature as a variable-free ``tf.function``.

    ``function`` is the ``tf.function`` (input_signature = ``input_specs``, named after the signature's
    inputs); ``concrete`` its concrete function; ``holder`` a ``tf.Module`` that keeps both alive (the
    TFLite converter's ``trackable_obj``); ``output_names`` the outputs kept, in order.
    """

    name: str
    function: Any
    concrete: Any
    holder: Any
    input_specs: tuple[Any, ...]
    output_names: tuple[str, ...]


@contextmanager
def frozen_signature(
    path: Path,
    platform: str,
    signature: str,
    outputs: Sequence[str] | None = None,
    batch_size: int | None = None,
) -> Iterator[FrozenSignature]:
    """Freeze ``signature`` of a SavedModel folder or Keras file (see the module docstring).

    ``outputs`` keeps only those outputs (in that order); ``batch_size`` fixes an unknown first dimension
    of every input (the Edge TPU compiler needs fixed shapes). Raises NotFound for an unknown signature or
    output, ModelLoadError when the model cannot be read.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    with tempfile.TemporaryDirectory(prefix="modelserve-convert-") as tmp:
        saved_model = _keras_export(path, Path(tmp) / "export") if platform == "keras" else path
        try:
            loaded = tf.saved_model.load(str(saved_model))
        except Exception as exc:  # corrupt protobufs, missing variables, unknown ops
            raise ModelLoadError(f"could not load SavedModel at {path}: {first_line(exc)}") from exc
        if signature not in loaded.signatures:
            known = ", ".join(sorted(loaded.signatures)) or "none"
            raise NotFound(f"signature {signature!r} not found; this model has: {known}")
        function = loaded.signatures[signature]
        structure = function.structured_outputs
        if not isinstance(structure, dict):
            raise Unimplemented(f"signature {signature!r} does not return a dict of named outputs")
        kept = tuple(outputs) if outputs else tuple(sorted(structure))
        unknown = [name for name in kept if name not in structure]
        if unknown:
            raise NotFound(
                f"signature {signature!r} has no output(s) {', '.join(unknown)}; it has: {', '.join(sorted(structure))}"
            )
        try:
            frozen = convert_variables_to_constants_v2(function)
        except Exception as exc:
            raise Unimplemented(f"cannot freeze signature {signature!r} of {path}: {first_line(exc)}") from exc
        _, kwargs = function.structured_input_signature
        specs = tuple(
            tf.TensorSpec(_fix_batch(kwargs[name].shape, batch_size), kwargs[name].dtype, name=name)
            for name in sorted(kwargs)  # the order in which the frozen function takes them (nest order)
        )

        def call(*args: Any) -> dict[str, Any]:
            values = tf.nest.pack_sequence_as(structure, frozen(*args))
            return {name: values[name] for name in kept}

        wrapped = tf.function(call, input_signature=list(specs), autograph=False)
        holder = tf.Module()
        holder.function = wrapped
        concrete = wrapped.get_concrete_function()
        yield FrozenSignature(signature, wrapped, concrete, holder, specs, kept)


def _fix_batch(shape: Any, batch_size: int | None) -> Any:
    dims = shape.as_list() if shape.rank is not None else None
    if batch_size is None or not dims or dims[0] is not None:
        return dims
    return [batch_size, *dims[1:]]


def _keras_export(path: Path, export_dir: Path) -> Path:
    """A Keras file exported as a SavedModel (``serving_default``: the model's inputs -> ``output_0``...)."""
    import keras

    model_file = single_file(path, KERAS_SUFFIXES, "Keras")
    try:
        model = keras.models.load_model(model_file, compile=False)
    except Exception as exc:
        raise ModelLoadError(f"could not load Keras model {model_file}: {first_line(exc)}") from exc
    try:
        model.export(str(export_dir), format="tf_saved_model", verbose=False)
    except Exception as exc:
        raise Unimplemented(f"Keras cannot export {model_file} as a SavedModel: {first_line(exc)}") from exc
    return export_dir
