"""JSON values as TF Serving quotes them in its error messages: TF's ``JsonValueToDebugString``.

:func:`debug_string` is rapidjson's PrettyWriter with single-line arrays, cut short at 256 bytes. Also here:
rapidjson's string escapes (:func:`quote`, which the response encoders use too) and its type names
(:func:`json_type`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

__all__ = ["debug_string", "json_type", "quote"]


def json_type(value: Any) -> str:
    """rapidjson's type names, as ``JsonTypeString`` spells them."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


# rapidjson's string escapes: quote, backslash, and control characters (short forms where JSON has them).
_ESCAPES = {code: f"\\u{code:04X}" for code in range(0x20)} | {
    ord('"'): '\\"',
    ord("\\"): "\\\\",
    ord("\b"): "\\b",
    ord("\f"): "\\f",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


def quote(text: str) -> str:
    """``text`` as a JSON string, escaped as rapidjson escapes it."""
    return '"' + text.translate(_ESCAPES) + '"'


_DEBUG_LIMIT = 256  # bytes; TF's kMaxJsonDebugStringBytes
_INDENT = "    "


def debug_string(value: Any) -> str:
    """TF's ``JsonValueToDebugString``: rapidjson's PrettyWriter with single-line arrays, stopping at the first
    write that starts at or past 256 bytes (or at a non-finite number, which rapidjson's writer refuses)."""
    pieces = []
    size = 0
    for piece in _pretty(value, []):
        if piece is None or size >= _DEBUG_LIMIT:
            break
        pieces.append(piece)
        size += len(piece.encode("utf-8", "surrogatepass"))
    return "".join(pieces)


def _pretty(value: Any, levels: list[list[int]]) -> Iterator[str | None]:
    """One text per rapidjson writer call; ``levels`` holds ``[in_array, value_count]`` per open container."""
    prefix = _prefix(levels)
    if isinstance(value, dict):
        yield prefix + "{"
        levels.append([False, 0])
        for key, item in value.items():
            yield _prefix(levels) + quote(key)
            yield from _pretty(item, levels)
        count = levels.pop()[1]
        yield ("\n" + _INDENT * len(levels) if count else "") + "}"
    elif isinstance(value, list):
        yield prefix + "["
        levels.append([True, 0])
        for item in value:
            yield from _pretty(item, levels)
        levels.pop()
        yield "]"
    elif isinstance(value, float) and not math.isfinite(value):
        yield prefix
        yield None
    else:
        yield prefix + _scalar_text(value)


def _prefix(levels: list[list[int]]) -> str:
    """``PrettyWriter::PrettyPrefix`` with ``kFormatSingleLineArray``."""
    if not levels:
        return ""
    level = levels[-1]
    in_array, count = level
    level[1] += 1
    if in_array:
        return ", " if count else ""
    if count % 2:
        return ": "
    return ("," if count else "") + "\n" + _INDENT * len(levels)


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int):
        return str(value)
    return _double_text(value)


def _double_text(value: float) -> str:
    """rapidjson's ``Writer::Double`` (shortest digits, then ``Prettify``): ``1.0``, ``0.001``, ``1e30``."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    k = int(exponent or 0) - len(fraction) + len(digits) - len(digits.rstrip("0"))
    digits = digits.rstrip("0")
    length = len(digits)
    kk = length + k  # 10**(kk-1) <= value < 10**kk
    sign = "-" if value < 0 else ""
    if k >= 0 and kk <= 21:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < kk <= 21:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -6 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    head = digits[0] if length == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{sign}{head}e{kk - 1}"
