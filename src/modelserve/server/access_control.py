"""Access control at the doors: which :class:`~modelserve.access.scopes.Kind` each REST path and gRPC method
is, the check a request passes before its body is read, and the audit lines of refusals and admin actions.

The door authenticates the caller (:class:`~modelserve.access.authenticator.Authenticator`) and checks the
request's kind against the caller's scopes, then serves the request with
:data:`~modelserve.access.scopes.PRINCIPAL` set; the serving core checks the model a ``predict`` key names
(:func:`~modelserve.access.scopes.check_predict`), once, for every door. Without keys (``--api_keys_file``
unset) nothing is checked and :data:`PRINCIPAL` stays None; admin actions are audited either way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar

from modelserve.access.audit import AuditLog
from modelserve.access.authenticator import Authenticator, BadCredentials, RateLimited
from modelserve.access.scopes import Identity, Kind
from modelserve.errors import PermissionDenied, Unauthenticated

__all__ = ["CLIENT_ADDRESS", "AccessControl", "grpc_kind", "rest_kind"]

_OPEN_GET = re.compile(r"/healthz|/readyz|/v2/health/(?:live|ready)|/v2/models/[^/]+(?:/versions/[^/]+)?/ready")
_V1 = re.compile(r"/v1/", re.IGNORECASE)
_V2_SHM = re.compile(r"/v2/(?:system|cuda)sharedmemory(?:/.*)?", re.DOTALL)


# The client address of the request being served, for code the door hands the request to (the web page's
# sign-in, which rate limits by address like the doors).
CLIENT_ADDRESS: ContextVar[str] = ContextVar("modelserve_client_address", default="")


def rest_kind(method: str, path: str, metrics_paths: frozenset[str] | set[str] = frozenset()) -> Kind:
    """The kind of a REST request. POSTs under /v2 other than infer, shared memory and the index count as
    admin; paths no API serves need a valid key only (their answer is a 404)."""
    if method in ("GET", "HEAD") and _OPEN_GET.fullmatch(path):
        return Kind.OPEN
    if path == "/" or path == "/ui" or path.startswith("/ui/"):
        return Kind.OPEN  # the web page: it signs people in itself and checks each action's scope
    if method == "OPTIONS" and (_V1.match(path) or path == "/v2" or path.startswith("/v2/")):
        return Kind.OPEN  # CORS preflights carry no credentials
    if path == "/admin" or path.startswith("/admin/"):
        return Kind.ADMIN
    if path in metrics_paths or path == "/openapi.json":  # the metrics and the OpenAPI document
        return Kind.READ
    if _V1.match(path):
        return Kind.PREDICT if method == "POST" else Kind.READ
    if path == "/v2" or path.startswith("/v2/"):
        if _V2_SHM.fullmatch(path):  # a client's own regions, for its infer calls
            return Kind.PREDICT
        if method in ("GET", "HEAD") or path == "/v2/repository/index":
            return Kind.READ
        if path.endswith("/infer"):
            return Kind.PREDICT
        return Kind.ADMIN  # load, unload, and what Triton's trace and log settings would change
    return Kind.AUTHENTICATED


_TFS_PREDICTION = "/tensorflow.serving.PredictionService/"
_TFS_MODEL = "/tensorflow.serving.ModelService/"
_V2 = "/inference.GRPCInferenceService/"
_GRPC_KINDS = {
    **{_TFS_PREDICTION + m: Kind.PREDICT for m in ("Predict", "Classify", "Regress", "MultiInference")},
    _TFS_PREDICTION + "GetModelMetadata": Kind.READ,
    _TFS_MODEL + "GetModelStatus": Kind.READ,
    _TFS_MODEL + "HandleReloadConfigRequest": Kind.ADMIN,
    **{_V2 + m: Kind.OPEN for m in ("ServerLive", "ServerReady", "ModelReady")},
    **{_V2 + m: Kind.READ for m in ("ServerMetadata", "ModelMetadata", "ModelConfig", "ModelStatistics")},
    _V2 + "RepositoryIndex": Kind.READ,
    "/modelserve.MonitoringService/Feedback": Kind.PREDICT,  # ground truth for the caller's own answers
    "/modelserve.MonitoringService/GetMonitoring": Kind.READ,
    **{_V2 + m: Kind.PREDICT for m in ("ModelInfer", "ModelStreamInfer")},
    **{_V2 + m: Kind.ADMIN for m in ("RepositoryModelLoad", "RepositoryModelUnload", "TraceSetting", "LogSettings")},
}  # fmt: skip
_GRPC_OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def grpc_kind(method: str) -> Kind:
    """The kind of a gRPC call by its full method name (``/package.Service/Method``)."""
    kind = _GRPC_KINDS.get(method)
    if kind is not None:
        return kind
    if method.startswith(_GRPC_OPEN_SERVICES):
        return Kind.OPEN
    if method.startswith(_V2) and "SharedMemory" in method:
        return Kind.PREDICT
    return Kind.AUTHENTICATED


class AccessControl:
    """What both doors share: the authenticator (None: keys are off) and the audit log."""

    def __init__(
        self, authenticator: Authenticator | None, audit: AuditLog, count: Callable[[str], None] | None = None
    ) -> None:
        """``count(reason)`` is called for every refusal (``missing_key``, ``invalid_key``, ``rate_limited``,
        ``scope``), e.g. a Prometheus counter."""
        self.authenticator = authenticator
        self.audit = audit
        self._count = count or (lambda reason: None)

    @property
    def enabled(self) -> bool:
        return self.authenticator is not None

    def admit(
        self, kind: Kind, authorization: str | None, client_cn: str | None, client: str, door: str, target: str
    ) -> Identity | None:
        """The caller of a request of ``kind``, checked: raises Unauthenticated, RateLimited or
        PermissionDenied (audited). None when keys are off or the request is open."""
        authenticator = self.authenticator
        if authenticator is None or kind is Kind.OPEN:
            return None
        identity = self._checked(lambda: authenticator.authenticate(authorization, client_cn, client), client, door,
                                 target)  # fmt: skip
        if not identity.scopes.allows(kind):
            message = f"{identity.name!r} needs the '{kind.value}' scope for this (its scopes: {identity.scopes})"
            self.denied(identity.name, client, door, target, message)
            raise PermissionDenied(message)
        return identity

    def sign_in(self, name: str, key: str, client: str) -> Identity:
        """The web page's sign-in with a key's name and the key; refusals counted and audited as a door's."""
        if self.authenticator is None:
            raise Unauthenticated("this server has no API keys to sign in with")
        authenticator = self.authenticator
        return self._checked(lambda: authenticator.sign_in(name, key, client), client, "ui", "sign in")

    def _checked(self, authenticate: Callable[[], Identity], client: str, door: str, target: str) -> Identity:
        try:
            return authenticate()
        except BadCredentials as exc:
            self._count(exc.reason)
            self.audit.write(who="anonymous", client=client, door=door, action="authenticate", target=target,
                             outcome=exc.reason, detail="rate limit starts" if exc.starts_limit else "")  # fmt: skip
            raise
        except RateLimited:
            self._count(RateLimited.reason)  # not audited: the line that started the limit was
            raise

    def denied(self, who: str, client: str, door: str, target: str, detail: str) -> None:
        """Count and audit a 403 (from the door's check, or the serving core's model check)."""
        self._count("scope")
        self.audit.write(who=who, client=client, door=door, action="access", target=target, outcome="denied",
                         detail=detail)  # fmt: skip

    def admin_action(self, who: str, client: str, door: str, action: str, target: str, outcome: str) -> None:
        self.audit.write(who=who, client=client, door=door, action=action, target=target, outcome=outcome)
