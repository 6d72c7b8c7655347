"""The ``modelserve`` command line: serve | inspect | predict | examples | keys | ...

Every command turns :class:`~modelserve.errors.ServingError` into one ``error: ...`` line on stderr and
exit status 1; usage errors exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.errors import InvalidArgument, ServingError
from modelserve.types import DEFAULT_SIGNATURE


def _cmd_inspect(args: argparse.Namespace) -> int:
    from modelserve.inspection import describe, format_text
    from modelserve.model import load_model

    with load_model(args.path, platform=args.platform, allow_code_models=args.allow_code_models) as model:
        description = describe(model, args.signature)
    print(json.dumps(description, indent=2) if args.json else format_text(description))
    return 0


def _read_inputs(text: str) -> Any:
    """``--inputs``: inline JSON, ``@file.json``, or ``file.npz`` (arrays by input name)."""
    if text.endswith(".npz"):
        with np.load(text, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    raw = Path(text[1:]).read_text() if text.startswith("@") else text
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"--inputs is not valid JSON: {exc}") from None


def to_jsonable(array: np.ndarray) -> Any:
    """Arrays as nested lists; byte strings as text when they are UTF-8, else ``{"b64": ...}``."""
    if array.dtype != object:
        return array.tolist()

    def convert(item: Any) -> Any:
        if isinstance(item, list):
            return [convert(i) for i in item]
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            import base64

            return {"b64": base64.b64encode(item).decode("ascii")}

    return convert(array.tolist())


def _cmd_predict(args: argparse.Namespace) -> int:
    from modelserve.model import load_model

    inputs = _read_inputs(args.inputs)
    with load_model(args.path, platform=args.platform, allow_code_models=args.allow_code_models) as model:
        outputs = model.predict(inputs, signature=args.signature)
    print(json.dumps({name: to_jsonable(value) for name, value in outputs.items()}))
    return 0


def _cmd_examples_build(args: argparse.Namespace) -> int:
    from modelserve.examples import build_examples

    build_examples(Path(args.out), seed=args.seed)
    return 0


def _cmd_examples_demo(args: argparse.Namespace) -> int:
    from modelserve.examples.demo import run_demo

    run_demo(Path(args.dir))
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from modelserve.server.flags import server_config
    from modelserve.server.main import serve

    config = server_config(args)
    if config.workers > 1:
        from modelserve.server.workers import WorkerSlot, supervise

        if WorkerSlot.from_environment() is None:  # the supervisor; each worker runs the same command line
            return supervise(config, args.serve_argv)
    if not config.ui:
        return serve(config)
    from modelserve.console.page import build_console

    return serve(config, page=build_console)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelserve", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve models over TF Serving's REST API")
    from modelserve.server.flags import add_serve_flags

    add_serve_flags(serve)
    serve.set_defaults(func=_cmd_serve)

    inspect = commands.add_parser("inspect", help="show a model's signatures (saved_model_cli show --all)")
    inspect.add_argument("path", help="SavedModel folder, version folder, or .onnx/.tflite/.keras/.h5 file")
    inspect.add_argument("--signature", help="show only this signature")
    inspect.add_argument("--platform", help="tensorflow | keras | onnx | tflite | python (default: detected)")
    inspect.add_argument("--allow_code_models", action="store_true", help="load a Python model (it runs code)")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    inspect.set_defaults(func=_cmd_inspect)

    predict = commands.add_parser("predict", help="run one in-memory prediction and print the outputs as JSON")
    predict.add_argument("path")
    predict.add_argument("--inputs", required=True, help='JSON ({"x": [[1.0]]}), @file.json, or file.npz')
    predict.add_argument("--signature", default=DEFAULT_SIGNATURE)
    predict.add_argument("--platform")
    predict.add_argument("--allow_code_models", action="store_true", help="load a Python model (it runs code)")
    predict.set_defaults(func=_cmd_predict)

    examples = commands.add_parser("examples", help="build and try the bundled example models")
    example_commands = examples.add_subparsers(dest="examples_command", required=True)
    build = example_commands.add_parser("build", help="train and export the example models (no downloads)")
    build.add_argument("--out", default="models", help="model repository to write (default: models)")
    build.add_argument("--seed", type=int, default=0)
    build.set_defaults(func=_cmd_examples_build)
    demo = example_commands.add_parser("demo", help="in-memory predictions with every digits runtime")
    demo.add_argument("dir", nargs="?", default="models")
    demo.set_defaults(func=_cmd_examples_demo)

    # Commands that live with their feature; each module's add_parser() only declares arguments (no heavy
    # imports until the command runs).
    for module_name in _FEATURE_COMMANDS:
        importlib.import_module(module_name).add_parser(commands)
    return parser


_FEATURE_COMMANDS = (
    "modelserve.convert.cli",
    "modelserve.batch.cli",
    "modelserve.streaming.cli",
    "modelserve.access.cli",
)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.serve_argv = argv[1:]  # `serve`'s own flags, which --workers hands to each worker
    try:
        return args.func(args)
    except ServingError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
