"""In-memory prediction: load an exported model and call its signatures with plain data.

    model = modelserve.load_model("models/digits/1")
    model.signatures["serving_default"].inputs      # {'images': TensorSpec(float32 [-1, 8, 8, 1])}
    model.predict({"images": batch})["class_index"]  # -> ndarray

``predict`` goes through the serving core's one door (a local :class:`~modelserve.serving.service.ModelService`
with no network: the same input gate as the server, so a wrong dtype, rank or size is an
:class:`~modelserve.errors.InvalidArgument` naming the input, never a framework crash). Every failure is a
:class:`~modelserve.errors.ServingError` with a message the caller can act on. ``predict`` is safe to call
from several threads at once; it runs the model on the calling thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.errors import FailedPrecondition
from modelserve.runtimes import registry
from modelserve.runtimes.base import LoadedModel, RuntimeOptions
from modelserve.types import DEFAULT_SIGNATURE, InferRequest, InputRules, ModelRef, Signature


class Model:
    """A loaded model. Owns its runtime; :meth:`close` (or a ``with`` block) releases it."""

    def __init__(self, loaded: LoadedModel) -> None:
        self._loaded: LoadedModel | None = loaded
        self.path: Path = loaded.path
        self.platform: str = loaded.platform
        self.signatures: Mapping[str, Signature] = loaded.signatures
        from modelserve.serving.service import ModelService  # on first load: `import modelserve` stays light

        self._ref = ModelRef(loaded.path.name or "model")
        self._service = ModelService.local(loaded, self._ref.name)

    @property
    def runtime(self) -> LoadedModel:
        """The runtime object (for tools that inspect the framework's own model, e.g. ``inspect``)."""
        if self._loaded is None:
            raise FailedPrecondition(f"model {self.path} is closed")
        return self._loaded

    def predict(self, inputs: Mapping[str, Any] | Any, signature: str = DEFAULT_SIGNATURE) -> dict[str, np.ndarray]:
        """Run ``signature`` on a whole batch and return every output as a numpy array.

        ``inputs`` maps input names to arrays, nested lists or bytes/str (a bare value is accepted when the
        signature has one input). String outputs come back as object arrays of ``bytes``.
        """
        if self._loaded is None:
            raise FailedPrecondition(f"model {self.path} is closed")
        request = InferRequest(self._ref, inputs, signature, rules=InputRules.CAST)
        return self._service.infer_now(request).outputs

    def close(self) -> None:
        """Wait for calls in flight, then release the runtime (idempotent)."""
        if self._loaded is not None:
            self._loaded = None
            self._service.stop()

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
