"""``modelserve serve`` flags, named and defaulted like ``tensorflow_model_server``'s, plus our own.

Flags accept TF Serving's spellings (``--rest_api_port=8501``, ``--rest_api_enable_cors_support=true``).
Environment defaults follow the ``tensorflow/serving`` image: ``MODEL_NAME`` and ``MODEL_BASE_PATH``
(the model's base path is then ``$MODEL_BASE_PATH/$MODEL_NAME``, ``/models`` by default).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from modelserve.config import ModelConfig, ServerConfig
from modelserve.errors import InvalidArgument
from modelserve.repository.filesystem import repository_models, version_folders
from modelserve.repository.remote import check_url, is_url
from modelserve.server.flag_types import boolean
from modelserve.server.monitoring_flags import add_monitoring_flags, monitoring_config
from modelserve.server.operations_flags import add_operations_flags, operations_config

log = logging.getLogger(__name__)


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--port", type=int, default=8500, help="gRPC port; 0 turns gRPC off [8500]")
    add("--grpc_socket_path", default="", help="also serve gRPC on this Unix socket (TF Serving's flag) [none]")
    add(
        "--grpc_channel_arguments",
        default="",
        help="gRPC server options, comma-separated key=value (ints as ints), e.g. grpc.max_connection_age_ms=2000",
    )
    add(
        "--prefer_tflite_model",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="a version folder holding a .tflite file is served as TFLite, even beside a SavedModel [false]",
    )
    add("--grpc_max_message_bytes", type=int, default=2**31 - 1, help="largest gRPC message [2 GiB - 1]")
    add(
        "--enable_serialization_as_tensor_content",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="gRPC Predict answers in tensor_content (faster) instead of typed fields [false, as TF Serving]",
    )
    add(
        "--enable_signature_method_name_check",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="classify and regress need signatures whose method_name says so [false, as TF Serving]",
    )
    add(
        "--allow_client_shm",
        type=boolean,
        nargs="?",
        const=True,
        default=True,
        help="V2 clients on this host may pass tensors in POSIX shared memory (/dev/shm) [true, as Triton 23.12]",
    )
    add(
        "--allow_code_models",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="load models that run code: the python platform (model.py) [false]",
    )
    add("--rest_api_port", type=int, default=8501, help="REST port [8501]")
    add("--host", default="0.0.0.0", help="address to listen on [0.0.0.0]")
    add("--model_name", default=None, help="name of the single served model [$MODEL_NAME or 'default']")
    add(
        "--model_base_path",
        default=None,
        help="folder of integer version folders [$MODEL_BASE_PATH/$MODEL_NAME]",
    )
    add("--model_config_file", default=None, help="TF Serving text-proto ModelServerConfig (several models)")
    add("--model_repository", default=None, help="serve every model folder under this folder (ours)")
    add("--model_platform", default=None, help="tensorflow | keras | onnx | tflite | python [detected per version]")
    add(
        "--file_system_poll_wait_seconds",
        type=float,
        default=1.0,
        help="version scan period; <= 0: scan once [1]",
    )
    add("--rest_api_timeout_in_ms", type=int, default=30_000, help="per-request deadline, then 504 [30000]")
    add("--rest_api_enable_cors_support", type=boolean, nargs="?", const=True, default=False)
    add(
        "--monitoring_config_file",
        default=None,
        help="TF Serving's MonitoringConfig (prometheus_config { enable, path }); /metrics is always served",
    )
    add("--enable_batching", type=boolean, nargs="?", const=True, default=False, help="dynamic batching [false]")
    add("--batching_parameters_file", default=None, help="TF Serving's BatchingParameters (needs --enable_batching)")
    add(
        "--enable_per_model_batching_parameters",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="a version folder's batching_params.pbtxt overrides the server's batching parameters [false]",
    )
    add("--max_request_bytes", type=int, default=64 * 1024 * 1024, help="larger bodies get 413 [64 MiB]")
    add("--max_in_flight", type=int, default=64, help="model calls running or waiting; beyond: 503 [64]")
    add("--model_threads", type=int, default=0, help="threads running model calls [2 x cores, at least 4]")
    add(
        "--inline_call_micros",
        type=int,
        default=200,
        help="model calls that typically take less run on the event loop, skipping the thread hop; 0: never [200]",
    )
    add("--tensorflow_intra_op_parallelism", type=int, default=0)
    add("--tensorflow_inter_op_parallelism", type=int, default=0)
    add("--saved_model_tags", default="serve", help="comma-separated MetaGraph tags [serve]")
    add("--graceful_shutdown_seconds", type=float, default=30.0, help="SIGTERM drain limit [30]")
    add(
        "--enable_model_warmup",
        type=boolean,
        nargs="?",
        const=True,
        default=True,
        help="replay a version's assets.extra/tf_serving_warmup_requests and warmup.json before it serves [true]",
    )
    add(
        "--num_request_iterations_for_warmup",
        type=int,
        default=1,
        help="how many times each warmup request is replayed; below 1 means 1 [1]",
    )
    add(
        "--model_config_file_poll_wait_seconds",
        type=float,
        default=0.0,
        help="re-read --model_config_file (and --traffic_config_file) this often; 0: read once [0]",
    )
    add(
        "--allow_version_labels_for_unavailable_models",
        type=boolean,
        nargs="?",
        const=True,
        default=False,
        help="new labels may point at versions that are not loaded yet [false]",
    )
    add("--traffic_config_file", default=None, help="weighted routes, sticky keys and shadow traffic (YAML/JSON)")
    add_operations_flags(parser)
    add_monitoring_flags(parser)
    add(
        "--remote_cache_dir",
        default=os.environ.get("MODELSERVE_REMOTE_CACHE_DIR"),
        help="local copies of s3:// and gs:// versions [$MODELSERVE_REMOTE_CACHE_DIR, else "
        "<temp dir>/modelserve-remote-cache-<uid>]",
    )
    add(
        "--s3_endpoint",
        default=None,
        help="S3-compatible endpoint URL, e.g. http://minio:9000 [$AWS_ENDPOINT_URL_S3 or $AWS_ENDPOINT_URL, else AWS]",
    )


def models_from_flags(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[ModelConfig, ...]:
    """The served models: a config file, a repository folder, or one model by name and base path."""
    if args.model_config_file:
        from modelserve.config_io import read_model_config_file

        return read_model_config_file(Path(args.model_config_file))
    if args.model_repository and is_url(args.model_repository):
        return models_in_remote_repository(args.model_repository, args.model_platform)
    if args.model_repository:
        return models_in_repository(Path(args.model_repository), args.model_platform, args.allow_code_models)
    name = args.model_name or environ.get("MODEL_NAME") or "default"
    base = args.model_base_path
    if base is None:
        if "MODEL_NAME" not in environ and "MODEL_BASE_PATH" not in environ:
            raise InvalidArgument(
                "nothing to serve: pass --model_base_path (with --model_name), --model_config_file or "
                "--model_repository, or set MODEL_NAME and MODEL_BASE_PATH"
            )
        base = os.path.join(environ.get("MODEL_BASE_PATH", "/models"), name)
    base_path = check_url(base) if is_url(base) else Path(base).absolute()
    return (ModelConfig(name=name, base_path=base_path, platform=args.model_platform),)


def models_in_repository(
    root: Path, platform: str | None = None, allow_code_models: bool = False
) -> tuple[ModelConfig, ...]:
    """Every subfolder of ``root`` that holds integer version folders is a model named after it. Python
    models and pipelines with Python steps (a version with ``model.py`` or ``steps.py``) are left out, with a
    warning, unless ``allow_code_models``."""
    if not root.is_dir():
        raise InvalidArgument(f"--model_repository {root} is not a folder")
    models = []
    folders, escaped = repository_models(root)
    for folder, outside in escaped:
        log.warning("not serving %s: %s leads outside the model repository", folder, outside)
    for folder in folders:
        if not allow_code_models and any(_runs_code(v) for v in version_folders(folder).values()):
            log.warning("not serving %s: its Python code would run; pass --allow_code_models to serve it", folder)
            continue
        models.append(ModelConfig(name=folder.name, base_path=folder.absolute(), platform=platform))
    if not models:
        raise InvalidArgument(f"no model folders (with integer version folders) under {root}")
    return tuple(models)


def _runs_code(version: Path) -> bool:
    return (version / "model.py").is_file() or (version / "steps.py").is_file()


def models_in_remote_repository(url: str, platform: str | None = None) -> tuple[ModelConfig, ...]:
    """``--model_repository s3://bucket/models``: the model folders listed once, at start-up."""
    from modelserve.repository.remote import model_folders

    url = check_url(url)
    names = model_folders(url)
    if not names:
        raise InvalidArgument(f"no model folders (with integer version folders) under {url}")
    return tuple(ModelConfig(name=n, base_path=f"{url}/{n}", platform=platform) for n in names)


def configure_remote_storage(args: argparse.Namespace) -> None:
    """Hand ``--remote_cache_dir`` and ``--s3_endpoint`` to the remote scanners (process-wide settings)."""
    from modelserve.repository.remote import RemoteSettings, configure

    cache_dir = Path(args.remote_cache_dir).absolute() if args.remote_cache_dir else None
    configure(RemoteSettings(cache_dir=cache_dir, s3_endpoint=args.s3_endpoint or None))


def server_config(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> ServerConfig:
    configure_remote_storage(args)
    local_repository = args.model_repository and not is_url(args.model_repository)
    return ServerConfig(
        models=models_from_flags(args, environ),
        model_repository=Path(args.model_repository).absolute() if local_repository else None,
        default_platform=args.model_platform,
        host=args.host,
        rest_api_port=args.rest_api_port,
        grpc_port=args.port,
        grpc_max_message_bytes=args.grpc_max_message_bytes,
        grpc_socket_path=args.grpc_socket_path or None,
        grpc_channel_arguments=grpc_channel_arguments(args.grpc_channel_arguments),
        prefer_tflite_model=args.prefer_tflite_model,
        serialize_as_tensor_content=args.enable_serialization_as_tensor_content,
        enable_signature_method_name_check=args.enable_signature_method_name_check,
        allow_client_shm=args.allow_client_shm,
        allow_code_models=args.allow_code_models,
        monitoring_path=monitoring_path(args.monitoring_config_file),
        batching=batching(args.enable_batching, args.batching_parameters_file),
        per_model_batching=args.enable_per_model_batching_parameters,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
        rest_api_timeout_ms=args.rest_api_timeout_in_ms,
        enable_cors=args.rest_api_enable_cors_support,
        max_request_bytes=args.max_request_bytes,
        max_in_flight=args.max_in_flight,
        model_threads=args.model_threads,
        inline_call_micros=args.inline_call_micros,
        intra_op_threads=args.tensorflow_intra_op_parallelism,
        inter_op_threads=args.tensorflow_inter_op_parallelism,
        saved_model_tags=tuple(t for t in args.saved_model_tags.split(",") if t),
        graceful_shutdown_seconds=args.graceful_shutdown_seconds,
        enable_model_warmup=args.enable_model_warmup,
        num_request_iterations_for_warmup=max(1, args.num_request_iterations_for_warmup),
        model_config_file=Path(args.model_config_file).absolute() if args.model_config_file else None,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        traffic_config_file=Path(args.traffic_config_file).absolute() if args.traffic_config_file else None,
        **operations_config(args),
        **monitoring_config(args),
    )


def grpc_channel_arguments(text: str) -> tuple[tuple[str, int | str], ...]:
    """TF Serving's ``--grpc_channel_arguments``: ``key=value`` pairs, a value of digits passed as an int."""
    pairs: list[tuple[str, int | str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"--grpc_channel_arguments: expected key=value, got {item!r}")
        pairs.append((key, int(value) if value.lstrip("-").isdigit() else value))
    return tuple(pairs)


DEFAULT_MONITORING_PATH = "/monitoring/prometheus/metrics"


def monitoring_path(config_file: str | None) -> str | None:
    """TF Serving's Prometheus path from ``--monitoring_config_file``; on at the default path without one."""
    if config_file is None:
        return DEFAULT_MONITORING_PATH
    from modelserve.textproto import TextProtoError, parse

    try:
        root = parse(Path(config_file).read_text())
    except (OSError, TextProtoError) as exc:
        raise InvalidArgument(f"--monitoring_config_file {config_file}: {exc}") from None
    prometheus = root.fields.get("prometheus_config", [None])[0]
    if prometheus is None or not prometheus.fields.get("enable", [False])[0]:
        return None
    path = prometheus.fields.get("path", [DEFAULT_MONITORING_PATH])[0]
    return path if str(path).startswith("/") else f"/{path}"


def batching(enabled: bool, parameters_file: str | None) -> object | None:
    """TF Serving's rule: a parameters file without --enable_batching is an error."""
    from modelserve.config import BatchingConfig
    from modelserve.config_io import read_batching_parameters

    if parameters_file and not enabled:
        raise InvalidArgument("--batching_parameters_file requires --enable_batching")
    if not enabled:
        return None
    return read_batching_parameters(Path(parameters_file)) if parameters_file else BatchingConfig()
