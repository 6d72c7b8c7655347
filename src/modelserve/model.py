"""In-memory prediction: load an exported model and call its signatures with plain data.

    model = modelserve.load_model("models/digits/1")
    model.signatures["serving_default"].inputs      # {'images': TensorSpec(float32 [-1, 8, 8, 1])}
    model.predict({"images": batch})["class_index"]  # -> ndarray

Inputs are checked and converted by :mod:`modelserve.validation`; every failure is a
:class:`~modelserve.errors.ServingError` with a message the caller can act on, never a framework traceback.
``predict`` is safe to call from several threads at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.errors import FailedPrecondition
from modelserve.runtimes import registry
from modelserve.runtimes.base import LoadedModel, RuntimeOptions
from modelserve.types import DEFAULT_SIGNATURE, Signature
from modelserve.validation import coerce_inputs


class Model:
    """A loaded model. Owns its runtime; :meth:`close` (or a ``with`` block) releases it."""

    def __init__(self, loaded: LoadedModel) -> None:
        self._loaded: LoadedModel | None = loaded
        self.path: Path = loaded.path
        self.platform: str = loaded.platform
        self.signatures: Mapping[str, Signature] = loaded.signatures

    @property
    def runtime(self) -> LoadedModel:
        """The runtime object (for the server and batch layers, which validate inputs themselves)."""
        if self._loaded is None:
            raise FailedPrecondition(f"model {self.path} is closed")
        return self._loaded

    def predict(self, inputs: Mapping[str, Any] | Any, signature: str = DEFAULT_SIGNATURE) -> dict[str, np.ndarray]:
        """Run ``signature`` on a whole batch and return every output as a numpy array.

        ``inputs`` maps input names to arrays, nested lists or bytes/str (a bare value is accepted when the
        signature has one input). String outputs come back as object arrays of ``bytes``.
        """
        runtime = self.runtime
        spec = runtime.signature(signature)
        return runtime.run(spec.name, coerce_inputs(spec, inputs, runtime.strict_shapes))

    def close(self) -> None:
        if self._loaded is not None:
            self._loaded.close()
            self._loaded = None

    def __enter__(self) -> Model:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Model({str(self.path)!r}, platform={self.platform!r}, signatures={list(self.signatures)})"


def load_model(path: str | Path, platform: str | None = None, **options: Any) -> Model:
    """Load a SavedModel folder, a ``.keras``/``.h5``/``.onnx``/``.tflite`` file, or a version folder.

    ``platform`` (``tensorflow``, ``keras``, ``onnx``, ``tflite``) is detected when omitted; ``options`` are
    :class:`~modelserve.runtimes.base.RuntimeOptions` fields (``intra_op_threads=2``, ``providers=(...)``).
    """
    return Model(registry.load(Path(path), platform, RuntimeOptions(**options)))
