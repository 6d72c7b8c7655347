"""One Prometheus exposition from several workers' (``--workers``): what a scrape of any worker answers.

Each worker keeps its own registry (our collectors read live state when scraped, which prometheus-client's
multiprocess mode cannot do: it only aggregates its own Counter/Gauge/Histogram files), so the worker that
is scraped asks the others for their text and merges it here, line by line, keeping every name, label and
``# HELP``/``# TYPE`` line exactly as written (TF Serving's ``:tensorflow:serving:request_count`` has no
``_total`` and must keep it that way).

Merging a sample present in several workers: counters, histograms and summaries are summed; gauges are
summed when they count work or memory (names with ``in_flight``, ``queued`` or ending in ``_bytes``), the
lowest is kept for p-values (``*_p_value``: the strongest drift signal wins), the highest otherwise (states
that are 1 or 0, baseline sizes). ``modelserve_workers`` is added: how many workers answered.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client.utils import floatToGoString

__all__ = ["merge_expositions"]

_SUMMED = ("counter", "histogram", "summary", "untyped")


def _gauge_rule(name: str) -> str:
    if "in_flight" in name or "queued" in name or name.endswith("_bytes"):
        return "sum"
    if name.endswith("_p_value"):
        return "min"
    return "max"


class _Family:
    __slots__ = ("comments", "kind", "name", "samples")

    def __init__(self, name: str) -> None:
        self.name = name
        self.kind = "untyped"
        self.comments: list[str] = []
        self.samples: dict[str, float] = {}


def _number(text: str) -> float:
    return float(text)  # Prometheus writes +Inf, -Inf and NaN the way float() reads them


def merge_expositions(texts: Sequence[bytes]) -> bytes:
    """The merged exposition of ``texts`` (Prometheus text format 0.0.4), families in first-seen order."""
    families: dict[str, _Family] = {}
    owner: dict[str, _Family] = {}  # sample key -> its family
    for text in texts:
        family: _Family | None = None
        for line in text.decode("utf-8", "replace").splitlines():
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    family = families.get(parts[2])
                    if family is None:
                        family = families[parts[2]] = _Family(parts[2])
                    if parts[1] == "TYPE" and len(parts) == 4:
                        family.kind = parts[3].strip()
                    if line not in family.comments:
                        family.comments.append(line)
                continue
            key, _, value = line.rpartition(" ")
            if not key:
                continue
            target = owner.get(key)
            if target is None:
                target = family if family is not None else families.setdefault("", _Family(""))
                owner[key] = target
            _add(target, key, _number(value))
    out: list[str] = []
    for family in families.values():
        out.extend(family.comments)
        out.extend(f"{key} {floatToGoString(value)}" for key, value in family.samples.items())
    out += [
        "# HELP modelserve_workers Worker processes whose metrics this scrape merged.",
        "# TYPE modelserve_workers gauge",
        f"modelserve_workers {len(texts)}.0",
    ]
    return ("\n".join(out) + "\n").encode()


def _add(family: _Family, key: str, value: float) -> None:
    if key not in family.samples:
        family.samples[key] = value
        return
    rule = "sum" if family.kind in _SUMMED else _gauge_rule(family.name)
    old = family.samples[key]
    family.samples[key] = old + value if rule == "sum" else min(old, value) if rule == "min" else max(old, value)
