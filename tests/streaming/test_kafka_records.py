"""The Kafka record format: input records as entry fields, result and dead-letter records (no broker)."""

from __future__ import annotations

import pytest

from modelserve.errors import InvalidArgument
from modelserve.streaming.kafka_records import (
    dead_letter_headers,
    entry_fields,
    parse_record_id,
    record_id,
    result_record,
)
from modelserve.streaming.messages import MAX_REASON_CHARS


def test_a_record_becomes_the_entry_fields_of_its_payload_kind():
    assert entry_fields(b"k1", b'{"instances": []}', None) == {b"request": b'{"instances": []}', b"key": b"k1"}
    headers = [("payload", b"npy"), ("signature", b"other"), ("trace", b"t")]
    assert entry_fields(None, b"\x93NUMPY", headers) == {b"npy": b"\x93NUMPY", b"signature": b"other"}
    assert entry_fields(b"k", None, []) == {b"key": b"k"}  # a tombstone: no payload, decode_entry says so
    with pytest.raises(InvalidArgument, match="header 'payload' is 'csv'; expected one of request, npy, npz"):
        entry_fields(b"k", b"1,2", [("payload", b"csv")])


def test_result_records_carry_the_response_as_value_and_the_rest_as_headers():
    fields = {"id": b"in/2/7", "key": b"k", "model": b"m", "version": b"3", "signature": b"s", "consumer": b"c",
              "response": b'{"predictions": [1]}'}  # fmt: skip
    value, headers = result_record(fields)
    assert value == b'{"predictions": [1]}'
    assert headers == [("payload", b"response"), ("id", b"in/2/7"), ("model", b"m"), ("version", b"3"),
                       ("signature", b"s"), ("consumer", b"c")]  # fmt: skip
    value, headers = result_record({"id": b"in/0/0", "npz": b"PK", "header_length": b"12"})
    assert value == b"PK" and headers == [("payload", b"npz"), ("id", b"in/0/0"), ("header_length", b"12")]


def test_record_ids_round_trip():
    assert record_id("digits.in", 3, 41) == b"digits.in/3/41"
    assert parse_record_id(b"digits.in/3/41") == ("digits.in", 3, 41)


def test_dead_letters_say_why_and_keep_the_input_headers():
    own = [("trace", b"t"), ("code", b"mine"), ("original_x", b"o"), ("empty", None)]
    headers = dead_letter_headers("in", 1, 9, "g", "w1", "INVALID_ARGUMENT", "bad" * 2000, own)
    named = dict(headers)
    assert [name for name, _ in headers[:8]] == ["id", "topic", "partition", "offset", "group", "consumer", "code",
                                                 "reason"]  # fmt: skip
    assert (named["id"], named["partition"], named["offset"], named["code"]) == (
        b"in/1/9", b"1", b"9", b"INVALID_ARGUMENT",
    )  # fmt: skip
    assert len(named["reason"]) == MAX_REASON_CHARS and named["reason"].endswith(b" ... (truncated)")
    assert headers[8:] == [("trace", b"t"), ("original_code", b"mine"), ("original_original_x", b"o"), ("empty", b"")]
