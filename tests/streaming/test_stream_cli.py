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
