"""Beam sources and sinks for ``batch-predict``: files in (jsonl, csv, tfrecord, images), JSONL or Parquet out.

:class:`ReadRecords` matches file patterns (local paths, or ``gs://``/``s3://`` through Beam's file
systems), reads each file whole in one worker (so every record knows its line or index), and yields
``(source, payload)`` pairs, then redistributes them across workers. A file or record that cannot be read
goes to the ``failed`` output as a dead letter instead of failing the pipeline.

:func:`write_jsonl` and :func:`write_parquet` write sharded files under a prefix
(``PREFIX-00000-of-00002.jsonl``). How a file becomes records and a record a line or a Parquet row is
:mod:`modelserve.batch.files`, shared with the Spark engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
from apache_beam.io import fileio

from modelserve.batch.files import READ_ERRORS, file_records, parquet_row, parquet_schema, read_failure, to_json_line
from modelserve.batch.records import FORMATS
from modelserve.errors import InvalidArgument

__all__ = ["FAILED", "ReadRecords", "parquet_row", "parquet_schema", "to_json_line", "write_jsonl", "write_parquet"]

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
                yield from file_records(self._format, handle, name)
        except READ_ERRORS as exc:
            yield beam.pvalue.TaggedOutput(FAILED, read_failure(path, exc))


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


def write_jsonl(pcoll: beam.PCollection, prefix: str, num_shards: int = 0, label: str = "WriteJsonl") -> Any:
    """``PREFIX-SSSSS-of-NNNNN.jsonl``, one JSON object per line."""
    return (
        pcoll
        | f"{label}Encode" >> beam.Map(to_json_line)
        | label >> beam.io.WriteToText(prefix, file_name_suffix=".jsonl", num_shards=num_shards)
    )


def write_parquet(pcoll: beam.PCollection, prefix: str, schema: Any, num_shards: int = 0) -> Any:
    """``PREFIX-SSSSS-of-NNNNN.parquet`` with :func:`parquet_schema`'s columns."""
    return (
        pcoll
        | "ParquetRows" >> beam.Map(parquet_row, schema)
        | "WriteParquet" >> beam.io.WriteToParquet(prefix, schema, file_name_suffix=".parquet", num_shards=num_shards)
    )
