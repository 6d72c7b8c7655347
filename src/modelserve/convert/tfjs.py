"""Frozen TensorFlow signature -> TF.js graph model (``tfjs/model.json`` + weight shards), in four weight formats.

The landed version folder is both a servable SavedModel and a TF.js model:

    <version>/saved_model.pb, variables/    the frozen signature as a SavedModel (``serving_default``):
                                            the server answers REST/gRPC from it, the graph TF.js runs
    <version>/tfjs/model.json, group1-shard*.bin
                                            the graph model, served by GET /v1/models/NAME/tfjs/...

Steps: :func:`check_installed` (before any work; every missing piece names ``scripts/install_tfjs.sh``,
nothing is downloaded at run time) -> :func:`tfjs_outputs` (TF.js has no string kernels such as
``GatherV2`` on strings: string outputs are left out unless ``--outputs`` names them) -> :func:`save_frozen`
-> :func:`convert_saved_model`, which runs the TF.js converter in a child process
(:mod:`.tfjs_worker`, where the reasons are) once for every variant. Verification runs the result in
Node.js (:mod:`.tfjs_node`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelserve.convert.console import Console
from modelserve.convert.source import FrozenSignature
from modelserve.errors import Internal, Unimplemented
from modelserve.types import Signature

CONVERTER_TIMEOUT_S = 900
SHARD_BYTES = 4 * 1024 * 1024


def convert_tfjs(
    source: Path,
    platform: str,
    signature: Signature,
    request: Any,
    landing: Path,
    targets: Mapping[str, Path],
    console: Console,
) -> None:
    """The whole conversion for :mod:`.pipeline`: freeze ``request.signature`` (of ``source``, with
    ``request.outputs`` and ``request.batch_size``), save it into ``landing`` as the version's SavedModel, and
    convert that into each ``targets[variant]`` folder."""
    from modelserve.convert.source import frozen_signature

    outputs = tfjs_outputs(signature, request.outputs)
    dropped = dropped_outputs(signature, outputs)
    if dropped:
        console.note(f"TF.js leaves out string outputs: {', '.join(dropped)} (TF.js has no string kernels)")
    with frozen_signature(source, platform, request.signature, outputs, request.batch_size) as frozen:
        save_frozen(frozen, landing)
    convert_saved_model(landing, targets, console, str(source))


def check_installed() -> None:
    """Unimplemented naming what is missing (the Python converter, Node.js, the npm runtime) and the script."""
    from modelserve.server.tfjs_files import ENV_DIR, INSTALL_HINT, runtime_dir

    missing = []
    if importlib.util.find_spec("tensorflowjs") is None:
        missing.append("the Python package tensorflowjs (the converter)")
    if shutil.which("node") is None:
        missing.append("Node.js (`node`, which runs the converted model to verify it; apt-get install nodejs)")
    if runtime_dir() is None:
        where = os.environ.get(ENV_DIR) or ".cache/tfjs"
        missing.append(f"the npm packages @tensorflow/tfjs and @tensorflow/tfjs-backend-wasm in {where}")
    if missing:
        raise Unimplemented(f"--to tfjs needs {'; '.join(missing)}: {INSTALL_HINT}")


def tfjs_outputs(signature: Signature, requested: Sequence[str] | None) -> tuple[str, ...] | None:
    """The outputs to convert: ``requested`` when given, else every non-string output (None: all of them)."""
    if requested:
        return tuple(requested)
    kept = tuple(name for name in sorted(signature.outputs) if signature.outputs[name].dtype != "string")
    if not kept or len(kept) == len(signature.outputs):
        return None
    return kept


def dropped_outputs(signature: Signature, kept: Sequence[str] | None) -> list[str]:
    """Outputs of ``signature`` that the TF.js model leaves out (for the user's note)."""
    return [] if kept is None else sorted(set(signature.outputs) - set(kept))


def save_frozen(frozen: FrozenSignature, folder: Path) -> None:
    """Write ``frozen`` as a SavedModel with one signature, ``serving_default`` (its weights are constants)."""
    import tensorflow as tf

    tf.saved_model.save(frozen.holder, str(folder), signatures={"serving_default": frozen.concrete})


def convert_saved_model(
    saved_model: Path,
    targets: Mapping[str, Path],
    console: Console,
    source_name: str,
) -> None:
    """Convert ``saved_model`` into each ``targets[variant]`` folder (``model.json`` + shards), in one child."""
    for folder in targets.values():
        folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="modelserve-tfjs-") as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(
            json.dumps(
                {
                    "saved_model": str(saved_model),
                    "signature": "serving_default",
                    "shard_bytes": SHARD_BYTES,
                    "variants": [{"variant": v, "out": str(folder)} for v, folder in targets.items()],
                    "error_file": str(Path(tmp) / "error.txt"),
                }
            )
        )
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
        console.note(f"converting to TF.js: {', '.join(targets)}")
        try:
            done = subprocess.run(
                [sys.executable, "-m", "modelserve.convert.tfjs_worker", str(job)],
                env=environment,
                timeout=CONVERTER_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise Internal(f"the TF.js converter did not finish within {CONVERTER_TIMEOUT_S} s") from None
        if done.returncode != 0:
            error = Path(tmp) / "error.txt"
            detail = error.read_text().strip() if error.is_file() else f"exit status {done.returncode}"
            raise Unimplemented(
                f"TF.js cannot convert {source_name}: {detail} (run with --verbose for the converter's log)"
            )
