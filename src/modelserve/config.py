"""Frozen, typed configuration, validated once at start-up. Imports nothing of ours.

ModelConfig(name="half_plus_two", base_path=Path("/models/half_plus_two"), policy=Latest(1))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Latest:
    """Serve the ``n`` highest versions (TF Serving's default, ``n=1``)."""

    n: int = 1

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"latest policy needs num_versions >= 1, got {self.n}")


@dataclass(frozen=True)
class All:
    """Serve every version found."""


@dataclass(frozen=True)
class Specific:
    """Serve exactly these versions (when present)."""

    versions: tuple[int, ...]


VersionPolicy = Latest | All | Specific


@dataclass(frozen=True)
class ModelConfig:
    """One served model: a name, a base path of integer version folders, and how to choose versions.

    ``base_path`` is a local folder (a Path) or, for object storage, URL text such as ``"s3://bucket/models/x"``
    (kept as text: a Path would fold its ``//``)."""

    name: str
    base_path: Path | str
    platform: str | None = None
    policy: VersionPolicy = field(default_factory=Latest)
    labels: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``modelserve serve`` needs; flags and environment are read into this in one place."""

    models: tuple[ModelConfig, ...]
    model_repository: Path | None = None
    default_platform: str | None = None
    host: str = "0.0.0.0"
    rest_api_port: int = 8501
    grpc_port: int = 8500
    grpc_max_message_bytes: int = 2**31 - 1
    serialize_as_tensor_content: bool = False
    monitoring_path: str | None = "/monitoring/prometheus/metrics"
    batching: object | None = None  # a batching.config.BatchingConfig when --enable_batching
    per_model_batching: bool = False  # a version's batching_params.pbtxt overrides `batching`
    file_system_poll_wait_seconds: float = 1.0
    rest_api_timeout_ms: int = 30_000
    enable_cors: bool = False
    max_request_bytes: int = 64 * 1024 * 1024
    max_in_flight: int = 64
    model_threads: int = 0
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    saved_model_tags: tuple[str, ...] = ("serve",)
    settle_seconds: float = 0.3
    graceful_shutdown_seconds: float = 30.0
    # Warmup (serving/warmup.py): replay a version's warmup requests, each this many times, before it serves.
    enable_model_warmup: bool = True
    num_request_iterations_for_warmup: int = 1
    # A model call that typically takes less than this runs on the event loop itself: a thread hop costs
    # more than such a call (0: always on the model threads). Never with batching.
    inline_call_micros: int = 200
    # Releases (issue #5): config file re-reading, labels, traffic policies, the admin API.
    model_config_file: Path | None = None
    model_config_file_poll_wait_seconds: float = 0.0
    allow_version_labels_for_unavailable_models: bool = False
    traffic_config_file: Path | None = None
    admin_token: str | None = None
