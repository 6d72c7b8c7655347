"""Batch and streaming prediction on Apache Beam (the ``beam`` extra).

* :class:`~modelserve.batch.handler.ModelServeHandler`: Beam's RunInference on any modelserve model, loaded
  in the worker (once per process, or once per machine with ``large_model``/``model_copies``).
* :class:`~modelserve.batch.remote.ServerModelHandler`: the same elements and results, computed by a running
  modelserve, TF Serving or V2 (KServe/Triton) server over REST or gRPC, with retries and client throttling.
* :mod:`modelserve.batch.pipeline` and ``modelserve batch-predict``: files in, predictions and dead letters out.

Importing this package imports neither Beam nor any ML framework; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelServeHandler": "modelserve.batch.handler",
    "LocalModel": "modelserve.batch.handler",
    "ServerModelHandler": "modelserve.batch.remote",
    "RetryPolicy": "modelserve.batch.remote",
    "ModelSource": "modelserve.batch.locate",
    "ModelInfo": "modelserve.batch.info",
    "local_runner_options": "modelserve.batch.runners",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
