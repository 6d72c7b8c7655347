"""Composition root of ``modelserve serve``: config in, a running server out, a clean exit on SIGTERM.

Order: build :class:`ModelService` (injecting the warmup file readers, so the serving core knows no wire
format) and load what is on disk (start-up waits for first loads, as TF
Serving does, but a model that fails to load does not stop the others), then serve REST with uvicorn.
SIGTERM or SIGINT: stop accepting connections, let in-flight requests finish (up to
``graceful_shutdown_seconds``), stop polling, unload, exit 0.

Access: one :class:`AccessControl` (the keys and the audit log) and one :class:`TlsSource` (the
certificates) serve both doors; a server without keys that listens beyond loopback says so loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator

import uvicorn

from modelserve.access.audit import AuditLog
from modelserve.access.authenticator import Authenticator
from modelserve.config import ServerConfig
from modelserve.protocols.v2.shared_memory import SharedMemoryRegions
from modelserve.server.access_control import AccessControl
from modelserve.server.app import PageApp, RestApp
from modelserve.server.metrics_merge import merge_expositions
from modelserve.server.peers import PeerApp, WorkerPeers
from modelserve.server.tls import TlsSource, tls_http_protocol
from modelserve.server.workers import WorkerSlot, die_with_parent, reuse_port_socket
from modelserve.serving.service import ModelService

log = logging.getLogger("modelserve")


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, so the process would die by the signal.

    We take the signals ourselves: SIGTERM/SIGINT start the same graceful shutdown (and call ``on_exit``,
    which stops the gRPC server), and the process exits 0.
    """

    on_exit: Callable[[], None] = staticmethod(lambda: None)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._request_exit, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _request_exit(self, sig: signal.Signals) -> None:
        log.info("%s: draining in-flight requests, then stopping", sig.name)
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True
        self.on_exit()


class _PeerServer(uvicorn.Server):
    """A worker's peer socket (:mod:`modelserve.server.peers`): the REST server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def build_access(service: ModelService, config: ServerConfig) -> AccessControl:
    """The keys (when ``--api_keys_file`` is given) and the audit log both doors use."""
    authenticator = None
    if config.api_keys_file is not None:
        authenticator = Authenticator(config.api_keys_file, config.admin_token, config.auth_failures_per_minute)
        log.info("API keys from %s: %d entries", config.api_keys_file, len(authenticator.key_names))
    elif not _is_loopback(config.host):
        log.warning(
            "NO AUTHENTICATION: anyone who can reach %s (REST %d, gRPC %d) can run every model, read its metadata "
            "and metrics, and reload, load, unload and move traffic%s. Give keys with --api_keys_file (see "
            "docs/security.md), or --host=127.0.0.1.",
            config.host, config.rest_api_port, config.grpc_port,
            " (--admin_token guards only /admin)" if config.admin_token else "",
        )  # fmt: skip
    return AccessControl(authenticator, AuditLog(config.audit_log), service.metrics.observe_auth_refusal)


def _browsable(host: str) -> str:
    """The host to print in a URL a person opens: ``localhost`` for the wildcard addresses."""
    return "localhost" if host in ("0.0.0.0", "::", "") else host


PageFactory = Callable[[ModelService, ServerConfig, AccessControl], PageApp]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_uvicorn(
    service: ModelService,
    config: ServerConfig,
    regions: SharedMemoryRegions | None = None,
    access: AccessControl | None = None,
    tls: TlsSource | None = None,
    page: PageApp | None = None,
    peers: WorkerPeers | None = None,
) -> uvicorn.Server:
    tls_options: dict = {"http": "httptools"}
    if tls is not None:  # our protocol puts the client certificate's CN in the scope
        tls_options = {"ssl_context_factory": lambda _config, _default: tls.rest_context(), "http": tls_http_protocol()}
    uv_config = uvicorn.Config(
        RestApp(service, config, regions, access, page, _exposition(service, peers)),
        host=config.host,
        port=config.rest_api_port,
        loop="uvloop",
        lifespan="on" if page is not None else "off",  # the page's app starts its queue in its lifespan
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=config.graceful_shutdown_seconds,
        backlog=2048,
        **tls_options,
    )
    return _Server(uv_config)


def _exposition(service: ModelService, peers: WorkerPeers | None) -> Callable[[], bytes] | None:
    """What a scrape answers: with workers, every worker's metrics merged (None: this process's own)."""
    if peers is None:
        return None
    return lambda: merge_expositions([service.metrics.exposition(), *peers.expositions()])


async def _serve(
    service: ModelService,
    config: ServerConfig,
    page_factory: PageFactory | None,
    peers: WorkerPeers | None = None,
    peer_socket: socket.socket | None = None,
) -> None:
    regions = SharedMemoryRegions() if config.allow_client_shm else None  # one set for both V2 doors
    access = build_access(service, config)
    tls = TlsSource(config.ssl_config_file) if config.ssl_config_file is not None else None
    page = page_factory(service, config, access) if page_factory is not None else None
    rest = build_uvicorn(service, config, regions, access, tls, page, peers)
    listeners = None if peers is None else [reuse_port_socket(config.host, config.rest_api_port)]
    peer_server = None
    if peer_socket is not None:
        peer_config = uvicorn.Config(PeerApp(service), http="httptools", lifespan="off", log_level="warning")
        peer_server = _PeerServer(peer_config)
        peer_task = asyncio.ensure_future(peer_server.serve(sockets=[peer_socket]))
    grpc_door = None
    if config.grpc_port:
        from modelserve.server.grpc_server import GrpcFrontDoor

        grpc_door = GrpcFrontDoor(service, config, regions, access, tls, reuse_port=peers is not None)
        await grpc_door.start()
        log.info("gRPC API on %s:%d (TF Serving PredictionService, ModelService)", config.host, grpc_door.port)
        stopping: list[asyncio.Task] = []
        rest.on_exit = lambda: stopping.append(asyncio.ensure_future(grpc_door.stop(config.graceful_shutdown_seconds)))
    scheme = "https" if tls is not None else "http"
    log.info("REST API on %s://%s:%d (TF Serving /v1, V2 /v2)", scheme, config.host, config.rest_api_port)
    if page is not None:
        log.info("web page on %s://%s:%d/ui/", scheme, _browsable(config.host), config.rest_api_port)
    try:
        await rest.serve(sockets=listeners)
    finally:
        if peer_server is not None:
            peer_server.should_exit = True
            await peer_task
        if page is not None:
            page.close()
        if grpc_door is not None:
            await grpc_door.stop(config.graceful_shutdown_seconds)
        if regions is not None:
            regions.close()
        access.audit.close()


def _worker_config(config: ServerConfig, slot: WorkerSlot) -> ServerConfig:
    """A worker's config: the supervisor's ports, the gRPC Unix socket on worker 0 only, and a request log
    file of its own (``requests.jsonl`` -> ``requests.worker1.jsonl``)."""
    request_log = config.request_log
    if request_log is not None:
        request_log = request_log.with_name(f"{request_log.stem}.worker{slot.index}{request_log.suffix}")
    return dataclasses.replace(
        config,
        rest_api_port=slot.rest_port,
        grpc_port=slot.grpc_port,
        grpc_socket_path=config.grpc_socket_path if slot.index == 0 else None,
        request_log=request_log,
    )


def serve(config: ServerConfig, page: PageFactory | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit status. ``page`` builds the web page's ASGI app
    (``modelserve.console.page.build_console``, a layer above this one) when ``--ui`` is on."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from modelserve.protocols.tfs.warmup_files import READERS

    slot = WorkerSlot.from_environment()
    if slot is not None:  # one of --workers N, started by modelserve.server.workers
        die_with_parent(int(os.environ.get("MODELSERVE_SUPERVISOR", os.getppid())))
        config = _worker_config(config, slot)
    service = ModelService(config, warmup_readers=READERS)  # warmup reads TF Serving's and our request files
    service.start()
    for name in service.model_names():
        versions = service.available_versions(name)
        log.info("model %s: available versions %s", name, versions or "none")
    peers = peer_socket = None
    if slot is not None:
        peers = WorkerPeers(slot.run_dir, slot.index, slot.count)
        peer_socket = peers.listen()  # before the replay: a change announced meanwhile waits in its backlog
        replayed = peers.replay(service)
        service.peers = peers
        log.info("worker %d of %d ready (pid %d, %d changes replayed)", slot.index, slot.count, os.getpid(), replayed)
    try:
        asyncio.run(_serve(service, config, page, peers, peer_socket))
    finally:
        service.stop()
    log.info("stopped")
    return 0
