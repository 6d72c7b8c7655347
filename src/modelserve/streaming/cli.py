"""``modelserve stream``: run one streaming worker until SIGTERM or SIGINT (then drain and exit 0).

    modelserve stream --redis redis://127.0.0.1:6379/0 --stream digits:in --group digits --model models/digits_onnx
    modelserve stream --kafka 127.0.0.1:9092 --topic digits.in --group digits --model models/digits_onnx

One backend per worker: Redis Streams (``--redis``, the default; ``--stream``) or Kafka (``--kafka``;
``--topic``); flags of the other backend are refused with a one-line error (:func:`backend_of`).
:func:`add_parser` only declares arguments; the model, the framework, ``redis`` and ``confluent_kafka`` are
imported when the command runs. Exit status: 0 after a clean drain, 1 for an error (``error: ...``) or an
unfinished drain.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from modelserve.errors import InvalidArgument
from modelserve.types import DEFAULT_SIGNATURE

log = logging.getLogger("modelserve.stream")

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
#: Flags of one backend only (argparse destinations), refused with the other.
REDIS_ONLY = ("redis", "stream", "start_id", "output_stream", "dead_letter_stream", "output_maxlen",
              "claim_idle_ms", "claim_interval_ms", "max_deliveries")  # fmt: skip
KAFKA_ONLY = ("kafka", "topic", "output_topic", "dead_letter_topic", "commit_interval_ms", "kafka_config")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "stream",
        help="predict on a Redis Stream or Kafka topic in a consumer group (results and dead letters out)",
        description="Consume a Redis Stream (--redis) or a Kafka topic (--kafka) in a consumer group, predict in "
        "dynamic micro-batches, write each result to an output stream or topic, then acknowledge or commit the "
        "input. See docs/streaming.md for the entry and record formats.",
    )
    add = parser.add_argument
    backend = parser.add_mutually_exclusive_group()
    backend.add_argument("--redis", default=None, help=f"Redis URL: consume a Redis Stream [{DEFAULT_REDIS}]")
    backend.add_argument("--kafka", default=None, metavar="BOOTSTRAP", help="Kafka bootstrap servers host:port[,...]")
    add("--stream", help="Redis: input stream key")
    add("--topic", help="Kafka: input topic (it must exist)")
    add("--group", required=True, help="consumer group (created when missing); workers in one group share entries")
    add("--consumer", default=None, help="this worker's name in the group, unique per worker [<hostname>-<pid>]")
    add("--start-id", default=None, help="Redis: where a new group starts: 0 (the whole stream) or $ (new entries) [0]")
    model = parser.add_argument_group("model")
    model.add_argument("--model", help="model base path (latest version), version folder, or model file")
    model.add_argument("--model-repository", help="with --model-name: the model is <repository>/<name>")
    model.add_argument("--model-name", help="model folder under --model-repository")
    model.add_argument("--model-version", type=int, default=None, help="version folder to load [the highest]")
    model.add_argument("--platform", help="tensorflow | keras | onnx | tflite | python [detected]")
    model.add_argument("--allow_code_models", action="store_true", help="load a Python model (it runs code)")
    model.add_argument("--signature", default=DEFAULT_SIGNATURE, help=f"default signature [{DEFAULT_SIGNATURE}]")
    model.add_argument("--intra-op-threads", type=int, default=0, help="framework threads per model call [its default]")
    out = parser.add_argument_group("output")
    out.add_argument("--output-stream", default=None, help="Redis: results stream [<stream>:results]")
    out.add_argument("--dead-letter-stream", default=None, help="Redis: poison entries, with why [<stream>:dead]")
    out.add_argument("--output-maxlen", type=int, default=None, help="Redis: trim results to about N entries [0: off]")
    out.add_argument("--output-topic", default=None, help="Kafka: results topic [<topic>.results]")
    out.add_argument("--dead-letter-topic", default=None, help="Kafka: poison records, with why [<topic>.dead]")
    batching = parser.add_argument_group("batching (TF Serving's parameters; flags override the file)")
    batching.add_argument("--batching-parameters-file", help="TF Serving's BatchingParameters text file")
    batching.add_argument("--max-batch-size", type=int, help="rows per model call [1000]")
    batching.add_argument("--batch-timeout-micros", type=int, help="how long a batch waits for company [0]")
    batching.add_argument("--num-batch-threads", type=int, help="model calls at once [cores]")
    flow = parser.add_argument_group("flow control and recovery")
    flow.add_argument("--read-count", type=int, default=64, help="entries per read at most [64]")
    flow.add_argument("--max-in-flight", type=int, default=256, help="entries read and not yet acknowledged [256]")
    flow.add_argument("--block-ms", type=int, default=None, help="how long a read waits [Redis 1000, Kafka 100]")
    flow.add_argument("--claim-idle-ms", type=int, default=None, help="Redis: claim entries idle this long [30000]")
    flow.add_argument("--claim-interval-ms", type=int, default=None, help="Redis: claim, refresh [idle/3, <= 5000]")
    flow.add_argument("--max-deliveries", type=int, default=None, help="Redis: dead-letter entries read more [5]")
    flow.add_argument("--commit-interval-ms", type=int, default=None, help="Kafka: commit offsets this often [1000]")
    flow.add_argument(
        "--kafka-config", action="append", metavar="KEY=VALUE",
        help="Kafka: a librdkafka setting for both clients (consumer.KEY / producer.KEY: one); repeatable",
    )  # fmt: skip
    flow.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to finish in-flight on SIGTERM [30]")
    ops = parser.add_argument_group("operations")
    ops.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port [0: off]")
    ops.add_argument("--metrics-host", default="0.0.0.0", help="address for the metrics port [0.0.0.0]")
    ops.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.set_defaults(func=run_command)


def _model_path(args: argparse.Namespace) -> Path:
    if args.model and (args.model_repository or args.model_name):
        raise InvalidArgument("give either --model or --model-repository with --model-name, not both")
    if args.model:
        return Path(args.model)
    if args.model_repository and args.model_name:
        return Path(args.model_repository) / args.model_name
    raise InvalidArgument("name the model: --model PATH, or --model-repository DIR --model-name NAME")


def _batching(args: argparse.Namespace) -> Any:
    from modelserve.config import BatchingConfig
    from modelserve.config_io import read_batching_parameters

    config = read_batching_parameters(Path(args.batching_parameters_file)) if args.batching_parameters_file else None
    config = config or BatchingConfig()
    overrides = {
        name: getattr(args, name)
        for name in ("max_batch_size", "batch_timeout_micros", "num_batch_threads")
        if getattr(args, name) is not None
    }
    if "max_batch_size" in overrides and config.allowed_batch_sizes:
        overrides["allowed_batch_sizes"] = ()  # the file's sizes end at its own max_batch_size
    return dataclasses.replace(config, **overrides)


def backend_of(args: argparse.Namespace) -> str:
    """``redis`` or ``kafka``, after checking that the flags given belong to it (InvalidArgument if not)."""
    backend = "kafka" if args.kafka is not None else "redis"
    foreign = REDIS_ONLY if backend == "kafka" else KAFKA_ONLY
    given = [f"--{name.replace('_', '-')}" for name in foreign if getattr(args, name) is not None]
    if given:
        other = "Redis (--redis)" if backend == "kafka" else "Kafka (--kafka)"
        raise InvalidArgument(f"{', '.join(given)}: for {other} only; this worker uses {backend.capitalize()}")
    if backend == "kafka" and not args.topic:
        raise InvalidArgument("name the input: --kafka BOOTSTRAP --topic IN")
    if backend == "redis" and not args.stream:
        raise InvalidArgument("name the input: --stream KEY (Redis Streams), or --kafka BOOTSTRAP --topic IN")
    return backend


def _config(args: argparse.Namespace) -> Any:
    """The worker's validated settings (WorkerConfig or KafkaConfig), Redis-only or Kafka-only defaults filled."""
    from modelserve.streaming.config import KafkaConfig, WorkerConfig, default_consumer, parse_client_config

    def given(value: Any, default: Any) -> Any:
        return default if value is None else value

    common = {
        "group": args.group, "consumer": args.consumer or default_consumer(), "signature": args.signature,
        "read_count": args.read_count, "max_in_flight": args.max_in_flight, "drain_timeout": args.drain_timeout,
        "batching": _batching(args),
    }  # fmt: skip
    if backend_of(args) == "kafka":
        return KafkaConfig(
            bootstrap=args.kafka, topic=args.topic, output_topic=args.output_topic or "",
            dead_letter_topic=args.dead_letter_topic or "", poll_ms=given(args.block_ms, 100),
            commit_interval_ms=given(args.commit_interval_ms, 1000),
            client_config=parse_client_config(args.kafka_config), **common,
        )  # fmt: skip
    return WorkerConfig(
        redis_url=given(args.redis, DEFAULT_REDIS), stream=args.stream, output_stream=args.output_stream or "",
        dead_letter_stream=args.dead_letter_stream or "", output_maxlen=given(args.output_maxlen, 0),
        start_id=given(args.start_id, "0"), block_ms=given(args.block_ms, 1000),
        claim_idle_ms=given(args.claim_idle_ms, 30_000), claim_interval_ms=given(args.claim_interval_ms, 0),
        max_deliveries=given(args.max_deliveries, 5), **common,
    )  # fmt: skip


def run_command(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level.upper(), stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from modelserve.runtimes import registry
    from modelserve.runtimes.base import RuntimeOptions
    from modelserve.streaming.config import resolve_model

    config = _config(args)
    source = resolve_model(_model_path(args), args.model_version)
    stopping: list[int] = []
    previous = {s: signal.signal(s, lambda n, _f: stopping.append(n)) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("loading %s", source.path)
        options = RuntimeOptions(intra_op_threads=args.intra_op_threads, allow_code_models=args.allow_code_models)
        model = registry.load(source.path, args.platform, options)
        try:
            if stopping:
                return 0
            model.signature(config.signature)  # NotFound now rather than on every entry
            return asyncio.run(_serve(config, model, source, args, stopping))
        finally:
            model.close()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


async def _serve(config: Any, runtime: Any, source: Any, args: argparse.Namespace, stopping: list[int]) -> int:
    from modelserve.config import DispatchOptions
    from modelserve.metrics.collectors import ServingMetrics
    from modelserve.serving.service import ModelService
    from modelserve.streaming.config import KafkaConfig
    from modelserve.streaming.metrics import StreamMetrics

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, _on_signal, stop, number)
    if stopping:
        stop.set()
    serving_metrics = ServingMetrics()
    kafka = isinstance(config, KafkaConfig)
    metrics = StreamMetrics(serving_metrics.registry, backend="kafka" if kafka else "redis")
    if args.metrics_port:
        metrics.serve(args.metrics_port, args.metrics_host)
        log.info("metrics on http://%s:%d/metrics", args.metrics_host, args.metrics_port)
    # The serving core with no network: the server's input gate, dispatcher and batcher. In-flight entries
    # are bounded by the worker (--max-in-flight), so the service itself sets no lower bound.
    options = DispatchOptions(
        max_in_flight=2**31 - 1, model_threads=config.batching.num_batch_threads + 1, inline_call_micros=0,
        batching=config.batching, graceful_shutdown_seconds=config.drain_timeout,
    )  # fmt: skip
    service = ModelService.local(runtime, source.name, source.version or 1, options, serving_metrics)
    if kafka:
        from modelserve.streaming.kafka_worker import KafkaStreamWorker as Worker
    else:
        from modelserve.streaming.redis_worker import StreamWorker as Worker  # type: ignore[assignment]
    drained = await Worker(config, service, source, metrics).run(stop)
    service.dispatcher.stop()
    log.info("stopped%s", "" if drained else " with entries left pending (or records uncommitted)")
    return 0 if drained else 1


def _on_signal(stop: asyncio.Event, number: int) -> None:
    if not stop.is_set():
        log.info("%s: finishing in-flight entries, then exiting", signal.Signals(number).name)
    stop.set()
