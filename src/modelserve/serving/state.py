"""Version states as the status APIs report them (TF Serving's ``ModelVersionStatus.State``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from modelserve.errors import Code


class VersionState(enum.IntEnum):
    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


@dataclass(frozen=True)
class VersionStatus:
    """One version's state; ``error_code``/``error_message`` describe a failed load (else OK and "")."""

    version: int
    state: VersionState
    error_code: Code = Code.OK
    error_message: str = ""
