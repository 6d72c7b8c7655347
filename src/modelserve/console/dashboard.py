"""The "Dashboard" tab: models, versions and their states (with why a version failed), signatures, labels,
the traffic split with routed counts and shadow agreement, and live charts (request rate, latency p50/p99,
rows per model call, errors by code) per model and version, and model health (drift, feedback accuracy per
version and route), refreshed every two seconds from the server's
own metrics (:class:`~modelserve.console.telemetry.Telemetry`). Needs the ``read`` scope with keys on.
Imports Gradio: loaded only with ``--ui``.
"""

from __future__ import annotations

import datetime
from typing import Any

import gradio as gr
import pandas as pd

from modelserve.access.scopes import Kind
from modelserve.console.context import ConsoleContext
from modelserve.console.health import HEALTH_COLUMNS, health_rows
from modelserve.console.telemetry import table
from modelserve.errors import ServingError
from modelserve.types import ModelRef

__all__ = ["build"]

REFRESH_SECONDS = 2.0
_STATE_COLUMNS = ["model", "version", "state", "labels", "signatures", "problem"]
_NOW_COLUMNS = ["series", "requests/s", "p50 ms", "p99 ms", "errors/s"]
_TRAFFIC_COLUMNS = ["model", "route", "weight", "version now", "routed", "shadow"]


def model_rows(ctx: ConsoleContext) -> list[list[Any]]:
    """One row per version ever seen of every model: state, the labels on it, its signatures, the error."""
    service = ctx.service
    rows = []
    problems: dict[str, str] | None = None  # why a model has no version: the repository index, read once
    for name in service.model_names():
        labels = service.labels(name)
        try:
            statuses = service.statuses(name)
        except ServingError:
            statuses = []
        if not statuses:
            if problems is None:
                problems = {str(e["name"]): str(e.get("reason", "")) for e in service.repository_index()}
            rows.append([name, "", "NO VERSION", "", "", problems.get(name, "")])
        for status in statuses:
            on_it = ", ".join(sorted(label for label, v in labels.items() if v == status.version))
            signatures = ""
            if status.state.name == "AVAILABLE":
                try:
                    signatures = ", ".join(service.describe(ModelRef(name, status.version)).signatures)
                except ServingError:
                    signatures = ""
            problem = status.error_message if status.error_code.name != "OK" else ""
            rows.append([name, status.version, status.state.name, on_it, signatures, problem])
    return rows


def traffic_rows(ctx: ConsoleContext) -> list[list[Any]]:
    """One row per route of every traffic policy (its weight, the version it resolves to, requests routed)
    and one for its shadow (the fraction mirrored, and how the shadow's answers agreed)."""
    service = ctx.service
    report = service.traffic_report()["models"]
    assert isinstance(report, dict)
    rows = []
    for name, policy in sorted(service.traffic.policies.items()):
        entry = report.get(name, {})
        routed: dict[str, int] = {}
        for item in service.traffic_stats.report(name)["routed"]:
            routed[str(item["route"])] = routed.get(str(item["route"]), 0) + int(item["requests"])
        for route in entry.get("routes", []):
            rows.append(
                [name, route["target"], route["weight"], route["version"], routed.get(str(route["target"]), 0), ""]
            )
        if policy.shadow is not None:
            agreement = []
            for version, stats in service.traffic_stats.report(name)["shadow"].items():
                agreement.append(f"v{version}: {stats['matches']} match, {stats['mismatches']} differ, "
                                 f"{stats['errors']} errors")  # fmt: skip
            rows.append([name, f"shadow {policy.shadow.target}", policy.shadow.fraction, "", "", "; ".join(agreement)])
    return rows


def now_rows(ctx: ConsoleContext) -> list[list[Any]]:
    latest = ctx.telemetry.latest()
    series = sorted(set(latest["rate"]) | set(latest["p50"]))
    rows = []
    for name in series:
        errors = sum(v for s, v in latest["errors"].items() if s.startswith(name + " "))
        p50, p99 = latest["p50"].get(name), latest["p99"].get(name)
        rows.append([
            name, round(latest["rate"].get(name, 0.0), 2),
            round(p50 * 1000, 2) if p50 is not None else None, round(p99 * 1000, 2) if p99 is not None else None,
            round(errors, 2),
        ])  # fmt: skip
    return rows


def _frame(ctx: ConsoleContext, name: str, scale: float = 1.0) -> pd.DataFrame:
    columns = table(ctx.telemetry.points(name))
    frame = pd.DataFrame(columns)
    if frame.empty:
        return pd.DataFrame({"time": pd.Series([], dtype="datetime64[ns]"), "series": [], "value": []})
    frame["time"] = [datetime.datetime.fromtimestamp(t) for t in frame["time"]]
    frame["value"] = frame["value"] * scale
    return frame


def build(ctx: ConsoleContext, page: gr.Blocks) -> None:
    """The tab's components, inside an open ``gr.Tab``; they refresh while the page is open."""
    notice = gr.Markdown(visible=False, elem_id="dashboard-notice")
    gr.Markdown("### Models and versions")
    states = gr.Dataframe(headers=_STATE_COLUMNS, interactive=False, elem_id="dashboard-models", wrap=True)
    gr.Markdown("### Now (last two seconds)")
    now = gr.Dataframe(headers=_NOW_COLUMNS, interactive=False, elem_id="dashboard-now")
    with gr.Row():
        rate = gr.LinePlot(x="time", y="value", color="series", title="Requests per second", y_title="req/s",
                           elem_id="chart-rate", height=260)  # fmt: skip
        errors = gr.LinePlot(x="time", y="value", color="series", title="Errors per second by code",
                             y_title="errors/s", elem_id="chart-errors", height=260)  # fmt: skip
    with gr.Row():
        p50 = gr.LinePlot(x="time", y="value", color="series", title="Latency p50 (ms)", y_title="ms",
                          elem_id="chart-p50", height=260)  # fmt: skip
        p99 = gr.LinePlot(x="time", y="value", color="series", title="Latency p99 (ms)", y_title="ms",
                          elem_id="chart-p99", height=260)  # fmt: skip
        batch = gr.LinePlot(x="time", y="value", color="series", title="Rows per model call", y_title="rows",
                            elem_id="chart-batch", height=260)  # fmt: skip
    gr.Markdown("### Traffic")
    traffic = gr.Dataframe(headers=_TRAFFIC_COLUMNS, interactive=False, elem_id="dashboard-traffic")
    gr.Markdown("### Model health: drift and accuracy from feedback")
    health = gr.Dataframe(headers=HEALTH_COLUMNS, interactive=False, elem_id="dashboard-health", wrap=True)
    timer = gr.Timer(REFRESH_SECONDS)

    def refresh(request: gr.Request) -> tuple:
        try:
            ctx.require(request, Kind.READ, "see the dashboard")
        except ServingError as exc:
            return (gr.update(value=f"**{exc.code.name}**: {exc.message}", visible=True),
                    *(gr.skip() for _ in range(9)))  # fmt: skip
        return (
            gr.update(visible=False),
            model_rows(ctx),
            now_rows(ctx),
            _frame(ctx, "rate"),
            _frame(ctx, "errors"),
            _frame(ctx, "p50", 1000.0),
            _frame(ctx, "p99", 1000.0),
            _frame(ctx, "batch"),
            traffic_rows(ctx),
            health_rows(ctx.service.monitoring_report(name) for name in ctx.service.model_names()),
        )

    outputs = [notice, states, now, rate, errors, p50, p99, batch, traffic, health]
    timer.tick(refresh, outputs=outputs, show_progress="hidden")
    page.load(refresh, outputs=outputs, show_progress="hidden")
