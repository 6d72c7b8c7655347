"""The API keys file: who may call, with which scopes, stored as salted hashes (never a key).

A key looks like ``msk_<id>_<secret>``: ``id`` (12 hex digits) finds its entry, ``secret`` (32 random
bytes, URL-safe base64) is checked against the entry's ``sha256(salt + secret)`` in constant time. Keys are
random at 256 bits, so a fast hash is enough: a slow one (scrypt, argon2) protects guessable passwords,
which keys are not, and would cost every request. The file is JSON, written atomically with mode 0600::

    {"modelserve_api_keys": 1, "keys": [
      {"name": "app", "id": "3f9a1c2e0b1d", "salt": "…", "sha256": "…", "scopes": "predict:digits*", "created": "…"},
      {"name": "edge-7", "client_cn": "edge-7.example", "scopes": "predict", "created": "…"}]}

An entry with ``client_cn`` instead of a key is a client-certificate identity: a caller whose verified
TLS certificate has that common name gets its scopes without a key (mTLS).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import hmac
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from modelserve.access.scopes import Identity, Scopes
from modelserve.errors import AlreadyExists, InvalidArgument, NotFound

__all__ = ["KeyEntry", "KeyTable", "add_entry", "list_entries", "read_keys_file", "revoke_entry"]

PREFIX = "msk_"
_FORMAT = "modelserve_api_keys"


@dataclass(frozen=True)
class KeyEntry:
    name: str
    scopes: Scopes
    created: str
    key_id: str = ""
    salt: str = ""
    sha256: str = ""
    client_cn: str = ""

    def to_json(self) -> dict[str, str]:
        fields = {"name": self.name, "scopes": str(self.scopes), "created": self.created}
        if self.client_cn:
            return {**fields, "client_cn": self.client_cn}
        return {**fields, "id": self.key_id, "salt": self.salt, "sha256": self.sha256}


_HEX = re.compile(r"[0-9a-f]+")


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


class KeyTable:
    """The entries of one keys file, indexed for the request path."""

    def __init__(self, entries: list[KeyEntry]) -> None:
        self.entries = entries
        self._by_id = {e.key_id: e for e in entries if e.key_id}
        self._by_cn = {e.client_cn: Identity(e.name, e.scopes) for e in entries if e.client_cn}

    def match_key(self, presented: str) -> Identity | None:
        """The identity of a presented key, or None (unknown id, wrong secret, not our format)."""
        if not presented.startswith(PREFIX):
            return None
        key_id, _sep, secret = presented[len(PREFIX) :].partition("_")
        entry = self._by_id.get(key_id)
        if entry is None or not secret:
            return None
        if not hmac.compare_digest(_digest(entry.salt, secret), entry.sha256):
            return None
        return Identity(entry.name, entry.scopes)

    def match_client_cn(self, common_name: str) -> Identity | None:
        return self._by_cn.get(common_name)


def read_keys_file(path: Path) -> list[KeyEntry]:
    """Every entry of ``path``; InvalidArgument names the file and what is wrong with it."""
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidArgument(f"cannot read the API keys file {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"the API keys file {path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get(_FORMAT) != 1 or not isinstance(document.get("keys"), list):
        raise InvalidArgument(f"{path} is not a modelserve API keys file (made by 'modelserve keys add')")
    entries = []
    for number, item in enumerate(document["keys"], 1):
        where = f"{path}: key {number}"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidArgument(f"{where}: an entry needs a 'name'")
        try:
            scopes = Scopes.parse(str(item.get("scopes", "")))
        except InvalidArgument as exc:
            raise InvalidArgument(f"{where} ({item['name']}): {exc.message}") from None
        text = {k: str(item.get(k, "")) for k in ("created", "id", "salt", "sha256", "client_cn")}
        if not text["client_cn"] and not (text["id"] and text["salt"] and text["sha256"]):
            raise InvalidArgument(f"{where} ({item['name']}): needs 'id', 'salt' and 'sha256', or 'client_cn'")
        for field, length in (("id", 12), ("salt", 32), ("sha256", 64)):
            if text[field] and (len(text[field]) != length or not _HEX.fullmatch(text[field])):
                raise InvalidArgument(f"{where} ({item['name']}): '{field}' must be {length} hex digits")
        entries.append(
            KeyEntry(item["name"], scopes, text["created"], text["id"], text["salt"], text["sha256"], text["client_cn"])
        )
    return entries


def _write(path: Path, entries: list[KeyEntry]) -> None:
    body = orjson.dumps({_FORMAT: 1, "keys": [e.to_json() for e in entries]}, option=orjson.OPT_INDENT_2)
    descriptor, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as out:  # mkstemp creates it with mode 0600
            out.write(body + b"\n")
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[list[KeyEntry]]:
    """The entries under an exclusive lock (two ``keys add`` at once both land)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield read_keys_file(path) if path.exists() else []


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def add_entry(path: Path, name: str, scopes: Scopes, client_cn: str = "") -> str | None:
    """Add ``name`` to the keys file (created if missing) and return its new key, shown this once (None for
    a client-certificate identity). AlreadyExists if the name is taken."""
    if not name or any(c.isspace() for c in name):
        raise InvalidArgument(f"a key name must be a non-empty word, got {name!r}")
    with _locked(path) as entries:
        if any(e.name == name for e in entries):
            raise AlreadyExists(f"{path} already has a key named {name!r}; revoke it first")
        if client_cn:
            _write(path, [*entries, KeyEntry(name, scopes, _now(), client_cn=client_cn)])
            return None
        key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
        _write(path, [*entries, KeyEntry(name, scopes, _now(), key_id, salt, _digest(salt, secret))])
        return f"{PREFIX}{key_id}_{secret}"


def revoke_entry(path: Path, name: str) -> None:
    """Remove ``name``; servers reading the file refuse its key within a second or so."""
    with _locked(path) as entries:
        kept = [e for e in entries if e.name != name]
        if len(kept) == len(entries):
            raise NotFound(f"{path} has no key named {name!r}")
        _write(path, kept)


def list_entries(path: Path) -> list[dict[str, str]]:
    """Name, scopes, created and kind of every entry (no hashes)."""
    return [
        {"name": e.name, "scopes": str(e.scopes), "created": e.created,
         "kind": f"client certificate CN={e.client_cn}" if e.client_cn else f"key {PREFIX}{e.key_id}_…"}
        for e in read_keys_file(path)
    ]  # fmt: skip
