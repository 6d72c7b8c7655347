"""From a request's credentials to an :class:`~.scopes.Identity`, or a refusal.

A caller is known by a bearer key (REST ``Authorization: Bearer msk_…``, gRPC metadata ``authorization``),
else by a verified client certificate whose common name the keys file maps to an identity, else (when the
server has ``--admin_token``) that token is an identity with the ``admin`` scope. The keys file is re-read
when it changes (checked at most once a second, on the request path: a ``stat``), so ``keys add`` and
``keys revoke`` take effect without a restart; a file that stops parsing keeps the last good keys, with an
error in the log.

Failed attempts are counted per client address: after ``failures_per_minute`` in a minute, every request
from that address is refused with RESOURCE_EXHAUSTED until the minute is over, before its key is looked at.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from pathlib import Path

from modelserve.access.keys import KeyTable, read_keys_file
from modelserve.access.scopes import Identity, Scopes
from modelserve.access.watch import FileSignature, file_signature
from modelserve.errors import ResourceExhausted, ServingError, Unauthenticated

__all__ = ["Authenticator", "BadCredentials", "RateLimited"]

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60.0
_MAX_TRACKED_ADDRESSES = 10_000
_ADMIN = Scopes(admin=True)


class BadCredentials(Unauthenticated):
    """401: ``reason`` is ``missing_key`` or ``invalid_key``; ``starts_limit``: this failure was the one
    that rate-limits its address."""

    def __init__(self, message: str, reason: str, starts_limit: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.starts_limit = starts_limit


class RateLimited(ResourceExhausted):
    """429: too many failed attempts from one address; ``retry_after`` seconds until the window ends."""

    reason = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Authenticator:
    def __init__(
        self,
        keys_file: Path | None,
        admin_token: str | None = None,
        failures_per_minute: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keys_file = keys_file
        self._admin_token = admin_token.encode() if admin_token else None
        self._limit = failures_per_minute
        self._clock = clock
        self._failures: dict[str, tuple[float, int]] = {}  # address -> (window start, failures in it)
        self._table = KeyTable([])
        self._signature: FileSignature = None
        self._next_check = 0.0
        if keys_file is not None:
            self._table = KeyTable(read_keys_file(keys_file))  # a bad file at start-up stops the server
            self._signature = file_signature(keys_file)
            self._next_check = clock() + 1.0

    @property
    def key_names(self) -> list[str]:
        return [e.name for e in self._table.entries]

    def authenticate(self, authorization: str | None, client_cn: str | None, client: str) -> Identity:
        """The caller's identity; :class:`BadCredentials` (401) without a valid credential,
        :class:`RateLimited` (429) when ``client`` has failed too often. Never logs or keeps the key."""
        now = self._clock()
        window = self._failures.get(client)
        if window is not None and window[1] >= self._limit and now - window[0] < WINDOW_SECONDS:
            retry = max(1, int(WINDOW_SECONDS - (now - window[0]) + 0.999))
            raise RateLimited(f"too many failed authentication attempts from {client}; retry in {retry} s", retry)
        if now >= self._next_check:
            self._next_check = now + 1.0
            self._refresh()
        key = _bearer(authorization)
        if key is not None:
            identity = self._table.match_key(key)
            token = self._admin_token
            if identity is None and token is not None and hmac.compare_digest(key.encode(), token):
                identity = Identity("admin_token", _ADMIN)
            if identity is not None:
                return identity
            raise self._failed(client, now, "invalid_key", "the API key is not valid (unknown, revoked or mistyped)")
        if client_cn:
            identity = self._table.match_client_cn(client_cn)
            if identity is not None:
                return identity
        raise self._failed(
            client, now, "missing_key", "this server needs an API key: send the header 'Authorization: Bearer <key>'"
        )

    def sign_in(self, name: str, key: str, client: str) -> Identity:
        """A person signing in with a key's name and the key (the web page): :meth:`authenticate`, and the
        name must be the key's (a wrong name counts as a failed attempt)."""
        identity = self.authenticate(f"Bearer {key}", None, client)
        if identity.name != name:
            raise self._failed(client, self._clock(), "invalid_key", "the name and the key do not match")
        return identity

    def identity_named(self, name: str) -> Identity | None:
        """The identity of the key called ``name`` now (None once revoked): a signed-in page's caller."""
        if self._clock() >= self._next_check:
            self._next_check = self._clock() + 1.0
            self._refresh()
        if name == "admin_token" and self._admin_token is not None:
            return Identity(name, _ADMIN)
        return next((Identity(e.name, e.scopes) for e in self._table.entries if e.name == name), None)

    def _failed(self, client: str, now: float, reason: str, message: str) -> BadCredentials:
        start, count = self._failures.get(client, (now, 0))
        if now - start >= WINDOW_SECONDS:
            start, count = now, 0
        if client not in self._failures and len(self._failures) >= _MAX_TRACKED_ADDRESSES:
            self._forget_old(now)
        self._failures[client] = (start, count + 1)
        return BadCredentials(message, reason, count + 1 == self._limit)

    def _forget_old(self, now: float) -> None:
        self._failures = {a: w for a, w in self._failures.items() if now - w[0] < WINDOW_SECONDS}
        if len(self._failures) >= _MAX_TRACKED_ADDRESSES:  # a flood of addresses: keep the newer half
            newest = sorted(self._failures.items(), key=lambda item: item[1][0])[len(self._failures) // 2 :]
            self._failures = dict(newest)

    def _refresh(self) -> None:
        """Re-read the keys file if its inode, size or mtime changed; keep the last good keys on error."""
        if self.keys_file is None:
            return
        signature = file_signature(self.keys_file)
        if signature == self._signature:
            return
        self._signature = signature
        try:
            self._table = KeyTable(read_keys_file(self.keys_file))
        except ServingError as exc:
            log.error("keeping the previous API keys: %s", exc.message)
            return
        log.info("API keys re-read from %s: %d entries", self.keys_file, len(self._table.entries))


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _sep, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None  # another scheme: not a key of ours
    return value.strip() or None
