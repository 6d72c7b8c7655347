"""The tasks of ``batch-predict --engine spark``, run by Spark's Python workers (no Spark or Beam imports here).

Two steps, each a plain function Spark calls per element or per partition:

* :func:`read_file`: one input path -> ``(shard, ("r", (source, payload)))`` per record and
  ``(shard, ("d", dead letter))`` where the file cannot be read, by the same readers as the Beam pipeline
  (:func:`~modelserve.batch.files.file_records`): a file is read whole by one task, so every record knows its
  line or index. ``.gz``, ``.bz2`` and ``.xz`` files are decompressed as Beam does. ``shard`` is a hash of
  the record's source, so records spread evenly over the shards, and each lands in the same shard every run.
* :func:`predict_shard`: one partition of those -> decoded rows -> the model (loaded once per Python worker,
  :func:`~modelserve.batch.spark_worker.predictor`) -> shard ``index`` of the predictions
  (``PREFIX-SSSSS-of-NNNNN.jsonl|parquet``) and of the dead letters, the same records the Beam pipeline
  writes; returns the partition's counters (:data:`~modelserve.batch.job.COUNTER_NAMES`).

Paths are local (or on a file system every worker mounts), or URLs read and written through fsspec. A shard
is written under a temporary name beside its final one and renamed when complete, so a retried task
replaces, never appends.
"""

from __future__ import annotations

import bz2
import contextlib
import glob
import gzip
import lzma
import os
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from modelserve.batch.files import READ_ERRORS, file_records, parquet_row, parquet_schema, read_failure, to_json_line
from modelserve.batch.info import ModelInfo
from modelserve.batch.job import COUNTER_NAMES, BatchPredictJob
from modelserve.batch.records import Decoder, RecordId, dead_letter, output_record
from modelserve.batch.spark_worker import ModelSpec, predict_rows, predictor
from modelserve.errors import InvalidArgument, ServingError

_DECOMPRESS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open, ".lzma": lzma.open}
_READ_ERRORS = (*READ_ERRORS, EOFError, zlib.error, lzma.LZMAError)
#: A record (``"r"``) or a read failure's dead letter (``"d"``), keyed by its shard.
Tagged = tuple[int, tuple[str, Any]]


@dataclass(frozen=True)
class ShardPlan:
    """What every predict task needs: the job, the model, its signature as the driver saw it (the Parquet
    schema and decoding follow it), the number of shards and the largest batch per model call."""

    job: BatchPredictJob
    spec: ModelSpec
    info: ModelInfo
    num_shards: int
    batch_size: int = 64


def list_inputs(patterns: Iterable[str]) -> list[str]:
    """Every file the patterns match now (local globs, or fsspec URLs); InvalidArgument if one matches none."""
    found: list[str] = []
    for pattern in patterns:
        if _is_url(pattern):
            fs, _, matched = _fsspec().get_fs_token_paths(pattern)
            paths = [fs.unstrip_protocol(p) for p in matched if fs.isfile(p)]
        else:
            local = os.path.expanduser(pattern.removeprefix("file://"))
            paths = sorted(os.path.abspath(p) for p in glob.glob(local) if os.path.isfile(p))
        if not paths:
            raise InvalidArgument(f"no input files match {pattern}")
        found.extend(paths)
    return found


def read_file(fmt: str, shards: int, path: str) -> Iterator[Tagged]:
    """Tagged records of one file, each with its shard: ``("r", (source, payload))``, or ``("d", dead letter)``
    for what cannot be read."""
    try:
        with open_input(path) as handle:
            for record in file_records(fmt, handle, os.path.basename(path)):
                yield shard_of(record[0], shards), ("r", record)
    except _READ_ERRORS as exc:
        yield shard_of(path, shards), ("d", read_failure(path, exc))


def shard_of(source: str, shards: int) -> int:
    """A stable shard for a record's source (CRC-32: the same in every process, unlike ``hash``)."""
    return zlib.crc32(source.encode("utf-8", "surrogateescape")) % shards


def by_shard(shard: int) -> int:
    """The partitioner of the shuffle: the key is already the shard."""
    return shard


def open_input(path: str) -> BinaryIO:
    """A binary stream of the file's content (decompressed by its suffix)."""
    if _is_url(path):
        return _fsspec().open(path, "rb", compression="infer").open()
    opener = _DECOMPRESS.get(os.path.splitext(path)[1].lower(), open)
    return opener(path, "rb")


def predict_shard(plan: ShardPlan, index: int, items: Iterable[Tagged]) -> Iterator[dict[str, int]]:
    """Decode, predict and write shard ``index`` (``items`` as :func:`read_file` yields them); yields the shard's
    counters once."""
    job, info = plan.job, plan.info
    counts = dict.fromkeys(COUNTER_NAMES, 0)
    decoder = Decoder(info, job.format, job.key_field, job.image_scale, job.image_resample)
    keep = list(job.outputs) if job.outputs else None
    keep_payload = job.format != "images"
    schema = parquet_schema(info, keep, job.include_inputs) if job.output_format == "parquet" else None

    def run(rows: list[Any]) -> Any:  # the model is loaded by the first batch, not for an empty shard
        return predictor(plan.spec).run(rows)

    with (
        ShardWriter(job.output, index, plan.num_shards, job.output_format, schema) as predictions,
        ShardWriter(job.dead_letter_prefix, index, plan.num_shards, "jsonl") as dead,
    ):

        def decoded() -> Iterator[tuple[RecordId, Any]]:
            for _, (kind, item) in items:
                if kind == "d":
                    counts["failed_read"] += 1
                    dead.write(item)
                    continue
                counts["read"] += 1
                try:
                    yield decoder(item)
                except (ServingError, ValueError, TypeError) as exc:
                    counts["failed_decode"] += 1
                    key = getattr(exc, "key", None)
                    record_id = None if key is None else RecordId(key, item[0])
                    dead.write(dead_letter(record_id, item[0], "decode", exc, item[1] if keep_payload else None))

        for outcome in predict_rows(decoded(), run, plan.batch_size, job.isolate_failures):
            counts["rerun_alone"] += outcome.alone
            record_id = outcome.ident
            if outcome.error is not None:
                counts["failed_predict"] += 1
                dead.write(dead_letter(record_id, record_id.source, "predict", outcome.error, outcome.row))
                continue
            counts["predicted"] += 1
            inference = outcome.outputs if keep is None else {name: outcome.outputs[name] for name in keep}
            predictions.write(output_record(record_id, inference, outcome.model_id, outcome.row, job.include_inputs))
    yield counts


class ShardWriter:
    """``PREFIX-SSSSS-of-NNNNN.jsonl|parquet``: records in, one file out when the block ends without an error
    (a failed task leaves nothing behind). Parquet rows are written in row groups of ``row_group_size``."""

    def __init__(
        self, prefix: str, index: int, count: int, fmt: str, schema: Any = None, row_group_size: int = 10_000
    ) -> None:
        self.path = f"{prefix}-{index:05d}-of-{count:05d}.{fmt}"
        self._format = fmt
        self._schema = schema
        self._rows: list[dict[str, Any]] = []
        self._row_group_size = row_group_size
        self._stack = contextlib.ExitStack()
        self._writer: Any = None

    def __enter__(self) -> ShardWriter:
        if _is_url(self.path):
            self._temporary = self.path
            handle = self._stack.enter_context(_fsspec().open(self.path, "wb"))
        else:
            folder, name = os.path.split(self.path)
            self._temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
            handle = self._stack.enter_context(open(self._temporary, "wb"))
        if self._format == "parquet":
            import pyarrow.parquet as pq

            self._writer = self._stack.enter_context(pq.ParquetWriter(handle, self._schema))
        self._handle = handle
        return self

    def write(self, record: dict[str, Any]) -> None:
        if self._writer is None:
            self._handle.write(to_json_line(record).encode("utf-8") + b"\n")
            return
        self._rows.append(parquet_row(record, self._schema))
        if len(self._rows) >= self._row_group_size:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        self._writer.write_table(pa.Table.from_pylist(self._rows, self._schema))
        self._rows = []

    def __exit__(self, exc_type: Any, *exc_info: object) -> None:
        try:
            if exc_type is None and self._rows:
                self._flush()
        finally:
            self._stack.close()
        if self._temporary == self.path:
            return
        if exc_type is None:
            os.replace(self._temporary, self.path)
        else:
            with contextlib.suppress(OSError):
                os.remove(self._temporary)


def _is_url(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec comes with the remote extra
        raise InvalidArgument("reading or writing URLs needs fsspec (pip install 'modelserve[remote]')") from None
    return fsspec
