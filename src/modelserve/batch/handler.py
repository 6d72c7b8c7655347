"""Beam's RunInference on any modelserve model: :class:`ModelServeHandler`.

    import apache_beam as beam
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from modelserve.batch import ModelServeHandler

    handler = ModelServeHandler("models/digits_onnx", max_batch_size=64)
    with beam.Pipeline(runner="FnApiRunner") as p:
        (p | beam.Create([("a", {"images": image_a}), ("b", {"images": image_b})])
           | RunInference(KeyedModelHandler(handler))
           | beam.Map(print))      # ('a', PredictionResult(example=..., inference={...}, model_id='digits_onnx:1'))

Contract, as Beam's :class:`~apache_beam.ml.inference.base.ModelHandler` defines it:

* Elements are *rows* (see :mod:`modelserve.batch.rows`): ``{input name: one example}`` or a bare value for
  a one-input signature. Each becomes one ``PredictionResult(example, inference, model_id)``; ``inference``
  is ``{output name: that example's value}`` (or one output's value when ``outputs`` names one), and
  ``model_id`` is ``name:version`` of the version actually loaded.
* :meth:`load_model` runs once per worker process (Beam's ``Shared`` handle, reused by every thread), or
  once per machine with ``large_model=True`` / ``model_copies=N`` (Beam's ``MultiProcessShared``: batches go
  to a model process and back, pickled).
* Batching settings are handed to ``beam.BatchElements`` (``min_batch_size``, ``max_batch_size``,
  ``max_batch_duration_secs`` for streaming, ``element_size_fn``, ``batch_length_fn``,
  ``batch_bucket_boundaries``).
* A failing batch raises a :class:`~modelserve.errors.ServingError`; ``RunInference(...)
  .with_exception_handling()`` turns it into a dead letter ``(batch, exception)``.
* Model refresh: ``RunInference(handler, watch_model_pattern="models/digits_onnx/*/model.onnx")`` or a
  ``model_metadata_pcoll`` of ``ModelMetadata(model_id=path, ...)``; :meth:`update_model_path` points the
  handler at the new file or version folder (a ``saved_model.pb`` stands for its folder).
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from modelserve.batch.info import ModelInfo
from modelserve.batch.locate import ModelSource, ResolvedModel, resolve
from modelserve.batch.rows import Row, fit_batch, split_rows, stack_rows
from modelserve.errors import InvalidArgument
from modelserve.runtimes import registry
from modelserve.runtimes.base import RuntimeOptions
from modelserve.serving.service import ModelService
from modelserve.types import DEFAULT_SIGNATURE, InferRequest, InputRules, ModelRef

#: Beam metrics namespace of the handler (Beam's built-in handlers use ``BeamML_<framework>``).
METRICS_NAMESPACE = "BeamML_modelserve"


class LocalModel:
    """The loaded model a worker holds, and the one signature the pipeline calls.

    Exposes methods only, so that Beam's cross-process proxy can call it: :meth:`info` and
    :meth:`run_rows`. Thread-safe (runtimes are).
    """

    def __init__(self, resolved: ResolvedModel, signature: str, options: RuntimeOptions) -> None:
        model = registry.load(resolved.path, resolved.platform, options)
        try:
            self._signature = model.signature(signature)
        except Exception:
            model.close()
            raise
        self._info = ModelInfo.from_signature(resolved.model_id, self._signature, model.platform)
        self._ref = ModelRef(resolved.model_id)
        self._service = ModelService.local(model, resolved.model_id)  # the serving core, with no network

    def info(self) -> ModelInfo:
        return self._info

    def run_rows(self, rows: Sequence[Row]) -> tuple[str, dict[str, np.ndarray]]:
        """Stack ``rows``, check them against the signature, run the model once: ``(model_id, outputs)``."""
        stacked = fit_batch(self._info, stack_rows(rows, self._info.input_names), len(rows))
        request = InferRequest(self._ref, stacked, self._signature.name, rules=InputRules.CAST, api="beam")
        return self._info.model_id, self._service.infer_now(request).outputs

    def close(self) -> None:
        self._service.stop()


class ModelServeHandler(ModelHandler[Row, PredictionResult, LocalModel]):
    """Runs a modelserve model (SavedModel, Keras, ONNX, TFLite) inside a Beam pipeline.

    ``model`` is a path (model file, version folder, or base folder of versions: newest unless ``version``
    or ``label`` says otherwise) or a :class:`~modelserve.batch.locate.ModelSource`. ``outputs`` keeps only
    some outputs (a single name makes ``inference`` that output's value). ``intra_op_threads``,
    ``inter_op_threads`` and ``providers`` go to the runtime. The rest is Beam's ``ModelHandler``.
    """

    def __init__(
        self,
        model: str | Path | ModelSource,
        *,
        signature: str = DEFAULT_SIGNATURE,
        outputs: str | Sequence[str] | None = None,
        name: str | None = None,
        version: int | None = None,
        label: str | None = None,
        model_config_file: str | Path | None = None,
        platform: str | None = None,
        intra_op_threads: int = 0,
        inter_op_threads: int = 0,
        providers: Sequence[str] | None = None,
        allow_code_models: bool = False,
        min_batch_size: int | None = None,
        max_batch_size: int | None = None,
        max_batch_duration_secs: float | None = None,
        element_size_fn: Callable[[Any], int] | None = None,
        batch_length_fn: Callable[[Any], int] | None = None,
        batch_bucket_boundaries: list[int] | None = None,
        large_model: bool = False,
        model_copies: int | None = None,
        env_vars: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
            max_batch_duration_secs=max_batch_duration_secs,
            element_size_fn=element_size_fn,
            batch_length_fn=batch_length_fn,
            batch_bucket_boundaries=batch_bucket_boundaries,
            large_model=large_model,
            model_copies=model_copies,
            env_vars=env_vars or {},
        )
        if isinstance(model, ModelSource):
            if any(v is not None for v in (name, version, label, model_config_file, platform)):
                raise InvalidArgument("pass name/version/label/model_config_file/platform in the ModelSource")
            self._source = model
        else:
            config = None if model_config_file is None else str(model_config_file)
            self._source = ModelSource(str(model), name, version, label, config, platform)
        self._signature = signature
        self._outputs = outputs
        self._options = RuntimeOptions(
            intra_op_threads=intra_op_threads,
            inter_op_threads=inter_op_threads,
            providers=None if providers is None else tuple(providers),
            allow_code_models=allow_code_models,
        )

    @property
    def source(self) -> ModelSource:
        return self._source

    # ---- Beam's ModelHandler ----

    def load_model(self) -> LocalModel:
        return LocalModel(resolve(self._source), self._signature, self._options)

    def run_inference(
        self, batch: Sequence[Row], model: LocalModel, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        model_id, outputs = model.run_rows(list(batch))
        return results(batch, outputs, model_id, self._outputs)

    def validate_inference_args(self, inference_args: dict[str, Any] | None) -> None:
        if inference_args:
            raise ValueError(f"{type(self).__name__} takes no inference_args (got {sorted(inference_args)})")

    def get_num_bytes(self, batch: Sequence[Row]) -> int:
        return batch_bytes(batch)

    def get_metrics_namespace(self) -> str:
        return METRICS_NAMESPACE

    def update_model_path(self, model_path: str | None = None) -> None:
        """Point at a new file or version folder (a ``ModelMetadata.model_id`` from a refresh side input)."""
        if model_path:
            self._source = self._source.with_path(model_path)

    # ---- ours ----

    def describe(self) -> ModelInfo:
        """Load the model here, once, and say what it takes and returns (for planning a pipeline)."""
        model = self.load_model()
        try:
            return model.info()
        finally:
            model.close()

    def one_by_one(self) -> ModelServeHandler:
        """A copy that runs every element alone (to find which records of a failed batch fail)."""
        return with_batch_size_one(self)

    def __repr__(self) -> str:
        return f"ModelServeHandler({self._source.path!r}, signature={self._signature!r})"


def results(
    batch: Sequence[Any], outputs: dict[str, np.ndarray], model_id: str, keep: str | Sequence[str] | None
) -> list[PredictionResult]:
    """One ``PredictionResult`` per element of ``batch`` (shared by the local and remote handlers)."""
    rows = split_rows(_select(outputs, keep), len(batch))
    if isinstance(keep, str):
        return [PredictionResult(example, row[keep], model_id) for example, row in zip(batch, rows)]
    return [PredictionResult(example, row, model_id) for example, row in zip(batch, rows)]


def _select(outputs: dict[str, np.ndarray], keep: str | Sequence[str] | None) -> dict[str, np.ndarray]:
    if keep is None:
        return outputs
    names = [keep] if isinstance(keep, str) else list(keep)
    missing = [n for n in names if n not in outputs]
    if missing:
        raise InvalidArgument(f"the model has no output {missing[0]!r}; it returns: {', '.join(outputs)}")
    return {n: outputs[n] for n in names}


def batch_bytes(batch: Sequence[Any]) -> int:
    """Bytes of the arrays and strings in a batch (cheap; Beam's default pickles every batch)."""
    total = 0
    for row in batch:
        values = row.values() if isinstance(row, dict) else (row,)
        for value in values:
            if isinstance(value, (np.ndarray, np.generic)) and value.dtype != object:
                total += value.nbytes
            elif isinstance(value, np.ndarray):
                total += sum(len(v) if isinstance(v, (bytes, str)) else 8 for v in value.reshape(-1))
            elif isinstance(value, (bytes, str)):
                total += len(value)
            else:
                total += len(pickle.dumps(value))
    return total


def with_batch_size_one(handler: ModelHandler) -> ModelHandler:
    """A shallow copy of ``handler`` whose batches hold one element."""
    clone = copy.copy(handler)
    clone._batching_kwargs = {**handler.batch_elements_kwargs(), "min_batch_size": 1, "max_batch_size": 1}
    clone._batching_kwargs.pop("max_batch_duration_secs", None)
    return clone
