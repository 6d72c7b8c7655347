"""The record format of ``modelserve stream --kafka``: input records in, result and dead-letter records out.

No Kafka client here: a record is its key, value and headers (``[(name, bytes), ...]``). The payloads are the
Redis entry format's (:mod:`.messages`), carried the Kafka way; ``docs/streaming.md`` is the user's description.

Input record:

- value: the payload; the header ``payload`` names its kind, as the Redis entry's field name: ``request``
  (JSON: TF Serving predict body or V2 request; the default), ``npy`` or ``npz``;
- key: the entry's ``key`` (optional), the result record's key;
- header ``signature`` (optional): as the entry field. Other headers are ignored (and kept in dead letters).

Result record (output topic): key = the input's key; value = the ``response`` JSON or the ``npz`` archive of
outputs; headers ``payload`` (``response`` or ``npz``), ``id`` (``<topic>/<partition>/<offset>`` of the input),
``model``, ``version`` (when known), ``signature``, ``consumer``, and ``header_length`` (V2 binary outputs).

Dead-letter record (dead-letter topic): the input's key and value unchanged; headers ``id``, ``topic``,
``partition``, ``offset``, ``group``, ``consumer``, ``code`` (a :class:`~modelserve.errors.Code` name),
``reason`` (at most ``MAX_REASON_CHARS``), then the input's headers (one named like ours is kept as
``original_<name>``), so a record can be fixed and produced again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from modelserve.errors import InvalidArgument
from modelserve.streaming.messages import MAX_REASON_CHARS, PAYLOADS

Headers = list[tuple[str, bytes]]
_DEAD_LETTER_NAMES = ("id", "topic", "partition", "offset", "group", "consumer", "code", "reason")
_TRUNCATED = " ... (truncated)"


def record_id(topic: str, partition: int, offset: int) -> bytes:
    """``<topic>/<partition>/<offset>``: names one input record (topic names cannot hold ``/``)."""
    return f"{topic}/{partition}/{offset}".encode()


def parse_record_id(value: bytes) -> tuple[str, int, int]:
    """The inverse of :func:`record_id`."""
    topic, partition, offset = value.decode().rsplit("/", 2)
    return topic, int(partition), int(offset)


def entry_fields(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]] | None) -> dict:
    """The Redis-entry fields of an input record, for :func:`~modelserve.streaming.messages.decode_entry`.

    Raises :class:`InvalidArgument` for a ``payload`` header naming no payload kind. A record without a value
    (a tombstone) gives fields without a payload, which ``decode_entry`` refuses with its reason."""
    named = {name: data for name, data in headers or () if data is not None}
    kind = named.get("payload", b"request").decode("utf-8", "replace")
    if kind not in PAYLOADS:
        raise InvalidArgument(f"header 'payload' is {kind!r}; expected one of {', '.join(PAYLOADS)}")
    fields: dict[bytes, bytes] = {}
    if value is not None:
        fields[kind.encode()] = value
    if key is not None:
        fields[b"key"] = key
    if "signature" in named:
        fields[b"signature"] = named["signature"]
    return fields


def result_record(fields: Mapping[str, bytes]) -> tuple[bytes, Headers]:
    """The value and headers of a result record, from :func:`~modelserve.streaming.messages.result_fields`
    (its ``key`` becomes the record key, so it is left out here)."""
    payload = "response" if "response" in fields else "npz"
    headers: Headers = [("payload", payload.encode())]
    headers += [(name, value) for name, value in fields.items() if name not in ("response", "npz", "key")]
    return fields[payload], headers


def dead_letter_headers(
    topic: str,
    partition: int,
    offset: int,
    group: str,
    consumer: str,
    code: str,
    reason: str,
    headers: Sequence[tuple[str, bytes | None]] | None,
) -> Headers:
    """The dead-letter record's headers: why, where from, then the input's own (see the module docstring)."""
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - len(_TRUNCATED)] + _TRUNCATED
    out: Headers = [
        ("id", record_id(topic, partition, offset)),
        ("topic", topic.encode()),
        ("partition", str(partition).encode()),
        ("offset", str(offset).encode()),
        ("group", group.encode()),
        ("consumer", consumer.encode()),
        ("code", code.encode()),
        ("reason", reason.encode("utf-8", "replace")),
    ]
    for name, value in headers or ():
        kept = f"original_{name}" if name in _DEAD_LETTER_NAMES or name.startswith("original_") else name
        out.append((kept, b"" if value is None else value))
    return out
