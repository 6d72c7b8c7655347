"""Platform detection and lazy runtime dispatch.

``load(path)`` finds out what a file or version folder holds, imports that runtime's module on first use
(so an ONNX-only process never imports TensorFlow) and returns its :class:`LoadedModel`. Framework
exceptions raised while loading become :class:`~modelserve.errors.ModelLoadError` with a message that
says which file failed and why.

    loaded = load(Path("models/digits_onnx/1"))
    loaded.run("serving_default", {"images": batch})
"""

from __future__ import annotations

import importlib
from pathlib import Path

from modelserve.errors import ModelLoadError, NotFound, ServingError
from modelserve.runtimes.base import LoadedModel, RuntimeOptions

# platform -> (runtime module, loader function, what to pip install when the framework is missing)
_RUNTIMES: dict[str, tuple[str, str, str]] = {
    "tensorflow": ("modelserve.runtimes.tensorflow", "load", "'modelserve[tensorflow]'"),
    "keras": ("modelserve.runtimes.tensorflow", "load_keras", "'modelserve[tensorflow]'"),
    "onnx": ("modelserve.runtimes.onnx", "load", "onnxruntime"),
    "tflite": ("modelserve.runtimes.tflite", "load", "'modelserve[tflite]'"),
    "python": ("modelserve.runtimes.python", "load", "modelserve"),
}
#: ``pipeline`` (a folder with ``pipeline.yaml``) is served by a server only: its steps call other served models.
PLATFORMS: tuple[str, ...] = (*_RUNTIMES, "pipeline")

_SUFFIXES = {
    ".onnx": "onnx",
    ".tflite": "tflite",
    ".keras": "keras",
    ".h5": "keras",
    ".hdf5": "keras",
}


def detect_platform(path: Path) -> str:
    """Name the platform of a model file or version folder.

    A folder with ``saved_model.pb`` (or ``.pbtxt``) is a TensorFlow SavedModel, one with ``model.py`` a
    Python model (whatever other files it holds: its weights); otherwise the model files it holds decide
    (``*.onnx``, ``*.tflite``, ``*.keras``/``*.h5``). A file is judged by its suffix.
    """
    if not path.exists():
        raise NotFound(f"model path {path} does not exist")
    if path.is_file():
        platform = _SUFFIXES.get(path.suffix.lower())
        if platform is None:
            raise ModelLoadError(
                f"cannot tell the format of {path}: expected a .onnx, .tflite, .keras or .h5 file, "
                "or a SavedModel folder"
            )
        return platform
    if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
        return "tensorflow"
    if (path / "pipeline.yaml").is_file():
        return "pipeline"
    if (path / "model.py").is_file():
        return "python"
    found = sorted({_SUFFIXES[p.suffix.lower()] for p in path.iterdir() if p.suffix.lower() in _SUFFIXES})
    if len(found) == 1:
        return found[0]
    if not found:
        raise ModelLoadError(f"no model in {path}: expected saved_model.pb, or a .onnx, .tflite, .keras or .h5 file")
    raise ModelLoadError(f"{path} holds models of several formats ({', '.join(found)}); pass platform=")


def load(path: Path | str, platform: str | None = None, options: RuntimeOptions | None = None) -> LoadedModel:
    """Load a model with the runtime for ``platform`` (detected when ``None``)."""
    path = Path(path)
    options = options or RuntimeOptions()
    if platform is None and options.prefer_tflite_model and path.is_dir() and any(path.glob("*.tflite")):
        platform = "tflite"
    platform = platform or detect_platform(path)
    if platform == "pipeline":
        raise ModelLoadError(
            f"{path} is a pipeline (pipeline.yaml): its steps call other served models, so a server serves it; "
            "in memory, load the models it uses"
        )
    try:
        module_name, function_name, install = _RUNTIMES[platform]
    except KeyError:
        raise ModelLoadError(f"unknown platform {platform!r}; known: {', '.join(PLATFORMS)}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelLoadError(f"loading a {platform} model needs its framework (pip install {install}): {exc}") from exc
    try:
        return getattr(module, function_name)(path, options)
    except ServingError:
        raise
    except Exception as exc:  # framework errors: corrupt files, unsupported ops, ...
        raise ModelLoadError(f"could not load {platform} model at {path}: {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    """The first non-empty line of an exception message, prefixed with its type when the message is empty."""
    for line in str(exc).splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__
