"""Business counters: named, belonging to the version folder that emits them."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelserve.counters import count, counted, emitting_for
from modelserve.python_model import PythonModel


def test_models_and_pipeline_steps_count_for_their_folder(tmp_path: Path) -> None:
    model = PythonModel(tmp_path / "a" / "1")
    model.count("fraud_flagged", 2)
    model.count("fraud_flagged")
    with emitting_for(tmp_path / "p" / "1"):
        count("long_prompt", 0.5)
    found = counted()
    assert found[(tmp_path / "a" / "1", "fraud_flagged")] == 3
    assert found[(tmp_path / "p" / "1", "long_prompt")] == 0.5


@pytest.mark.parametrize("name, amount", [("", 1), ("9lives", 1), ("a b", 1), ("ok", -1), ("ok", float("inf"))])
def test_bad_names_and_amounts_are_refused(tmp_path: Path, name: str, amount: float) -> None:
    with pytest.raises(ValueError):
        count(name, amount, folder=tmp_path)


def test_counting_outside_a_model_is_refused() -> None:
    with pytest.raises(ValueError, match="outside a model"):
        count("orphan")
