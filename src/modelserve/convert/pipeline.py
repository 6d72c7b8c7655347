"""``modelserve convert`` as one function: check, read data, convert every variant, verify, report, land.

Order (each step in its own module): validate the request -> load the original through modelserve's
runtimes (a corrupt model fails here with a clear message) -> read calibration and evaluation data for the
chosen signature -> stage a new version folder -> convert the landed variant into it and each ``compare``
variant into a scratch folder -> run the original and every variant on the same evaluation examples
(random ones when no data was given) -> write the report into the candidate folder -> land it as
``<version>`` when the accuracy gate passes, else keep it as ``<version>.rejected``.

    result = convert(ConvertRequest(source=Path("models/digits/1"), out=Path("/tmp/digits_edge"),
                                    to="tflite", quantize="int8", calibration=Path("models/digits_png")))
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelserve.convert.console import Console
from modelserve.convert.report import ReportRow, accuracy_drop_points, markdown_table, write_report
from modelserve.convert.samples import SampleSet, load_samples, random_samples
from modelserve.convert.variants import IO_TYPES, MODEL_FILES, TARGETS, VARIANTS, needs_calibration, variant_name
from modelserve.convert.verify import (
    LoadedSubject,
    Outputs,
    Subject,
    file_size,
    latency_p50_ms,
    measure,
    run_all,
    score_output,
)
from modelserve.convert.versioning import StagedVersion
from modelserve.errors import InvalidArgument, Unimplemented
from modelserve.types import DEFAULT_SIGNATURE, Signature

RANDOM_EXAMPLES = 32
DEFAULT_OPSET = 17


@dataclass(frozen=True)
class ConvertRequest:
    """Everything ``modelserve convert`` takes (see ``docs/convert.md`` for each field's flag).

    ``quantize`` is the variant that lands; ``compare`` are extra variants converted and measured for the
    report only. ``max_accuracy_drop`` is in percentage points and needs labelled data.
    """

    source: Path
    out: Path
    to: str = "tflite"
    quantize: str = "float32"
    compare: tuple[str, ...] = ()
    calibration: Path | None = None
    samples: int = 100
    evaluation: Path | None = None
    signature: str = DEFAULT_SIGNATURE
    also_signatures: tuple[str, ...] = ()  # TFLite: more signatures kept in the file (:mod:`.signatures`)
    outputs: tuple[str, ...] | None = None
    batch_size: int | None = None
    io_type: str = "int8"
    opset: int = DEFAULT_OPSET
    version: int | None = None
    max_accuracy_drop: float | None = None
    pixel_range: tuple[float, float] = (0.0, 1.0)
    label_key: str | None = None
    score_output: str | None = None
    latency_runs: int = 30
    report: Path | None = None
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    verbose: bool = False


@dataclass(frozen=True)
class ConvertResult:
    """``path`` is ``out/<version>`` when ``accepted``, else ``out/<version>.rejected``."""

    version: int
    path: Path
    accepted: bool
    variant: str
    rows: tuple[ReportRow, ...]
    report: dict[str, Path]
    summary: str

    def table(self) -> str:
        return markdown_table(self.rows)


def convert(request: ConvertRequest, console: Console | None = None) -> ConvertResult:
    """Run the whole conversion; framework output is hushed unless ``request.verbose``."""
    console = console or Console(verbose=request.verbose)
    variants = _validate(request)
    with console.hush():
        return _Run(request, variants, console).execute()


def _validate(request: ConvertRequest) -> list[str]:
    """The variants to produce, landed one first; InvalidArgument for a request that cannot work."""
    if request.to not in TARGETS:
        raise InvalidArgument(f"--to must be one of {', '.join(TARGETS)}, got {request.to!r}")
    landed = variant_name(request.quantize)
    variants = [landed, *(v for v in (variant_name(c) for c in request.compare) if v != landed)]
    variants = list(dict.fromkeys(variants))
    from modelserve.convert.variants import check_target

    check_target(request.to, variants)
    from modelserve.convert.signatures import check_also_signatures

    check_also_signatures(request.to, request.signature, request.also_signatures, variants)
    if any(needs_calibration(v) for v in variants) and request.calibration is None:
        raise InvalidArgument("int8 quantization needs calibration data: pass --calibration (images, .npz, TFRecord)")
    if request.samples < 1:
        raise InvalidArgument(f"--samples must be at least 1, got {request.samples}")
    if request.latency_runs < 1:
        raise InvalidArgument(f"--latency-runs must be at least 1, got {request.latency_runs}")
    if request.max_accuracy_drop is not None and request.max_accuracy_drop < 0:
        raise InvalidArgument(f"--max-accuracy-drop must be >= 0 points, got {request.max_accuracy_drop}")
    if request.io_type not in IO_TYPES:
        raise InvalidArgument(f"--io-type must be one of {', '.join(IO_TYPES)}, got {request.io_type!r}")
    if request.batch_size is not None and request.batch_size < 1:
        raise InvalidArgument(f"--batch-size must be at least 1, got {request.batch_size}")
    low, high = request.pixel_range
    if not low < high:
        raise InvalidArgument(f"--pixel-range must be LOW:HIGH with LOW < HIGH, got {low}:{high}")
    if request.to == "tfjs":
        from modelserve.convert.tfjs import check_installed

        check_installed()  # before any work: names scripts/install_tfjs.sh
    return variants


class _Run:
    """One conversion's state; :meth:`execute` is the order of the steps."""

    def __init__(self, request: ConvertRequest, variants: list[str], console: Console) -> None:
        self.request = request
        self.variants = variants
        self.console = console
        self.source = Path(request.source)
        self.source_name = str(request.source)
        self._torch_onnx: Path | None = None  # the float ONNX a PyTorch source was exported to
        self._tfjs_runtime = ""  # what ran the TF.js variants (Node.js, tfjs, backend)
        self._model: Any = None  # the original, loaded through the runtimes (TensorFlow sources)
        self._extra_diffs: dict[str, dict[str, float | None]] = {}  # signature -> variant -> max abs diff

    def execute(self) -> ConvertResult:
        from modelserve.convert.source import source_platform

        request = self.request
        platform = source_platform(self.source)
        _check_route(platform, request)
        with ExitStack() as stack:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="modelserve-convert-")))
            original, signature = self._original(platform, scratch, stack)
            calibration, evaluation = self._data(signature)
            if request.max_accuracy_drop is not None and (evaluation is None or evaluation.labels is None):
                raise InvalidArgument(
                    "--max-accuracy-drop needs labelled data: --eval (or --calibration) with labels "
                    "(an .npz 'labels' array, labels.csv or class folders, a TFRecord 'label' feature)"
                )
            staged = stack.enter_context(StagedVersion(request.out, request.version))
            files = self._convert_all(platform, signature, calibration, staged.path, scratch, stack)
            if evaluation is None:  # made up only now, so that conversion errors come first
                evaluation = random_samples(signature, RANDOM_EXAMPLES, request.pixel_range)
            self.console.note(f"verifying on {evaluation.origin}")
            reference = run_all(original, evaluation)
            score = score_output(reference, request.score_output)
            latency = latency_p50_ms(original, evaluation, request.latency_runs)
            accuracy = measure(reference, None, evaluation.labels, score, latency).accuracy
            rows = [ReportRow("original", platform, self.source_name, file_size(self.source), latency, accuracy)]
            for variant in self.console.progress(_canonical(self.variants), "verifying", unit="variant"):
                rows.append(self._verify(variant, files[variant], evaluation, reference, score, stack))
            return self._finish(staged, rows, evaluation, calibration, signature)

    # -------------------------------------------------------------------------------------- steps

    def _original(self, platform: str, scratch: Path, stack: ExitStack) -> tuple[Subject, Signature]:
        if platform == "pytorch":
            return self._torch_original(scratch)
        from modelserve.model import load_model

        model = stack.enter_context(load_model(self.source, platform=platform))
        name = model.runtime.signature(self.request.signature).name
        self._model = model
        return LoadedSubject(model, name), model.signatures[name]

    def _torch_original(self, scratch: Path) -> tuple[Subject, Signature]:
        from modelserve.convert import pytorch

        model = pytorch.load_torch(self.source)
        exported = scratch / "pytorch.onnx"
        export = pytorch.torch_to_onnx(model, self.request.input_shapes, exported, self.request.opset)
        self._torch_onnx = exported
        return export.reference, export.reference.signature

    def _data(self, signature: Signature) -> tuple[SampleSet | None, SampleSet | None]:
        """(calibration, evaluation) read from their files; evaluation falls back to calibration, else None."""
        request = self.request
        options = {"pixel_range": request.pixel_range, "label_key": request.label_key}
        calibration = None
        if request.calibration is not None:
            calibration = load_samples(request.calibration, signature, limit=request.samples, **options)
        if request.evaluation is not None:
            return calibration, load_samples(request.evaluation, signature, **options)
        return calibration, calibration

    def _convert_all(
        self,
        platform: str,
        signature: Signature,
        calibration: SampleSet | None,
        landing: Path,
        scratch: Path,
        stack: ExitStack,
    ) -> dict[str, Path]:
        request = self.request
        model_file = MODEL_FILES[request.to]
        files = {v: (landing if i == 0 else scratch / v) / model_file for i, v in enumerate(self.variants)}
        for path in files.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        if request.to == "tfjs":
            from modelserve.convert.tfjs import convert_tfjs

            targets = {variant: path.parent for variant, path in files.items()}
            convert_tfjs(self.source, platform, signature, request, landing, targets, self.console)
            return files
        if request.to == "tflite":
            frozen = stack.enter_context(self._frozen(platform))
            from modelserve.convert.signatures import frozen_extras
            from modelserve.convert.tflite import convert_tflite

            also = stack.enter_context(
                frozen_extras(self.source, platform, request.also_signatures, request.batch_size)
            )
            for variant in self.console.progress(self.variants, "converting", unit="variant"):
                data = convert_tflite(
                    frozen, variant, signature, calibration, request.io_type, self.console, self.source_name, also
                )
                files[variant].write_bytes(data)
            return files
        base = self._float_onnx(platform, scratch, stack)
        from modelserve.convert.onnx import quantize_onnx

        for variant in self.console.progress(self.variants, "converting", unit="variant"):
            quantize_onnx(base, files[variant], variant, signature, calibration, self.console)
        return files

    @contextmanager
    def _frozen(self, platform: str) -> Iterator[Any]:
        from modelserve.convert.source import frozen_signature

        request = self.request
        with frozen_signature(self.source, platform, request.signature, request.outputs, request.batch_size) as f:
            yield f

    def _float_onnx(self, platform: str, scratch: Path, stack: ExitStack) -> Path:
        """The float32 ONNX graph every ONNX variant starts from."""
        from modelserve.convert.onnx import check_onnx_file, tf_to_onnx

        if platform == "onnx":
            from modelserve.runtimes.base import single_file

            path = single_file(self.source, (".onnx",), "ONNX")
            check_onnx_file(path)
            return path
        if platform == "pytorch" and self._torch_onnx is not None:
            return self._torch_onnx
        frozen = stack.enter_context(self._frozen(platform))
        model = tf_to_onnx(frozen, self.request.opset, self.source_name)
        path = scratch / "tf2onnx.onnx"
        path.write_bytes(model.SerializeToString())
        return path

    def _verify(
        self,
        variant: str,
        path: Path,
        evaluation: SampleSet,
        reference: Outputs,
        score: str | None,
        stack: ExitStack,
    ) -> ReportRow:
        if self.request.to == "tfjs":
            from modelserve.convert.tfjs_node import run_in_node, signature_of

            ran = run_in_node(path, signature_of(path), evaluation, self.request.latency_runs)
            outputs, latency, self._tfjs_runtime = ran.outputs, ran.latency_p50_ms, ran.runtime
        else:
            from modelserve.convert.signatures import extra_diffs, file_signature_key
            from modelserve.model import load_model

            also = self.request.also_signatures
            subject = LoadedSubject(
                stack.enter_context(load_model(path)), file_signature_key(self.request.signature, also)
            )
            for name, diff in extra_diffs(self._model, subject.model, also, self.request.pixel_range).items():
                self._extra_diffs.setdefault(name, {})[variant] = diff
            outputs = run_all(subject, evaluation)
            latency = latency_p50_ms(subject, evaluation, self.request.latency_runs)
        result = measure(outputs, reference, evaluation.labels, score, latency)
        edge = micro = None
        if self.request.to == "tflite":
            from modelserve.convert.edgetpu import check_tflite
            from modelserve.convert.micro import check_micro

            edge, micro = check_tflite(path.read_bytes()).ready, check_micro(path.read_bytes())
        return ReportRow(
            variant=variant,
            format=self.request.to,
            file=path.name,
            size_bytes=file_size(path.parent if self.request.to == "tfjs" else path),
            latency_p50_ms=result.latency_p50_ms,
            accuracy=result.accuracy,
            max_abs_diff=result.max_abs_diff,
            top1_agreement=result.top1_agreement,
            edge_tpu_ready=edge,
            landed=variant == self.variants[0],
            micro_ready=None if micro is None else micro.ready,
            micro_arena_bytes=None if micro is None else micro.arena_bytes,
        )

    def _finish(
        self,
        staged: StagedVersion,
        rows: list[ReportRow],
        evaluation: SampleSet,
        calibration: SampleSet | None,
        signature: Signature,
    ) -> ConvertResult:
        request = self.request
        landed = next(row for row in rows if row.landed)
        drop = accuracy_drop_points(landed, rows[0])
        accepted = request.max_accuracy_drop is None or (drop is not None and drop <= request.max_accuracy_drop)
        gate = ""
        if request.max_accuracy_drop is not None:
            verdict = "passed" if accepted else "FAILED"
            gate = (
                f"accuracy drop of {landed.variant} {drop:+.2f} points, limit {request.max_accuracy_drop} ({verdict})"
            )
        if not accepted:
            rows = [replace(row, landed=False) for row in rows]
        target = staged.final_path if accepted else staged.rejected_path
        outcome = (
            f"{landed.variant} landed as version {staged.version} in {request.out}"
            if accepted
            else f"{landed.variant} rejected; kept for inspection at {target}"
        )
        header = {
            "source": self.source_name,
            "target": request.to + ("" if request.to != "onnx" else f" (opset {request.opset})"),
            "signature": f"{signature.name} (inputs: {', '.join(signature.inputs)})",
            "evaluated_on": evaluation.origin + (", labelled" if evaluation.labels is not None else ""),
            "calibrated_on": calibration.origin if calibration is not None else "",
            "outcome": outcome,
            "gate": gate,
            "version": staged.version,
            "accepted": accepted,
        }
        if request.to == "tflite" and "int8" in self.variants:
            header["int8_io_type"] = request.io_type
        if self._tfjs_runtime:
            header["verified_in"] = self._tfjs_runtime
        if self._extra_diffs:  # {signature: {variant: max abs diff}}, on random inputs
            header["also_signatures"] = self._extra_diffs
        paths = write_report(staged.path, header, rows)
        final = staged.land() if accepted else staged.reject()
        paths = {kind: final / path.name for kind, path in paths.items()}
        if request.report is not None:
            request.report.mkdir(parents=True, exist_ok=True)
            for kind, path in list(paths.items()):
                paths[kind] = Path(shutil.copy2(path, request.report / path.name))
        summary = outcome + (f"; {gate}" if gate else "")
        return ConvertResult(staged.version, final, accepted, landed.variant, tuple(rows), paths, summary)


def _canonical(variants: list[str]) -> list[str]:
    """Report order: float32, float16, dynamic, int8."""
    return sorted(variants, key=VARIANTS.index)


def _check_route(platform: str, request: ConvertRequest) -> None:
    if platform == "tflite":
        raise Unimplemented("converting from a TFLite file is not supported; start from the SavedModel, Keras or ONNX")
    if request.to in ("tflite", "tfjs") and platform not in ("tensorflow", "keras"):
        raise Unimplemented(
            f"--to {request.to} takes a SavedModel or Keras model; {request.source} is a {platform} model"
        )
    if platform == "onnx" and (request.outputs or request.batch_size):
        raise Unimplemented("--outputs and --batch-size apply to TensorFlow sources only")
