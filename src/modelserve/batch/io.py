"""Beam sources and sinks for ``batch-predict``: files in (jsonl, csv, tfrecord, images), JSONL or Parquet out.

:class:`ReadRecords` matches file patterns (local paths, or ``gs://``/``s3://`` through Beam's file
systems), reads each file whole in one worker (so every record knows its line or index), and yields
``(source, payload)`` pairs, then redistributes them across workers. A file or record that cannot be read
goes to the ``failed`` output as a dead letter instead of failing the pipeline.

:func:`write_jsonl` and :func:`write_parquet` write sharded files under a prefix
(``PREFIX-00000-of-00002.jsonl``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
import orjson
from apache_beam.io import fileio

from modelserve.batch.info import ModelInfo
from modelserve.batch.records import FORMATS, dead_letter
from modelserve.batch.tfrecord import read_records
from modelserve.errors import InvalidArgument, ServingError

FAILED = "failed"


class _ReadFile(beam.DoFn):
    """One matched file -> ``(source, payload)`` per record; unreadable parts -> ``failed`` dead letters."""

    def __init__(self, fmt: str) -> None:
        self._format = fmt

    def process(self, readable: fileio.ReadableFile) -> Iterator[Any]:
        path = readable.metadata.path
        name = os.path.basename(path)
        try:
            if self._format == "images":
                yield name, readable.read()
                return
            with readable.open() as handle:
                yield from getattr(self, "_" + self._format)(handle, name)
        except (OSError, UnicodeDecodeError, InvalidArgument, csv.Error) as exc:
            error = exc if isinstance(exc, ServingError) else InvalidArgument(f"cannot read {path}: {exc}")
            yield beam.pvalue.TaggedOutput(FAILED, dead_letter(None, path, "read", error, None))

    @staticmethod
    def _jsonl(handle: Any, name: str) -> Iterator[tuple[str, str | bytes]]:
        for number, line in enumerate(handle, 1):
            line = line.strip()
            if line:
                try:
                    yield f"{name}:{number}", line.decode("utf-8")
                except UnicodeDecodeError:  # kept as bytes: decoding refuses it, the dead letter holds it
                    yield f"{name}:{number}", line

    @staticmethod
    def _csv(handle: Any, name: str) -> Iterator[tuple[str, dict[str, str]]]:
        reader = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
        for row in reader:
            if any(value not in (None, "") for value in row.values()):
                yield f"{name}:{reader.line_num}", row

    @staticmethod
    def _tfrecord(handle: Any, name: str) -> Iterator[tuple[str, bytes]]:
        for index, data in enumerate(read_records(handle, name)):
            yield f"{name}#{index}", data


class ReadRecords(beam.PTransform):
    """``patterns`` -> ``(source, payload)`` records (main output) and read failures (``failed``)."""

    def __init__(self, patterns: Sequence[str], fmt: str, reshuffle: bool = True) -> None:
        super().__init__()
        if fmt not in FORMATS:
            raise InvalidArgument(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
        self._patterns = list(patterns)
        self._format = fmt
        self._reshuffle = reshuffle

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.pvalue.DoOutputsTuple:
        files = (
            pbegin
            | "Patterns" >> beam.Create(self._patterns)
            | "Match" >> fileio.MatchAll()
            | "Open" >> fileio.ReadMatches()
        )
        if self._reshuffle:  # spread files over workers before reading them
            files = files | "SpreadFiles" >> beam.Reshuffle()
        read = files | "Read" >> beam.ParDo(_ReadFile(self._format)).with_outputs(FAILED, main="records")
        records = read.records
        if self._reshuffle:  # spread the records of one big file too
            records = records | "SpreadRecords" >> beam.Reshuffle()
        return {"records": records, FAILED: read[FAILED]}


def to_json_line(record: dict[str, Any]) -> str:
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")


def write_jsonl(pcoll: beam.PCollection, prefix: str, num_shards: int = 0, label: str = "WriteJsonl") -> Any:
    """``PREFIX-SSSSS-of-NNNNN.jsonl``, one JSON object per line."""
    return (
        pcoll
        | f"{label}Encode" >> beam.Map(to_json_line)
        | label >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl", num_shards=num_shards)
    )


def parquet_schema(info: ModelInfo, outputs: Sequence[str] | None, include_inputs: bool) -> Any:
    """``key``, ``model``, one column per output (lists for per-row arrays), and ``inputs`` as JSON text."""
    import pyarrow as pa

    fields = [("key", pa.string()), ("model", pa.string())]
    if include_inputs:
        fields.append(("inputs", pa.string()))
    selected = [info.output(n) for n in outputs] if outputs else list(info.outputs)
    for tensor in selected:
        kind = pa.string() if tensor.dtype == "string" else pa.from_numpy_dtype(tensor.dtype)
        rank = None if tensor.shape is None else len(tensor.shape) - 1
        if rank is None:
            kind = pa.string()  # unknown rank: the value as JSON text
        for _ in range(rank or 0):
            kind = pa.list_(kind)
        fields.append((tensor.name, kind))
    return pa.schema(fields)


def parquet_row(record: dict[str, Any], schema: Any) -> dict[str, Any]:
    """An output record (see :func:`~modelserve.batch.records.output_record`) flattened to the schema."""
    import pyarrow as pa

    row = {"key": record["key"], "model": record["model"]}
    if "inputs" in record:
        row["inputs"] = orjson.dumps(record["inputs"]).decode("utf-8")
    outputs = record["outputs"]
    for name, value in outputs.items():
        kind = schema.field(name).type
        if kind == pa.string() and not isinstance(value, str):
            value = orjson.dumps(value).decode("utf-8")
        row[name] = value
    return row


def write_parquet(pcoll: beam.PCollection, prefix: str, schema: Any, num_shards: int = 0) -> Any:
    """``PREFIX-SSSSS-of-NNNNN.parquet`` with :func:`parquet_schema`'s columns."""
    return (
        pcoll
        | "ParquetRows" >> beam.Map(parquet_row, schema)
        | "WriteParquet" >> beam.io.WriteToParquet(prefix, schema, file_name_suffix=".parquet", num_shards=num_shards)
    )
