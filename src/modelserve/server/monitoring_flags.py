"""The monitoring flags of ``modelserve serve``: drift (on by default) and ground-truth feedback, and the
part of :class:`~modelserve.config.ServerConfig` they fill (:mod:`modelserve.monitoring` reads them)."""

from __future__ import annotations

import argparse
from typing import Any

from modelserve.server.flag_types import absolute_path, boolean

__all__ = ["add_monitoring_flags", "monitoring_config"]


def add_monitoring_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--drift",
        type=boolean,
        nargs="?",
        const=True,
        default=True,
        help="compare live inputs and predictions with each version's baseline (KS, PSI, chi-square) [true]",
    )
    add(
        "--drift_baseline_rows",
        type=int,
        default=1000,
        help="baseline rows: drawn from a version's reference dataset, else its first requests [1000]",
    )
    add("--drift_window_rows", type=int, default=500, help="a live window is tested at this many rows [500]")
    add(
        "--drift_window_seconds",
        type=float,
        default=60.0,
        help="... or after this long, once it has --drift_min_window_rows [60]",
    )
    add("--drift_min_window_rows", type=int, default=50, help="rows a window needs to be tested early [50]")
    add(
        "--drift_p_value",
        type=float,
        default=0.01,
        help="a window drifted when a test's p-value is below this, Bonferroni-corrected over its tests [0.01]",
    )
    add("--drift_psi_threshold", type=float, default=0.25, help="... or a PSI is above this (numeric_test psi) [0.25]")
    add(
        "--drift_config_file",
        default=None,
        help="per-model drift settings (YAML: reference datasets, windows, tests; see docs/monitoring.md)",
    )
    add(
        "--feedback_memory_requests",
        type=int,
        default=100_000,
        help="answered requests remembered for :feedback ground truth (0: none) [100000]",
    )
    add("--feedback_window_rows", type=int, default=1000, help="judged rows accuracy is computed over [1000]")


def monitoring_config(args: argparse.Namespace) -> dict[str, Any]:
    """The ServerConfig fields of these flags (their values are checked when the monitor is built)."""
    return {
        "drift": args.drift,
        "drift_baseline_rows": args.drift_baseline_rows,
        "drift_window_rows": args.drift_window_rows,
        "drift_window_seconds": args.drift_window_seconds,
        "drift_min_window_rows": args.drift_min_window_rows,
        "drift_p_value": args.drift_p_value,
        "drift_psi_threshold": args.drift_psi_threshold,
        "drift_config_file": absolute_path(args.drift_config_file),
        "feedback_memory_requests": max(0, args.feedback_memory_requests),
        "feedback_window_rows": max(1, args.feedback_window_rows),
    }
