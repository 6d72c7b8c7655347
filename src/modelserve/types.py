"""Value types shared by every layer: tensor specs, signatures, and the one request and response of the core.

A :class:`Signature` is what a caller may call on a loaded model: named inputs and outputs, each a
:class:`TensorSpec` with a canonical dtype name (see :mod:`modelserve.dtypes`) and a shape in which ``-1``
marks an unknown dimension and ``None`` an unknown rank. Runtimes build these once at load time; the input
gate, the inspect command and the metadata APIs only read them. :class:`InferRequest` and
:class:`InferResponse` are what every front door, warmup, the stream worker, the Beam handler and
``Model.predict`` exchange with :meth:`modelserve.serving.service.ModelService.infer`. Imports only
:mod:`modelserve.errors`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from modelserve.errors import SignatureNotFound

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"

Shape = tuple[int, ...] | None


@dataclass(frozen=True)
class Quantization:
    """Affine quantization of an integer tensor: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int


@dataclass(frozen=True)
class TensorSpec:
    """One named input or output of a signature.

    ``name`` is the key callers use (TF Serving's "alias"); ``tensor_name`` is the framework's own name
    (``serving_default_x:0``), kept for display only.
    """

    name: str
    dtype: str
    shape: Shape
    tensor_name: str = ""
    quantization: Quantization | None = None

    def shape_text(self) -> str:
        """``[-1, 784]``, or ``unknown rank``; used in error messages."""
        return "unknown rank" if self.shape is None else "[" + ", ".join(map(str, self.shape)) + "]"

    def describe(self) -> str:
        """``float32 [-1, 784]``."""
        return f"{self.dtype} {self.shape_text()}"


def _frozen(specs: Mapping[str, TensorSpec]) -> Mapping[str, TensorSpec]:
    return MappingProxyType(dict(specs))


@dataclass(frozen=True)
class Signature:
    """A callable entry point of a model: ordered inputs and outputs plus TF Serving's method name."""

    name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]
    method_name: str = PREDICT_METHOD

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", _frozen(self.inputs))
        object.__setattr__(self, "outputs", _frozen(self.outputs))

    @classmethod
    def from_specs(
        cls,
        name: str,
        inputs: list[TensorSpec],
        outputs: list[TensorSpec],
        method_name: str = PREDICT_METHOD,
    ) -> Signature:
        return cls(name, {s.name: s for s in inputs}, {s.name: s for s in outputs}, method_name)


class InputRules(enum.Enum):
    """How the input gate (:mod:`modelserve.serving.inputs`) admits a request's arrays, per front door.

    - ``CAST``: Python values and arrays are converted to the signature's dtypes when no value changes
      (the in-memory API, Beam, stream ``npy``/``npz`` entries): ints into floats, fitting ints into narrower
      ints, ``str`` into ``bytes``.
    - ``TF_SERVING``: every array must already have the signature's dtype (TF Serving's REST decoders convert
      by the signature; its gRPC ``TensorProto`` must match), with TF Serving's messages.
    - ``V2``: the Open Inference Protocol's datatype must be the signature's exactly, with V2 messages.

    Shapes are checked the same way under every rule (see :func:`modelserve.serving.inputs.shape_fits`).
    """

    CAST = "cast"
    TF_SERVING = "tf_serving"
    V2 = "v2"


@dataclass(frozen=True)
class ModelRef:
    """Which model a request is for: ``name``, and at most one of ``version`` and ``label``.

    Neither: the newest available version, or the model's traffic policy when it has one."""

    name: str
    version: int | None = None
    label: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return f"{self.name}@{self.label}" if self.label is not None else self.name


@dataclass(frozen=True)
class InferRequest:
    """One call of a signature, as every front door hands it to :meth:`ModelService.infer`.

    ``inputs`` are arrays (any array-likes under ``InputRules.CAST``) by input name. ``outputs`` names the
    outputs wanted, in the order wanted (empty: all, in the signature's order). ``routing_key`` is the sticky
    key of a traffic policy. ``deadline`` is a ``time.monotonic()`` instant after which the caller stops
    waiting (None: no deadline). ``api`` names the call in metrics (``predict``, ``classify``, ``infer``...).
    """

    ref: ModelRef
    inputs: Mapping[str, Any]
    signature: str = DEFAULT_SIGNATURE
    outputs: tuple[str, ...] = ()
    routing_key: str | None = None
    deadline: float | None = None
    request_id: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    rules: InputRules = InputRules.CAST
    api: str = "predict"


@dataclass(frozen=True)
class InferResponse:
    """What answered and with what: the version that ran, the signature, the outputs (those requested, in
    the requested order, else all in the signature's order), and the traffic route that chose the version
    (empty when the request named a version or label, or the model has no policy)."""

    model_name: str
    version: int
    signature: str
    outputs: dict[str, np.ndarray]
    route: str = ""
    request_id: str | None = None


@dataclass(frozen=True)
class ModelView:
    """A served version as metadata APIs describe it (read-only; no runtime object)."""

    name: str
    version: int
    platform: str
    signatures: Mapping[str, Signature]

    def signature(self, name: str) -> Signature:
        return signature_named(self.signatures, name)


def signature_named(signatures: Mapping[str, Signature], name: str) -> Signature:
    """``signatures[name]``, or :class:`SignatureNotFound` listing the ones that exist."""
    try:
        return signatures[name]
    except KeyError:
        known = ", ".join(sorted(signatures)) or "none"
        raise SignatureNotFound(f"signature {name!r} not found; this model has: {known}", name) from None
