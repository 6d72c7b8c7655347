"""Where the request log's writer thread puts entries: JSON lines, Parquet, or CloudEvents over HTTP.

    sink = ParquetSink(Path("requests.parquet"), max_bytes=64 * 2**20, backups=5)
    sink.write(entry)      # in the writer thread only; raises SinkError when the entry is lost
    sink.flush()           # when the writer is idle: write what is due (a Parquet batch 5 s old)
    sink.close()           # write everything buffered, release files and connections

Contract of a :class:`Sink` (used by :class:`modelserve.monitoring.request_log.RequestLog`):

* Called from one thread (the writer's) only; nothing here is thread-safe, nothing here blocks a request.
* ``write`` either takes the entry or raises; :class:`SinkError` says how many entries were lost (a failed
  Parquet batch loses all of it). Any other exception means this one entry was lost. A sink stays usable
  after a failure: the next write tries again (reopens the file, reconnects).
* ``flush(force=False)`` writes what is due; ``flush(force=True)`` all buffered entries; ``close`` is
  ``flush(force=True)`` then releases what the sink holds (it may raise like ``write``).

Files rotate at ``max_bytes`` (or by age) keeping ``backups`` older ones, ``(backups + 1) * max_bytes`` at
most: ``requests.jsonl.1``... and ``requests.1.parquet``... (the suffix last, so tools recognise them)."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import orjson

__all__ = [
    "CLOUDEVENT_TYPE", "PARQUET_COLUMNS", "CloudEventsSink", "JsonLinesSink", "ParquetSink", "Sink", "SinkError",
    "cloudevent_headers", "encode",
]  # fmt: skip

CLOUDEVENT_TYPE = "io.modelserve.inference.log"
# The typed columns of a Parquet request log, in order; then inputs, outputs and extra as JSON text.
PARQUET_COLUMNS = (
    "id", "time", "model", "version", "label", "route", "signature", "api", "protocol", "latency_ms",
    "status", "caller", "error",
)  # fmt: skip
_JSON_COLUMNS = ("inputs", "outputs")
_KNOWN = frozenset(PARQUET_COLUMNS + _JSON_COLUMNS)


class SinkError(Exception):
    """A sink could not take entries; ``lost`` of them are gone (counted as dropped by the writer)."""

    def __init__(self, message: str, lost: int = 1) -> None:
        super().__init__(message)
        self.lost = lost


class Sink(Protocol):
    """One destination of the request log's writer thread (see the module's contract)."""

    name: str  # for messages: a path or a URL

    @property
    def pending(self) -> int:
        """Entries taken but not yet written (a Parquet batch; 0 for the others)."""
        ...

    def write(self, entry: dict[str, Any]) -> None: ...

    def flush(self, force: bool = False) -> None: ...

    def close(self) -> None: ...


def encode(entry: dict[str, Any]) -> bytes:
    """One entry as compact JSON (numpy values as numbers, anything else unknown as its ``str``)."""
    return orjson.dumps(entry, option=orjson.OPT_SERIALIZE_NUMPY, default=str)


class _RotatingFile:
    """Appends lines; past ``max_bytes`` or ``rotate_seconds`` after opening (0: never) the file becomes
    ``NAME.1`` (``.1`` becomes ``.2``...), keeping ``backups`` old files. Errors are raised to the writer."""

    def __init__(self, path: Path, max_bytes: int, backups: int, rotate_seconds: float = 0) -> None:
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.rotate_seconds, self._opened = rotate_seconds, 0.0
        self._file: Any = None
        self._size = 0

    def write(self, line: bytes) -> None:
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open between writes, closed in close()
            self._size = self._file.tell()
            self._opened = time.monotonic()
        too_old = self.rotate_seconds > 0 and time.monotonic() - self._opened >= self.rotate_seconds
        if self._size and (self._size + len(line) > self.max_bytes or too_old):
            self._rotate()
        self._file.write(line)
        self._file.flush()
        self._size += len(line)

    def _rotate(self) -> None:
        self._file.close()
        self._file = None
        for number in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{number + 1}"))
        if self.backups > 0:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._size = 0
        self._opened = time.monotonic()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class JsonLinesSink:
    """One JSON object per line, appended and flushed per entry, in a :class:`_RotatingFile`."""

    def __init__(self, path: Path, max_bytes: int, backups: int, rotate_seconds: float = 0) -> None:
        self.name = str(path)
        self._file = _RotatingFile(path, max_bytes, backups, rotate_seconds)
        self.pending = 0

    def write(self, entry: dict[str, Any]) -> None:
        self._file.write(encode(entry) + b"\n")

    def flush(self, force: bool = False) -> None:  # each line is flushed as it is written
        pass

    def close(self) -> None:
        self._file.close()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _microseconds(value: Any) -> int | None:
    seconds = _number(value)
    return None if seconds is None else round(seconds * 1_000_000)


def _integer(value: Any) -> int | None:
    try:
        number = None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None
    return number if number is not None and -(2**63) <= number < 2**63 else None


def _number(value: Any) -> float | None:
    with contextlib.suppress(TypeError, ValueError):
        return None if value is None else float(value)
    return None


_CONVERT = {"version": _integer, "latency_ms": _number, "time": _microseconds}


class ParquetSink:
    """Entries as rows of a Parquet file with a fixed schema (:data:`PARQUET_COLUMNS` typed: ``time`` a UTC
    timestamp in µs, ``version`` int64, ``latency_ms`` float64, the rest strings; ``inputs``, ``outputs``
    and ``extra`` (keys the schema does not name) as JSON text, null when absent).

    Buffered, then written as one row group every ``batch_rows`` entries, when the oldest has waited
    ``flush_seconds``, and on close. A Parquet file is readable once closed (its footer comes last): the
    current file is closed on rotation and on close, so rotated files (``requests.1.parquet``...) and,
    after close, the current one are complete; a killed process loses its current file, and a file an
    earlier run left is rotated away at the first write. The file rotates before a row group that would
    take it past ``max_bytes`` (estimated from its bytes per row and the footer's size per row group).
    """

    def __init__(self, path: Path, max_bytes: int, backups: int, rotate_seconds: float = 0, batch_rows: int = 1000,
                 flush_seconds: float = 5.0) -> None:  # fmt: skip
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError(
                f"request log {path}: the parquet format needs pyarrow (pip install pyarrow, or modelserve[parquet])"
            ) from None
        self._pa, self._pq = pa, pq
        self.name = str(path)
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.rotate_seconds, self._file_opened = rotate_seconds, 0.0
        self.batch_rows, self.flush_seconds = batch_rows, flush_seconds
        types = {"time": pa.timestamp("us", tz="UTC"), "version": pa.int64(), "latency_ms": pa.float64()}
        self.schema = pa.schema(
            [pa.field(name, types.get(name, pa.string())) for name in PARQUET_COLUMNS]
            + [pa.field(name, pa.string()) for name in (*_JSON_COLUMNS, "extra")]
        )
        self._columns: dict[str, list] = {name: [] for name in self.schema.names}
        self._rows = 0
        self._oldest = 0.0  # monotonic time of the first buffered entry
        self._writer: Any = None
        self._file_rows = self._file_groups = 0
        self._footer_per_group = 100.0 * len(self.schema)  # a first guess, then learnt from each closed file

    def write(self, entry: dict[str, Any]) -> None:
        """Buffer one row (converted now, so a value that does not fit loses only its own entry); write the
        batch when it is full or old."""
        row: dict[str, Any] = {}
        for name in PARQUET_COLUMNS:
            row[name] = _CONVERT.get(name, _text)(entry.get(name))
        for name in _JSON_COLUMNS:
            row[name] = encode(entry[name]).decode() if entry.get(name) is not None else None
        extra = {key: value for key, value in entry.items() if key not in _KNOWN}
        row["extra"] = encode(extra).decode() if extra else None
        for name, value in row.items():
            self._columns[name].append(value)
        if not self._rows:
            self._oldest = time.monotonic()
        self._rows += 1
        if self._rows >= self.batch_rows or time.monotonic() - self._oldest >= self.flush_seconds:
            self._write_batch()

    @property
    def pending(self) -> int:
        return self._rows

    def flush(self, force: bool = False) -> None:
        """Write the buffered rows as a row group: all of them with ``force``, else when ``flush_seconds`` old."""
        if self._rows and (force or time.monotonic() - self._oldest >= self.flush_seconds):
            self._write_batch()

    def close(self) -> None:
        """Write the last batch and close the file, which is then complete."""
        try:
            self.flush(force=True)
        finally:
            self._close_file()

    def _write_batch(self) -> None:
        rows = self._rows
        columns, self._columns = self._columns, {name: [] for name in self.schema.names}
        self._rows = 0
        try:
            table = self._pa.Table.from_pydict(columns, schema=self.schema)
            if self._writer is not None and self._file_rows:
                size = self._size()
                footer = self._footer_per_group * (self._file_groups + 1)
                too_old = self.rotate_seconds > 0 and time.monotonic() - self._file_opened >= self.rotate_seconds
                if size + size / self._file_rows * rows + footer > self.max_bytes or too_old:
                    self._rotate()
            if self._writer is None:
                if self.path.exists():  # left by an earlier run (or a failed write): kept, as the newest backup
                    self._rotate()
                self._writer = self._pq.ParquetWriter(
                    str(self.path), self.schema, compression="zstd", write_statistics=list(PARQUET_COLUMNS)
                )  # statistics (for filters) of the typed columns only: min/max of JSON text would bloat the footer
                self._file_rows = self._file_groups = 0
                self._file_opened = time.monotonic()
            self._writer.write_table(table, row_group_size=rows)
            self._file_rows += rows
            self._file_groups += 1
        except Exception as exc:
            self._abandon()
            raise SinkError(f"{type(exc).__name__}: {exc}", lost=rows) from exc

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def _close_file(self) -> None:
        """Close the current file (writing its footer), learning the footer's size per row group."""
        writer, self._writer, before = self._writer, None, self._size()
        if writer is not None:
            writer.close()
            if self._file_groups:
                self._footer_per_group = (self._size() - before) / self._file_groups

    def _abandon(self) -> None:
        """After a failed write: drop the writer (its file may be unusable); the next batch opens a new file."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(Exception):  # the failure itself is reported by the caller
                writer.close()

    def backup(self, number: int) -> Path:
        """The name of the ``number``-th older file: ``requests.parquet`` -> ``requests.1.parquet``."""
        return self.path.with_name(f"{self.path.stem}.{number}{self.path.suffix}")

    def _rotate(self) -> None:
        self._close_file()
        for number in range(self.backups - 1, 0, -1):
            if self.backup(number).exists():
                os.replace(self.backup(number), self.backup(number + 1))
        if self.backups > 0:
            os.replace(self.path, self.backup(1))
        else:
            self.path.unlink(missing_ok=True)


def _rfc3339(seconds: Any) -> str:
    moment = datetime.fromtimestamp(seconds if isinstance(seconds, (int, float)) else time.time(), timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def cloudevent_headers(entry: dict[str, Any], source: str) -> dict[str, str]:
    """The CloudEvents 1.0 binary-mode headers of one entry: ``ce-id`` its request id (a new UUID when it has
    none), ``ce-time`` its time, ``ce-subject`` its model (left out when empty)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-id": str(entry.get("id") or uuid.uuid4()),
        "ce-source": source,
        "ce-type": CLOUDEVENT_TYPE,
        "ce-time": _rfc3339(entry.get("time")),
        "content-type": "application/json",
    }
    if entry.get("model"):
        headers["ce-subject"] = str(entry["model"])
    return headers


class CloudEventsSink:
    """POSTs each entry to ``url`` as a CloudEvent in binary content mode (headers from
    :func:`cloudevent_headers`, the entry as the JSON body), over one kept-alive connection with a
    ``timeout`` per request. A connection error, a timeout or an answer other than 2xx loses the entry
    (:class:`SinkError`); then entries are lost without trying for ``retry_seconds`` (1 s, doubling to 30 s
    while the receiver stays down), so a receiver that is down or slow never holds up the writer for long.
    A kept-alive connection the receiver closed is retried once on a new one."""

    def __init__(self, url: str, source: str | None = None, timeout: float = 2.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"CloudEvents URL {url!r}: expected http://HOST[:PORT]/PATH or https://...")
        self.name = url
        self.source = source or f"modelserve/{socket.gethostname()}"
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._connection: http.client.HTTPConnection | None = None
        self.pending = 0
        self._retry_seconds = 0.0
        self._paused_until = 0.0

    def write(self, entry: dict[str, Any]) -> None:
        now = time.monotonic()
        if now < self._paused_until:
            raise SinkError(f"{self.name} is not answering; retrying in {self._paused_until - now:.1f} s")
        body, headers = encode(entry), cloudevent_headers(entry, self.source)
        try:
            status = self._post(body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self._pause()
            raise SinkError(f"POST {self.name}: {type(exc).__name__}: {exc}") from exc
        if not 200 <= status < 300:
            self._pause()
            raise SinkError(f"POST {self.name} answered {status}")
        self._retry_seconds = 0.0

    def _post(self, body: bytes, headers: dict[str, str]) -> int:
        reused = self._connection is not None
        try:
            return self._send(body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
            return self._send(body, headers)  # the receiver closed the kept-alive connection: once more

    def _send(self, body: bytes, headers: dict[str, str]) -> int:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = kind(self._host, self._port, timeout=self.timeout)
        try:
            self._connection.request("POST", self._target, body=body, headers=headers)
            answer = self._connection.getresponse()
            answer.read()  # the whole answer, so that the connection can carry the next request
        except BaseException:
            self._disconnect()
            raise
        if answer.will_close:
            self._disconnect()
        return answer.status

    def _pause(self) -> None:
        self._disconnect()
        self._retry_seconds = min(30.0, max(1.0, self._retry_seconds * 2))
        self._paused_until = time.monotonic() + self._retry_seconds

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def flush(self, force: bool = False) -> None:  # each entry is sent as it is written
        pass

    def close(self) -> None:
        self._disconnect()
