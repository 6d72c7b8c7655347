"""TF Serving REST request bodies: JSON parsed as rapidjson parses it for TF Serving, and ``signature_name``.

Requests are parsed with :func:`parse_json`, then :func:`signature_name_of` names the signature the caller
looks up, then :func:`~modelserve.protocols.tfs.predict_decode.decode_predict` or
:func:`~modelserve.protocols.tfs.examples.decode_classify_regress` turns the body into model inputs. Every
error is an :class:`~modelserve.errors.InvalidArgument` with TF Serving's text (rapidjson's words for parse
errors; JSON values in messages are written by :mod:`modelserve.protocols.tfs.debug_text`).

Also here, for the decoders: :func:`utf8` (a JSON string's bytes), the 64-bit integer bounds, and the
envelope checks :func:`require_object` and :func:`format_error`.

Known differences from TF Serving, all on malformed or unusual input: a duplicated key keeps its last value
(rapidjson finds the first); ``Inf``/``-Inf``/``-NaN`` are refused (only ``NaN``, ``Infinity``, ``-Infinity``
are read); JSON nested deeper than Python's recursion limit is refused; parse error offsets are approximate.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

from modelserve.errors import InvalidArgument
from modelserve.protocols.tfs.debug_text import debug_string
from modelserve.types import DEFAULT_SIGNATURE

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "UINT64_MAX",
    "format_error",
    "parse_json",
    "require_object",
    "signature_name_of",
    "utf8",
]

INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
UINT64_MAX = (1 << 64) - 1


# --------------------------------------------------------------------------------------------- parsing


def parse_json(body: bytes) -> Any:
    """Parse a request body as rapidjson does for TF Serving (``kParseNanAndInfFlag | kParseStopWhenDoneFlag``).

    Parsing stops after the first value, so trailing data is ignored. ``NaN``, ``Infinity`` and ``-Infinity``
    are read as floats. Integers are Python ints in ``[-2**63, 2**64)``; integers beyond that become floats,
    as in rapidjson. Raises :class:`InvalidArgument` starting ``JSON Parse error: `` (``JSON Parse error: The
    document is empty`` for an empty body).
    """
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return _parse_leniently(body)


def _parse_leniently(body: bytes) -> Any:
    """The slow path: NaN/Infinity tokens, trailing data, bytes that are not UTF-8, errors in rapidjson's words."""
    bom = 3 if body.startswith(b"\xef\xbb\xbf") else 0  # rapidjson skips a UTF-8 byte order mark
    text = body[bom:].decode("utf-8", "surrogateescape")  # rapidjson does not validate UTF-8 either
    start = len(text) - len(text.lstrip(" \t\n\r"))
    if start == len(text):
        raise InvalidArgument(f"JSON Parse error: The document is empty. at offset: {len(body)}")
    try:
        return _DECODER.raw_decode(text, start)[0]
    except json.JSONDecodeError as exc:
        offset = bom + len(text[: exc.pos].encode("utf-8", "surrogateescape"))
        raise InvalidArgument(f"JSON Parse error: {_parse_error_text(exc, text)} at offset: {offset}") from None
    except _NumberTooBig:
        raise InvalidArgument("JSON Parse error: Number too big to be stored in double.") from None
    except RecursionError:
        raise InvalidArgument("JSON Parse error: The document is nested too deeply.") from None


class _NumberTooBig(ValueError):
    pass


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NumberTooBig(text)
    return value


def _parse_int(text: str) -> int | float:
    if len(text) <= 20:  # short enough for int() to be cheap; beyond 20 characters it is out of range anyway
        value = int(text)
        if INT64_MIN <= value <= UINT64_MAX:
            return value
    return _parse_float(text)  # rapidjson stores integers beyond 64 bits as doubles


_DECODER = json.JSONDecoder(parse_float=_parse_float, parse_int=_parse_int)

# Python's JSON error messages -> rapidjson's (GetParseError_En).
_PARSE_ERRORS = {
    "Expecting value": "Invalid value.",
    "Expecting property name enclosed in double quotes": "Missing a name for object member.",
    "Expecting ':' delimiter": "Missing a colon after a name of object member.",
    "Unterminated string starting at": "Missing a closing quotation mark in string.",
    "Invalid control character at": "Invalid encoding in string.",
    "Invalid \\escape": "Invalid escape character in string.",
    "Invalid \\uXXXX escape": "Incorrect hex digit after \\u escape in string.",
}
_STRING_OR_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _parse_error_text(exc: json.JSONDecodeError, text: str) -> str:
    if exc.msg == "Expecting ',' delimiter":
        return (
            "Missing a comma or ']' after an array element."
            if _open_container(text[: exc.pos]) == "["
            else "Missing a comma or '}' after an object member."
        )
    return _PARSE_ERRORS.get(exc.msg, exc.msg)


def _open_container(prefix: str) -> str:
    """The innermost ``[`` or ``{`` still open at the end of ``prefix`` (skipping string contents)."""
    stack: list[str] = []
    for token in _STRING_OR_BRACKET.findall(prefix):
        if token in "[{":
            stack.append(token)
        elif token in "]}":
            stack.pop()
    return stack[-1] if stack else ""


# ------------------------------------------------------------------------------------ the envelope and strings


def signature_name_of(body: Any) -> str:
    """The ``signature_name`` of a parsed request body, ``serving_default`` when absent or empty.

    Raises :class:`InvalidArgument` when ``body`` is not an object or the name is not a string.
    """
    doc = require_object(body)
    name = doc.get("signature_name", DEFAULT_SIGNATURE)
    if not isinstance(name, str):
        raise InvalidArgument(
            f"JSON Value: {debug_string(doc)} not formatted correctly. 'signature_name' key must be a string value."
        )
    return name or DEFAULT_SIGNATURE


def require_object(body: Any) -> dict[str, Any]:
    """``body`` when it is a JSON object, else TF Serving's ``Is not object`` error."""
    if not isinstance(body, dict):
        raise InvalidArgument(f"JSON Value: {debug_string(body)} Is not object")
    return body


def format_error(doc: Any, text: str) -> InvalidArgument:
    """TF Serving's error for a body ``doc`` that is not formatted as expected: ``JSON Value: <doc> <text>``."""
    return InvalidArgument(f"JSON Value: {debug_string(doc)} {text}")


def utf8(text: str) -> bytes:
    """A JSON string's bytes; bytes that were not UTF-8 in the body come back as they were."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise InvalidArgument("JSON Parse error: The surrogate pair in string is invalid.") from None
