"""The contract of a model written in Python: a ``model.py`` in a version folder (the ``python`` platform).

    # models/shout/1/model.py
    import numpy as np
    from modelserve.python_model import PythonModel, signature

    class Model(PythonModel):
        signatures = {"serving_default": signature(inputs={"text": ("string", [-1])},
                                                   outputs={"loud": ("string", [-1])})}

        def __init__(self, folder):
            super().__init__(folder)          # load weights, vocabularies, label maps from folder, once

        def predict(self, inputs, signature):  # a whole batch: {name: ndarray} -> {name: ndarray}
            return {"loud": np.array([t.upper() for t in inputs["text"]], dtype=object)}

Rules the server keeps (``modelserve.runtimes.python``): the class is ``Model`` (or the one
:class:`PythonModel` subclass in the file); it is built once per loaded version with the version folder;
``predict`` gets exactly the signature's inputs, already checked against the declared names, dtypes and
shapes (strings as object arrays of ``bytes``), and must answer every declared output with the declared
dtype and rank and one row per input row; an exception is an error answer carrying its message, never a
crash. Calls are serialized unless ``thread_safe = True``. Python models run code, so servers load them only
with ``--allow_code_models`` (``load_model(path, allow_code_models=True)`` in memory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from modelserve.counters import count
from modelserve.types import PREDICT_METHOD, Signature, TensorSpec

__all__ = ["PythonModel", "signature"]

TensorDecl = tuple[str, Sequence[int] | None]


def signature(
    inputs: Mapping[str, TensorDecl], outputs: Mapping[str, TensorDecl], method_name: str = PREDICT_METHOD
) -> Signature:
    """A signature from ``{name: (dtype, shape)}`` declarations: dtypes by name (``float32``, ``int64``,
    ``string``, ...), shapes with ``-1`` for a free dimension (the first one is the batch), or None for any
    shape. The signature's name is the key it is stored under in :attr:`PythonModel.signatures`."""

    def specs(declared: Mapping[str, TensorDecl]) -> list[TensorSpec]:
        return [
            TensorSpec(name, dtype, None if shape is None else tuple(int(d) for d in shape))
            for name, (dtype, shape) in declared.items()
        ]

    return Signature.from_specs("", specs(inputs), specs(outputs), method_name)


class PythonModel:
    """Subclass this in ``model.py``; see the module docstring."""

    #: ``{signature name: signature(...)}``; at least one, usually ``serving_default``.
    signatures: Mapping[str, Signature] = {}
    #: True when :meth:`predict` may run on several threads at once; False: the server serializes calls.
    thread_safe: bool = False

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def predict(self, inputs: dict[str, np.ndarray], signature: str) -> Mapping[str, np.ndarray]:
        """Answer one batch of ``signature``."""
        raise NotImplementedError("a Python model defines predict(inputs, signature)")

    def count(self, name: str, amount: float = 1) -> None:
        """Add ``amount`` to this version's business counter ``name``, exported as
        ``modelserve_business_events_total{model, version, name}`` (:mod:`modelserve.counters`)."""
        count(name, amount, folder=self.folder)

    def close(self) -> None:
        """Release what :meth:`__init__` took (called once, when the version unloads)."""
