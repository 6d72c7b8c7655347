"""TFRecord files as pipelines use them: open binary files in, :class:`InvalidArgument` out.

The framing and checksums live in :mod:`modelserve.serving.tfrecord` (one implementation, no TensorFlow);
this module adapts it to file objects and to the batch tools' error type.

    with open("data.tfrecord", "wb") as f:
        write_records(f, [example_bytes, ...])
    with open("data.tfrecord", "rb") as f:
        for data in read_records(f): ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from modelserve.errors import InvalidArgument
from modelserve.serving.tfrecord import TFRecordError, encode_record, read_stream


def write_records(out: BinaryIO, records: Iterable[bytes]) -> int:
    """Append ``records`` to ``out``; returns how many were written."""
    count = 0
    for data in records:
        out.write(encode_record(bytes(data)))
        count += 1
    return count


def read_records(source: BinaryIO, name: str = "TFRecord file") -> Iterator[bytes]:
    """Yield each record's data; :class:`InvalidArgument` on a truncated file or a checksum mismatch."""
    try:
        yield from read_stream(source, name)
    except TFRecordError as exc:
        raise InvalidArgument(str(exc)) from None
