"""``modelserve convert``: argument declarations only; the work happens in :mod:`.pipeline` when it runs.

Exit status: 0 when the variant landed, 1 for errors (``error: ...`` from ``modelserve.cli``), 3 when
``--max-accuracy-drop`` was exceeded (the candidate is kept as ``<version>.rejected``, not served).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_GATE_FAILED = 3


def _pixel_range(text: str) -> tuple[float, float]:
    low, sep, high = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return float(low), float(high)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH such as 0:1 or 0:255, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def add_parser(commands: Any) -> None:
    """Declare ``convert`` on the ``modelserve`` subcommands (argparse subparsers object)."""
    parser = commands.add_parser(
        "convert",
        help="convert a model to TFLite, ONNX or TF.js (quantized), verify it, and land it as a new version",
        description="Convert SRC to TFLite, ONNX or TF.js, verify it against the original (TF.js: in Node.js), "
        "write a report, and land "
        "it as a new integer version folder under --out (atomically). Exit 3 when --max-accuracy-drop is exceeded.",
    )
    add = parser.add_argument
    add("source", metavar="SRC", help="SavedModel folder, .keras/.h5 file, .onnx file, or .pt/.pth/.pt2 (PyTorch)")
    add("--to", required=True, choices=("tflite", "onnx", "tfjs"), help="target format")
    add(
        "--quantize",
        default="none",
        help="the variant that lands [none]: none | float16 | dynamic | int8 (TFLite, ONNX); "
        "none | float16 | uint16 | uint8 (TF.js weights)",
    )
    add(
        "--compare",
        type=_names,
        default=(),
        help="more variants to convert and measure in the report, e.g. none,float16",
    )
    add("--calibration", type=Path, help="representative data: a folder of images, an .npz or a TFRecord file")
    add("--samples", type=int, default=100, help="calibration examples to use, spread over the set [100]")
    add("--eval", dest="evaluation", type=Path, help="evaluation data (labelled for accuracy) [the calibration set]")
    add("--signature", default="serving_default", help="SavedModel signature to convert [serving_default]")
    add(
        "--also-signatures",
        type=_names,
        default=(),
        help="TFLite: more signatures to keep in the file under their own keys, comma-separated "
        "(checked on random inputs; not with int8)",
    )
    add("--out", required=True, type=Path, help="model base path; the result becomes BASE_PATH/<version>")
    add("--version", type=int, help="version number [one more than the highest there]")
    add("--max-accuracy-drop", type=float, help="fail (exit 3, nothing lands) above this drop in percentage points")
    add("--io-type", default="int8", choices=("int8", "uint8", "float32"), help="int8 TFLite input/output type [int8]")
    add("--opset", type=int, default=17, help="ONNX opset for tf2onnx and PyTorch [17]")
    add("--outputs", type=_names, help="keep only these outputs, comma-separated (e.g. probabilities)")
    add("--batch-size", type=int, help="fix the batch dimension (Edge TPU needs fixed shapes: 1)")
    add("--pixel-range", type=_pixel_range, default=(0.0, 1.0), help="image pixels map to LOW:HIGH [0:1]")
    add("--label-key", help="name of the labels in .npz/TFRecord data [labels or label]")
    add("--score-output", help="output whose argmax is the predicted class [first float [N, K] output]")
    add("--latency-runs", type=int, default=30, help="one-example calls timed per model [30]")
    add("--report", type=Path, help="also copy the report (md, json, png) into this folder")
    add("--input-shape", action="append", default=[], help="PyTorch example input NAME=D0,D1,... (repeatable)")
    add("--json", action="store_true", help="print the report as JSON instead of the table")
    add("--verbose", action="store_true", help="show the frameworks' logs (TensorFlow, converter, tf2onnx)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the conversion described by ``args``; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if args.verbose else "3")
    from modelserve.convert.pipeline import ConvertRequest, convert
    from modelserve.convert.pytorch import parse_input_shapes

    request = ConvertRequest(
        source=Path(args.source),
        out=args.out,
        to=args.to,
        quantize=args.quantize,
        compare=args.compare,
        calibration=args.calibration,
        samples=args.samples,
        evaluation=args.evaluation,
        signature=args.signature,
        also_signatures=args.also_signatures,
        outputs=args.outputs,
        batch_size=args.batch_size,
        io_type=args.io_type,
        opset=args.opset,
        version=args.version,
        max_accuracy_drop=args.max_accuracy_drop,
        pixel_range=args.pixel_range,
        label_key=args.label_key,
        score_output=args.score_output,
        latency_runs=args.latency_runs,
        report=args.report,
        input_shapes=parse_input_shapes(args.input_shape),
        verbose=args.verbose,
    )
    result = convert(request)
    if args.json:
        print(json.dumps({"summary": result.summary, **json.loads(result.report["json"].read_text())}, indent=2))
    else:
        print(result.table())
        print()
        print(result.summary)
        print("report: " + ", ".join(str(path) for path in result.report.values()))
    if not result.accepted:
        print(f"error: {result.summary}", file=sys.stderr)
        return EXIT_GATE_FAILED
    return 0
