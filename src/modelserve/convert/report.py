"""The conversion report: a Markdown table, the same data as JSON, and a PNG chart (size, latency, accuracy).

One :class:`ReportRow` per model: the original first, then each variant. Derived columns: size ratio to
the float32 variant of the same format (``3.7x smaller``), accuracy change in percentage points from
the original. The chart is drawn with matplotlib's Agg canvas (no display, no pyplot global state).

    paths = write_report(folder, header, rows)    # {"markdown": ..., "json": ..., "chart": ...}
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPORT_NAME = "conversion_report"


@dataclass(frozen=True)
class ReportRow:
    """What was measured for one model. ``accuracy`` and ``top1_agreement`` are fractions (0..1)."""

    variant: str
    format: str
    file: str
    size_bytes: int
    latency_p50_ms: float | None
    accuracy: float | None = None
    max_abs_diff: float | None = None
    top1_agreement: float | None = None
    edge_tpu_ready: bool | None = None
    landed: bool = False
    micro_ready: bool | None = None  # TFLite Micro verdict (:mod:`.micro`), TFLite rows only
    micro_arena_bytes: int | None = None  # its tensor arena estimate


def accuracy_drop_points(row: ReportRow, original: ReportRow) -> float | None:
    """Original accuracy minus this row's, in percentage points (positive: worse)."""
    if row.accuracy is None or original.accuracy is None:
        return None
    return round((original.accuracy - row.accuracy) * 100.0, 4)


def size_ratio(row: ReportRow, rows: Sequence[ReportRow]) -> float | None:
    """How many times smaller than the float32 variant of the same format (None without one)."""
    baseline = next((r for r in rows if r.variant == "float32" and r.format == row.format), None)
    if baseline is None or row.variant == "original" or not row.size_bytes:
        return None
    return baseline.size_bytes / row.size_bytes


def report_data(header: dict[str, Any], rows: Sequence[ReportRow]) -> dict[str, Any]:
    """The JSON document: ``header`` plus every row with its derived columns."""
    original = rows[0]
    return {
        **header,
        "rows": [
            {
                **asdict(row),
                "accuracy_drop_points": accuracy_drop_points(row, original),
                "times_smaller_than_float32": size_ratio(row, rows),
            }
            for row in rows
        ],
    }


def _kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.2f}%"


def _ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f}x smaller" if ratio >= 1 else f"{1 / ratio:.2f}x larger"


def _micro_text(row: ReportRow) -> str:
    if row.micro_ready is None:
        return ""
    arena = "" if row.micro_arena_bytes is None else f" (arena ~{_kib(row.micro_arena_bytes)})"
    return ("yes" if row.micro_ready else "no") + arena


def markdown_table(rows: Sequence[ReportRow]) -> str:
    """The comparison table (the landed variant marked with ``*``)."""
    lines = [
        "| variant | format | size | vs float32 | p50 latency | accuracy | accuracy drop | max abs diff "
        "| top-1 agreement | Edge TPU ready | TFLite Micro ready |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    original = rows[0]
    for row in rows:
        ratio = size_ratio(row, rows)
        drop = accuracy_drop_points(row, original)
        cells = [
            row.variant + (" *" if row.landed else ""),
            row.format,
            _kib(row.size_bytes),
            _ratio_text(ratio),
            "" if row.latency_p50_ms is None else f"{row.latency_p50_ms:.3f} ms",
            _pct(row.accuracy),
            "" if drop is None or row.variant == "original" else f"{drop:+.2f} pts",
            "" if row.max_abs_diff is None else f"{row.max_abs_diff:.3g}",
            _pct(row.top1_agreement),
            "" if row.edge_tpu_ready is None else ("yes" if row.edge_tpu_ready else "no"),
            _micro_text(row),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def markdown(header: dict[str, Any], rows: Sequence[ReportRow]) -> str:
    lines = [f"# Conversion report: {header['source']} -> {header['target']}", ""]
    for key in ("signature", "evaluated_on", "calibrated_on", "outcome", "gate"):
        if header.get(key):
            lines.append(f"- {key.replace('_', ' ')}: {header[key]}")
    lines += ["", markdown_table(rows), "", "`*` landed. Accuracy drop in percentage points from the original;"]
    lines.append("latency is the in-process median of one-example calls; sizes are on-disk bytes.")
    if header.get("also_signatures"):
        lines += ["", *extra_signatures_table(header["also_signatures"])]
    return "\n".join(lines) + "\n"


def extra_signatures_table(diffs: dict[str, dict[str, float | None]]) -> list[str]:
    """Lines of the table of the extra signatures (``--also-signatures``): max abs diff per variant."""
    variants = list(dict.fromkeys(variant for by_variant in diffs.values() for variant in by_variant))
    lines = [
        "Also in the file (max abs diff from the original on random inputs):",
        "",
        "| signature | " + " | ".join(variants) + " |",
        "|---|" + "---:|" * len(variants),
    ]
    for name, by_variant in diffs.items():
        cells = ["" if by_variant.get(v) is None else f"{by_variant[v]:.3g}" for v in variants]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def draw_chart(rows: Sequence[ReportRow], path: Path, title: str) -> None:
    """Three bar charts side by side: size (KiB), p50 latency (ms), accuracy (%)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = [f"{r.variant}\n({r.format})" for r in rows]
    colours = ["#d62728" if r.landed else ("#7f7f7f" if r.variant == "original" else "#1f77b4") for r in rows]
    panels = [
        ("size (KiB)", [r.size_bytes / 1024 for r in rows]),
        ("p50 latency (ms)", [r.latency_p50_ms or 0.0 for r in rows]),
        ("accuracy (%)", [(r.accuracy or 0.0) * 100 for r in rows]),
    ]
    figure = Figure(figsize=(4.2 * len(panels), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    for index, (name, values) in enumerate(panels):
        axes = figure.add_subplot(1, len(panels), index + 1)
        bars = axes.bar(range(len(rows)), values, color=colours)
        axes.bar_label(bars, fmt="%.3g", fontsize=7)
        axes.set_xticks(range(len(rows)), labels, fontsize=7)
        axes.set_title(name)
        if name.startswith("accuracy") and any(r.accuracy is not None for r in rows):
            known = [v for v, r in zip(values, rows) if r.accuracy is not None]
            axes.set_ylim(max(0.0, min(known) - 5.0), 100.0)
    figure.suptitle(title, fontsize=9)
    figure.savefig(path, format="png", dpi=110)


def write_report(folder: Path, header: dict[str, Any], rows: Sequence[ReportRow]) -> dict[str, Path]:
    """Write ``conversion_report.md``, ``.json`` and ``.png`` into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {kind: folder / f"{REPORT_NAME}.{suffix}" for kind, suffix in (("markdown", "md"), ("json", "json"))}
    paths["chart"] = folder / f"{REPORT_NAME}.png"
    paths["markdown"].write_text(markdown(header, rows))
    paths["json"].write_text(json.dumps(report_data(header, rows), indent=2) + "\n")
    draw_chart(rows, paths["chart"], f"{header['source']} -> {header['target']}")
    return paths
