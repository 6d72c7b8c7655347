"""What a Spark executor's Python worker does with a model: load it once, run batches, isolate failures.

Used by both Spark front ends (the ``batch-predict --engine spark`` tasks and the DataFrame API); imports
neither Spark nor Beam, so it also runs (and is tested) without a cluster.

* :class:`ModelSpec`: which model a task uses, as plain picklable values: a local path (loaded in the worker
  through :func:`modelserve.load_model`, with the version the server would pick: see
  :func:`~modelserve.batch.locate.resolve`) or a server URL (called over REST or gRPC, with retries).
* :func:`predictor`: the worker's :class:`LocalPredictor` or :class:`RemotePredictor` for a spec, made on first
  use and kept in a module global keyed by the spec, so a model is loaded once per Python worker process
  (Spark reuses its Python workers across tasks: ``spark.python.worker.reuse``, on by default).
* :func:`predict_rows`: ``(ident, row)`` pairs -> one :class:`Outcome` per row, in order, in batches of
  ``batch_size``; a batch that fails is run again one row at a time, so only rows that fail alone fail (as in
  the Beam pipeline).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from modelserve.batch.clients import RetryPolicy, make_client, send_with_retries, typed_inputs
from modelserve.batch.info import ModelInfo
from modelserve.batch.locate import ModelSource, resolve
from modelserve.batch.rows import Row, fit_batch, split_rows, stack_rows
from modelserve.batch.targets import is_server_url, parse_target
from modelserve.errors import InvalidArgument
from modelserve.types import DEFAULT_SIGNATURE


@dataclass(frozen=True)
class ModelSpec:
    """A model for Spark tasks. ``model`` is a local path (made absolute: executors run in their own working
    folders) or a server URL; ``remote`` names the server when ``model`` is the model's name (``--remote``).

    Local: ``version``/``label``/``model_config_file``/``platform``/``allow_code_models`` and the runtime's
    thread counts. Remote: ``protocol``, ``version``/``label``, ``timeout_secs`` and ``retry``.
    """

    model: str
    signature: str = DEFAULT_SIGNATURE
    remote: str | None = None
    version: int | None = None
    label: str | None = None
    model_config_file: str | None = None
    platform: str | None = None
    allow_code_models: bool = False
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    protocol: str | None = None
    timeout_secs: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.is_remote:
            if self.model_config_file or self.platform or self.allow_code_models:
                raise InvalidArgument("model_config_file, platform and allow_code_models are for local models")
            return
        if self.protocol:
            raise InvalidArgument("protocol is for server URLs")
        object.__setattr__(self, "model", str(Path(self.model).absolute()))
        if self.model_config_file:
            object.__setattr__(self, "model_config_file", str(Path(self.model_config_file).absolute()))

    @property
    def is_remote(self) -> bool:
        return self.remote is not None or is_server_url(self.model)


class LocalPredictor:
    """A model loaded in this process with :func:`modelserve.load_model`; :meth:`run` is thread-safe."""

    def __init__(self, spec: ModelSpec) -> None:
        from modelserve.model import load_model

        source = ModelSource(spec.model, None, spec.version, spec.label, spec.model_config_file, spec.platform)
        resolved = resolve(source)
        self._model = load_model(
            resolved.path,
            resolved.platform,
            allow_code_models=spec.allow_code_models,
            intra_op_threads=spec.intra_op_threads,
            inter_op_threads=spec.inter_op_threads,
        )
        try:
            signature = self._model.runtime.signature(spec.signature)
        except Exception:
            self._model.close()
            raise
        self._signature = signature.name
        self.info = ModelInfo.from_signature(resolved.model_id, signature, self._model.platform)

    def run(self, rows: Sequence[Row]) -> tuple[str, dict[str, np.ndarray]]:
        """One model call for ``rows``: ``(model_id, {output: array[len(rows), ...]})``."""
        stacked = fit_batch(self.info, stack_rows(rows, self.info.input_names), len(rows))
        return self.info.model_id, self._model.predict(stacked, self._signature)

    def close(self) -> None:
        self._model.close()


class RemotePredictor:
    """A model on a server (modelserve, TF Serving, or any V2 server): one request per batch, with retries."""

    def __init__(self, spec: ModelSpec) -> None:
        url, name = (spec.remote, spec.model) if spec.remote else (spec.model, None)
        target = parse_target(url, name, spec.version, spec.label, spec.protocol)
        self._client = make_client(target, spec.timeout_secs)
        self._signature = spec.signature
        self._retry = spec.retry
        try:
            self.info = self._client.describe(spec.signature)
        except Exception:
            self._client.close()
            raise

    def run(self, rows: Sequence[Row]) -> tuple[str, dict[str, np.ndarray]]:
        inputs = typed_inputs(self.info, stack_rows(rows, self.info.input_names), len(rows))
        return send_with_retries(self._client, self._signature, inputs, self._retry)

    def close(self) -> None:
        self._client.close()


Predictor = LocalPredictor | RemotePredictor

_PREDICTORS: dict[ModelSpec, Predictor] = {}
_LOCK = threading.Lock()


def open_predictor(spec: ModelSpec) -> Predictor:
    """A new predictor for ``spec`` (the caller closes it)."""
    return RemotePredictor(spec) if spec.is_remote else LocalPredictor(spec)


def predictor(spec: ModelSpec) -> Predictor:
    """This process's predictor for ``spec``: loaded (or connected) on first use, then reused."""
    with _LOCK:
        found = _PREDICTORS.get(spec)
        if found is None:
            found = _PREDICTORS[spec] = open_predictor(spec)
        return found


def describe(spec: ModelSpec) -> ModelInfo:
    """Load (or ask the server about) the model once, here, and say what its signature takes and returns."""
    opened = open_predictor(spec)
    try:
        return opened.info
    finally:
        opened.close()


class Outcome(NamedTuple):
    """One row's result: ``outputs`` (``{name: that row's value}``) and ``model_id``, or ``error``.

    ``alone`` is True when the row's batch failed and the row was run again by itself.
    """

    ident: Any
    row: Any
    model_id: str | None
    outputs: dict[str, np.ndarray] | None
    error: BaseException | None = None
    alone: bool = False


def predict_rows(
    items: Iterable[tuple[Any, Row]], run: Any, batch_size: int, isolate_failures: bool = True
) -> Iterator[Outcome]:
    """An :class:`Outcome` per ``(ident, row)``, in input order. ``run`` is a predictor's ``run`` (rows ->
    ``(model_id, outputs)``); any exception it raises fails its batch, whose rows are then run one by one
    (``isolate_failures``), so each failing row carries its own error."""
    if batch_size < 1:
        raise InvalidArgument(f"batch_size must be at least 1, got {batch_size}")
    batch: list[tuple[Any, Row]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= batch_size:
            yield from _run_batch(batch, run, isolate_failures)
            batch = []
    if batch:
        yield from _run_batch(batch, run, isolate_failures)


def _run_batch(batch: list[tuple[Any, Row]], run: Any, isolate_failures: bool) -> Iterator[Outcome]:
    try:
        model_id, outputs = run([row for _, row in batch])
        per_row = split_rows(outputs, len(batch))
    except Exception as exc:
        if not isolate_failures:
            for ident, row in batch:
                yield Outcome(ident, row, None, None, exc)
            return
        for ident, row in batch:  # every row of a failed batch again, alone (as Beam's pipeline does)
            yield from (o._replace(alone=True) for o in _run_batch([(ident, row)], run, False))
        return
    for (ident, row), values in zip(batch, per_row):
        yield Outcome(ident, row, model_id, values)
