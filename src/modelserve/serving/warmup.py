"""Model warmup: replay sample requests on a freshly loaded version before it serves.

The first calls to a model are slow (lazy kernels, memory pools, graph optimisation); replaying requests at
load time moves that cost out of the first users' requests. :func:`warm_up` is called by
:class:`~modelserve.serving.manager.ModelManager` after a version loads and before it becomes AVAILABLE;
if any request fails, the load fails with that error (the version reports it in its status; the versions
already serving keep serving).

This module knows no file format. The composition root injects :data:`WarmupReaders`: for each file name
relative to the version folder, in replay order, a reader that turns the file into
:class:`~modelserve.types.InferRequest` s (``server/main.py`` passes TF Serving's PredictionLog file and our
``warmup.json``, from :mod:`modelserve.protocols.tfs.warmup_files`). Every request is first checked by the one
input gate against the new version's signatures (a bad file fails before any call), then each is run
``iterations`` times in file order, straight on the loading thread: no batching, deadlines or metrics.

    report = warm_up(model, Path("models/half_plus_two/00000123"), readers)
    report.requests if report else 0      # model calls made; None: no warmup file
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelserve.config import ServerConfig
from modelserve.errors import Code, FailedPrecondition, ServingError, SignatureNotFound
from modelserve.runtimes.base import LoadedModel
from modelserve.serving.inputs import admit, check_outputs
from modelserve.types import InferRequest, Signature

MAX_RECORDS = 1000
"""Most requests one warmup file may hold (TF Serving's limit)."""


@dataclass(frozen=True)
class WarmupOptions:
    """``--enable_model_warmup`` and ``--num_request_iterations_for_warmup`` (below 1 means 1, as TF Serving)."""

    enabled: bool = True
    iterations: int = 1


@dataclass(frozen=True)
class WarmupReport:
    """What one warmup did: the files read, requests decoded, model calls made, wall time."""

    files: tuple[Path, ...]
    records: int
    requests: int
    seconds: float


class WarmupError(ServingError):
    """A warmup request failed; ``code`` is the failure's own (INVALID_ARGUMENT for a bad input, ...)."""

    def __init__(self, message: str, code: Code = Code.INVALID_ARGUMENT) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class WarmupCall:
    """One request to replay; ``origin`` (``warmup record 3 of <file>``) and ``kind`` (``predict``,
    ``classify``...) name it in errors."""

    origin: str
    kind: str
    request: InferRequest


#: ``reader(file, signature_of) -> (records in the file, calls)``; ``signature_of(name)`` is the new
#: version's signature (FailedPrecondition when missing). Raises WarmupError naming the file and record.
WarmupReader = Callable[[Path, Callable[[str], Signature]], tuple[int, list[WarmupCall]]]
#: ``(file name relative to the version folder, its reader)`` in replay order.
WarmupReaders = Sequence[tuple[Path, WarmupReader]]
#: What the manager calls after a load: ``(model, version folder) -> report or None``.
Warmup = Callable[[LoadedModel, Path], "WarmupReport | None"]


def warmup_for(config: ServerConfig, readers: WarmupReaders | None) -> Warmup | None:
    """The server's warmup hook from its flags, or None when disabled or no reader was injected."""
    if not config.enable_model_warmup or not readers:
        return None
    options = WarmupOptions(True, config.num_request_iterations_for_warmup)
    return lambda model, path: warm_up(model, path, readers, options)


def warm_up(
    model: LoadedModel, version_path: Path, readers: WarmupReaders, options: WarmupOptions | None = None
) -> WarmupReport | None:
    """Replay the warmup files of ``version_path`` on ``model``; None when disabled or there are none.

    Called on the loading thread, before the version is visible to requests. Raises :class:`WarmupError`
    naming the file, the request and the cause; the caller owns ``model`` and must close it then.
    """
    options = options or WarmupOptions()
    files = [(version_path / name, read) for name, read in readers if (version_path / name).is_file()]
    if not options.enabled or not files:
        return None
    started = time.perf_counter()
    calls: list[tuple[WarmupCall, Signature, dict]] = []
    records = 0
    for path, read in files:
        found, file_calls = read(path, lambda name: _signature(model, name))
        records += found
        calls.extend(_admitted(model, call) for call in file_calls)
    iterations = max(1, options.iterations)
    for call, signature, inputs in calls:
        for _ in range(iterations):
            try:
                model.run(signature.name, inputs)
            except ServingError as exc:
                raise WarmupError(
                    f"{call.origin} ({call.kind}, signature {signature.name!r}): {exc.message}", exc.code
                ) from None
            except Exception as exc:  # a runtime that let a framework error through
                raise WarmupError(f"{call.origin} ({call.kind}): {type(exc).__name__}: {exc}", Code.INTERNAL) from exc
    return WarmupReport(
        tuple(path for path, _ in files), records, len(calls) * iterations, time.perf_counter() - started
    )


def _signature(model: LoadedModel, name: str) -> Signature:
    try:
        return model.signature(name)
    except SignatureNotFound as exc:
        raise FailedPrecondition(exc.message) from None


def _admitted(model: LoadedModel, call: WarmupCall) -> tuple[WarmupCall, Signature, dict]:
    """The call's inputs through the input gate, as :meth:`ModelService.infer` would pass them."""
    request = call.request
    try:
        signature = _signature(model, request.signature)
        inputs = admit(signature, request.inputs, request.rules, model.strict_shapes)
        check_outputs(signature, request.outputs, request.rules)
    except ServingError as exc:
        raise WarmupError(f"{call.origin}: {exc.message}", exc.code) from None
    return call, signature, inputs
