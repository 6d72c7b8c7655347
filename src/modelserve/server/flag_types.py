"""Argument types shared by the ``modelserve serve`` flag modules."""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["absolute_path", "boolean"]


def boolean(text: str) -> bool:
    """TF Serving's booleans: ``true``/``false`` (also 1/0, yes/no, on/off)."""
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def absolute_path(text: str | None) -> Path | None:
    return Path(text).absolute() if text else None
