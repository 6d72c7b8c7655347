"""The ``python`` platform: a version folder's ``model.py`` (contract: :mod:`modelserve.python_model`).

Loading imports ``model.py`` under a module name of its own (so two versions never share one), builds the
model class once with the folder, and checks its declared signatures. Only with
``RuntimeOptions.allow_code_models`` (``--allow_code_models``): a Python model runs arbitrary code.

Each call checks what the model answered before anyone sees it: every declared output, as an array of the
declared dtype (numbers converted when no value changes kind: ints for a float output are fine, floats for
an int output are not; ``str`` becomes UTF-8 ``bytes`` for a string output), the declared rank and sizes, and
one row per input row. A model's exception, or an answer that breaks these rules, is a
:class:`~modelserve.errors.FailedPrecondition` naming the model and what went wrong.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import inspect
import threading
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.errors import FailedPrecondition, ModelLoadError, ServingError
from modelserve.python_model import PythonModel
from modelserve.runtimes.base import LoadedModel, RuntimeOptions
from modelserve.runtimes.registry import first_line
from modelserve.types import Signature, TensorSpec

MODEL_FILE = "model.py"


class PythonLoadedModel(LoadedModel):
    platform = "python"

    def __init__(self, path: Path, instance: PythonModel, signatures: dict[str, Signature]) -> None:
        self.path = path
        self.signatures = signatures
        self._instance: PythonModel | None = instance
        self._lock = nullcontext() if instance.thread_safe else threading.Lock()
        self._label = f"{path.parent.parent.name}/{path.parent.name}"  # model/version, as errors name it

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        signature = self.signature(signature_name)
        instance = self._instance
        if instance is None:
            raise FailedPrecondition(f"python model {self.path} was unloaded")
        try:
            with self._lock:
                answer = instance.predict(dict(inputs), signature.name)
        except ServingError:
            raise
        except Exception as exc:  # the model's own error: an answer with its message, never a crash
            raise FailedPrecondition(f"python model {self._label}: {type(exc).__name__}: {exc}") from exc
        rows = _rows(inputs)
        return self._checked(signature, answer, rows)

    def _checked(self, signature: Signature, answer: Any, rows: int | None) -> dict[str, np.ndarray]:
        name = self._label
        if not isinstance(answer, Mapping):
            raise FailedPrecondition(f"python model {name}: predict returned {type(answer).__name__}, not a dict")
        missing = [output for output in signature.outputs if output not in answer]
        if missing:
            raise FailedPrecondition(f"python model {name}: predict did not return output '{missing[0]}'")
        return {output: _output(name, spec, answer[output], rows) for output, spec in signature.outputs.items()}

    def close(self) -> None:
        instance, self._instance = self._instance, None
        if instance is not None:
            instance.close()


def _rows(inputs: Mapping[str, np.ndarray]) -> int | None:
    for array in inputs.values():
        return int(array.shape[0]) if array.ndim else None
    return None


def _output(model: str, spec: TensorSpec, value: Any, rows: int | None) -> np.ndarray:
    where = f"python model {model}: output '{spec.name}'"
    if spec.dtype == "string":
        array = np.asarray(value, dtype=object)
        flat = array.reshape(-1)
        for i, item in enumerate(flat):
            if isinstance(item, str):
                flat[i] = item.encode("utf-8")
            elif not isinstance(item, bytes):
                raise FailedPrecondition(f"{where} holds a {type(item).__name__}; a string output holds bytes or str")
    else:
        array = np.asarray(value)
        target = np.dtype(spec.dtype)
        if array.dtype != target:
            if not np.can_cast(array.dtype, target, casting="same_kind"):
                raise FailedPrecondition(f"{where} is {array.dtype}; the signature declares {spec.dtype}")
            array = array.astype(target)
    if spec.shape is not None and not _fits(spec.shape, array.shape):
        raise FailedPrecondition(f"{where} has shape {list(array.shape)}; the signature declares {list(spec.shape)}")
    if rows is not None and spec.shape and spec.shape[0] == -1 and array.shape[0] != rows:
        raise FailedPrecondition(f"{where} has {array.shape[0]} rows for {rows} input rows")
    return array


def _fits(declared: tuple[int, ...], actual: tuple[int, ...]) -> bool:
    return len(declared) == len(actual) and all(want in (-1, got) for want, got in zip(declared, actual))


def load(path: Path, options: RuntimeOptions) -> PythonLoadedModel:
    if not options.allow_code_models:
        raise ModelLoadError(
            f"{path} is a Python model (model.py), which runs code: start the server with --allow_code_models "
            "(in memory: load_model(path, allow_code_models=True))"
        )
    model_file = path / MODEL_FILE if path.is_dir() else path
    if model_file.name != MODEL_FILE or not model_file.is_file():
        raise ModelLoadError(f"no {MODEL_FILE} in {path}")
    folder = model_file.parent
    module_name = "modelserve_python_model_" + hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, model_file)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot import {model_file}")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        cls = _model_class(module, model_file)
        instance = cls(folder)
    except ServingError:
        raise
    except Exception as exc:
        raise ModelLoadError(
            f"python model {model_file} failed to load: {type(exc).__name__}: {first_line(exc)}"
        ) from exc
    return PythonLoadedModel(model_file, instance, _signatures(instance, model_file))


def _model_class(module: object, model_file: Path) -> type[PythonModel]:
    named = getattr(module, "Model", None)
    if inspect.isclass(named) and issubclass(named, PythonModel):
        return named
    found = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and issubclass(value, PythonModel) and value is not PythonModel
        and value.__module__ == getattr(module, "__name__", None)
    ]  # fmt: skip
    if len(found) != 1:
        raise ModelLoadError(
            f"{model_file} must define one class subclassing modelserve.python_model.PythonModel (or one named "
            f"Model); found {len(found)}"
        )
    return found[0]


def _signatures(instance: PythonModel, model_file: Path) -> dict[str, Signature]:
    declared = instance.signatures
    if not isinstance(declared, Mapping) or not declared:
        raise ModelLoadError(f"{model_file}: the model declares no signatures (set `signatures = {{...}}`)")
    signatures = {}
    for key, value in declared.items():
        if not isinstance(value, Signature):
            raise ModelLoadError(f"{model_file}: signature {key!r} must be made with modelserve.python_model.signature")
        signatures[key] = dataclasses.replace(value, name=key)
    return signatures
