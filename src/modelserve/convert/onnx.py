"""ONNX: frozen TensorFlow signature -> ONNX through tf2onnx, and ONNX -> float16 / int8 through ONNX Runtime.

- :func:`tf_to_onnx`: the maintained TensorFlow converter (``tf2onnx.convert.from_function``) at a chosen
  opset. tf2onnx logs ops it cannot convert and still returns a broken graph; here those ops are
  collected from its log and raised as :class:`~modelserve.errors.Unimplemented` naming them and the
  signature, and the result must pass ``onnx.checker``.
- :func:`quantize_onnx`: ``float16`` (``onnxruntime.transformers.float16``, float32 inputs and outputs
  kept), ``dynamic`` (``quantize_dynamic``, int8 weights) and ``int8`` (``quantize_static`` in QDQ format,
  int8 weights and activations, calibrated on the examples with a progress bar). ONNX Runtime's shape
  pre-processing runs first when it can.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from modelserve.convert.console import Console
from modelserve.convert.samples import SampleSet, feeds
from modelserve.convert.source import FrozenSignature
from modelserve.errors import InvalidArgument, ModelLoadError, Unimplemented
from modelserve.runtimes.registry import first_line
from modelserve.types import Signature

DEFAULT_OPSET = 17
_NOT_SUPPORTED = re.compile(r"Tensorflow op \[[^:\]]+: (\w+)\] is not supported")
_FAILED_NODE = re.compile(r"\bOP=(\w+)")  # "Failed to convert node ..." records


class _Collector(logging.Handler):
    """Keeps tf2onnx's error records (the ops it could not convert)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def tf_to_onnx(frozen: FrozenSignature, opset: int, source_name: str) -> Any:
    """The ONNX ``ModelProto`` of ``frozen``; inputs and outputs keep the signature's names."""
    import onnx
    import tf2onnx

    collector = _Collector()
    tf2onnx_log = logging.getLogger("tf2onnx")
    tf2onnx_log.addHandler(collector)
    try:
        model, _ = tf2onnx.convert.from_function(frozen.function, input_signature=list(frozen.input_specs), opset=opset)
    except Exception as exc:
        raise Unimplemented(
            f"tf2onnx cannot convert signature {frozen.name!r} of {source_name} at opset {opset}: {first_line(exc)}"
        ) from exc
    finally:
        tf2onnx_log.removeHandler(collector)
    ops = sorted(
        {
            op
            for message in collector.messages
            for op in (*_NOT_SUPPORTED.findall(message), *_FAILED_NODE.findall(message))
        }
    )
    if ops:
        raise Unimplemented(
            f"tf2onnx cannot convert signature {frozen.name!r} of {source_name} at opset {opset}: TensorFlow ops "
            f"without an ONNX conversion: {', '.join(ops)}. Convert a signature without them (--signature)"
        )
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise Unimplemented(
            f"tf2onnx produced an invalid graph for signature {frozen.name!r}: {first_line(exc)}"
        ) from exc
    return model


def quantize_onnx(
    source: Path,
    target: Path,
    variant: str,
    signature: Signature,
    calibration: SampleSet | None,
    console: Console,
) -> None:
    """Write ``variant`` of the ONNX file ``source`` to ``target`` (``float32`` copies it)."""
    if variant == "float32":
        shutil.copyfile(source, target)
        return
    if variant == "float16":
        _float16(source, target)
        return
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    with tempfile.TemporaryDirectory(prefix="modelserve-onnx-") as tmp:
        prepared = _preprocess(source, Path(tmp) / "prepared.onnx")
        try:
            if variant == "dynamic":
                quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QInt8)
            elif variant == "int8":
                if calibration is None:
                    raise InvalidArgument("int8 quantization needs calibration data (--calibration)")
                quantize_static(
                    str(prepared),
                    str(target),
                    _reader(signature, calibration, console),
                    quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8,
                )
            else:
                raise InvalidArgument(f"unknown ONNX variant {variant!r}")
        except (InvalidArgument, Unimplemented):
            raise
        except Exception as exc:
            raise Unimplemented(f"ONNX Runtime cannot quantize {source.name} as {variant}: {first_line(exc)}") from exc


def _float16(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    except Exception as exc:
        raise Unimplemented(f"cannot convert {source.name} to float16: {first_line(exc)}") from exc
    onnx.save(model, str(target))


def _preprocess(source: Path, target: Path) -> Path:
    """ONNX Runtime's recommended shape inference and graph clean-up before quantizing; ``source`` if it fails."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(target))
    except Exception:  # optional step: quantization still works without it, only less well
        return source
    return target


def _reader(signature: Signature, calibration: SampleSet, console: Console) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            steps = console.progress(feeds(signature, calibration, 1), "calibrating", len(calibration), "example")
            self._steps = iter(steps)

        def get_next(self) -> dict[str, Any] | None:
            step = next(self._steps, None)
            return None if step is None else step[1]

    return Reader()


def check_onnx_file(path: Path) -> None:
    """ModelLoadError when ``path`` is not a readable ONNX model."""
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:
        raise ModelLoadError(f"could not load onnx model at {path}: {first_line(exc)}") from exc
