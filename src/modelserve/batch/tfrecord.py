"""The TFRecord file framing, read and written in plain Python (no TensorFlow).

Each record: ``uint64 length``, ``uint32 masked_crc32c(length)``, ``data``, ``uint32 masked_crc32c(data)``, all
little-endian; the mask is TensorFlow's ``((crc >> 15) | (crc << 17)) + 0xa282ead8``. Both CRCs are checked
on reading. CRC32C comes from ``google-crc32c`` (installed with Beam's GCP dependencies) when present.

    with open("data.tfrecord", "wb") as f:
        write_records(f, [example_bytes, ...])
    with open("data.tfrecord", "rb") as f:
        for data in read_records(f): ...
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from modelserve.errors import InvalidArgument

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


def _crc32c_python(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:
    import google_crc32c

    def crc32c(data: bytes) -> int:
        return google_crc32c.value(bytes(data))
except ImportError:  # pragma: no cover - a slow but correct fallback
    _TABLE = _crc32c_table()
    crc32c = _crc32c_python


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def write_records(out: BinaryIO, records: Iterable[bytes]) -> int:
    """Append ``records`` to ``out``; returns how many were written."""
    count = 0
    for data in records:
        length = _LENGTH.pack(len(data))
        out.write(length + _CRC.pack(masked_crc(length)) + data + _CRC.pack(masked_crc(data)))
        count += 1
    return count


def read_records(source: BinaryIO, name: str = "TFRecord file") -> Iterator[bytes]:
    """Yield each record's data; :class:`InvalidArgument` on a truncated file or a CRC mismatch."""
    index = 0
    while True:
        header = source.read(12)
        if not header:
            return
        if len(header) < 12:
            raise InvalidArgument(f"{name}: record {index} is truncated (header)")
        length_bytes, (length_crc,) = header[:8], _CRC.unpack(header[8:])
        if masked_crc(length_bytes) != length_crc:
            raise InvalidArgument(f"{name}: record {index} has a corrupt length (CRC mismatch); is it a TFRecord file?")
        (length,) = _LENGTH.unpack(length_bytes)
        data = source.read(length)
        footer = source.read(4)
        if len(data) < length or len(footer) < 4:
            raise InvalidArgument(f"{name}: record {index} is truncated")
        if masked_crc(data) != _CRC.unpack(footer)[0]:
            raise InvalidArgument(f"{name}: record {index} is corrupt (data CRC mismatch)")
        yield data
        index += 1
