"""The runtime contract: load -> signatures -> run a whole batch -> close.

A runtime module (``runtimes/onnx.py``, ...) is the only place a framework is imported. It exposes
``load(path: Path, options: RuntimeOptions) -> LoadedModel``. Runtimes never see requests, headers or
protocols: the serving core hands them inputs already admitted by the input gate
(:mod:`modelserve.serving.inputs`).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelserve.errors import NotFound
from modelserve.types import Signature, signature_named


@dataclass(frozen=True)
class RuntimeOptions:
    """Framework knobs. ``0`` and ``None`` mean "the framework's default".

    - ``intra_op_threads`` / ``inter_op_threads``: thread pools of ONNX Runtime and TensorFlow; for LiteRT,
      ``intra_op_threads`` is each interpreter's ``num_threads``.
    - ``providers``: ONNX Runtime execution providers in preference order; ``None`` picks TensorRT, then CUDA,
      then CPU among those the installed onnxruntime offers.
    - ``interpreter_pool_size``: how many LiteRT interpreters may run at once (0: one per CPU core).
    - ``saved_model_tags``: the MetaGraph to load from a SavedModel.
    - ``allow_code_models``: formats that run code (the ``python`` platform) load only when True.
    - ``prefer_tflite_model``: a version folder holding a ``.tflite`` file is TFLite, even beside a SavedModel.
    """

    intra_op_threads: int = 0
    inter_op_threads: int = 0
    providers: tuple[str, ...] | None = None
    interpreter_pool_size: int = 0
    saved_model_tags: tuple[str, ...] = ("serve",)
    allow_code_models: bool = False
    prefer_tflite_model: bool = False


class LoadedModel(abc.ABC):
    """A model in memory, ready to run.

    Implementations MUST make :meth:`run` safe to call from many threads at once, build
    :attr:`signatures` once at load time, and release framework resources in :meth:`close` (idempotent).
    """

    platform: str
    path: Path
    signatures: Mapping[str, Signature]
    #: How the input gate checks shapes: True, the declared rank and every known dimension exactly; False
    #: (TensorFlow graphs, TFLite), TF Serving's leniency: inputs of rank 2 or less take any shape,
    #: see :func:`modelserve.serving.inputs.shape_fits`.
    strict_shapes: bool = True
    #: This version's own batching parameters (a ``BatchingConfig`` from its ``batching_params.pbtxt`` with
    #: ``--enable_per_model_batching_parameters``); None: the server's.
    batching: object | None = None

    def signature(self, name: str) -> Signature:
        """The named signature, or :class:`NotFound` listing the ones that exist."""
        return signature_named(self.signatures, name)

    @abc.abstractmethod
    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a whole batch.

        ``inputs`` holds exactly the signature's input names, with dtypes and shapes that passed the input
        gate (:func:`modelserve.serving.inputs.admit`; string tensors are object arrays of ``bytes``).
        Returns every output of the signature as a numpy array (strings as object arrays of ``bytes``).
        Framework failures are raised as :class:`~modelserve.errors.ServingError`, never raw.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release the model. Calling :meth:`run` afterwards is an error; calling close twice is not."""


def single_file(path: Path, suffixes: tuple[str, ...], what: str) -> Path:
    """``path`` itself if it is a file, else the one file in the folder with one of ``suffixes``.

    ``model<suffix>`` wins when a folder holds several candidates.
    """
    if path.is_file():
        return path
    candidates = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    preferred = [p for p in candidates if p.stem == "model"]
    if len(preferred) == 1:
        return preferred[0]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise NotFound(f"no {what} file ({', '.join(suffixes)}) in {path}")
    names = ", ".join(p.name for p in candidates)
    raise NotFound(f"several {what} files in {path} ({names}); name the one to serve model{suffixes[0]}")
