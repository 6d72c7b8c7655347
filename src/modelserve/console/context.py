"""What every part of the web page shares: the serving core, the server's settings and access control, the
telemetry sampler, and the caller of each action (who signed in, what they may do)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelserve.access.scopes import PRINCIPAL, Identity, Kind
from modelserve.config import ServerConfig
from modelserve.console.snippets import Target
from modelserve.console.telemetry import Telemetry
from modelserve.errors import PermissionDenied, ServingError, Unauthenticated
from modelserve.server.access_control import CLIENT_ADDRESS, AccessControl
from modelserve.serving.service import ModelService

__all__ = ["ConsoleContext"]


@dataclass
class ConsoleContext:
    service: ModelService
    config: ServerConfig
    access: AccessControl
    telemetry: Telemetry
    temp_dir: Path  # the page's only folder for files (uploads, example copies), removed at shutdown

    @property
    def keys_on(self) -> bool:
        return self.access.enabled

    # ---- who is asking ----

    def sign_in(self, name: str, key: str) -> bool:
        """Gradio's login check: the key's name and the key (rate limited per address like the doors)."""
        try:
            self.access.sign_in(name.strip(), key.strip(), CLIENT_ADDRESS.get())
        except ServingError:
            return False
        return True

    def caller(self, request: Any) -> Identity | None:
        """The signed-in identity of a Gradio event (None with keys off); Unauthenticated once its key is
        revoked."""
        if not self.keys_on:
            return None
        assert self.access.authenticator is not None
        name = getattr(request, "username", None) or ""
        identity = self.access.authenticator.identity_named(name)
        if identity is None:
            raise Unauthenticated(f"the key {name!r} is no longer valid: sign in again")
        return identity

    def require(self, request: Any, kind: Kind, what: str) -> Identity | None:
        """The caller, who must have the scope of ``kind`` (PermissionDenied, audited, otherwise)."""
        identity = self.caller(request)
        if identity is not None and not identity.scopes.allows(kind):
            message = f"{identity.name!r} needs the '{kind.value}' scope to {what} (its scopes: {identity.scopes})"
            self.access.denied(identity.name, _client(request), "ui", what, message)
            raise PermissionDenied(message)
        return identity

    @contextlib.contextmanager
    def acting_as(self, identity: Identity | None) -> Iterator[None]:
        """Run serving-core calls as ``identity`` (its model globs apply, as on every door)."""
        token = PRINCIPAL.set(identity) if identity is not None else None
        try:
            yield
        finally:
            if token is not None:
                PRINCIPAL.reset(token)

    def may_predict(self, identity: Identity | None, model: str) -> bool:
        return identity is None or identity.scopes.may_predict(model)

    def audit_admin(self, request: Any, identity: Identity | None, action: str, target: str, outcome: str) -> None:
        who = identity.name if identity is not None else "anonymous"
        self.access.admin_action(who, _client(request), "ui", action, target, outcome)

    # ---- where the server answers (for the snippets) ----

    def target(self, request: Any) -> Target:
        tls = self.config.ssl_config_file is not None
        headers = getattr(request, "headers", None) or {}
        host_header = str(headers.get("host") or "localhost")  # the name the browser used, without its port
        host = host_header.split("]")[0] + "]" if host_header.startswith("[") else host_header.split(":")[0]
        rest = f"{'https' if tls else 'http'}://{host}:{self.config.rest_api_port}"
        grpc_address = f"{host}:{self.config.grpc_port}" if self.config.grpc_port else ""
        return Target(rest, grpc_address, tls, self.keys_on)

    # ---- files ----

    def model_folder(self, name: str) -> Path | None:
        """The local folder of a model (None for object-storage base paths)."""
        try:
            base = self.service.model_config(name).base_path
        except ServingError:
            return None
        return base if isinstance(base, Path) else None


def _client(request: Any) -> str:
    client = getattr(getattr(request, "client", None), "host", None)
    return str(client or CLIENT_ADDRESS.get())
