"""Frozen, typed configuration, validated once at start-up; every reader of a file or message format that
fills these types is in :mod:`modelserve.config_io`. Imports only :mod:`modelserve.errors`.

ModelConfig(name="half_plus_two", base_path=Path("/models/half_plus_two"), policy=Latest(1))
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modelserve.errors import InvalidArgument


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
    #: Set by a V2 load with a config override (Triton's ``max_batch_size`` and ``dynamic_batching``):
    #: requests with more rows are refused; ``batching`` batches this model whatever the server's setting.
    max_batch_size: int = 0
    batching: BatchingConfig | None = None


@dataclass(frozen=True)
class ModelOverride:
    """What a load with a config override changes for one model (Triton's ``config`` load parameter):
    ``policy`` None keeps the model's own; ``max_batch_size`` 0 is no limit; ``batching`` None, no batching
    of its own (the server's setting applies). A later load without an override goes back to the model's
    own config."""

    policy: VersionPolicy | None = None
    max_batch_size: int = 0
    batching: BatchingConfig | None = None


@dataclass(frozen=True)
class BatchingConfig:
    """Dynamic batching with TF Serving's ``BatchingParameters`` names and defaults
    (:func:`modelserve.config_io.read_batching_parameters` reads its text file)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.num_batch_threads < 1 or self.max_enqueued_batches < 1:
            raise InvalidArgument("max_batch_size, num_batch_threads and max_enqueued_batches must be positive")
        sizes = self.allowed_batch_sizes
        if sizes and (list(sizes) != sorted(set(sizes)) or sizes[-1] != self.max_batch_size):
            raise InvalidArgument(
                "allowed_batch_sizes must increase strictly and end with max_batch_size "
                f"({self.max_batch_size}), got {list(sizes)}"
            )


DEFAULT_ROUTING_HEADER = "x-routing-key"


@dataclass(frozen=True)
class Route:
    """One weighted target: a version label or a version number (as text, e.g. ``"2"``)."""

    target: str
    weight: float


@dataclass(frozen=True)
class Shadow:
    target: str
    fraction: float


@dataclass(frozen=True)
class TrafficPolicy:
    routes: tuple[Route, ...] = ()
    shadow: Shadow | None = None
    seed: int | None = None


@dataclass(frozen=True)
class TrafficConfig:
    """Traffic policies by model name (:func:`modelserve.config_io.read_traffic_file`; the rules are in
    :mod:`modelserve.serving.traffic`)."""

    policies: Mapping[str, TrafficPolicy] = field(default_factory=dict)
    routing_header: str = DEFAULT_ROUTING_HEADER


@dataclass(frozen=True)
class DispatchOptions:
    """How the serving core runs calls (:class:`modelserve.serving.dispatch.Dispatcher`).

    - ``max_in_flight``: calls running or waiting at once, beyond which calls are refused (Unavailable).
    - ``model_threads``: size of the model thread pool (0: ``max(4, 2 * cores)``).
    - ``inline_call_micros``: calls typically faster than this run on the event loop (0: never).
    - ``batching``: the server's batching parameters (None: no batching); a version's own
      ``LoadedModel.batching`` wins.
    - ``graceful_shutdown_seconds``: how long a stop waits for calls in flight.
    """

    max_in_flight: int = 64
    model_threads: int = 0
    inline_call_micros: int = 200
    batching: BatchingConfig | None = None
    graceful_shutdown_seconds: float = 30.0


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
    grpc_socket_path: str | None = None  # also listen on this Unix socket
    grpc_channel_arguments: tuple[tuple[str, int | str], ...] = ()  # extra gRPC server options
    prefer_tflite_model: bool = False
    serialize_as_tensor_content: bool = False
    enable_signature_method_name_check: bool = False
    allow_client_shm: bool = True  # V2 system shared memory (Triton's extension) on both V2 doors
    allow_code_models: bool = False  # model formats that run code (the python platform)
    monitoring_path: str | None = "/monitoring/prometheus/metrics"
    batching: BatchingConfig | None = None  # --enable_batching
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
    # Access (issue #14): API keys with scopes, TLS/mTLS on both doors, the audit log.
    api_keys_file: Path | None = None
    auth_failures_per_minute: int = 20
    ssl_config_file: Path | None = None
    audit_log: Path | None = None
    # The web page (issue #17) at /ui, built by modelserve.console (Gradio) when on.
    ui: bool = False
    # Processes sharing the ports (--workers, modelserve.server.workers); 1: this process serves.
    workers: int = 1
    # The request log (issue #18): sampled JSON lines (modelserve.monitoring.request_log); None: off.
    request_log: Path | None = None
    request_log_sample_rate: float = 0.01
    request_log_model_rates: tuple[tuple[str, float], ...] = ()
    request_log_max_bytes: int = 64 * 2**20
    request_log_backups: int = 5
    request_log_rotate_seconds: float = 0  # also rotate by age (0: by size only)
    request_log_format: str = "jsonl"  # "jsonl" or "parquet" (pyarrow)
    request_log_cloudevents_url: str | None = None  # also POST each entry as a CloudEvent here
    # Drift and ground truth (issue #18, modelserve.monitoring.monitor): on unless ``drift`` is False.
    drift: bool = True
    drift_baseline_rows: int = 1000  # rows learned from the first requests when a version has no reference
    drift_window_rows: int = 500  # a live window closes at this many rows...
    drift_window_seconds: float = 60.0  # ...or after this long with at least drift_min_window_rows
    drift_min_window_rows: int = 50
    drift_p_value: float = 0.01  # a test flags drift below this p-value (Bonferroni-corrected per window)
    drift_psi_threshold: float = 0.25  # ... or above this PSI (numeric_test "psi")
    drift_config_file: Path | None = None  # per-model drift settings (YAML, modelserve.monitoring.settings)
    feedback_window_rows: int = 1000  # ground-truth rows per accuracy window
    feedback_memory_requests: int = 100_000  # answered requests remembered for joining feedback

    def dispatch_options(self) -> DispatchOptions:
        return DispatchOptions(
            max_in_flight=self.max_in_flight,
            model_threads=self.model_threads,
            inline_call_micros=self.inline_call_micros,
            batching=self.batching,
            graceful_shutdown_seconds=self.graceful_shutdown_seconds,
        )
