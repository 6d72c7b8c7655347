"""Worker settings are validated once; the model path users give resolves to a version folder or file."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelserve.errors import InvalidArgument, NotFound
from modelserve.streaming.config import KafkaConfig, ModelSource, WorkerConfig, parse_client_config, resolve_model


def test_defaults_name_the_output_streams_after_the_input():
    config = WorkerConfig(redis_url="redis://h", stream="jobs", group="g", consumer="c", claim_idle_ms=6000)
    assert (config.output_stream, config.dead_letter_stream, config.claim_interval_ms) == (
        "jobs:results",
        "jobs:dead",
        2000,
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stream": ""}, "--stream must not be empty"),
        ({"max_in_flight": 0}, "--max-in-flight must be at least 1"),
        ({"output_stream": "jobs"}, "three different keys"),
        ({"drain_timeout": 0}, "--drain-timeout"),
        ({"claim_idle_ms": 1000, "claim_interval_ms": 500}, "less than half of --claim-idle-ms"),
    ],
)
def test_bad_settings_are_refused(changes: dict, message: str):
    settings = {"redis_url": "redis://h", "stream": "jobs", "group": "g", "consumer": "c", **changes}
    with pytest.raises(InvalidArgument, match=message):
        WorkerConfig(**settings)


def test_model_paths_resolve_to_a_version(tmp_path: Path):
    base = tmp_path / "digits"
    for version in ("1", "00000012"):
        (base / version).mkdir(parents=True)
        (base / version / "model.onnx").write_bytes(b"")
    assert resolve_model(base) == ModelSource(base / "00000012", "digits", 12)
    assert resolve_model(base, 1) == ModelSource(base / "1", "digits", 1)
    assert resolve_model(base / "1") == ModelSource(base / "1", "digits", 1)
    assert resolve_model(base / "1" / "model.onnx") == ModelSource(base / "1" / "model.onnx", "digits", 1)
    loose = tmp_path / "loose.onnx"
    loose.write_bytes(b"")
    assert resolve_model(loose) == ModelSource(loose, "loose", None)
    with pytest.raises(NotFound, match=r"version 7 not found under .*; it has: 1, 12"):
        resolve_model(base, 7)
    with pytest.raises(NotFound, match="does not exist"):
        resolve_model(tmp_path / "missing")
    with pytest.raises(NotFound, match="not under a version folder 2"):
        resolve_model(loose, 2)


def test_kafka_defaults_name_the_output_topics_after_the_input():
    config = KafkaConfig(bootstrap="h:9092", topic="jobs", group="g", consumer="c")
    assert (config.output_topic, config.dead_letter_topic, config.poll_ms, config.max_in_flight) == (
        "jobs.results", "jobs.dead", 100, 256,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"topic": ""}, "--topic must not be empty"),
        ({"bootstrap": ""}, "--kafka must not be empty"),
        ({"read_count": 0}, "--read-count must be at least 1"),
        ({"commit_interval_ms": 0}, "--commit-interval-ms must be at least 1"),
        ({"dead_letter_topic": "jobs.results"}, "three different topics"),
        ({"output_topic": "jobs:results"}, "'jobs:results' is not a Kafka topic name"),
        ({"client_config": (("group.id", "x"), ("linger.ms", "1"))}, "--kafka-config cannot set group.id"),
    ],
)
def test_bad_kafka_settings_are_refused(changes: dict, message: str):
    settings = {"bootstrap": "h:9092", "topic": "jobs", "group": "g", "consumer": "c", **changes}
    with pytest.raises(InvalidArgument, match=message):
        KafkaConfig(**settings)


def test_kafka_client_settings_parse_in_order():
    assert parse_client_config(["a=1", " b =x=y", "a=2"]) == (("a", "1"), ("b", "x=y"), ("a", "2"))
    with pytest.raises(InvalidArgument, match="KEY=VALUE"):
        parse_client_config(["=1"])
