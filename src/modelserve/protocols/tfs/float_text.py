"""TF Serving's text for float32 and float64 values in JSON responses (``WriteDecimal``), fast.

A finite value is written as ``%g`` when that text reads back as the same value, else with ``max_digits10``
digits (``%.9g`` for float32, ``%.17g`` for float64), ``.0`` added to bare integers; non-finite values are
the bare tokens ``NaN``, ``Infinity``, ``-Infinity`` (as TF writes them; Python's ``json`` reads them).
:func:`float_tokens` formats small arrays one value at a time and larger ones with array arithmetic; both
give the same text.
"""

from __future__ import annotations

import numpy as np

__all__ = ["float_tokens"]

_SHORT_FORMAT_LIMIT = 1e6  # %g (6 significant digits) writes integers below this without an exponent
# Per dtype: the long format, the bound under which it writes integers without an exponent, and how far from
# an integer a value scaled to 6 integer digits can be when %g round-trips (2**-24 * 1e6 ~ 0.06 for float32,
# 2**-53 * 1e6 ~ 1e-10 for float64, plus margin).
_LONG_FORMAT = {np.dtype(np.float32): ("%.9g", 1e9, 0.07), np.dtype(np.float64): ("%.17g", 1e17, 1e-6)}
_SMALLEST_NORMAL = {dtype: float(np.finfo(dtype).smallest_normal) for dtype in _LONG_FORMAT}


# Below this many values, formatting one value at a time beats the fixed cost of the array path.
_SMALL_FLOAT_ARRAY = 48
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def float_tokens(flat: np.ndarray) -> list[str]:
    """TF's JSON text of each value of a 1-D float32/float64 array, in order."""
    if flat.size <= _SMALL_FLOAT_ARRAY:
        return _float_tokens_one_by_one(flat)
    return _float_tokens_vectorised(flat)


def _float_tokens_one_by_one(flat: np.ndarray) -> list[str]:
    """``WriteDecimal`` per element: ``%g`` when it reads back as the same value, else the long format."""
    long_spec = _LONG_FORMAT[flat.dtype][0].lstrip("%")
    reads_back = np.float32 if flat.dtype == np.float32 else float
    tokens = []
    for value in flat.tolist():
        text = f"{value:g}"
        if text in _NON_FINITE:
            tokens.append(_NON_FINITE[text])
            continue
        if reads_back(text) != value:
            text = format(value, long_spec)
        tokens.append(text if "." in text or "e" in text else text + ".0")
    return tokens


def _float_tokens_vectorised(flat: np.ndarray) -> list[str]:
    """``WriteDecimal`` for every element of a 1-D float32/float64 array.

    A finite value is written as ``%g`` if that text reads back as the same value, else as ``%.9g`` (float32)
    or ``%.17g`` (float64); ``.0`` is appended when the text has neither ``.`` nor ``e``.

    Each value is formatted once (one ``%`` call per format for the whole array). Which format applies is
    decided with array arithmetic: scaled to 6 integer digits, a value whose %g text round-trips is within
    half a float ulp of an integer, so values further than ``tolerance`` from one are written long at once,
    and the rest are checked exactly (:func:`_round_trips_at_six_digits`).
    """
    long_format, long_limit, tolerance = _LONG_FORMAT[flat.dtype]
    with np.errstate(all="ignore"):
        magnitude = np.abs(flat, dtype=np.float64)
        exponent = np.floor(np.log10(magnitude))  # powers of ten stay normal doubles either way round
        scaled = np.where(exponent >= 0, magnitude / 10.0**exponent, magnitude * 10.0**-exponent) * 1e5
        mantissa = np.rint(scaled)
        near = (np.abs(scaled - mantissa) <= tolerance) | (magnitude < _SMALLEST_NORMAL[flat.dtype])
    short = np.zeros(flat.size, dtype=bool)
    candidates = np.flatnonzero(near)
    if candidates.size:
        short[candidates] = _round_trips_at_six_digits(flat[candidates], mantissa[candidates], exponent[candidates])
    finite = np.isfinite(flat)
    tokens = np.empty(flat.size, dtype=object)
    tokens[short] = _format("%g", flat[short].tolist())
    long = finite & ~short
    tokens[long] = _format(long_format, flat[long].tolist())
    tokens[(flat == np.trunc(flat)) & (magnitude < np.where(short, _SHORT_FORMAT_LIMIT, long_limit))] += ".0"
    if not finite.all():
        tokens[np.isnan(flat)] = "NaN"
        tokens[flat == np.inf] = "Infinity"
        tokens[flat == -np.inf] = "-Infinity"
    return tokens.tolist()


def _round_trips_at_six_digits(values: np.ndarray, mantissa: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    """Whether ``%g`` of each value reads back as the value (what TF checks by parsing the text).

    ``mantissa * 10**(exponent - 5)`` is each value's 6-digit rounding (sign dropped). Computed as one
    correctly rounded double operation it equals the double that parsing the text gives, when the power of
    ten is exact (``|exponent - 5| <= 22``). For float32, TF parses straight to float32; rounding through the
    double lands on the same float32 unless the double is exactly halfway between two float32s. Zeros,
    subnormals, other exponents and halfway cases are settled by formatting and parsing the text.
    """
    power = exponent - 5
    exact = np.abs(power) <= 22
    with np.errstate(all="ignore"):
        scale = 10.0 ** np.where(exact, np.abs(power), 0)
        decimal = np.where(power >= 0, mantissa * scale, mantissa / scale)
    magnitude = np.abs(values)
    if values.dtype == np.float64:
        unsure = ~exact
        round_trips = decimal == magnitude
    else:
        rounded = decimal.astype(np.float32)
        toward = np.nextafter(rounded, np.where(decimal > rounded, np.float32(np.inf), np.float32(-np.inf)))
        unsure = ~exact | (2 * decimal == rounded.astype(np.float64) + toward)
        round_trips = rounded == magnitude
    if unsure.any():
        texts = _format("%g", values[unsure].tolist())
        with np.errstate(over="ignore"):
            round_trips[unsure] = np.array(list(map(float, texts))).astype(values.dtype) == values[unsure]
    return round_trips


def _format(spec: str, values: list[float]) -> list[str]:
    """``spec % v`` for each value, in one formatting call."""
    return ((spec + "\n") * len(values) % tuple(values)).split("\n")[:-1]
