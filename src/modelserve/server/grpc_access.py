"""Access control on the gRPC door: one server interceptor for TF Serving's services and the V2 service.

The caller's key comes from the ``authorization`` metadata (``Bearer msk_…``, what tritonclient's
``headers=`` and a TF Serving client's ``metadata=`` send), its certificate from the TLS session's auth
context. A refusal is the call's status (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED) with the
message; a call admitted runs with :data:`~modelserve.access.scopes.PRINCIPAL` set. Health and reflection
stay open, as do V2's liveness and readiness RPCs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import grpc

from modelserve.access.scopes import PRINCIPAL, Identity, Kind
from modelserve.errors import Code, ServingError
from modelserve.protocols.status import code_of_grpc, grpc_status
from modelserve.server.access_control import AccessControl, grpc_kind

__all__ = ["AccessInterceptor"]


class AccessInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, access: AccessControl) -> None:
        self.access = access

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        kind = grpc_kind(details.method)
        if kind is Kind.OPEN or (not self.access.enabled and kind is not Kind.ADMIN):
            return handler
        if handler.unary_unary is None:  # a streaming RPC of ours would need its own guard: refuse it
            return handler._replace(
                **{behaviour: self._refused for behaviour in _STREAMING if getattr(handler, behaviour)}
            )
        if not self.access.enabled:  # keys off: only admin calls, for the audit log
            return handler._replace(unary_unary=self._guarded(handler.unary_unary, kind, details.method, None))
        # Keys on: the caller is checked before its message is parsed (an unknown caller's 2 GiB body is
        # never decoded); the message arrives as bytes and is parsed once admitted.
        parse = handler.request_deserializer
        guarded = self._guarded(handler.unary_unary, kind, details.method, parse)
        return handler._replace(unary_unary=guarded, request_deserializer=None)

    @staticmethod
    async def _refused(_request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "this streaming method is not served with API keys on")

    def _guarded(
        self, inner: Callable[[Any, Any], Awaitable[Any]], kind: Kind, method: str, parse: Callable | None
    ) -> Callable:
        """``inner`` run for an admitted caller; ``parse`` (the message's deserializer) turns the raw bytes
        into the request once the caller is admitted (None: the request arrives parsed)."""
        access = self.access

        async def guarded(request: Any, context: grpc.aio.ServicerContext) -> Any:
            client = _address(context.peer())
            identity: Identity | None = None
            try:
                identity = access.admit(kind, _authorization(context), _client_cn(context), client, "grpc", method)
            except ServingError as exc:
                await context.abort(grpc_status(exc.code), exc.message)
            if parse is not None:
                try:
                    request = parse(request)
                except Exception as exc:  # any parse failure is the caller's bad message
                    await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request message does not parse: {exc}")
            token = PRINCIPAL.set(identity) if identity is not None else None
            who = identity.name if identity is not None else "anonymous"
            try:
                answer = await inner(request, context)
            except grpc.aio.AbortError:
                code = code_of_grpc(context.code()) if context.code() is not None else Code.UNKNOWN
                if code is Code.PERMISSION_DENIED and identity is not None:  # the core's model check
                    access.denied(who, client, "grpc", method, context.details() or "")
                if kind is Kind.ADMIN:
                    access.admin_action(who, client, "grpc", method, "", f"failed ({code.name})")
                raise
            finally:
                if token is not None:
                    PRINCIPAL.reset(token)
            if kind is Kind.ADMIN:
                access.admin_action(who, client, "grpc", method, "", "ok")
            return answer

        return guarded


_STREAMING = ("unary_stream", "stream_unary", "stream_stream")


def _authorization(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


def _client_cn(context: grpc.aio.ServicerContext) -> str | None:
    names = context.auth_context().get("x509_common_name")
    return names[0].decode("utf-8", "replace") if names else None


def _address(peer: str) -> str:
    """``ipv4:127.0.0.1:5000`` -> ``127.0.0.1``; ``ipv6:%5B::1%5D:5000`` (grpcio quotes it) -> ``::1``, as
    the REST door writes them; ``unix:...`` kept."""
    kind, _sep, rest = unquote(peer).partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return peer
