"""Value types shared by every layer: tensor specs and signatures.

A :class:`Signature` is what a caller may call on a loaded model: named inputs and outputs, each a
:class:`TensorSpec` with a canonical dtype name (see :mod:`modelserve.dtypes`) and a shape in which ``-1``
marks an unknown dimension and ``None`` an unknown rank. Runtimes build these once at load time; the
validator, the inspect command and (later) the metadata APIs only read them. Imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

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
