"""Composition root of ``modelserve serve``: config in, a running server out, a clean exit on SIGTERM.

Order: build :class:`ModelService` (injecting the warmup file readers, so the serving core knows no wire
format) and load what is on disk (start-up waits for first loads, as TF
Serving does, but a model that fails to load does not stop the others), then serve REST with uvicorn.
SIGTERM or SIGINT: stop accepting connections, let in-flight requests finish (up to
``graceful_shutdown_seconds``), stop polling, unload, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator

import uvicorn

from modelserve.config import ServerConfig
from modelserve.protocols.v2.shared_memory import SharedMemoryRegions
from modelserve.server.app import RestApp
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


def build_uvicorn(
    service: ModelService, config: ServerConfig, regions: SharedMemoryRegions | None = None
) -> uvicorn.Server:
    uv_config = uvicorn.Config(
        RestApp(service, config, regions),
        host=config.host,
        port=config.rest_api_port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=config.graceful_shutdown_seconds,
        backlog=2048,
    )
    return _Server(uv_config)


async def _serve(service: ModelService, config: ServerConfig) -> None:
    regions = SharedMemoryRegions() if config.allow_client_shm else None  # one set for both V2 doors
    rest = build_uvicorn(service, config, regions)
    grpc_door = None
    if config.grpc_port:
        from modelserve.server.grpc_server import GrpcFrontDoor

        grpc_door = GrpcFrontDoor(service, config, regions)
        await grpc_door.start()
        log.info("gRPC API on %s:%d (TF Serving PredictionService, ModelService)", config.host, grpc_door.port)
        stopping: list[asyncio.Task] = []
        rest.on_exit = lambda: stopping.append(asyncio.ensure_future(grpc_door.stop(config.graceful_shutdown_seconds)))
    log.info("REST API on http://%s:%d (TF Serving /v1 API)", config.host, config.rest_api_port)
    try:
        await rest.serve()
    finally:
        if grpc_door is not None:
            await grpc_door.stop(config.graceful_shutdown_seconds)
        if regions is not None:
            regions.close()


def serve(config: ServerConfig) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from modelserve.protocols.tfs.warmup_files import READERS

    service = ModelService(config, warmup_readers=READERS)  # warmup reads TF Serving's and our request files
    service.start()
    for name in service.model_names():
        versions = service.available_versions(name)
        log.info("model %s: available versions %s", name, versions or "none")
    try:
        asyncio.run(_serve(service, config))
    finally:
        service.stop()
    log.info("stopped")
    return 0
