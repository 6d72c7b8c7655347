"""Scopes, identities, and the caller of the request being served.

A scope string is a comma-separated list of:

* ``predict``: run every model; ``predict:PATTERN``: run the models whose name matches the glob (``digits*``,
  ``half_plus_two``; repeat the scope for a list: ``predict:digits*,predict:mnist``);
* ``read``: status, metadata, signatures, the model list, statistics and metrics of every model;
* ``admin``: reload the config, load and unload models, move traffic, manage keys, and everything above.

Every request a door serves runs with :data:`PRINCIPAL` set to the caller's :class:`Identity` when keys
are in force (None otherwise, and in process: in-memory prediction and pipelines' own steps are never
checked). The door checks the :class:`Kind` of the request before reading its body; the serving core checks
the model name with :func:`check_predict` once the door has parsed it, so every door applies one rule.
"""

from __future__ import annotations

import enum
import fnmatch
from contextvars import ContextVar
from dataclasses import dataclass

from modelserve.errors import InvalidArgument, PermissionDenied

__all__ = ["PRINCIPAL", "Identity", "Kind", "Scopes", "check_predict", "check_signature_lookup"]


class Kind(enum.Enum):
    """What a request needs. OPEN: nothing (health and readiness probes, CORS preflight); AUTHENTICATED:
    any valid key (a path no API serves: its 404 is only for callers we know); the others: that scope."""

    OPEN = "open"
    AUTHENTICATED = "authenticated"
    READ = "read"
    PREDICT = "predict"
    ADMIN = "admin"


@dataclass(frozen=True)
class Scopes:
    """``predict``: model-name globs (``("*",)`` for every model, empty for none)."""

    predict: tuple[str, ...] = ()
    read: bool = False
    admin: bool = False

    @classmethod
    def parse(cls, text: str) -> Scopes:
        """``"predict:digits*,read"`` -> Scopes; InvalidArgument names an unknown or empty scope."""
        predict: list[str] = []
        read = admin = False
        items = [item.strip() for item in text.split(",")]
        if not any(items):
            raise InvalidArgument("no scopes given: use predict[:MODEL_GLOB], read and/or admin")
        for item in items:
            name, colon, pattern = item.partition(":")
            if name == "predict" and not colon:
                predict.append("*")
            elif name == "predict" and pattern.strip():
                predict.append(pattern.strip())
            elif name == "read" and not colon:
                read = True
            elif name == "admin" and not colon:
                admin = True
            else:
                raise InvalidArgument(f"unknown scope {item!r}: use predict, predict:MODEL_GLOB, read or admin")
        return cls(tuple(dict.fromkeys(predict)), read, admin)

    def __str__(self) -> str:
        parts = ["predict" if p == "*" else f"predict:{p}" for p in self.predict]
        return ",".join([*parts, *(["read"] if self.read else []), *(["admin"] if self.admin else [])])

    def allows(self, kind: Kind) -> bool:
        """Whether a request of ``kind`` may start (a predict request names its model later)."""
        if kind in (Kind.OPEN, Kind.AUTHENTICATED) or self.admin:
            return True
        if kind is Kind.READ:
            return self.read
        if kind is Kind.PREDICT:
            return bool(self.predict)
        return False

    def may_predict(self, model: str) -> bool:
        return self.admin or any(p == "*" or fnmatch.fnmatchcase(model, p) for p in self.predict)


@dataclass(frozen=True)
class Identity:
    """A caller the server knows: a key's or a client certificate's name, and what it may do."""

    name: str
    scopes: Scopes


PRINCIPAL: ContextVar[Identity | None] = ContextVar("modelserve_principal", default=None)


def check_predict(model: str) -> None:
    """Raise PermissionDenied unless the caller may run ``model`` (no caller: in process, allowed)."""
    caller = PRINCIPAL.get()
    if caller is not None and not caller.scopes.may_predict(model):
        raise PermissionDenied(f"{caller.name!r} may not run model {model!r} (its scopes: {caller.scopes})")


def check_signature_lookup(model: str) -> None:
    """A decoder's signature lookup before a predict, or a metadata read: ``read``, or ``predict`` on ``model``."""
    caller = PRINCIPAL.get()
    if caller is not None and not caller.scopes.read:
        check_predict(model)
