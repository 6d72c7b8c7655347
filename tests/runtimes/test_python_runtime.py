"""The python platform's contract (modelserve.python_model), loaded from real model.py files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from modelserve import load_model
from modelserve.errors import FailedPrecondition, InvalidArgument, ModelLoadError
from modelserve.runtimes.registry import detect_platform

HEADER = """
import time
import numpy as np
from modelserve.python_model import PythonModel, signature
"""


def write_model(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.py").write_text(HEADER + textwrap.dedent(body))
    return folder


DOUBLE = """
class Model(PythonModel):
    signatures = {"serving_default": signature(inputs={"x": ("float32", [-1, 2])}, outputs={"y": ("float32", [-1, 2])})}
    def predict(self, inputs, signature):
        return {"y": inputs["x"] * 2}
"""


def test_detected_and_refused_without_the_opt_in(tmp_path):
    folder = write_model(tmp_path / "1", DOUBLE)
    assert detect_platform(folder) == "python"
    with pytest.raises(ModelLoadError, match="runs code: start the server with --allow_code_models"):
        load_model(folder)


def test_predict_a_batch(tmp_path):
    with load_model(write_model(tmp_path / "1", DOUBLE), allow_code_models=True) as model:
        np.testing.assert_array_equal(model.predict({"x": [[1, 2], [3, 4]]})["y"], [[2, 4], [6, 8]])
        with pytest.raises(InvalidArgument, match="expects float32 \\[-1, 2\\]"):
            model.predict({"x": [[1, 2, 3]]})  # the input gate, before the model runs


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("raise ValueError('no good')", "ValueError: no good"),
        ("return [1]", "predict returned list, not a dict"),
        ("return {}", "did not return output 'y'"),
        ("return {'y': np.zeros((1, 3), np.float32)}", "output 'y' has shape [1, 3]; the signature declares [-1, 2]"),
        ("return {'y': np.zeros((5, 2), np.float32)}", "output 'y' has 5 rows for 1 input rows"),
        ("return {'y': np.array([['a', 'b']])}", "output 'y' is <U1; the signature declares float32"),
    ],
)
def test_bad_answers_are_errors_that_say_why(tmp_path, answer, message):
    body = DOUBLE.replace('return {"y": inputs["x"] * 2}', answer)
    with load_model(write_model(tmp_path / "1", body), allow_code_models=True) as model:
        with pytest.raises(FailedPrecondition) as error:
            model.predict({"x": [[1.0, 2.0]]})
        assert message in error.value.message


def test_strings_ints_and_several_signatures(tmp_path):
    body = """
class Echo(PythonModel):
    signatures = {
        "serving_default": signature(inputs={"text": ("string", [-1])}, outputs={"loud": ("string", [-1])}),
        "count": signature(inputs={"text": ("string", [-1])}, outputs={"length": ("float64", [-1])}),
    }
    def predict(self, inputs, signature):
        if signature == "count":
            return {"length": [len(t) for t in inputs["text"]]}  # ints for a float output: converted
        return {"loud": [t.decode().upper() for t in inputs["text"]]}  # str for a string output: UTF-8 bytes
"""
    with load_model(write_model(tmp_path / "1", body), allow_code_models=True) as model:
        assert list(model.signatures) == ["serving_default", "count"]
        assert list(model.predict({"text": ["hé", "b"]})["loud"]) == ["HÉ".encode(), b"B"]
        length = model.predict({"text": ["abc"]}, signature="count")["length"]
        assert length.dtype == np.float64 and length.tolist() == [3.0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("x = 1\n", "must define one class subclassing"),
        ("class Model(PythonModel):\n    pass\n", "declares no signatures"),
        ("raise RuntimeError('broken at import')\n", "failed to load: RuntimeError: broken at import"),
        (
            "class Model(PythonModel):\n    signatures = {'serving_default': 3}\n",
            "must be made with modelserve.python_model.signature",
        ),
    ],
)
def test_broken_model_files_fail_to_load_with_a_reason(tmp_path, body, message):
    with pytest.raises(ModelLoadError, match=message):
        load_model(write_model(tmp_path / "1", body), allow_code_models=True)


def test_files_beside_model_py_are_read_from_the_folder(tmp_path):
    folder = write_model(
        tmp_path / "1",
        """
class Model(PythonModel):
    signatures = {"serving_default": signature(inputs={"i": ("int64", [-1])}, outputs={"label": ("string", [-1])})}
    def __init__(self, folder):
        super().__init__(folder)
        self.labels = (self.folder / "labels.txt").read_text().split()
    def predict(self, inputs, signature):
        return {"label": [self.labels[i] for i in inputs["i"]]}
""",
    )
    (folder / "labels.txt").write_text("cat dog")
    with load_model(folder, allow_code_models=True) as model:
        assert list(model.predict({"i": [1, 0]})["label"]) == [b"dog", b"cat"]
