"""--drift_config_file: per-model overrides of the drift flags, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelserve.config import ServerConfig
from modelserve.errors import InvalidArgument
from modelserve.monitoring.settings import monitor_settings


def _config(tmp_path: Path, text: str) -> ServerConfig:
    path = tmp_path / "drift.yaml"
    path.write_text(text)
    return ServerConfig(models=(), drift_config_file=path, drift_window_rows=300)


def test_overrides_keep_the_flags_for_what_they_do_not_set(tmp_path: Path) -> None:
    text = (
        "models:\n  digits:\n    reference: data/ref.npz\n    p_value: 0.001\n    categorical: [code]\n"
        "  chat:\n    drift: false\n"
    )
    settings = monitor_settings(_config(tmp_path, text))
    digits = settings.drift_of("digits")
    assert digits.reference == str(tmp_path / "data" / "ref.npz") and digits.p_value == 0.001
    assert digits.window_rows == 300 and digits.categorical == ("code",)
    assert not settings.drift_of("chat").enabled and settings.drift_of("other").window_rows == 300


@pytest.mark.parametrize(
    "text, message",
    [
        ("- a\n", "expected a 'models:' mapping"),
        ("models:\n  m:\n    window: 3\n", "unknown key 'window'"),
        ("models:\n  m:\n    p_value: 2\n", "p_value must be between"),
        ("models:\n  m:\n    numeric_test: t\n", "numeric_test is ks or psi"),
        ("models:\n  m:\n    drift: 1\n", "drift is true or false"),
        ("models:\n  m:\n    categorical: code\n", "list of feature names"),
        ("models: [\n", "drift.yaml"),
    ],
)
def test_bad_files_are_refused_naming_model_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        monitor_settings(_config(tmp_path, text))


def test_bad_flags_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="min_window_rows"):
        monitor_settings(ServerConfig(models=(), drift_min_window_rows=0))
