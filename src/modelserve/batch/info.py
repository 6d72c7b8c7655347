"""What a batch pipeline needs to know about a model, as plain picklable values.

:class:`ModelInfo` travels between processes (Beam workers, the shared-model process, the launcher), so it
holds tuples and strings only: a :class:`~modelserve.types.Signature` wraps its specs in read-only mappings,
which do not pickle. Shapes include the batch dimension (``-1``), as signatures print them.

    info = ModelInfo.from_signature("digits_onnx:1", signature, platform="onnx")
    info.input_names               # ('images',)
    info.row_spec("images")        # TensorSpec(images, float32, (8, 8, 1)): one row, batch dim dropped
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from modelserve.errors import NotFound
from modelserve.types import Signature, TensorSpec


@dataclass(frozen=True)
class TensorInfo:
    """One input or output: name, canonical dtype name (``float32``, ``string``, ...), full shape or None."""

    name: str
    dtype: str
    shape: tuple[int, ...] | None

    @classmethod
    def from_spec(cls, spec: TensorSpec) -> TensorInfo:
        return cls(spec.name, spec.dtype, None if spec.shape is None else tuple(spec.shape))

    def row_spec(self) -> TensorSpec:
        """The spec of one row: the leading (batch) dimension dropped; unknown rank stays unknown."""
        shape = None if self.shape is None or not self.shape else tuple(self.shape[1:])
        return TensorSpec(self.name, self.dtype, shape)

    def describe(self) -> str:
        shape = "unknown rank" if self.shape is None else "[" + ", ".join(map(str, self.shape)) + "]"
        return f"{self.dtype} {shape}"


@dataclass(frozen=True)
class ModelInfo:
    """A model's identity and the signature a pipeline calls.

    ``model_id`` is ``name:version`` when both are known (``digits_onnx:1``), else the path or URL.
    ``pid`` is the process that holds the loaded model (0 for remote models): with cross-process sharing it
    differs from the worker's.
    """

    model_id: str
    signature: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    platform: str = ""
    pid: int = field(default_factory=os.getpid)

    @classmethod
    def from_signature(
        cls, model_id: str, signature: Signature, platform: str = "", pid: int | None = None
    ) -> ModelInfo:
        return cls(
            model_id,
            signature.name,
            tuple(TensorInfo.from_spec(s) for s in signature.inputs.values()),
            tuple(TensorInfo.from_spec(s) for s in signature.outputs.values()),
            platform,
            os.getpid() if pid is None else pid,
        )

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.outputs)

    def input(self, name: str) -> TensorInfo:
        return _find(self.inputs, name, "input", self)

    def output(self, name: str) -> TensorInfo:
        return _find(self.outputs, name, "output", self)

    def row_spec(self, name: str) -> TensorSpec:
        return self.input(name).row_spec()

    def describe_inputs(self) -> str:
        return ", ".join(f"{t.name} ({t.describe()})" for t in self.inputs) or "no inputs"


def _find(items: tuple[TensorInfo, ...], name: str, what: str, info: ModelInfo) -> TensorInfo:
    for item in items:
        if item.name == name:
            return item
    known = ", ".join(t.name for t in items) or "none"
    raise NotFound(f"{info.model_id} signature {info.signature!r} has no {what} {name!r}; it has: {known}")
