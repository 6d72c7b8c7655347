"""The REST admin API under ``/admin``: reload the config files, see and set traffic policies.

* ``GET /admin/config``: the models in force (base path, platform, version policy, labels) and the outcome
  of the last file reload.
* ``POST /admin/reload``: re-read ``--model_config_file`` and ``--traffic_config_file`` and apply them (the
  REST twin of gRPC ``HandleReloadConfigRequest``). A file with an error changes nothing: 400 with the
  file, line and problem. A label that may not be assigned: 400 ``FAILED_PRECONDITION`` (TF Serving's code
  and message); the model changes of that reload stay applied, the labels stay as they were.
* ``GET /admin/traffic``: policies, where each route resolves now, routed counts and shadow comparisons.
* ``PUT /admin/traffic``: replace the traffic policies with the JSON body (the traffic file's schema).
* ``GET /admin/keys``: the API keys' names, scopes and creation times (never a key or a hash);
  ``POST /admin/keys`` with ``{"name": ..., "scopes": ..., "client_cn": optional}`` adds one and answers
  ``{"name", "key"}`` (the key, this once); ``DELETE /admin/keys/NAME`` revokes one. They edit
  ``--api_keys_file``, as ``modelserve keys`` does; the server re-reads it within a second.

With ``--admin_token`` set, every admin request needs ``Authorization: Bearer <token>`` (else 401).
Errors use TF Serving's envelope ``{"error": "..."}``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import orjson

from modelserve.access.keys import add_entry, list_entries, revoke_entry
from modelserve.access.scopes import Scopes
from modelserve.config import All, Latest, ModelConfig, Specific
from modelserve.config_io import parse_traffic_config
from modelserve.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ServingError,
    Unauthenticated,
    Unimplemented,
)
from modelserve.protocols.status import http_status_of
from modelserve.serving.service import ModelService

log = logging.getLogger(__name__)

PREFIX = "/admin"


def is_admin_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


async def handle(
    service: ModelService, token: str | None, method: str, path: str, headers: Mapping[bytes, bytes], body: bytes
) -> tuple[int, bytes]:
    """``(HTTP status, JSON body)`` for one admin request."""
    try:
        _authorize(token, headers)
        return 200, orjson.dumps(await _route(service, method, path, body))
    except ServingError as exc:
        return http_status_of(exc), orjson.dumps({"error": exc.message})
    except Exception as exc:  # a bug must still answer, as JSON
        log.exception("admin request %s %s failed", method, path)
        return http_status_of(exc), orjson.dumps({"error": f"Internal error: {type(exc).__name__}: {exc}"})


def _authorize(token: str | None, headers: Mapping[bytes, bytes]) -> None:
    if token is None:
        return
    given = headers.get(b"authorization", b"")
    if not hmac.compare_digest(given, b"Bearer " + token.encode()):
        raise Unauthenticated("the admin API needs 'Authorization: Bearer <token>' (see --admin_token)")


async def _route(service: ModelService, method: str, path: str, body: bytes) -> Any:
    endpoint = path[len(PREFIX) :].rstrip("/")
    if endpoint == "/keys" or endpoint.startswith("/keys/"):
        return await asyncio.to_thread(_keys, service, method, endpoint, body)  # file lock and I/O
    allowed = {"/config": ("GET",), "/reload": ("POST",), "/traffic": ("GET", "PUT")}.get(endpoint)
    if allowed is None:
        raise NotFound(f"no admin endpoint {path}; try /admin/config, /admin/reload, /admin/traffic or /admin/keys")
    if method not in allowed:
        raise Unimplemented(f"{method} is not supported on {path}; use {' or '.join(allowed)}")
    if endpoint == "/config":
        return _config_view(service)
    if endpoint == "/reload":
        if service.config.model_config_file is None and service.config.traffic_config_file is None:
            raise InvalidArgument("nothing to reload: no --model_config_file or --traffic_config_file was given")
        reloaded = await asyncio.to_thread(service.reload_from_files)
        return {"reloaded": reloaded}
    if method == "PUT":
        traffic = parse_traffic_config(_json(body, "the traffic policy body"), "request body")
        await asyncio.to_thread(service.set_traffic, traffic)  # with --workers, every worker applies it
    return service.traffic_report()


def _json(body: bytes, what: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"{what} is not valid JSON: {exc}") from None


def _keys(service: ModelService, method: str, endpoint: str, body: bytes) -> Any:
    path = service.config.api_keys_file
    if path is None:
        raise FailedPrecondition("this server has no API keys: start it with --api_keys_file")
    name = unquote(endpoint[len("/keys/") :]) if endpoint.startswith("/keys/") else ""
    if name and method == "DELETE":
        revoke_entry(path, name)
        return {"revoked": name}
    if not name and method == "GET":
        return {"keys": list_entries(path)}
    if not name and method == "POST":
        data = _json(body, "the key body")
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("name"), str)
            or not isinstance(data.get("scopes"), str)
        ):
            raise InvalidArgument('the key body needs {"name": "...", "scopes": "predict:...,read,admin"}')
        key = add_entry(path, data["name"], Scopes.parse(data["scopes"]), str(data.get("client_cn") or ""))
        return {"name": data["name"], "key": key}
    raise Unimplemented(
        f"{method} is not supported on /admin{endpoint}; use GET or POST /admin/keys, DELETE /admin/keys/NAME"
    )


def _config_view(service: ModelService) -> dict[str, Any]:
    models = []
    for name in service.model_names():
        config = service.model_config(name)
        models.append(
            {
                "name": name,
                "base_path": str(config.base_path),
                "platform": config.platform,
                "version_policy": _policy(config),
                "labels": service.labels(name),
                "available_versions": service.available_versions(name),
            }
        )
    files = {
        "model_config_file": _text(service.config.model_config_file),
        "traffic_config_file": _text(service.config.traffic_config_file),
        "poll_wait_seconds": service.config.model_config_file_poll_wait_seconds,
    }
    return {"models": models, "files": files, "last_reload": service.last_reload}


def _policy(config: ModelConfig) -> dict[str, Any]:
    policy = config.policy
    if isinstance(policy, Latest):
        return {"latest": {"num_versions": policy.n}}
    if isinstance(policy, All):
        return {"all": {}}
    if isinstance(policy, Specific):
        return {"specific": {"versions": sorted(policy.versions)}}
    return {"unknown": repr(policy)}


def _text(value: object) -> str | None:
    return None if value is None else str(value)
