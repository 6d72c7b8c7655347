"""The "Try it" tab: a form generated from the chosen signature, the answer drawn for people, and the exact
request as curl, Python and gRPC code.

Every call goes through the TF Serving REST door's own code (:func:`modelserve.protocols.tfs.rest.handle`)
with the body the snippets show, as the signed-in caller: the same decoding, checks, errors, scopes and
metrics (protocol ``ui``) as a ``curl`` of that body. Imports Gradio: loaded only with ``--ui``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.context import LocalContext

from modelserve.access.scopes import Kind
from modelserve.console.context import ConsoleContext
from modelserve.console.device import DEVICE_JS, device_job, has_tfjs
from modelserve.console.forms import Field, fields_of, json_template, predict_body, table_template
from modelserve.console.rendering import Shown, outputs_of_answer, shown_outputs
from modelserve.console.snippets import snippets, url_path
from modelserve.errors import InvalidArgument, ServingError
from modelserve.metrics.record import CURRENT, RequestRecord
from modelserve.monitoring.request_log import REQUEST_ID, request_id
from modelserve.protocols.status import code_of, http_status_of
from modelserve.protocols.tfs import rest as tfs_rest
from modelserve.types import DEFAULT_SIGNATURE, ModelRef, Signature

__all__ = ["build"]

NEWEST = "newest"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")


def _ref(model: str, choice: str | None) -> ModelRef:
    """``newest``, a version number, or ``label: NAME`` from the version selector."""
    if not choice or choice == NEWEST:
        return ModelRef(model)
    if choice.startswith("label: "):
        return ModelRef(model, label=choice.removeprefix("label: "))
    return ModelRef(model, version=int(choice))


def _models(ctx: ConsoleContext, request: gr.Request) -> list[str]:
    identity = ctx.caller(request)
    service = ctx.service
    return [n for n in service.model_names() if service.available_versions(n) and ctx.may_predict(identity, n)]


def _may_look(ctx: ConsoleContext, request: Any, model: str) -> bool:
    """Whether the caller may see ``model``'s versions and signatures (``read``, or ``predict`` on it), as
    the doors' metadata calls require."""
    identity = ctx.caller(request)
    return identity is None or identity.scopes.allows(Kind.READ) or identity.scopes.may_predict(model)


def _versions(ctx: ConsoleContext, model: str) -> list[str]:
    if not model:
        return [NEWEST]
    versions = [str(v) for v in sorted(ctx.service.available_versions(model), reverse=True)]
    labels = [f"label: {name}" for name in sorted(ctx.service.labels(model))]
    return [NEWEST, *versions, *labels]


def _signature(ctx: ConsoleContext, ref: ModelRef, name: str | None) -> Signature | None:
    try:
        signatures = ctx.service.describe(ref).signatures
    except ServingError:
        return None
    if name in signatures:
        return signatures[name]
    return signatures.get(DEFAULT_SIGNATURE) or next(iter(signatures.values()), None)


def _signature_names(ctx: ConsoleContext, ref: ModelRef) -> list[str]:
    try:
        return list(ctx.service.describe(ref).signatures)
    except ServingError:
        return []


def _describe(signature: Signature) -> str:
    def lines(specs: Any) -> str:
        return ", ".join(f"`{s.name}` {s.dtype} {s.shape_text()}" for s in specs.values())

    return f"**Inputs:** {lines(signature.inputs)}  \n**Outputs:** {lines(signature.outputs)}"


class _Examples:
    """Example pictures of a model (``<model folder>/examples/*.png`` ...), copied once into the page's
    temporary folder, which is the only place the page serves files from."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._copied: dict[Path, str] = {}

    def images(self, ctx: ConsoleContext, model: str) -> list[str]:
        folder = ctx.model_folder(model)
        source = folder / "examples" if folder is not None else None
        if source is None or not source.is_dir():
            return []
        found = []
        for path in sorted(source.iterdir()):
            if path.suffix.lower() in _IMAGE_SUFFIXES and path.is_file() and not path.is_symlink():
                if path not in self._copied:
                    target = self._folder / f"{len(self._copied)}-{path.name}"
                    shutil.copyfile(path, target)
                    self._copied[path] = str(target)
                found.append(self._copied[path])
        return found[:24]


def _widget(field: Field, examples: list[str]) -> gr.components.Component:
    label = field.describe()
    if field.kind == "image":
        image = gr.Image(type="pil", sources=["upload", "webcam", "clipboard"], label=label, height=240)
        if examples:
            gr.Examples(examples=[[path] for path in examples], inputs=[image], label="Examples")
        return image
    if field.kind == "text":
        return gr.Textbox(label=label, lines=2)
    if field.kind == "table":
        template = table_template(field)
        headers = [str(i) for i in range(len(template[0]))]
        return gr.Dataframe(value=template, headers=headers, type="array", interactive=True, label=label)
    return gr.Code(value=json_template(field), language="json", interactive=True, label=label)


def _version_folder(ctx: ConsoleContext, ref: ModelRef, version: int | None = None) -> Path | None:
    """The local folder of the version ``ref`` resolves to (``version`` when known), None without one."""
    folder = ctx.model_folder(ref.name)
    try:
        version = version or ctx.service.describe(ref).version
    except ServingError:
        return None
    return folder / str(version) if folder is not None and version else None


async def _run(
    ctx: ConsoleContext,
    request: gr.Request,
    ref: ModelRef,
    signature: Signature,
    body: dict[str, Any],
    device: bool = False,
) -> tuple[str, list[Shown], str, str, str, str]:
    """Send ``body`` through the REST door's code; (status line, what to draw, curl, python, grpc, the
    browser's TF.js job when ``device``: see :mod:`.device`)."""
    found = snippets(ctx.target(request), signature, ref, body)
    codes = (found["curl"], found["python"], found.get("grpc", "# the server has no gRPC port"))
    record = RequestRecord(protocol="ui")
    token = CURRENT.set(record)
    rid = request_id(None)
    id_token = REQUEST_ID.set(rid)  # as the doors do: the request log and the status line name it
    started = time.perf_counter()
    status = "OK"
    try:
        identity = ctx.require(request, Kind.PREDICT, "run a model")
        with ctx.acting_as(identity):
            deadline = time.monotonic() + 60
            response = await tfs_rest.handle(ctx.service, "POST", url_path(ref), json.dumps(body).encode(), deadline)
        answer = json.loads(response.body)
    except Exception as exc:  # every failure is shown, as the REST door would answer it
        status = code_of(exc).name
        message = exc.message if isinstance(exc, ServingError) else f"{type(exc).__name__}: {exc}"
        return f"**{status}** (HTTP {http_status_of(exc)}): {message} (request {rid})", [], *codes, ""
    finally:
        CURRENT.reset(token)
        REQUEST_ID.reset(id_token)
        ctx.service.metrics.observe_request(record, status, time.perf_counter() - started)
    version_folder = _version_folder(ctx, ref, response.version) if response.version else None
    shown = shown_outputs(signature, outputs_of_answer(signature, answer), version_folder)
    seconds = time.perf_counter() - started
    line = f"**OK**: {ref.name} version {response.version} answered in {seconds * 1000:.1f} ms (request {rid})"
    job = device_job(ref.name, response.version, version_folder, signature, body, answer) if device else ""
    return line, shown, *codes, job


def _draw(shown: list[Shown]) -> None:
    for item in shown:
        elem_id = "answer-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in item.title)
        if item.kind == "labels":
            gr.Label(value=item.value, num_top_classes=min(5, len(item.value)), label=item.title, elem_id=elem_id)
        elif item.kind == "image":
            gr.Image(value=item.value, label=item.title, interactive=False, height=240, elem_id=elem_id)
        elif item.kind == "table":
            width = max((len(row) for row in item.value), default=1)
            headers = [item.title] if width == 1 else [f"{item.title}[{i}]" for i in range(width)]
            gr.Dataframe(value=item.value, headers=headers, label=item.title, interactive=False, elem_id=elem_id)
        else:
            gr.JSON(value=item.value, label=item.title, elem_id=elem_id)


def build(ctx: ConsoleContext, page: gr.Blocks) -> None:
    """The tab's components, inside an open ``gr.Tab``."""
    examples = _Examples(ctx.temp_dir / "examples")
    with gr.Row():
        model = gr.Dropdown(label="Model", choices=[], elem_id="tryit-model", scale=3)
        version = gr.Dropdown(label="Version or label", choices=[NEWEST], value=NEWEST, elem_id="tryit-version")
        signature = gr.Dropdown(label="Signature", choices=[], elem_id="tryit-signature", scale=2)
        refresh = gr.Button("Refresh models", scale=0, elem_id="tryit-refresh")
    result = gr.State([])
    status = gr.Markdown(elem_id="tryit-status")

    def models(request: gr.Request, current: str | None) -> Any:
        names = _models(ctx, request)
        return gr.update(choices=names, value=current if current in names else (names[0] if names else None))

    def choose_model(request: gr.Request, name: str | None) -> tuple[Any, Any]:
        if name and not _may_look(ctx, request, name):
            name = None
        names = _signature_names(ctx, ModelRef(name)) if name else []
        chosen = DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in names else (names[0] if names else None)
        return gr.update(choices=_versions(ctx, name or ""), value=NEWEST), gr.update(choices=names, value=chosen)

    page.load(models, inputs=[model], outputs=[model])
    refresh.click(models, inputs=[model], outputs=[model])
    model.change(choose_model, inputs=[model], outputs=[version, signature])

    with gr.Row():
        with gr.Column():

            @gr.render(inputs=[model, version, signature])
            def form(model_name: str | None, version_choice: str | None, signature_name: str | None) -> None:
                request = LocalContext.request.get(None)  # a render function is not handed the request
                if not model_name or not _may_look(ctx, request, model_name):
                    gr.Markdown("No model to try yet (or none your key may run).")
                    return
                ref = _ref(model_name, version_choice)
                chosen = _signature(ctx, ref, signature_name)
                if chosen is None:
                    gr.Markdown(f"{ref} has no signature to show (is it still loading?)")
                    return
                gr.Markdown(_describe(chosen))
                fields = fields_of(chosen)
                with gr.Tabs(selected="form"):
                    with gr.Tab("Form", id="form"):
                        widgets = [
                            _widget(f, examples.images(ctx, model_name) if f.kind == "image" else []) for f in fields
                        ]
                        send = gr.Button("Predict", variant="primary", elem_id="tryit-send")
                        device_on = gr.Checkbox(
                            label="Run on this device too (TF.js in this browser)", elem_id="tryit-device",
                            visible=has_tfjs(_version_folder(ctx, ref)),
                        )  # fmt: skip
                    with gr.Tab("JSON", id="json", elem_id="tryit-json-tab"):
                        template = {"signature_name": chosen.name, "inputs": {f.name: "..." for f in fields}}
                        for f in fields:
                            if f.kind != "image":
                                template["inputs"][f.name] = json.loads(json_template(f))
                        editor = gr.Code(
                            value=json.dumps(template, indent=2), language="json", interactive=True,
                            label="TF Serving predict body (row or columnar)", elem_id="tryit-json",
                        )  # fmt: skip
                        send_json = gr.Button("Send JSON", variant="primary", elem_id="tryit-send-json")

                device_answer = gr.Markdown(elem_id="tryit-device-answer")
                device_job_text = gr.Textbox(visible="hidden", elem_id="tryit-device-job")
                skips = (gr.skip(), gr.skip(), gr.skip(), "")

                async def from_form(request: gr.Request, device: bool, *values: Any) -> tuple:
                    try:
                        body = predict_body(chosen, {f.name: v for f, v in zip(fields, values)})
                    except InvalidArgument as exc:
                        return f"**INVALID_ARGUMENT**: {exc.message}", [], *skips
                    return await _run(ctx, request, ref, chosen, body, device)

                async def from_json(request: gr.Request, device: bool, text: str) -> tuple:
                    try:
                        body = json.loads(text)
                        if not isinstance(body, dict):
                            raise ValueError("the body must be a JSON object")
                    except ValueError as exc:
                        return f"**INVALID_ARGUMENT**: not a JSON object: {exc}", [], *skips
                    return await _run(ctx, request, ref, chosen, body, device)

                outputs = [status, result, curl, python, grpc_code, device_job_text]
                for button, handler, given in ((send, from_form, widgets), (send_json, from_json, [editor])):
                    sent = button.click(handler, inputs=[device_on, *given], outputs=outputs)
                    sent.then(None, inputs=[device_job_text], outputs=[device_answer], js=DEVICE_JS)

        with gr.Column():

            @gr.render(inputs=[result])
            def answer(shown: list[Shown]) -> None:
                _draw(shown or [])

            with gr.Accordion("Copy this request", open=False, elem_id="tryit-snippets"):
                with gr.Tab("curl"):
                    curl = gr.Code(language="shell", elem_id="snippet-curl")
                with gr.Tab("Python"):
                    python = gr.Code(language="python", elem_id="snippet-python")
                with gr.Tab("gRPC"):
                    grpc_code = gr.Code(language="python", elem_id="snippet-grpc")
