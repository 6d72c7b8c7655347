"""The ``batch-predict`` pipeline: files -> rows -> RunInference -> predictions, with a dead letter for every
record that could not be read, decoded or predicted.

    job = BatchPredictJob(inputs=("data/*.jsonl",), format="jsonl", output="out/pred")
    summary = run_job(job, ModelServeHandler("models/digits_onnx"), beam_args=[], workers=0)
    print(summary.text())

Shape of the pipeline (every step is Beam's; the model step is RunInference with our handler)::

    ReadRecords ──> Decode ──> RunInference(KeyedModelHandler(handler)) ──────────────┬─> output records
        │             │                 └─ failed batches ─> RunInference, one by one ─┤   (JSONL / Parquet)
        └── failed ───┴── failed ─────────────────────────────────── failed ──────────┴─> dead letters (JSONL)

A batch that fails is run again one record at a time (same model: same ``model_identifier``), so only the
records that fail alone become dead letters, each with its own reason; their batch-mates still get
predictions. Counters (namespace :data:`NAMESPACE`) give the summary's exact totals.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from modelserve.batch.info import ModelInfo
from modelserve.batch.io import FAILED, ReadRecords, parquet_schema, write_jsonl, write_parquet
from modelserve.batch.job import COUNTER_NAMES, OUTPUT_FORMATS, BatchPredictJob, Summary, default_format
from modelserve.batch.progress import CountProgress
from modelserve.batch.records import Decoder, RecordId, dead_letter, output_record
from modelserve.errors import InvalidArgument, ServingError

__all__ = [
    "NAMESPACE",
    "OUTPUT_FORMATS",
    "BatchPredictJob",
    "Summary",
    "build_pipeline",
    "check_inputs",
    "default_format",
    "read_counters",
    "run_job",
]

NAMESPACE = "modelserve.batch_predict"

_COUNTERS = {name: Metrics.counter(NAMESPACE, name) for name in COUNTER_NAMES}


class _Decode(beam.DoFn):
    """``(source, payload)`` -> ``(RecordId, row)``; a record that does not fit -> a ``failed`` dead letter."""

    def __init__(self, decoder: Decoder, keep_payload: bool) -> None:
        self._decoder = decoder
        self._keep_payload = keep_payload

    def process(self, record: tuple[str, Any]) -> Iterator[Any]:
        try:
            yield self._decoder(record)
        except (ServingError, ValueError, TypeError) as exc:
            _COUNTERS["failed_decode"].inc()
            payload = record[1] if self._keep_payload else None
            key = getattr(exc, "key", None)
            record_id = None if key is None else RecordId(key, record[0])
            yield beam.pvalue.TaggedOutput(FAILED, dead_letter(record_id, record[0], "decode", exc, payload))


class _Count(beam.DoFn):
    def __init__(self, name: str) -> None:
        self._name = name

    def process(self, element: Any) -> Iterator[Any]:
        _COUNTERS[self._name].inc()
        yield element


def _failed_batch_letters(failure: tuple[Any, Any]) -> Iterator[dict[str, Any]]:
    """Dead letters for every element of a failed batch (``(batch, (type, repr, traceback))``)."""
    batch, error = failure
    exc = _exception(error)
    for record_id, row in batch:
        _COUNTERS["failed_predict"].inc()
        yield dead_letter(record_id, record_id.source, "predict", exc, row)


def _elements(failure: tuple[Any, Any]) -> Iterator[Any]:
    batch, _error = failure
    for element in batch:
        _COUNTERS["rerun_alone"].inc()
        yield element


def _exception(error: Any) -> BaseException:
    """Rebuild a readable exception from Beam's dead-letter triple (type, repr, formatted traceback)."""
    if isinstance(error, BaseException):
        return error
    exc_type, exc_repr, trace = error
    last = trace[-1].strip() if trace else exc_repr
    message = last.split(": ", 1)[1] if ": " in last else exc_repr
    if isinstance(exc_type, type) and issubclass(exc_type, ServingError):
        return exc_type(message)
    try:
        return exc_type(message)
    except Exception:
        return RuntimeError(f"{getattr(exc_type, '__name__', exc_type)}: {message}")


def _to_output(
    element: tuple[RecordId, PredictionResult], include_inputs: bool, keep: list[str] | None
) -> dict[str, Any]:
    record_id, result = element
    inference = result.inference
    if keep and isinstance(inference, dict):
        inference = {name: inference[name] for name in keep}
    return output_record(record_id, inference, result.model_id, result.example, include_inputs)


def build_pipeline(
    pipeline: beam.Pipeline,
    job: BatchPredictJob,
    handler: ModelHandler,
    info: ModelInfo,
    progress_address: tuple[str, int] | None = None,
) -> dict[str, beam.PCollection]:
    """Add the batch-predict steps to ``pipeline``; returns the ``predictions`` and ``dead_letters`` records.

    ``handler`` is a :class:`~modelserve.batch.handler.ModelServeHandler` or
    :class:`~modelserve.batch.remote.ServerModelHandler` (anything with ``one_by_one()``); ``info`` describes
    its signature (from ``handler.describe()``), which decoding follows.
    """
    decoder = Decoder(info, job.format, job.key_field, job.image_scale, job.image_resample)
    read = pipeline | "Read" >> ReadRecords(job.inputs, job.format)
    records = (
        read["records"]
        | "CountRead" >> beam.ParDo(_Count("read"))
        | "ProgressRead" >> beam.ParDo(CountProgress("read", progress_address))
    )
    decoded = records | "Decode" >> beam.ParDo(_Decode(decoder, job.format != "images")).with_outputs(
        FAILED, main="rows"
    )
    tag = f"modelserve-{uuid.uuid4().hex}"  # both RunInference steps share one loaded model
    keep = list(job.outputs) if job.outputs else None
    for name in keep or ():
        info.output(name)  # NotFound naming the outputs there are
    predicted, dlq = (
        decoded.rows
        | "Predict" >> RunInference(KeyedModelHandler(handler), model_identifier=tag).with_exception_handling()
    )
    failed_predict: list[beam.PCollection] = []
    if job.isolate_failures:
        alone = dlq.failed_inferences | "FailedBatches" >> beam.FlatMap(_elements)
        rerun, dlq_alone = (
            alone
            | "PredictAlone"
            >> RunInference(KeyedModelHandler(handler.one_by_one()), model_identifier=tag).with_exception_handling()
        )
        predicted = (predicted, rerun) | "AllPredictions" >> beam.Flatten()
        failed_predict.append(dlq_alone.failed_inferences | "DeadLettersAlone" >> beam.FlatMap(_failed_batch_letters))
    else:
        failed_predict.append(dlq.failed_inferences | "DeadLetters" >> beam.FlatMap(_failed_batch_letters))
    outputs = (
        predicted
        | "CountPredicted" >> beam.ParDo(_Count("predicted"))
        | "ProgressOut" >> beam.ParDo(CountProgress("out", progress_address))
        | "OutputRecords" >> beam.Map(_to_output, job.include_inputs, keep)
    )
    read_failures = read[FAILED] | "CountFailedRead" >> beam.ParDo(_Count("failed_read"))
    failures = (
        (read_failures, decoded[FAILED], *failed_predict)
        | "AllFailures" >> beam.Flatten()
        | "ProgressFailed" >> beam.ParDo(CountProgress("failed", progress_address))
    )
    if job.output_format == "parquet":
        write_parquet(outputs, job.output, parquet_schema(info, keep, job.include_inputs), job.num_shards)
    else:
        write_jsonl(outputs, job.output, job.num_shards, "WritePredictions")
    write_jsonl(failures, job.dead_letter_prefix, job.num_shards, "WriteDeadLetters")
    return {"predictions": outputs, "dead_letters": failures}


def run_job(
    job: BatchPredictJob,
    handler: ModelHandler,
    options: Any,
    info: ModelInfo | None = None,
    progress_address: tuple[str, int] | None = None,
) -> Summary:
    """Build and run the pipeline with Beam ``options``; wait for it and read the counters."""
    info = info or handler.describe()
    started = time.monotonic()
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, job, handler, info, progress_address)
    result = pipeline.run()
    result.wait_until_finish()
    seconds = time.monotonic() - started
    return Summary(read_counters(result), seconds, job.output, job.dead_letter_prefix, job.output_format)


def read_counters(result: Any) -> dict[str, int]:
    """This pipeline's counters, summed over steps (committed values; attempted where a runner has no others)."""
    totals = dict.fromkeys(COUNTER_NAMES, 0)
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals


def check_inputs(patterns: Sequence[str]) -> list[str]:
    """Every path the patterns match now (through Beam's file systems); InvalidArgument if one matches none."""
    from apache_beam.io.filesystems import FileSystems

    found: list[str] = []
    for pattern in patterns:
        try:
            matched = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        except Exception as exc:  # BeamIOError for unknown schemes, missing folders
            raise InvalidArgument(f"cannot list {pattern}: {exc}") from None
        if not matched:
            raise InvalidArgument(f"no input files match {pattern}")
        found.extend(matched)
    return found
