"""Settings of one streaming worker, validated once, and which model file or folder it serves.

config = WorkerConfig(redis_url="redis://127.0.0.1:6379/0", stream="jobs", group="digits", consumer="w1")
config = KafkaConfig(bootstrap="127.0.0.1:9092", topic="jobs", group="digits", consumer="w1")
source = resolve_model(Path("models/digits_onnx"))   # -> ModelSource(path=.../1, name="digits_onnx", version=1)
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from modelserve.config import BatchingConfig
from modelserve.errors import InvalidArgument, NotFound
from modelserve.repository.filesystem import parse_version, version_folders
from modelserve.types import DEFAULT_SIGNATURE


def default_consumer() -> str:
    """``<hostname>-<pid>``: unique per process, so two workers never share a consumer by accident."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a :class:`~modelserve.streaming.redis_worker.StreamWorker` needs besides the model.

    Limits: at most ``max_in_flight`` entries are read and not yet acknowledged (bounded memory under any
    backlog); one read asks for at most ``read_count``. Entries idle ``claim_idle_ms`` in the group (their
    worker died or froze) are claimed every ``claim_interval_ms`` (default a third of the idle time, at most
    5 s), which is also how often a worker refreshes its own in-flight entries, so slow work is not claimed.
    ``max_deliveries``: an entry delivered more often than this goes to the dead-letter stream unprocessed
    (it probably crashes workers).
    """

    redis_url: str
    stream: str
    group: str
    consumer: str = field(default_factory=default_consumer)
    output_stream: str = ""  # "" -> "<stream>:results"
    dead_letter_stream: str = ""  # "" -> "<stream>:dead"
    output_maxlen: int = 0  # approximate MAXLEN for the output stream; 0: no trimming
    signature: str = DEFAULT_SIGNATURE
    start_id: str = "0"
    read_count: int = 64
    max_in_flight: int = 256
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    claim_interval_ms: int = 0  # 0 -> claim_idle_ms / 3, at most 5 s
    max_deliveries: int = 5
    write_batch: int = 256
    drain_timeout: float = 30.0
    batching: BatchingConfig = field(default_factory=BatchingConfig)

    def __post_init__(self) -> None:
        for name in ("stream", "group", "consumer", "redis_url"):
            if not getattr(self, name):
                raise InvalidArgument(f"--{name.replace('_', '-')} must not be empty")
        positive = ("read_count", "max_in_flight", "block_ms", "claim_idle_ms", "max_deliveries", "write_batch")
        for name in positive:
            if getattr(self, name) < 1:
                raise InvalidArgument(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.output_maxlen < 0 or self.claim_interval_ms < 0 or self.drain_timeout <= 0:
            raise InvalidArgument("--output-maxlen and --claim-interval-ms must be >= 0, --drain-timeout > 0")
        if not self.output_stream:
            object.__setattr__(self, "output_stream", f"{self.stream}:results")
        if not self.dead_letter_stream:
            object.__setattr__(self, "dead_letter_stream", f"{self.stream}:dead")
        names = {self.stream, self.output_stream, self.dead_letter_stream}
        if len(names) != 3:
            raise InvalidArgument("the input, output and dead-letter streams must be three different keys")
        if not self.claim_interval_ms:
            object.__setattr__(self, "claim_interval_ms", min(5000, max(1, self.claim_idle_ms // 3)))
        if 2 * self.claim_interval_ms >= self.claim_idle_ms:
            raise InvalidArgument(
                f"--claim-interval-ms ({self.claim_interval_ms}) must be less than half of --claim-idle-ms "
                f"({self.claim_idle_ms}): it is also how often live entries are refreshed"
            )


#: librdkafka settings the worker owns (its delivery contract depends on them); --kafka-config cannot set them.
KAFKA_OWNED_SETTINGS = frozenset({"bootstrap.servers", "group.id", "enable.auto.commit", "enable.auto.offset.store"})
_TOPIC_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True)
class KafkaConfig:
    """Everything a :class:`~modelserve.streaming.kafka_worker.KafkaStreamWorker` needs besides the model.

    Limits: at most ``max_in_flight`` records are read and not yet answered and delivered (the consumer's
    partitions are paused while it is full); one poll takes at most ``read_count``. Offsets are committed every
    ``commit_interval_ms`` (and on revoke and drain), only up to the first record not yet finished. ``poll_ms``:
    how long a poll waits for a record; also the longest a SIGTERM waits for one. ``client_config``: more
    librdkafka settings for the consumer and producer (security, timeouts), except ``KAFKA_OWNED_SETTINGS``.
    """

    bootstrap: str
    topic: str
    group: str
    consumer: str = field(default_factory=default_consumer)
    output_topic: str = ""  # "" -> "<topic>.results"
    dead_letter_topic: str = ""  # "" -> "<topic>.dead"
    signature: str = DEFAULT_SIGNATURE
    read_count: int = 64
    max_in_flight: int = 256
    poll_ms: int = 100
    commit_interval_ms: int = 1000
    drain_timeout: float = 30.0
    client_config: tuple[tuple[str, str], ...] = ()
    batching: BatchingConfig = field(default_factory=BatchingConfig)

    def __post_init__(self) -> None:
        for name, flag in (("bootstrap", "kafka"), ("topic", "topic"), ("group", "group"), ("consumer", "consumer")):
            if not getattr(self, name):
                raise InvalidArgument(f"--{flag} must not be empty")
        for name in ("read_count", "max_in_flight", "poll_ms", "commit_interval_ms"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.drain_timeout <= 0:
            raise InvalidArgument("--drain-timeout must be > 0")
        if not self.output_topic:
            object.__setattr__(self, "output_topic", f"{self.topic}.results")
        if not self.dead_letter_topic:
            object.__setattr__(self, "dead_letter_topic", f"{self.topic}.dead")
        topics = (self.topic, self.output_topic, self.dead_letter_topic)
        for topic in topics:
            if len(topic) > 249 or not set(topic) <= _TOPIC_CHARACTERS or topic in (".", ".."):
                raise InvalidArgument(f"{topic!r} is not a Kafka topic name (up to 249 of a-z A-Z 0-9 . _ -)")
        if len(set(topics)) != 3:
            raise InvalidArgument("the input, output and dead-letter topics must be three different topics")
        owned = sorted(KAFKA_OWNED_SETTINGS & {name for name, _ in self.client_config})
        if owned:
            raise InvalidArgument(f"--kafka-config cannot set {', '.join(owned)}: the worker sets it")


def parse_client_config(items: list[str] | None) -> tuple[tuple[str, str], ...]:
    """``--kafka-config KEY=VALUE`` items as pairs, in order (a later one wins). Raises InvalidArgument."""
    pairs = []
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InvalidArgument(f"--kafka-config takes KEY=VALUE (a librdkafka setting), got {item!r}")
        pairs.append((name.strip(), value))
    return tuple(pairs)


@dataclass(frozen=True)
class ModelSource:
    """A loadable model path, and the name and version written with every result."""

    path: Path
    name: str
    version: int | None


def resolve_model(path: Path, version: int | None = None) -> ModelSource:
    """Accept what users point at: a model base path with integer version folders (the highest, or
    ``version``), a version folder, a SavedModel folder, or a ``.onnx``/``.tflite``/``.keras``/``.h5`` file.

    Raises :class:`NotFound` for a missing path or version.
    """
    if not path.exists():
        raise NotFound(f"model path {path} does not exist")
    versions = version_folders(path) if path.is_dir() else {}
    if versions:
        chosen = max(versions) if version is None else version
        if chosen not in versions:
            raise NotFound(f"version {chosen} not found under {path}; it has: {', '.join(map(str, sorted(versions)))}")
        return ModelSource(versions[chosen], path.absolute().name, chosen)
    folder = path if path.is_dir() else path.parent
    found = parse_version(folder.name)
    if version is not None and found != version:
        raise NotFound(f"--model-version {version} given, but {path} is not under a version folder {version}")
    if found is not None:
        return ModelSource(path, folder.absolute().parent.name, found)
    return ModelSource(path, path.stem if path.is_file() else path.absolute().name, None)
