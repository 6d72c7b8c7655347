"""The gRPC front door: TF Serving's services and the Open Inference Protocol's ``GRPCInferenceService`` on
one ``grpc.aio`` server, with ``grpc.health.v1`` health and server reflection.

Message sizes default to gRPC's maximum (2 GiB - 1), far above the 4 MiB client default, as in TF Serving.
With keys on, every call but health, reflection and V2's liveness and readiness needs a key
(:mod:`modelserve.server.grpc_access`); with ``--ssl_config_file``, the TCP port speaks TLS or mTLS.
Health answers SERVING for the whole server and each service once models are loaded, and NOT_SERVING
from the moment shutdown begins.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from modelserve.config import ServerConfig
from modelserve.protocols import monitoring_grpc, pb
from modelserve.protocols.tfs import grpc as tfs_grpc
from modelserve.protocols.v2 import grpc as v2_grpc
from modelserve.protocols.v2.shared_memory import SharedMemoryRegions
from modelserve.server.access_control import AccessControl
from modelserve.server.grpc_access import AccessInterceptor
from modelserve.server.tls import TlsSource
from modelserve.serving.service import ModelService

SERVICES = (
    "tensorflow.serving.PredictionService", "tensorflow.serving.ModelService", "inference.GRPCInferenceService",
    monitoring_grpc.SERVICE,
)  # fmt: skip


class GrpcFrontDoor:
    def __init__(
        self,
        service: ModelService,
        config: ServerConfig,
        regions: SharedMemoryRegions | None = None,
        access: AccessControl | None = None,
        tls: TlsSource | None = None,
        reuse_port: bool = False,
    ) -> None:
        """``access``: keys and audit (see :mod:`modelserve.server.grpc_access`); ``tls``: the TCP port (not
        the Unix socket, which file permissions guard) speaks TLS, or mTLS. ``reuse_port``: share the port
        with the other workers (``--workers``)."""
        self.config = config
        timeout = config.rest_api_timeout_ms / 1000 if config.rest_api_timeout_ms > 0 else None
        size = config.grpc_max_message_bytes
        self.server = grpc.aio.server(
            interceptors=[AccessInterceptor(access)] if access is not None else [],
            options=[
                ("grpc.max_send_message_length", size),
                ("grpc.max_receive_message_length", size),
                ("grpc.so_reuseport", int(reuse_port)),
                *config.grpc_channel_arguments,
            ],
        )
        tfs_api = tfs_grpc.TfsGrpcApi(
            service, timeout, config.serialize_as_tensor_content, config.enable_signature_method_name_check
        )
        self.server.add_generic_rpc_handlers(tfs_grpc.generic_handlers(tfs_api))
        self.server.add_generic_rpc_handlers(v2_grpc.generic_handlers(v2_grpc.V2GrpcApi(service, timeout, regions)))
        self.server.add_generic_rpc_handlers(
            monitoring_grpc.generic_handlers(monitoring_grpc.MonitoringGrpcApi(service))
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*SERVICES, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server, pool=pb.POOL
        )
        address = f"{config.host}:{config.grpc_port}"
        if tls is not None:
            self.port = self.server.add_secure_port(address, tls.grpc_credentials())
        else:
            self.port = self.server.add_insecure_port(address)
        if config.grpc_socket_path:
            self.server.add_insecure_port(f"unix:{config.grpc_socket_path}")

    async def start(self) -> None:
        await self.server.start()
        for name in ("", *SERVICES):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace: float) -> None:
        """Refuse new RPCs, let running ones finish for up to ``grace`` seconds."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
