"""modelserve: serve trained models in memory, online, in batch and streaming pipelines, and on the edge.

The public surface is pinned by ``tests/test_public_api.py``. Importing this package imports no ML
framework; each runtime imports its own on first load.
"""

from modelserve.errors import (
    Code,
    FailedPrecondition,
    InvalidArgument,
    ModelLoadError,
    NotFound,
    ServingError,
    Unavailable,
    Unimplemented,
)
from modelserve.model import Model, load_model
from modelserve.runtimes.base import RuntimeOptions
from modelserve.types import Signature, TensorSpec

__version__ = "0.1.0"

__all__ = [
    "Code",
    "FailedPrecondition",
    "InvalidArgument",
    "Model",
    "ModelLoadError",
    "NotFound",
    "RuntimeOptions",
    "ServingError",
    "Signature",
    "TensorSpec",
    "Unavailable",
    "Unimplemented",
    "__version__",
    "load_model",
]
