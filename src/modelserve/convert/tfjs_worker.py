"""The TF.js converter's own process: SavedModel -> TF.js graph model, for every requested weight format.

    python -m modelserve.convert.tfjs_worker JOB.json

``JOB.json``: ``{"saved_model": DIR, "signature": "serving_default", "shard_bytes": 4194304,
"variants": [{"variant": "float32" | "float16" | "uint16" | "uint8", "out": DIR}, ...], "error_file": PATH}``.
Each ``out`` receives ``model.json`` and its ``group1-shard*.bin`` weight files. Exit status 0, or 1 with one
line naming what failed (the variant, the converter's message) on stderr and in ``error_file`` (optional; the
caller reads it there because stderr may be hushed).

Why a separate process, and why the import shim (:func:`import_converter`): ``tensorflowjs`` 4.22 is
installed with ``--no-deps`` (``scripts/install_tfjs.sh``): its declared dependencies cannot be met next to
TensorFlow 2.21 (every ``tensorflow-decision-forests`` release pins another TensorFlow; it also wants
jax, flax and an old ``packaging``). The SavedModel converter module,
``tensorflowjs.converters.tf_saved_model_conversion_v2``, uses none of them, but

- the package's ``__init__`` files import every converter, the JAX one included (which imports jax);
- the module imports ``tensorflow_decision_forests`` unconditionally (only to register its ops; the real
  package does not load against TF 2.21) and ``tensorflow_hub`` (only for TF-Hub modules; 0.16.1 needs
  ``pkg_resources``, which setuptools >= 81 no longer ships).

So this process registers the two packages as empty modules and ``tensorflowjs`` and
``tensorflowjs.converters`` as bare packages (their real folders, ``__init__`` not run) before importing the
converter module. Doing that in a child keeps those stand-ins out of the caller's ``sys.modules``, and the
converter's graph rewriting and log output out of the caller's process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

#: Imported by the converter module but not used on the SavedModel -> graph model path.
STUBBED = ("tensorflow_decision_forests", "tensorflow_hub")
#: --quantize name -> the converter's quantization_dtype_map key (every weight: ``True``).
DTYPE_MAPS: dict[str, dict[str, Any] | None] = {
    "float32": None,
    "float16": {"float16": True},
    "uint16": {"uint16": True},
    "uint8": {"uint8": True},
}


def import_converter() -> Any:
    """``tensorflowjs.converters.tf_saved_model_conversion_v2`` without jax, decision forests or hub."""
    spec = importlib.util.find_spec("tensorflowjs")
    if spec is None or spec.origin is None:
        raise ImportError("tensorflowjs is not installed: run scripts/install_tfjs.sh")
    for name in STUBBED:
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.__doc__ = "modelserve: stand-in; the TF.js SavedModel converter never calls it"
            sys.modules[name] = stub
    root = Path(spec.origin).parent
    for name, folder in (("tensorflowjs", root), ("tensorflowjs.converters", root / "converters")):
        if name not in sys.modules:
            package = types.ModuleType(name)
            package.__path__ = [str(folder)]
            package.__file__ = str(folder / "__init__.py")
            sys.modules[name] = package
    from tensorflowjs.converters import tf_saved_model_conversion_v2

    return tf_saved_model_conversion_v2


def run(job: dict[str, Any]) -> None:
    """Convert ``job["saved_model"]`` once per entry of ``job["variants"]``."""
    converter = import_converter()
    for entry in job["variants"]:
        variant = entry["variant"]
        if variant not in DTYPE_MAPS:
            raise ValueError(f"unknown TF.js variant {variant!r}")
        try:
            converter.convert_tf_saved_model(
                job["saved_model"],
                entry["out"],
                signature_def=job.get("signature", "serving_default"),
                quantization_dtype_map=DTYPE_MAPS[variant],
                use_structured_outputs_names=True,
                weight_shard_size_bytes=int(job.get("shard_bytes", 4 * 1024 * 1024)),
            )
        except Exception as exc:
            raise RuntimeError(f"{variant}: {type(exc).__name__}: {exc}") from exc
        if not (Path(entry["out"]) / "model.json").is_file():
            raise RuntimeError(f"{variant}: the converter wrote no model.json (see --verbose for its log)")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m modelserve.convert.tfjs_worker JOB.json", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    job: dict[str, Any] = {}
    try:
        job = json.loads(Path(argv[1]).read_text())
        run(job)
    except Exception as exc:
        message = " ".join(str(exc).split())[:2000]
        print(f"tfjs converter: {message}", file=sys.stderr)
        if job.get("error_file"):
            Path(job["error_file"]).write_text(message + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
