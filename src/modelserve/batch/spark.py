"""Predictions as a Spark DataFrame transformation: :func:`predict`.

    from modelserve.batch.spark import predict

    df = spark.read.parquet("features.parquet")                 # columns: id, pixels (array<float>)
    out = predict(df, "models/digits_onnx", inputs={"images": "pixels"}, outputs=["class_index"])
    out.show()                                                   # id, pixels, class_index

Contract:

* ``model`` is a local model path (file, version folder or base folder of versions, newest unless
  ``version``/``label``), loaded once per Python worker with :func:`modelserve.load_model` and kept for every
  later task of that worker; or a server URL (``http://HOST:PORT/v1/models/NAME``, ``.../v2/models/NAME``,
  ``grpc://HOST:PORT/...``), called once per batch with retries (``timeout_secs``, ``retry``); or a
  :class:`~modelserve.batch.spark_worker.ModelSpec`. Executors must see the same path (one machine, or a
  shared file system) or reach the server.
* ``inputs`` maps each model input to a column (default: the column of the same name). Cells are converted
  and checked like ``batch-predict`` records; a binary cell for a numeric image input is decoded as an image.
* The result has the ``keep`` columns (default: all of ``df``'s), then one column per output (``outputs``: a
  list of names, or ``{output: column}``; default every output), typed from the signature: numbers, arrays
  for per-example arrays, strings for string outputs; plus ``model_column`` (``name:version``) when named.
* A row that fails (does not fit the signature, or fails in the model when run alone after its batch failed)
  fails the task, unless ``error_column`` names a column for its reason (its outputs are then null).
* Runs through ``mapInPandas`` (Arrow batches of ``spark.sql.execution.arrow.maxRecordsPerBatch`` rows, model
  calls of at most ``batch_size`` rows); lazy like any transformation. PySpark is imported when called.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelserve.batch.clients import RetryPolicy
from modelserve.batch.info import ModelInfo, TensorInfo
from modelserve.batch.spark_frames import FramePlan, predict_frames
from modelserve.batch.spark_worker import ModelSpec, describe
from modelserve.errors import InvalidArgument
from modelserve.types import DEFAULT_SIGNATURE

__all__ = ["ModelSpec", "RetryPolicy", "predict", "spark_type"]


def predict(
    df: Any,
    model: str | Path | ModelSpec,
    *,
    inputs: Mapping[str, str] | None = None,
    outputs: Sequence[str] | Mapping[str, str] | None = None,
    keep: Sequence[str] | None = None,
    signature: str = DEFAULT_SIGNATURE,
    batch_size: int = 256,
    error_column: str | None = None,
    model_column: str | None = None,
    version: int | None = None,
    label: str | None = None,
    model_config_file: str | Path | None = None,
    platform: str | None = None,
    allow_code_models: bool = False,
    protocol: str | None = None,
    timeout_secs: float = 60.0,
    retry: RetryPolicy | None = None,
    image_scale: float | None = None,
    image_resample: str = "box",
) -> Any:
    """``df`` with the model's predictions as new columns (see the module's contract)."""
    if isinstance(model, ModelSpec):
        spec = model
    else:
        spec = ModelSpec(
            str(model),
            signature=signature,
            version=version,
            label=label,
            model_config_file=None if model_config_file is None else str(model_config_file),
            platform=platform,
            allow_code_models=allow_code_models,
            protocol=protocol,
            timeout_secs=timeout_secs,
            retry=retry or RetryPolicy(),
        )
    info = describe(spec)  # once, here: the result's schema comes from the signature
    columns = list(df.columns)
    input_columns = _input_columns(info, inputs, columns)
    output_columns = _output_columns(info, outputs)
    kept = tuple(columns if keep is None else keep)
    missing = [c for c in (*kept, *(c for _, c in input_columns)) if c not in columns]
    if missing:
        raise InvalidArgument(f"the DataFrame has no column {missing[0]!r}; it has: {', '.join(columns)}")
    added = [c for _, c in output_columns] + [c for c in (model_column, error_column) if c]
    clash = sorted((set(added) & set(kept)) | {c for c in added if added.count(c) > 1})
    if clash:
        raise InvalidArgument(f"output column {clash[0]!r} is taken; rename it (outputs={{name: column}}) or drop it")
    if batch_size < 1:
        raise InvalidArgument(f"batch_size must be at least 1, got {batch_size}")
    plan = FramePlan(
        spec,
        info,
        tuple(input_columns),
        tuple(output_columns),
        kept,
        batch_size,
        error_column,
        model_column,
        image_scale,
        image_resample,
    )
    needed = list(dict.fromkeys([*kept, *(c for _, c in input_columns)]))
    quoted = ["`" + column.replace("`", "``") + "`" for column in needed]  # names with dots stay names
    return df.select(*quoted).mapInPandas(functools.partial(predict_frames, plan), _schema(df, plan))


def _input_columns(info: ModelInfo, inputs: Mapping[str, str] | None, columns: list[str]) -> list[tuple[str, str]]:
    mapping = dict(inputs or {})
    unknown = [name for name in mapping if name not in info.input_names]
    if unknown:
        info.input(unknown[0])  # NotFound naming the inputs there are
    pairs = [(name, mapping.get(name, name)) for name in info.input_names]
    absent = [(name, column) for name, column in pairs if column not in columns]
    if absent:
        name, column = absent[0]
        raise InvalidArgument(
            f"no column {column!r} for the model input {name!r} ({info.input(name).describe()}); the DataFrame has: "
            f"{', '.join(columns)} (map inputs to columns with inputs={{'{name}': 'column'}})"
        )
    return pairs


def _output_columns(info: ModelInfo, outputs: Sequence[str] | Mapping[str, str] | None) -> list[tuple[str, str]]:
    if outputs is None:
        return [(name, name) for name in info.output_names]
    if isinstance(outputs, str):
        outputs = [outputs]
    pairs = list(outputs.items()) if isinstance(outputs, Mapping) else [(name, name) for name in outputs]
    for name, _ in pairs:
        info.output(name)  # NotFound naming the outputs there are
    return pairs


def _schema(df: Any, plan: FramePlan) -> Any:
    from pyspark.sql.types import StringType, StructField, StructType

    fields = [df.schema[column] for column in plan.keep]
    fields += [StructField(column, spark_type(plan.info.output(name)), True) for name, column in plan.outputs]
    fields += [StructField(c, StringType(), True) for c in (plan.model_column, plan.error_column) if c]
    return StructType(fields)


def spark_type(tensor: TensorInfo) -> Any:
    """The Spark SQL type of one example of an output: its dtype, in arrays for each dimension after the
    first; a string (JSON text) where the rank is unknown."""
    from pyspark.sql import types as t

    scalars = {
        "float16": t.FloatType,
        "float32": t.FloatType,
        "float64": t.DoubleType,
        "int8": t.ByteType,
        "int16": t.ShortType,
        "int32": t.IntegerType,
        "int64": t.LongType,
        "uint8": t.ShortType,
        "uint16": t.IntegerType,
        "uint32": t.LongType,
        "uint64": t.LongType,  # values above 2**63 - 1 do not fit
        "bool": t.BooleanType,
        "string": t.StringType,
    }
    if tensor.shape is None or tensor.dtype not in scalars:
        return t.StringType()
    kind = scalars[tensor.dtype]()
    for _ in range(max(len(tensor.shape) - 1, 0)):
        kind = t.ArrayType(kind, True)
    return kind
