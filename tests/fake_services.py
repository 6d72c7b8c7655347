"""Services over fake runtimes (an injected loader) for tests of the serving core and what sits on it.

``SlowModel`` answers ``y = zeros`` after ``seconds``; ``make_repository`` writes models ``a``, ``b``, ``c``
(version 1 each) under a folder; ``make_service`` starts a :class:`ModelService` over some of them.
(A module with a name no other folder uses, so test modules in any folder can import it.)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from modelserve.config import ModelConfig, ServerConfig
from modelserve.errors import SignatureNotFound
from modelserve.serving.service import ModelService
from modelserve.types import InferRequest, ModelRef, Signature, TensorSpec

X = TensorSpec("x", "float64", (-1,))
SIGNATURE = Signature.from_specs("serving_default", [X], [TensorSpec("y", "float64", (-1,))])


def request(name: str = "a", rows: int = 1, deadline: float | None = None, **kw) -> InferRequest:
    return InferRequest(ModelRef(name, kw.pop("version", None)), {"x": np.zeros(rows)}, deadline=deadline, **kw)


class SlowModel:
    platform = "fake"

    strict_shapes = True
    batching = None

    def __init__(self, path: Path, seconds: float) -> None:
        self.signatures = {"serving_default": SIGNATURE}
        self.path = path
        self.seconds = seconds
        self.running = False

    def run(self, signature: str, inputs: dict) -> dict:
        self.running = True
        time.sleep(self.seconds)
        self.running = False
        return {"y": np.zeros(len(inputs["x"]))}

    def signature(self, name: str) -> Signature:
        if name not in self.signatures:
            raise SignatureNotFound(f"signature {name!r} not found", name)
        return self.signatures[name]

    def close(self) -> None:
        pass


MODELS: dict[str, SlowModel] = {}


def loader(model: ModelConfig, options: object):
    return lambda path: MODELS.setdefault(str(path), SlowModel(path, 0.5))


def make_repository(folder: Path) -> Path:
    """Models ``a``, ``b`` and ``c``, one version each, under ``folder`` (and the loaded-model table cleared)."""
    for name in ("a", "b", "c"):
        (folder / name / "1").mkdir(parents=True)
        (folder / name / "1" / "model.txt").write_text(name)
    MODELS.clear()
    return folder


def make_service(repo: Path, *names: str, **kw) -> ModelService:
    config = ServerConfig(
        models=tuple(ModelConfig(name=n, base_path=repo / n) for n in names),
        model_repository=repo,
        settle_seconds=0.01,
        file_system_poll_wait_seconds=0,
        **kw,
    )
    service = ModelService(config, loader=loader)
    service.start()
    return service


def model_of(repo: Path, name: str, version: int = 1) -> SlowModel:
    return MODELS[str(repo / name / str(version))]
