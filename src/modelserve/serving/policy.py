"""Which versions to serve: a pure function of the candidates and the model's version policy."""

from __future__ import annotations

from collections.abc import Iterable

from modelserve.config import All, Latest, Specific, VersionPolicy


def aspired_versions(candidates: Iterable[int], policy: VersionPolicy) -> set[int]:
    """The versions ``policy`` wants among ``candidates`` (versions that exist and are not known broken)."""
    ordered = sorted(set(candidates))
    if isinstance(policy, Latest):
        return set(ordered[-policy.n :])
    if isinstance(policy, All):
        return set(ordered)
    if isinstance(policy, Specific):
        return set(ordered) & set(policy.versions)
    raise TypeError(f"unknown version policy {policy!r}")
