"""The report: derived columns, Markdown table, JSON document and PNG chart."""

from __future__ import annotations

import json
from pathlib import Path

from modelserve.convert.report import ReportRow, markdown_table, report_data, write_report

ROWS = [
    ReportRow("original", "tensorflow", "models/digits/1", 300_000, 0.4, accuracy=0.97),
    ReportRow("float32", "tflite", "model.tflite", 60_000, 0.03, 0.97, 1e-7, 1.0, False),
    ReportRow(
        "int8", "tflite", "model.tflite", 20_000, 0.05, 0.965, 0.1, 0.99, True, True, True, micro_arena_bytes=5096
    ),
]


def test_derived_columns():
    data = report_data({"source": "s", "target": "tflite"}, ROWS)
    int8 = data["rows"][2]
    assert int8["times_smaller_than_float32"] == 3.0
    assert int8["accuracy_drop_points"] == 0.5
    assert data["rows"][0]["times_smaller_than_float32"] is None


def test_markdown_table_marks_the_landed_variant():
    table = markdown_table(ROWS).splitlines()
    assert table[0].startswith("| variant | format | size | vs float32 | p50 latency | accuracy |")
    assert table[4] == (
        "| int8 * | tflite | 19.5 KiB | 3.00x smaller | 0.050 ms | 96.50% | +0.50 pts | 0.1 | 99.00% | yes "
        "| yes (arena ~5.0 KiB) |"
    )
    assert table[3].endswith("| 100.00% | no |  |")  # float32: no micro verdict given in this row


def test_files_are_written(tmp_path: Path):
    paths = write_report(tmp_path, {"source": "s", "target": "tflite", "outcome": "landed"}, ROWS)
    assert json.loads(paths["json"].read_text())["outcome"] == "landed"
    assert "- outcome: landed" in paths["markdown"].read_text()
    assert paths["chart"].read_bytes()[:4] == b"\x89PNG"
