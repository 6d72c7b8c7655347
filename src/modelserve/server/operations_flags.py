"""The operations flags of ``modelserve serve``: access (keys, TLS, the admin token, the audit log), the
request log and the web page, and the part of :class:`~modelserve.config.ServerConfig` they fill."""

from __future__ import annotations

import argparse
import importlib.util
import os
import urllib.parse
from typing import Any

from modelserve.errors import InvalidArgument
from modelserve.server.flag_types import absolute_path, boolean

__all__ = ["add_operations_flags", "operations_config"]


def add_operations_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--admin_token",
        default=os.environ.get("MODELSERVE_ADMIN_TOKEN"),
        help="bearer token the /admin REST endpoints require [$MODELSERVE_ADMIN_TOKEN; unset: open]",
    )
    add(
        "--api_keys_file",
        default=os.environ.get("MODELSERVE_API_KEYS_FILE"),
        help="API keys with scopes (made by 'modelserve keys add'); every door then needs a key, except health "
        "and readiness probes [$MODELSERVE_API_KEYS_FILE; unset: no keys]",
    )
    add(
        "--require_auth",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="refuse to start without --api_keys_file [false]",
    )
    add(
        "--auth_failures_per_minute",
        type=int,
        default=20,
        help="failed authentications one client address may make in a minute before it is refused (429) [20]",
    )
    add(
        "--ssl_config_file",
        default=None,
        help="TF Serving's SSLConfig text proto (server_key, server_cert, custom_ca, client_verify): TLS, or "
        "mTLS with client_verify, on gRPC and REST [none]",
    )
    add("--audit_log", default=None, help="append admin actions and refusals here as JSON lines [stderr log]")
    add("--request_log", default=None, help="a sample of requests and answers here (see --request_log_format) [off]")
    add(
        "--request_log_sample_rate",
        default="0.01",
        help="share of requests logged, e.g. 0.01, or per model: 0.01,digits=0.5 (failures: always) [0.01]",
    )
    add("--request_log_max_bytes", type=int, default=64 * 2**20, help="rotate the log at this size [64 MiB]")
    add("--request_log_backups", type=int, default=5, help="rotated files kept [5]")
    add(
        "--request_log_rotate_seconds",
        type=float,
        default=0,
        help="also rotate the log this long after its file was opened, e.g. 3600 for hourly files [0: by size only]",
    )
    add(
        "--request_log_format",
        choices=("jsonl", "parquet"),
        default="jsonl",
        help="the request log's file: JSON lines, or Parquet (needs pyarrow; rotated as NAME.1.parquet) [jsonl]",
    )
    add(
        "--request_log_cloudevents_url",
        default=None,
        metavar="URL",
        help="also POST each logged entry here as a CloudEvent (binary mode, type io.modelserve.inference.log); "
        "works without --request_log too [off]",
    )
    add(
        "--ui",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="the web page at /ui (and /): try, watch and manage models; needs the 'ui' extra (Gradio) [false]",
    )
    add(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the REST and gRPC ports (SO_REUSEPORT), each loading every model; "
        "admin changes reach all, /metrics merges all (see docs/workers.md) [1]",
    )


def operations_config(args: argparse.Namespace) -> dict[str, Any]:
    """The ServerConfig fields of these flags; InvalidArgument for a combination that cannot work."""
    if args.require_auth and not args.api_keys_file:
        raise InvalidArgument("--require_auth: no --api_keys_file given; make one with 'modelserve keys add'")
    if args.auth_failures_per_minute < 1:
        raise InvalidArgument(f"--auth_failures_per_minute must be 1 or more, got {args.auth_failures_per_minute}")
    if args.workers < 1:
        raise InvalidArgument(f"--workers must be 1 or more, got {args.workers}")
    if args.workers > 1 and args.ui:
        raise InvalidArgument(
            "--ui needs --workers=1: the page keeps its sessions in one process; serve the page from a "
            "separate one-worker server over the same repository"
        )
    return {
        "admin_token": args.admin_token or None,
        "api_keys_file": absolute_path(args.api_keys_file),
        "auth_failures_per_minute": args.auth_failures_per_minute,
        "ssl_config_file": absolute_path(args.ssl_config_file),
        "audit_log": absolute_path(args.audit_log),
        "ui": args.ui,
        "workers": args.workers,
        "request_log": absolute_path(args.request_log),
        **_sample_rates(args.request_log_sample_rate),
        "request_log_max_bytes": args.request_log_max_bytes,
        "request_log_backups": args.request_log_backups,
        "request_log_rotate_seconds": max(0.0, args.request_log_rotate_seconds),
        **_log_sinks(args),
    }


def _log_sinks(args: argparse.Namespace) -> dict:
    """The request log's format and CloudEvents URL; InvalidArgument for a URL that is not http(s)://HOST...,
    or Parquet without a file or without pyarrow."""
    url = args.request_log_cloudevents_url or None
    if url is not None:
        try:
            parts = urllib.parse.urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:  # a bad port or bracketed host
            valid = False
        if not valid:
            raise InvalidArgument(f"--request_log_cloudevents_url: {url!r} is not an http:// or https:// URL")
    if args.request_log_format == "parquet":
        if not args.request_log:
            raise InvalidArgument("--request_log_format=parquet: no --request_log file given")
        if importlib.util.find_spec("pyarrow") is None:
            raise InvalidArgument("--request_log_format=parquet needs pyarrow: pip install pyarrow")
    return {"request_log_format": args.request_log_format, "request_log_cloudevents_url": url}


def _sample_rates(text: str) -> dict:
    """``0.01`` or ``0.01,digits=0.5,mnist=1``: the default rate and per-model ones, each in [0, 1]."""
    default, per_model = 0.01, []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _sep, value = part.rpartition("=")
        try:
            rate = float(value)
        except ValueError:
            raise InvalidArgument(f"--request_log_sample_rate: {part!r} is not a rate (0..1)") from None
        if not 0 <= rate <= 1:
            raise InvalidArgument(f"--request_log_sample_rate: {rate} is outside [0, 1]")
        if name:
            per_model.append((name, rate))
        else:
            default = rate
    return {"request_log_sample_rate": default, "request_log_model_rates": tuple(per_model)}
