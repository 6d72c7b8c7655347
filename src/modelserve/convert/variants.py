"""The conversion variants a user can ask for, by target format.

``--quantize`` names (``none`` is an alias of ``float32``):

- ``float32``: no quantization.
- ``float16``: weights stored as float16 (TFLite: dequantized at load; ONNX: the graph runs in float16
  with float32 inputs and outputs kept).
- ``dynamic``: weights int8, activations quantized on the fly (no calibration data needed).
- ``int8``: full integer: weights and activations int8 with ranges from a representative dataset (TFLite:
  integer-only builtin ops and, by ``io_type``, int8 or uint8 inputs and outputs; ONNX: static QDQ
  quantization through ONNX Runtime, float inputs and outputs).
- ``uint16``, ``uint8`` (TF.js only): weights stored as 16- or 8-bit integers with a float scale and
  offset per tensor (affine, min/max), dequantized to float32 when the model loads; ``float16`` for TF.js
  stores float16 weights, also dequantized at load. TF.js has no integer kernels: compute stays float32.
"""

from __future__ import annotations

from modelserve.errors import InvalidArgument

TARGETS = ("tflite", "onnx", "tfjs")
#: Every variant, in report order.
VARIANTS = ("float32", "float16", "dynamic", "int8", "uint16", "uint8")
#: The variants each target offers.
TARGET_VARIANTS = {
    "tflite": ("float32", "float16", "dynamic", "int8"),
    "onnx": ("float32", "float16", "dynamic", "int8"),
    "tfjs": ("float32", "float16", "uint16", "uint8"),
}
ALIASES = {"none": "float32", "fp32": "float32", "fp16": "float16", "full_integer": "int8"}
IO_TYPES = ("int8", "uint8", "float32")
#: File name of the converted model inside its version folder.
MODEL_FILES = {"tflite": "model.tflite", "onnx": "model.onnx", "tfjs": "tfjs/model.json"}


def variant_name(text: str) -> str:
    """``"none"`` -> ``"float32"``; InvalidArgument for unknown names."""
    name = ALIASES.get(text.strip().lower(), text.strip().lower())
    if name not in VARIANTS:
        raise InvalidArgument(f"unknown quantization {text!r}; choose one of: none, {', '.join(VARIANTS[1:])}")
    return name


def check_target(target: str, variants: list[str] | tuple[str, ...]) -> None:
    """InvalidArgument naming the variants ``target`` lacks (``int8`` for TF.js, ``uint8`` for TFLite...)."""
    offered = TARGET_VARIANTS.get(target, ())
    missing = [v for v in variants if v not in offered]
    if missing:
        choices = ", ".join(("none", *offered[1:]))
        raise InvalidArgument(f"--to {target} has no {', '.join(missing)} variant; choose from: {choices}")


def variant_list(text: str) -> tuple[str, ...]:
    """A comma-separated list of variants (``"none,float16"``), duplicates dropped, order kept."""
    names: list[str] = []
    for part in text.split(","):
        if part.strip():
            name = variant_name(part)
            if name not in names:
                names.append(name)
    return tuple(names)


def needs_calibration(variant: str) -> bool:
    return variant == "int8"
