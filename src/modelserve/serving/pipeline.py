"""Pipelines: a model whose signature is a graph of steps, declared in a version folder's ``pipeline.yaml``.

    signature:                       # what callers see (one signature, serving_default)
      inputs:  {image_bytes: [string, [-1]]}
      outputs: {labels: [string, [-1, 3]], scores: [float32, [-1, 3]]}
    steps:
      - {name: decode, python: decode, inputs: {png: image_bytes}}          # a function in steps.py
      - {name: onnx, model: digits_onnx, inputs: {images: decode.images}}   # a served model, by name
      - {name: tflite, model: digits_tflite, version: 1, inputs: {images: decode.images}}
      - {name: vote, python: average, inputs: {a: onnx.probabilities, b: tflite.probabilities}}
    outputs: {labels: vote.labels, scores: vote.scores}

Steps run in the order listed, in this process, with no network hop: a ``model`` step calls another served
model through :meth:`ModelService.infer_now <modelserve.serving.service.ModelService.infer_now>` (its input
gate, its statistics, its metrics; ``version`` pins a version, ``label`` follows a label, neither follows
the newest version, as a request would), a ``python`` step calls a function of the folder's ``steps.py``
(``fn(inputs: dict) -> dict``; only with ``allow_code_models``). A step's inputs name the pipeline's inputs
(``image_bytes``) or an earlier step's outputs (``decode.images``); a model step passes every output on.
Each step's time is in ``modelserve_pipeline_step_seconds{pipeline, step}``; an error names its step.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.counters import emitting_for
from modelserve.errors import FailedPrecondition, ModelLoadError, ServingError, error_of_code
from modelserve.runtimes.base import LoadedModel, RuntimeOptions
from modelserve.types import DEFAULT_SIGNATURE, InferRequest, InputRules, ModelRef, Signature, TensorSpec

PIPELINE_FILE = "pipeline.yaml"
STEPS_FILE = "steps.py"

#: Runs one request on another served model, on the calling thread: ``InferRequest -> outputs``.
Infer = Callable[[InferRequest], Mapping[str, np.ndarray]]
#: Records one step's time: ``(pipeline, step, seconds)``.
StepTimer = Callable[[str, str, float], None]


@dataclass(frozen=True)
class Step:
    name: str
    inputs: Mapping[str, str]  #: the step's input name -> "pipeline input" or "step.output"
    model: ModelRef | None = None
    signature: str = DEFAULT_SIGNATURE
    function: Callable[[dict[str, np.ndarray]], Mapping[str, Any]] | None = None


def is_pipeline(path: Path) -> bool:
    return path.is_dir() and (path / PIPELINE_FILE).is_file()


class PipelineModel(LoadedModel):
    platform = "pipeline"

    def __init__(
        self, path: Path, name: str, signature: Signature, steps: list[Step], outputs: Mapping[str, str],
        infer: Infer, timer: StepTimer | None,
    ) -> None:  # fmt: skip
        self.path = path
        self.name = name
        self.signatures = {signature.name: signature}
        self._steps = steps
        self._outputs = outputs
        self._infer = infer
        self._timer = timer

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.signature(signature_name)
        values: dict[str, np.ndarray] = dict(inputs)
        for step in self._steps:
            started = time.perf_counter()
            feed = {name: values[source] for name, source in step.inputs.items()}
            try:
                produced = self._run_step(step, feed)
            except ServingError as exc:
                raise error_of_code(exc.code, f"pipeline {self.name} step '{step.name}': {exc.message}") from None
            except Exception as exc:  # a Python step's own error
                raise FailedPrecondition(
                    f"pipeline {self.name} step '{step.name}': {type(exc).__name__}: {exc}"
                ) from exc
            finally:
                if self._timer is not None:
                    self._timer(self.name, step.name, time.perf_counter() - started)
            for output, array in produced.items():
                values[f"{step.name}.{output}"] = np.asarray(array) if not isinstance(array, np.ndarray) else array
        missing = [source for source in self._outputs.values() if source not in values]
        if missing:
            raise FailedPrecondition(f"pipeline {self.name}: no step produced '{missing[0]}'")
        return {name: values[source] for name, source in self._outputs.items()}

    def _run_step(self, step: Step, feed: dict[str, np.ndarray]) -> Mapping[str, Any]:
        if step.model is not None:
            request = InferRequest(step.model, feed, step.signature, rules=InputRules.CAST, api="pipeline")
            return self._infer(request)
        assert step.function is not None
        with emitting_for(self.path):  # business counters a step emits belong to this pipeline version
            produced = step.function(feed)
        if not isinstance(produced, Mapping):
            raise FailedPrecondition(f"returned {type(produced).__name__}, not a dict of outputs")
        return produced

    def close(self) -> None:
        self._steps = []


def load_pipeline(
    path: Path, name: str, options: RuntimeOptions, infer: Infer, timer: StepTimer | None
) -> PipelineModel:
    """Read ``pipeline.yaml`` (and ``steps.py`` when a step needs it); ModelLoadError naming what is wrong."""
    import yaml

    where = path / PIPELINE_FILE
    try:
        document = yaml.safe_load(where.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ModelLoadError(f"cannot read {where}: {exc}") from None
    if not isinstance(document, dict) or not {"signature", "steps", "outputs"} <= set(document):
        raise ModelLoadError(f"{where} needs 'signature', 'steps' and 'outputs'")
    signature = _signature(where, document["signature"])
    functions = _steps_module(path, options) if any("python" in s for s in document["steps"] or []) else None
    steps, known = [], set(signature.inputs)
    for index, entry in enumerate(document["steps"] or []):
        step = _step(where, index, entry, functions, known)
        steps.append(step)
        known |= {f"{step.name}.*"}
    outputs = document["outputs"]
    if not isinstance(outputs, dict) or set(outputs) != set(signature.outputs):
        raise ModelLoadError(f"{where}: 'outputs' must map each signature output to a step's output")
    return PipelineModel(path, name, signature, steps, {k: str(v) for k, v in outputs.items()}, infer, timer)


def _signature(where: Path, declared: Any) -> Signature:
    def specs(section: str) -> list[TensorSpec]:
        tensors = declared.get(section) if isinstance(declared, dict) else None
        if not isinstance(tensors, dict) or not tensors:
            raise ModelLoadError(f"{where}: signature.{section} must map names to [dtype, shape]")
        out = []
        for tensor, spec in tensors.items():
            if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str)):
                raise ModelLoadError(f"{where}: signature.{section}.{tensor} must be [dtype, shape or null]")
            shape = None if spec[1] is None else tuple(int(d) for d in spec[1])
            out.append(TensorSpec(str(tensor), spec[0], shape))
        return out

    return Signature.from_specs(DEFAULT_SIGNATURE, specs("inputs"), specs("outputs"))


def _steps_module(path: Path, options: RuntimeOptions) -> Any:
    if not options.allow_code_models:
        raise ModelLoadError(f"{path} has Python steps (steps.py), which run code: pass --allow_code_models")
    file = path / STEPS_FILE
    spec = importlib.util.spec_from_file_location(f"modelserve_pipeline_steps_{abs(hash(str(path)))}", file)
    if spec is None or spec.loader is None or not file.is_file():
        raise ModelLoadError(f"{path} has Python steps but no {STEPS_FILE}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelLoadError(f"{file} failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def _step(where: Path, index: int, entry: Any, functions: Any, known: set[str]) -> Step:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ModelLoadError(f"{where}: step {index} needs a 'name'")
    name = entry["name"]
    inputs = entry.get("inputs") or {}
    if not isinstance(inputs, dict):
        raise ModelLoadError(f"{where}: step '{name}': 'inputs' must map its input names to sources")
    for source in map(str, inputs.values()):
        if source not in known and f"{source.split('.', 1)[0]}.*" not in known:
            raise ModelLoadError(f"{where}: step '{name}' reads '{source}', which no earlier step or input gives")
    sources = {str(k): str(v) for k, v in inputs.items()}
    if "model" in entry:
        version = entry.get("version")
        ref = ModelRef(str(entry["model"]), None if version is None else int(version), entry.get("label"))
        return Step(name, sources, model=ref, signature=str(entry.get("signature", DEFAULT_SIGNATURE)))
    if "python" in entry:
        function = getattr(functions, str(entry["python"]), None)
        if not callable(function):
            raise ModelLoadError(f"{where}: step '{name}': {STEPS_FILE} has no function {entry['python']!r}")
        return Step(name, sources, function=function)
    raise ModelLoadError(f"{where}: step '{name}' needs 'model' or 'python'")
