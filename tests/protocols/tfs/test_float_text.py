"""TF Serving's float text in JSON responses, checked against a value-by-value reference of TF's WriteDecimal."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from modelserve.protocols.tfs.predict_encode import encode_predict


def f32_from_decimal(text: str) -> np.float32:
    """Correctly rounded decimal -> float32 (what absl::SimpleAtof does), by exact rational arithmetic."""
    exact = Fraction(text)
    guess = np.float32(float(exact))
    neighbours = [np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))]
    finite = [n for n in neighbours if np.isfinite(n)]
    return min(finite, key=lambda n: (abs(Fraction(float(n)) - exact), int(n.view(np.uint32)) & 1))


def reference_token(value: np.floating) -> str:
    """TF's WriteDecimal, element by element."""
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    text = f"{float(value):g}"
    reads_back = f32_from_decimal(text) if value.dtype == np.float32 else np.float64(float(text))
    if reads_back != value:
        text = f"{float(value):.9g}" if value.dtype == np.float32 else f"{float(value):.17g}"
    return text if "." in text or "e" in text else text + ".0"


SPECIAL_FLOATS = [0, -0.0, 1, 2**24, 2**24 + 2, 2**53, 999999.5, 999999.4, 1e6, 0.1, 0.3, 100000.5, 123456.5, 5e-5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_formatting_matches_a_value_by_value_reference(dtype):
    rng = np.random.default_rng(7)
    info = np.finfo(dtype)
    samples = [
        rng.random(2000).astype(dtype),
        (rng.integers(-(10**7), 10**7, 2000) / rng.choice([1, 2, 4, 8, 10, 100, 1000], 2000)).astype(dtype),
        (10.0 ** rng.uniform(np.log10(info.tiny) - 6, np.log10(info.max), 4000)).astype(dtype),
        (10.0 ** rng.integers(int(np.log10(info.tiny)) - 6, int(np.log10(info.max)) + 1, 400)).astype(dtype),
        np.array([*SPECIAL_FLOATS, info.max, info.tiny, info.smallest_subnormal, np.nan, np.inf, -np.inf], dtype),
    ]
    values = np.concatenate(samples)
    with np.errstate(over="ignore"):
        values = np.concatenate([values, -values, np.nextafter(values, dtype(np.inf))])
    tokens = encode_predict({"v": values}, False).decode()[len('{"outputs":[') : -2].split(",")
    expected = [reference_token(value) for value in values]
    assert tokens == expected
    # small outputs take the one-value-at-a-time path: the same text
    small = []
    for start in range(0, len(values), 16):
        small += encode_predict({"v": values[start : start + 16]}, False).decode()[len('{"outputs":[') : -2].split(",")
    assert small == expected
