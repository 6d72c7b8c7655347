"""The keys file: keys shown once, stored as salted hashes, matched in constant time; bad files named."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from modelserve.access.keys import KeyTable, add_entry, list_entries, read_keys_file, revoke_entry
from modelserve.access.scopes import Scopes
from modelserve.errors import AlreadyExists, InvalidArgument, NotFound


def test_a_key_is_returned_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = add_entry(path, "app", Scopes.parse("predict:digits*,read"))
    assert key is not None and key.startswith("msk_")
    text = path.read_text()
    secret = key.split("_", 2)[2]
    assert secret not in text and key not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = json.loads(text)["keys"][0]
    assert set(entry) == {"name", "scopes", "created", "id", "salt", "sha256"}
    assert entry["scopes"] == "predict:digits*,read"


def test_matching_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = add_entry(path, "first", Scopes.parse("predict"))
    second = add_entry(path, "second", Scopes.parse("read"))
    table = KeyTable(read_keys_file(path))
    assert table.match_key(first).name == "first"
    assert table.match_key(second).scopes == Scopes(read=True)
    key_id = first.split("_")[1]
    for wrong in (first[:-1] + ("A" if first[-1] != "A" else "B"), f"msk_{key_id}_", f"msk_{key_id}", "first", "",
                  second.replace(second.split("_")[1], key_id)):  # fmt: skip
        assert table.match_key(wrong) is None, wrong


def test_client_certificate_identities(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    assert add_entry(path, "edge", Scopes.parse("predict:digits"), client_cn="edge-7.example") is None
    table = KeyTable(read_keys_file(path))
    assert table.match_client_cn("edge-7.example").name == "edge"
    assert table.match_client_cn("edge-8.example") is None
    assert list_entries(path)[0]["kind"] == "client certificate CN=edge-7.example"


def test_names_are_unique_and_revoking_removes(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    key = add_entry(path, "app", Scopes.parse("predict"))
    with pytest.raises(AlreadyExists):
        add_entry(path, "app", Scopes.parse("read"))
    with pytest.raises(InvalidArgument):
        add_entry(path, "two words", Scopes.parse("read"))
    revoke_entry(path, "app")
    assert KeyTable(read_keys_file(path)).match_key(key) is None
    with pytest.raises(NotFound, match="no key named 'app'"):
        revoke_entry(path, "app")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "is not JSON"),
        ('{"keys": []}', "is not a modelserve API keys file"),
        ('{"modelserve_api_keys": 1, "keys": [{"scopes": "read"}]}', "needs a 'name'"),
        ('{"modelserve_api_keys": 1, "keys": [{"name": "a", "scopes": "write"}]}', "unknown scope 'write'"),
        ('{"modelserve_api_keys": 1, "keys": [{"name": "a", "scopes": "read", "id": "x"}]}', "needs 'id', 'salt'"),
        (
            '{"modelserve_api_keys": 1, "keys": [{"name": "a", "scopes": "read", "id": "0123456789ab", '
            '"salt": "not hex at all, but 32 chars ok", "sha256": "' + "0" * 64 + '"}]}',
            "'salt' must be 32 hex digits",
        ),
    ],
)
def test_bad_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        read_keys_file(path)
    with pytest.raises(InvalidArgument, match="cannot read"):
        read_keys_file(tmp_path / "missing.json")
