"""``modelserve stream`` arguments: lazy imports, model naming errors, batching flags over the file."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from modelserve.cli import build_parser, main
from modelserve.config import BatchingConfig
from modelserve.streaming.cli import _batching


def test_declaring_the_command_imports_neither_redis_nor_a_framework():
    code = "import sys, modelserve.cli; modelserve.cli.build_parser(); print(' '.join(sorted(sys.modules)))"
    modules = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert "modelserve.streaming.cli" in modules
    assert not {"redis", "tensorflow", "onnxruntime", "modelserve.streaming.redis_worker"} & modules


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "error: name the model: --model PATH, or --model-repository DIR --model-name NAME"),
        (
            ["--model", "m", "--model-name", "n"],
            "error: give either --model or --model-repository with --model-name, not both",
        ),
        (["--model", "m", "--max-in-flight", "0"], "error: --max-in-flight must be at least 1, got 0"),
    ],
)
def test_bad_arguments_exit_1_with_one_line(extra: list[str], message: str, capsys: pytest.CaptureFixture):
    assert main(["stream", "--stream", "s", "--group", "g", "--log-level", "error", *extra]) == 1
    assert capsys.readouterr().err.strip() == message


def test_batching_flags_override_the_parameters_file(tmp_path: Path):
    path = tmp_path / "batching.config"
    path.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1000 }\nallowed_batch_sizes: 64\n")

    def parsed(*flags: str) -> argparse.Namespace:
        return build_parser().parse_args(["stream", "--stream", "s", "--group", "g", *flags])

    assert _batching(parsed()) == BatchingConfig()
    from_file = _batching(parsed("--batching-parameters-file", str(path)))
    assert (from_file.max_batch_size, from_file.batch_timeout_micros, from_file.allowed_batch_sizes) == (
        64,
        1000,
        (64,),
    )
    both = _batching(
        parsed("--batching-parameters-file", str(path), "--max-batch-size", "8", "--num-batch-threads", "2")
    )
    assert (both.max_batch_size, both.batch_timeout_micros, both.allowed_batch_sizes, both.num_batch_threads) == (
        8, 1000, (), 2,
    )  # fmt: skip


def test_declaring_the_command_imports_no_kafka_client():
    code = "import sys, modelserve.cli; modelserve.cli.build_parser(); print(' '.join(sorted(sys.modules)))"
    modules = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert not {"confluent_kafka", "modelserve.streaming.kafka_worker", "modelserve.streaming.kafka_io"} & modules


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--group", "g"], "error: name the input: --stream KEY (Redis Streams), or --kafka BOOTSTRAP --topic IN"),
        (["--kafka", "h:9092", "--group", "g"], "error: name the input: --kafka BOOTSTRAP --topic IN"),
        (
            ["--kafka", "h:9092", "--topic", "t", "--stream", "s", "--claim-idle-ms", "9", "--group", "g"],
            "error: --stream, --claim-idle-ms: for Redis (--redis) only; this worker uses Kafka",
        ),
        (
            ["--stream", "s", "--topic", "t", "--kafka-config", "a=b", "--group", "g"],
            "error: --topic, --kafka-config: for Kafka (--kafka) only; this worker uses Redis",
        ),
        (
            ["--kafka", "h:9092", "--topic", "t", "--group", "g", "--kafka-config", "linger.ms"],
            "error: --kafka-config takes KEY=VALUE (a librdkafka setting), got 'linger.ms'",
        ),
        (
            ["--kafka", "h:9092", "--topic", "t", "--group", "g", "--kafka-config", "enable.auto.commit=true"],
            "error: --kafka-config cannot set enable.auto.commit: the worker sets it",
        ),
        (
            ["--kafka", "h:9092", "--topic", "t", "--group", "g", "--output-topic", "t"],
            "error: the input, output and dead-letter topics must be three different topics",
        ),
        (["--kafka", "h:9092", "--topic", "t", "--group", "g"], "error: name the model: --model PATH, or "
         "--model-repository DIR --model-name NAME"),
    ],
)  # fmt: skip
def test_the_backend_is_chosen_by_its_flags_and_the_other_ones_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
):
    assert main(["stream", "--log-level", "error", *argv]) == 1
    assert capsys.readouterr().err.strip() == message


def test_redis_and_kafka_exclude_each_other(capsys: pytest.CaptureFixture):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["stream", "--redis", "redis://h", "--kafka", "h:9092", "--group", "g"])
    assert exit_info.value.code == 2
    assert "argument --kafka: not allowed with argument --redis" in capsys.readouterr().err


def test_kafka_flags_make_a_kafka_config_with_its_own_defaults():
    from modelserve.streaming.cli import _config
    from modelserve.streaming.config import KafkaConfig, WorkerConfig

    def config(*flags: str):
        return _config(build_parser().parse_args(["stream", "--group", "g", "--consumer", "c", *flags]))

    kafka = config("--kafka", "h:9092", "--topic", "in", "--kafka-config", "consumer.session.timeout.ms=6000")
    assert isinstance(kafka, KafkaConfig)
    assert (kafka.bootstrap, kafka.topic, kafka.output_topic, kafka.dead_letter_topic) == (
        "h:9092", "in", "in.results", "in.dead",
    )  # fmt: skip
    assert (kafka.poll_ms, kafka.commit_interval_ms, kafka.client_config) == (
        100, 1000, (("consumer.session.timeout.ms", "6000"),),
    )  # fmt: skip
    redis = config("--stream", "in", "--block-ms", "50")
    assert isinstance(redis, WorkerConfig)
    assert (redis.redis_url, redis.block_ms, redis.claim_idle_ms, redis.max_deliveries, redis.start_id) == (
        "redis://127.0.0.1:6379/0", 50, 30_000, 5, "0",
    )  # fmt: skip
