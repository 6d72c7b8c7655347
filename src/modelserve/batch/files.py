"""Files of records in and result rows out, the same for every engine (Beam's and Spark's); no Beam or Spark here.

* :func:`file_records`: one open (binary, already decompressed) file -> ``(source, payload)`` per record, the
  payloads :class:`~modelserve.batch.records.Decoder` takes: a line of text (jsonl; bytes when it is not UTF-8),
  a ``{column: text}`` dict (csv), serialized Example bytes (tfrecord), or the file's bytes (images). Sources
  are ``name:line`` (jsonl, csv), ``name#index`` (tfrecord) or the file name (images).
* :func:`read_failure`: the dead letter of a file (or a part of it) that could not be read.
* :func:`to_json_line`, :func:`parquet_schema`, :func:`parquet_row`: how output records become JSONL lines
  and Parquet rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import orjson

from modelserve.batch.info import ModelInfo
from modelserve.batch.records import FORMATS, dead_letter
from modelserve.batch.tfrecord import read_records
from modelserve.errors import InvalidArgument, ServingError

#: What reading a file may raise for a bad file (anything else is a bug and fails the job).
READ_ERRORS = (OSError, UnicodeDecodeError, InvalidArgument, csv.Error)


def file_records(fmt: str, handle: BinaryIO, name: str) -> Iterator[tuple[str, Any]]:
    """Every record of one file in ``fmt``; raises one of :data:`READ_ERRORS` where the file cannot be read
    (records before that point have been yielded)."""
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if fmt == "images":
        yield name, handle.read()
    elif fmt == "jsonl":
        yield from _jsonl(handle, name)
    elif fmt == "csv":
        yield from _csv(handle, name)
    else:
        for index, data in enumerate(read_records(handle, name)):
            yield f"{name}#{index}", data


def _jsonl(handle: BinaryIO, name: str) -> Iterator[tuple[str, str | bytes]]:
    for number, line in enumerate(handle, 1):
        line = line.strip()
        if line:
            try:
                yield f"{name}:{number}", line.decode("utf-8")
            except UnicodeDecodeError:  # kept as bytes: decoding refuses it, the dead letter holds it
                yield f"{name}:{number}", line


def _csv(handle: BinaryIO, name: str) -> Iterator[tuple[str, dict[str, str]]]:
    reader = csv.DictReader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))
    for row in reader:
        if any(value not in (None, "") for value in row.values()):
            yield f"{name}:{reader.line_num}", row


def read_failure(path: str, exc: BaseException) -> dict[str, Any]:
    """The ``read``-stage dead letter of ``path``."""
    error = exc if isinstance(exc, ServingError) else InvalidArgument(f"cannot read {path}: {exc}")
    return dead_letter(None, path, "read", error, None)


def to_json_line(record: dict[str, Any]) -> str:
    return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")


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
