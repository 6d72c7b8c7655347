"""The "Manage" tab: reload the config files, load or unload a model, move a label, change traffic weights.

Each action is two steps: the button says what will happen and asks for a confirmation; "Confirm" does it
and shows the outcome. Actions need the ``admin`` scope with keys on (and ``--admin_token``, typed on the
page, when keys are off and a token is set); each is written to the audit log like the admin API's. The
actions are the admin API's and the V2 repository API's own code paths (reload, traffic) or the serving
core's calls behind them (load, unload, labels). Imports Gradio: loaded only with ``--ui``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
from collections.abc import Callable
from typing import Any

import gradio as gr

from modelserve.access.scopes import Kind
from modelserve.console import actions
from modelserve.console.context import ConsoleContext
from modelserve.errors import ServingError, Unauthenticated

__all__ = ["build"]


@dataclasses.dataclass(frozen=True)
class Pending:
    """An action waiting for its confirmation: what it says, what it runs (returns the outcome line)."""

    summary: str
    target: str
    run: Callable[[], Any]


def build(ctx: ConsoleContext, page: gr.Blocks) -> None:
    """The tab's components, inside an open ``gr.Tab``."""
    needs_token = not ctx.keys_on and ctx.config.admin_token is not None
    token = gr.Textbox(label="Admin token (--admin_token)", type="password", visible=needs_token)
    with gr.Row():
        model = gr.Dropdown(label="Model", choices=[], elem_id="manage-model", allow_custom_value=True)
        refresh = gr.Button("Refresh", scale=0)
    with gr.Row():
        load = gr.Button("Load model", elem_id="manage-load")
        unload = gr.Button("Unload model", elem_id="manage-unload", variant="stop")
        reload = gr.Button("Reload config files", elem_id="manage-reload")
    with gr.Row():
        label = gr.Textbox(label="Label", elem_id="manage-label")
        label_version = gr.Textbox(label="Version (empty: remove the label)", elem_id="manage-label-version")
        move = gr.Button("Move label", elem_id="manage-move-label", scale=0)
    traffic = gr.Code(language="json", interactive=True, label="Traffic policies (the traffic file's JSON)",
                      elem_id="manage-traffic")  # fmt: skip
    apply_traffic = gr.Button("Apply traffic", elem_id="manage-apply-traffic")
    pending = gr.State(None)
    with gr.Row(visible=False, elem_id="manage-confirm-row") as confirm_row:
        question = gr.Markdown(elem_id="manage-question")
        confirm = gr.Button("Confirm", variant="primary", elem_id="manage-confirm", scale=0)
        cancel = gr.Button("Cancel", scale=0, elem_id="manage-cancel")
    outcome = gr.Markdown(elem_id="manage-outcome")

    def names(request: gr.Request) -> tuple[Any, Any]:
        identity = ctx.caller(request)
        if identity is not None and not identity.scopes.allows(Kind.READ):  # the model list and traffic: read views
            return gr.update(choices=[]), ""
        index = sorted({e["name"] for e in ctx.service.repository_index()} | set(ctx.service.model_names()))
        return gr.update(choices=index), actions.current_traffic(ctx.service)

    def ask(summary: str, target: str, run: Callable[[], Any]) -> tuple[Any, Any, Any]:
        return Pending(summary, target, run), gr.update(visible=True), f"**Confirm:** {summary}?"

    def asking(action: str) -> Callable:
        def handler(name: str | None, label_text: str, version_text: str, traffic_text: str) -> tuple:
            name = name or ""
            if action == "load":
                return ask(f"load model {name}", name, lambda: actions.load(ctx.service, name))
            if action == "unload":
                return ask(f"unload model {name}", name, lambda: actions.unload(ctx.service, name))
            if action == "reload":
                return ask("reload the config files", "", lambda: actions.reload_files(ctx.service))
            if action == "label":
                where = f"version {version_text}" if version_text.strip() else "nothing (remove it)"
                return ask(f"point label {label_text!r} of {name} at {where}", name,
                           lambda: actions.move_label(ctx.service, name, label_text, version_text))  # fmt: skip
            return ask("replace the traffic policies", "", lambda: actions.set_traffic(ctx.service, traffic_text))

        return handler

    async def do(request: gr.Request, action: Pending | None, typed_token: str) -> tuple[Any, Any, str]:
        hidden = gr.update(visible=False)
        if action is None:
            return None, hidden, ""
        try:
            identity = ctx.require(request, Kind.ADMIN, action.summary)
            if needs_token and not hmac.compare_digest((typed_token or "").encode(), ctx.config.admin_token.encode()):
                raise Unauthenticated("the admin token is wrong (see --admin_token)")
        except ServingError as exc:
            return None, hidden, f"**{exc.code.name}**: {exc.message}"
        try:
            with ctx.acting_as(identity):
                result = await asyncio.to_thread(action.run)
        except ServingError as exc:
            ctx.audit_admin(request, identity, action.summary, action.target, f"failed ({exc.code.name})")
            return None, hidden, f"**{exc.code.name}**: {exc.message}"
        ctx.audit_admin(request, identity, action.summary, action.target, "ok")
        return None, hidden, f"**Done:** {result}"

    fields = [model, label, label_version, traffic]
    asked = [pending, confirm_row, question]
    for button, action in ((load, "load"), (unload, "unload"), (reload, "reload"), (move, "label"),
                           (apply_traffic, "traffic")):  # fmt: skip
        button.click(asking(action), inputs=fields, outputs=asked)
    confirm.click(do, inputs=[pending, token], outputs=[pending, confirm_row, outcome]).then(
        names, outputs=[model, traffic]
    )
    cancel.click(lambda: (None, gr.update(visible=False), "Cancelled."), outputs=[pending, confirm_row, outcome])
    refresh.click(names, outputs=[model, traffic])
    page.load(names, outputs=[model, traffic])
