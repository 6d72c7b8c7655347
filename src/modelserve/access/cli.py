"""``modelserve keys``: add, list and revoke API keys in a keys file (the server re-reads it on change).

modelserve keys add app --scopes 'predict:digits*,read' --keys_file keys.json   # prints the key once
modelserve keys add edge-7 --scopes predict --client_cn edge-7.example --keys_file keys.json
modelserve keys list --keys_file keys.json
modelserve keys revoke app --keys_file keys.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from modelserve.access.keys import add_entry, list_entries, revoke_entry
from modelserve.access.scopes import Scopes


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("keys", help="add, list and revoke API keys (salted hashes in a keys file)")
    actions = parser.add_subparsers(dest="keys_command", required=True)

    def keys_file(sub: argparse.ArgumentParser) -> None:
        default = os.environ.get("MODELSERVE_API_KEYS_FILE")
        sub.add_argument("--keys_file", default=default, required=default is None, help="[$MODELSERVE_API_KEYS_FILE]")

    add = actions.add_parser("add", help="add a key and print it (once: only its hash is kept)")
    add.add_argument("name")
    add.add_argument("--scopes", required=True, help="comma-separated: predict, predict:MODEL_GLOB, read, admin")
    add.add_argument("--client_cn", default="", help="no key: callers whose client certificate has this CN")
    keys_file(add)
    add.set_defaults(func=_cmd_add)
    listing = actions.add_parser("list", help="names, scopes and creation times (never keys)")
    listing.add_argument("--json", action="store_true")
    keys_file(listing)
    listing.set_defaults(func=_cmd_list)
    revoke = actions.add_parser("revoke", help="remove a key; servers refuse it within about a second")
    revoke.add_argument("name")
    keys_file(revoke)
    revoke.set_defaults(func=_cmd_revoke)


def _cmd_add(args: argparse.Namespace) -> int:
    key = add_entry(Path(args.keys_file), args.name, Scopes.parse(args.scopes), args.client_cn)
    if key is None:
        print(f"added {args.name}: callers with a client certificate CN={args.client_cn}", file=sys.stderr)
    else:
        print(f"added {args.name}; the key follows (it is not stored and cannot be shown again)", file=sys.stderr)
        print(key)
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    entries = list_entries(Path(args.keys_file))
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    for entry in entries:
        print(f"{entry['name']}\t{entry['scopes']}\t{entry['created']}\t{entry['kind']}")
    return 0


def _cmd_revoke(args: argparse.Namespace) -> int:
    revoke_entry(Path(args.keys_file), args.name)
    print(f"revoked {args.name}", file=sys.stderr)
    return 0
