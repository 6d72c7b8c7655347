"""The web page as an ASGI app: one Gradio ``Blocks`` with the Try it, Dashboard and Manage tabs, mounted at
``/ui`` of a small FastAPI app that the REST door hands ``/ui`` requests to (its own paths never reach it).

Gradio is configured to stay on this machine: analytics off (``GRADIO_ANALYTICS_ENABLED=False``, set before
it is imported), no server-side rendering (no Node), no MCP server, no API page, and uploads and example
copies only in a temporary folder of this server (``GRADIO_TEMP_DIR``), removed at shutdown. With API keys,
Gradio's own sign-in page asks for a key's name and the key (:meth:`ConsoleContext.sign_in`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from modelserve.config import ServerConfig
from modelserve.console.context import ConsoleContext
from modelserve.console.telemetry import Telemetry
from modelserve.server.access_control import AccessControl
from modelserve.serving.service import ModelService

__all__ = ["PATH", "Console", "build_console"]

PATH = "/ui"
TITLE = "modelserve"


class Console:
    """The page's ASGI app (``app``) and what it owns: the telemetry thread and the temporary folder."""

    def __init__(self, app: Any, telemetry: Telemetry, temp_dir: Path) -> None:
        self.app = app
        self.telemetry = telemetry
        self.temp_dir = temp_dir

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        self.telemetry.stop()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _blocks(ctx: ConsoleContext) -> Any:
    import gradio as gr

    from modelserve.console import dashboard, manage, tryit

    with gr.Blocks(title=TITLE, analytics_enabled=False) as page:
        gr.Markdown(f"## {TITLE}: try and watch the models this server serves")
        with gr.Tabs():
            with gr.Tab("Try it", id="tryit"):
                tryit.build(ctx, page)
            with gr.Tab("Dashboard", id="dashboard"):
                dashboard.build(ctx, page)
            with gr.Tab("Manage", id="manage"):
                manage.build(ctx, page)
    return page


def build_console(service: ModelService, config: ServerConfig, access: AccessControl) -> Console:
    """The page for ``service``; imports Gradio (seconds, ~135 MB): call only when the page is on."""
    temp_dir = Path(tempfile.mkdtemp(prefix="modelserve-console-"))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(temp_dir)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gradio as gr
    from fastapi import FastAPI

    telemetry = Telemetry(service.metrics.registry)
    ctx = ConsoleContext(service, config, access, telemetry, temp_dir)
    page = _blocks(ctx)
    page.queue(default_concurrency_limit=8)
    parent = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app = gr.mount_gradio_app(
        parent, page, path=PATH, auth=ctx.sign_in if ctx.keys_on else None,
        auth_message="Sign in with an API key: its name, and the key as the password." if ctx.keys_on else None,
        footer_links=[], ssr_mode=False, mcp_server=False, enable_monitoring=False, pwa=False,
        allowed_paths=[], show_error=True,
    )  # fmt: skip
    telemetry.start()
    return Console(app, telemetry, temp_dir)
