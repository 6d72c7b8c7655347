"""The digits SavedModel converted to TF.js once per test session, for the conversion, serving and browser
tests of ``--to tfjs`` (a module with a name no other folder uses, so any test module can import it).

:func:`require_tfjs` skips a test when ``scripts/install_tfjs.sh`` has not run (``make test`` runs it);
:func:`digits_tfjs` converts ``models/digits/1`` to every TF.js variant (float32 landed), verified in Node on
the whole digits test set, the first time a test asks, and hands every later caller the same result.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

_CACHE: dict[str, Any] = {}


def require_tfjs() -> None:
    from modelserve.server.tfjs_files import runtime_dir

    if importlib.util.find_spec("tensorflowjs") is None or shutil.which("node") is None or runtime_dir() is None:
        pytest.skip("TF.js is not installed: run scripts/install_tfjs.sh (make test does)")


def digits_tfjs(tmp_path_factory: pytest.TempPathFactory, examples_dir: Path) -> Any:
    """The :class:`~modelserve.convert.ConvertResult` of digits -> TF.js (base path: ``result.path.parent``)."""
    require_tfjs()
    if "digits" not in _CACHE:
        from modelserve.convert import ConvertRequest, convert

        request = ConvertRequest(
            source=examples_dir / "digits/1",
            out=tmp_path_factory.mktemp("tfjs") / "digits_tfjs",
            to="tfjs",
            quantize="none",
            compare=("float16", "uint16", "uint8"),
            evaluation=examples_dir / "digits_test.npz",
            max_accuracy_drop=0.5,
            latency_runs=10,
        )
        _CACHE["digits"] = convert(request)
    return _CACHE["digits"]
