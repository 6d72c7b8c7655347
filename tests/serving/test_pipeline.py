"""Reading pipeline.yaml: what a pipeline declares, and the load errors that say what is wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modelserve.errors import FailedPrecondition, ModelLoadError
from modelserve.runtimes.base import RuntimeOptions
from modelserve.serving.pipeline import load_pipeline

SIGNATURE = "signature: {inputs: {x: [float32, [-1, 1]]}, outputs: {y: [float32, [-1, 1]]}}\n"
STEPS = """
def double(inputs):
    return {"twice": inputs["value"] * 2}

def broken(inputs):
    raise KeyError("oops")
"""


def pipeline(tmp_path: Path, body: str, steps: str | None = STEPS) -> Path:
    folder = tmp_path / "1"
    folder.mkdir()
    (folder / "pipeline.yaml").write_text(SIGNATURE + body)
    if steps is not None:
        (folder / "steps.py").write_text(steps)
    return folder


def load(folder: Path, allow: bool = True):
    def no_models(request):
        raise AssertionError("no model steps here")

    return load_pipeline(folder, "p", RuntimeOptions(allow_code_models=allow), no_models, None)


def test_python_steps_in_order(tmp_path):
    folder = pipeline(
        tmp_path,
        "steps: [{name: a, python: double, inputs: {value: x}}, {name: b, python: double, inputs: {value: a.twice}}]\n"
        "outputs: {y: b.twice}\n",
    )
    model = load(folder)
    assert list(model.signatures) == ["serving_default"]
    np.testing.assert_array_equal(model.run("serving_default", {"x": np.ones((2, 1), np.float32)})["y"], [[4], [4]])


def test_a_step_error_names_the_step(tmp_path):
    folder = pipeline(tmp_path, "steps: [{name: bad, python: broken, inputs: {value: x}}]\noutputs: {y: bad.twice}\n")
    with pytest.raises(FailedPrecondition, match="pipeline p step 'bad': KeyError: 'oops'"):
        load(folder).run("serving_default", {"x": np.ones((1, 1), np.float32)})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("steps: []\n", "needs 'signature', 'steps' and 'outputs'"),
        ("steps: [{name: a, python: double, inputs: {value: nope}}]\noutputs: {y: a.twice}\n", "reads 'nope'"),
        ("steps: [{name: a, python: missing, inputs: {value: x}}]\noutputs: {y: a.twice}\n", "no function 'missing'"),
        ("steps: [{name: a, inputs: {value: x}}]\noutputs: {y: a.twice}\n", "needs 'model' or 'python'"),
        ("steps: [{name: a, python: double, inputs: {value: x}}]\noutputs: {z: a.twice}\n", "'outputs' must map"),
    ],
)
def test_load_errors_say_what_is_wrong(tmp_path, body, message):
    with pytest.raises(ModelLoadError, match=message):
        load(pipeline(tmp_path, body))


def test_python_steps_need_the_opt_in(tmp_path):
    folder = pipeline(tmp_path, "steps: [{name: a, python: double, inputs: {value: x}}]\noutputs: {y: a.twice}\n")
    with pytest.raises(ModelLoadError, match="pass --allow_code_models"):
        load(folder, allow=False)
