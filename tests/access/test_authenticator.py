"""Credentials to identities: keys, the admin token, client certificates, re-reading the file, and the
per-address limit on failures (with a clock the test moves)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelserve.access.authenticator import Authenticator, BadCredentials, RateLimited
from modelserve.access.keys import add_entry, revoke_entry
from modelserve.access.scopes import Scopes
from modelserve.errors import InvalidArgument


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "keys.json"
    key = add_entry(path, "app", Scopes.parse("predict"))
    add_entry(path, "edge", Scopes.parse("read"), client_cn="edge-7")
    return path, key


def test_keys_tokens_and_certificates(keys: tuple[Path, str]) -> None:
    path, key = keys
    auth = Authenticator(path, admin_token="s3cret")
    assert auth.authenticate(f"Bearer {key}", None, "10.0.0.1").name == "app"
    assert auth.authenticate(f"bearer  {key} ", None, "10.0.0.1").name == "app"
    assert auth.authenticate("Bearer s3cret", None, "10.0.0.1").scopes.admin
    assert auth.authenticate(None, "edge-7", "10.0.0.1").name == "edge"
    assert auth.authenticate(f"Bearer {key}", "edge-7", "10.0.0.1").name == "app"  # the key wins
    with pytest.raises(BadCredentials, match="needs an API key") as missing:
        auth.authenticate(None, "unknown-cn", "10.0.0.1")
    assert missing.value.reason == "missing_key"
    with pytest.raises(BadCredentials, match="not valid") as invalid:
        auth.authenticate(f"Bearer {key}x", "edge-7", "10.0.0.1")  # a bad key is not saved by a certificate
    assert invalid.value.reason == "invalid_key"
    with pytest.raises(BadCredentials, match="needs an API key"):
        auth.authenticate(f"Basic {key}", None, "10.0.0.1")


def test_the_file_is_re_read_when_it_changes(keys: tuple[Path, str]) -> None:
    path, key = keys
    clock = Clock()
    auth = Authenticator(path, clock=clock)
    late = add_entry(path, "late", Scopes.parse("read"))
    os.utime(path, ns=(1, 1))  # a change within the same mtime tick is seen too: size and inode count
    with pytest.raises(BadCredentials):  # checked at most once a second
        auth.authenticate(f"Bearer {late}", None, "10.0.0.1")
    clock.now += 1.1
    assert auth.authenticate(f"Bearer {late}", None, "10.0.0.1").name == "late"
    revoke_entry(path, "app")
    clock.now += 1.1
    with pytest.raises(BadCredentials):
        auth.authenticate(f"Bearer {key}", None, "10.0.0.1")
    path.write_text("{ not json")
    clock.now += 1.1
    assert auth.authenticate(f"Bearer {late}", None, "10.0.0.1").name == "late"  # last good keys kept
    path.unlink()
    clock.now += 1.1
    assert auth.authenticate(f"Bearer {late}", None, "10.0.0.1").name == "late"


def test_a_bad_file_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text("[]")
    with pytest.raises(InvalidArgument, match="not a modelserve API keys file"):
        Authenticator(tmp_path / "keys.json")


def test_failures_are_limited_per_address(keys: tuple[Path, str]) -> None:
    path, key = keys
    clock = Clock()
    auth = Authenticator(path, failures_per_minute=3, clock=clock)
    starts = []
    for _ in range(3):
        with pytest.raises(BadCredentials) as failed:
            auth.authenticate("Bearer guess", None, "10.0.0.9")
        starts.append(failed.value.starts_limit)
    assert starts == [False, False, True]
    clock.now += 20
    with pytest.raises(RateLimited, match="retry in 40 s") as limited:
        auth.authenticate(f"Bearer {key}", None, "10.0.0.9")  # even a good key, until the minute is over
    assert limited.value.retry_after == 40
    assert auth.authenticate(f"Bearer {key}", None, "10.0.0.10").name == "app"  # other addresses are served
    clock.now += 41
    assert auth.authenticate(f"Bearer {key}", None, "10.0.0.9").name == "app"


def test_tracked_addresses_are_bounded(keys: tuple[Path, str]) -> None:
    from modelserve.access import authenticator

    path, _key = keys
    clock = Clock()
    auth = Authenticator(path, clock=clock)
    for number in range(authenticator._MAX_TRACKED_ADDRESSES + 500):
        clock.now += 0.001
        with pytest.raises(BadCredentials):
            auth.authenticate(None, None, f"addr-{number}")
    assert len(auth._failures) <= authenticator._MAX_TRACKED_ADDRESSES
