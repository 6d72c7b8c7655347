"""The monitor's settings: the server's flags, and per-model overrides from ``--drift_config_file``.

    # monitoring.yaml
    models:
      digits:
        reference: data/digits_train.npz      # relative to this file; else the version folder's reference.npz
        window_rows: 200
        p_value: 0.001
      fraud:
        numeric_test: psi
        categorical: [merchant_category]      # integer inputs compared as categories (chi-square)
        mmd: [embedding]                      # a kernel test of whole rows too (multivariate, heavier)
      chatbot:
        drift: false

Keys per model: ``drift`` (bool), ``reference``, ``baseline_rows``, ``window_rows``, ``window_seconds``,
``min_window_rows``, ``p_value``, ``numeric_test`` (ks|psi), ``psi_threshold``, ``categorical``,
``embedding_output``, ``mmd`` (inputs or outputs whose whole rows get the kernel test), ``ignore``
(feature names). Unset keys take the flags' values. Raises InvalidArgument
naming the file, model and key for anything else.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from modelserve.config import ServerConfig
from modelserve.errors import InvalidArgument
from modelserve.monitoring.drift import DriftSettings
from modelserve.monitoring.monitor import MonitorSettings

__all__ = ["monitor_settings", "read_monitoring_file"]

_NUMBERS = {"baseline_rows": int, "window_rows": int, "min_window_rows": int, "window_seconds": float,
            "p_value": float, "psi_threshold": float}  # fmt: skip


def monitor_settings(config: ServerConfig) -> MonitorSettings:
    drift = DriftSettings(
        enabled=config.drift,
        baseline_rows=config.drift_baseline_rows,
        window_rows=config.drift_window_rows,
        window_seconds=config.drift_window_seconds,
        min_window_rows=config.drift_min_window_rows,
        p_value=config.drift_p_value,
        psi_threshold=config.drift_psi_threshold,
    )
    _check(drift, "the drift flags")
    per_model = read_monitoring_file(config.drift_config_file, drift) if config.drift_config_file else {}
    return MonitorSettings(
        drift=drift,
        per_model=per_model,
        feedback_memory_requests=config.feedback_memory_requests,
        feedback_window_rows=config.feedback_window_rows,
    )


def _check(settings: DriftSettings, where: str) -> None:
    if settings.baseline_rows < 10 or settings.window_rows < 10:
        raise InvalidArgument(f"{where}: baseline_rows and window_rows must be 10 or more")
    if not 1 <= settings.min_window_rows <= settings.window_rows:
        raise InvalidArgument(f"{where}: min_window_rows must be between 1 and window_rows")
    if settings.window_seconds <= 0:
        raise InvalidArgument(f"{where}: window_seconds must be above 0")
    if not 0 < settings.p_value < 1:
        raise InvalidArgument(f"{where}: p_value must be between 0 and 1")
    if settings.numeric_test not in ("ks", "psi"):
        raise InvalidArgument(f"{where}: numeric_test is ks or psi, not {settings.numeric_test!r}")


def read_monitoring_file(path: Path, defaults: DriftSettings) -> dict[str, DriftSettings]:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidArgument(f"--drift_config_file {path}: {exc}") from None
    models = document.get("models") if isinstance(document, dict) else None
    if not isinstance(models, dict):
        raise InvalidArgument(f"--drift_config_file {path}: expected a 'models:' mapping of model names")
    return {
        str(name): _model_settings(path, str(name), entry or {}, defaults) for name, entry in models.items()
    }  # fmt: skip


def _model_settings(path: Path, name: str, entry: Any, defaults: DriftSettings) -> DriftSettings:
    where = f"--drift_config_file {path}: model {name}"
    if not isinstance(entry, dict):
        raise InvalidArgument(f"{where}: expected a mapping of settings")
    changes: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "drift":
            if not isinstance(value, bool):
                raise InvalidArgument(f"{where}: drift is true or false")
            changes["enabled"] = value
        elif key in _NUMBERS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidArgument(f"{where}: {key} must be a number")
            changes[key] = _NUMBERS[key](value)
        elif key in ("categorical", "ignore", "mmd"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidArgument(f"{where}: {key} is a list of feature names")
            changes[key] = tuple(value)
        elif key in ("reference", "embedding_output", "numeric_test"):
            if not isinstance(value, str):
                raise InvalidArgument(f"{where}: {key} must be a string")
            changes[key] = str((path.parent / value).resolve()) if key == "reference" else value
        else:
            raise InvalidArgument(f"{where}: unknown key {key!r}")
    settings = dataclasses.replace(defaults, **changes)
    _check(settings, where)
    return settings
