"""deploy/docker/entrypoint.sh, run for real by ``sh`` in its dry-run mode: the image's environment
(``MODEL_NAME``, ``MODEL_BASE_PATH``, the port variables) becomes ``modelserve serve`` flags as in the
tensorflow/serving image, extra arguments come last and win, and the command line parses with modelserve's
own argument parser into the models the server would serve. (tests/integration/deploy/ starts a real
server through the script.)"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from modelserve.cli import build_parser
from modelserve.server.flags import models_from_flags

ENTRYPOINT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "entrypoint.sh"
#: Variables the script reads; cleared so the machine's environment cannot leak into a case.
SH = shutil.which("sh") or "/bin/sh"
SCRIPT_VARIABLES = ("MODEL_NAME", "MODEL_BASE_PATH", "MODELSERVE_GRPC_PORT", "MODELSERVE_REST_API_PORT")


def entrypoint(*args: str, dry_run: bool = True, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in SCRIPT_VARIABLES and k != "MODELSERVE_DRY_RUN"}
    environ.update(env)
    if dry_run:
        environ["MODELSERVE_DRY_RUN"] = "1"
    return subprocess.run(
        [SH, str(ENTRYPOINT), *args], env=environ, capture_output=True, text=True, timeout=10, check=False
    )


def command(*args: str, **env: str) -> list[str]:
    """The command line the script would exec."""
    result = entrypoint(*args, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def parsed(argv: list[str]) -> argparse.Namespace:
    assert argv[:2] == ["modelserve", "serve"], argv
    return build_parser().parse_args(argv[1:])


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (  # the image's defaults (ENV in the Dockerfile are the same values)
            {},
            ["--port=8500", "--rest_api_port=8501", "--model_name=model", "--model_base_path=/models/model"],
        ),
        (
            {"MODEL_NAME": "half_plus_two"},
            [
                "--port=8500",
                "--rest_api_port=8501",
                "--model_name=half_plus_two",
                "--model_base_path=/models/half_plus_two",
            ],
        ),
        (
            {"MODEL_NAME": "digits", "MODEL_BASE_PATH": "/srv/models/"},
            ["--port=8500", "--rest_api_port=8501", "--model_name=digits", "--model_base_path=/srv/models/digits"],
        ),
        (
            {"MODEL_NAME": "digits", "MODEL_BASE_PATH": "s3://bucket/prefix//"},
            [
                "--port=8500",
                "--rest_api_port=8501",
                "--model_name=digits",
                "--model_base_path=s3://bucket/prefix/digits",
            ],
        ),
        (
            {"MODEL_NAME": "m", "MODEL_BASE_PATH": "gs://bucket", "MODELSERVE_GRPC_PORT": "9000"},
            ["--port=9000", "--rest_api_port=8501", "--model_name=m", "--model_base_path=gs://bucket/m"],
        ),
        (  # KServe's ports (deploy/kserve/servingruntime.yaml)
            {"MODELSERVE_REST_API_PORT": "8080", "MODELSERVE_GRPC_PORT": "9000"},
            ["--port=9000", "--rest_api_port=8080", "--model_name=model", "--model_base_path=/models/model"],
        ),
        (  # set but empty: the default, as ${VAR:-default} reads it
            {"MODEL_NAME": "", "MODEL_BASE_PATH": ""},
            ["--port=8500", "--rest_api_port=8501", "--model_name=model", "--model_base_path=/models/model"],
        ),
    ],
    ids=["defaults", "name", "base-path", "s3", "gcs-grpc-port", "kserve-ports", "empty"],
)
def test_environment_becomes_tf_serving_flags(env: dict[str, str], expected: list[str]) -> None:
    assert command(**env) == ["modelserve", "serve", *expected]


def test_the_command_line_serves_the_model_of_the_environment() -> None:
    args = parsed(command(MODEL_NAME="digits", MODEL_BASE_PATH="s3://bucket/models/"))
    (model,) = models_from_flags(args, {})  # the environment is already in the flags
    assert (model.name, model.base_path) == ("digits", "s3://bucket/models/digits")
    assert (args.port, args.rest_api_port) == (8500, 8501)


def test_extra_flags_come_last_and_win() -> None:
    argv = command("--port=0", "--rest_api_port=9901", "--model_base_path=/elsewhere", "--enable_batching")
    assert argv[-4:] == ["--port=0", "--rest_api_port=9901", "--model_base_path=/elsewhere", "--enable_batching"]
    args = parsed(argv)
    assert (args.port, args.rest_api_port, args.model_base_path) == (0, 9901, "/elsewhere")
    assert args.enable_batching is True
    assert args.model_name == "model"  # the environment's, not overridden


def test_a_config_file_takes_precedence_over_the_name_and_base_path(tmp_path: Path) -> None:
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "a" base_path: "/srv/a" } }\n', encoding="utf-8")
    args = parsed(command(f"--model_config_file={config}", MODEL_NAME="ignored"))
    assert [(m.name, str(m.base_path)) for m in models_from_flags(args, {})] == [("a", "/srv/a")]


def test_arguments_are_passed_as_they_are() -> None:
    """Spaces and quotes survive: the script never re-splits its arguments."""
    argv = command("--grpc_channel_arguments=grpc.max_connection_age_ms=1000", "--request_log=/var/log/a b.jsonl")
    assert argv[-2:] == ["--grpc_channel_arguments=grpc.max_connection_age_ms=1000", "--request_log=/var/log/a b.jsonl"]
    assert parsed(argv).request_log == "/var/log/a b.jsonl"


def test_a_first_argument_that_is_no_flag_is_a_command_run_as_given() -> None:
    ran = entrypoint("printf", "%s|%s", "modelserve", "a b", dry_run=False, MODEL_NAME="x")
    assert (ran.returncode, ran.stdout) == (0, "modelserve|a b")


def test_the_script_execs_the_server_from_path() -> None:
    """``exec``: the server replaces the shell, so SIGTERM from Docker or the kubelet reaches it (the
    integration test checks the process itself); ``modelserve`` is looked up on PATH."""
    lines = [line.strip() for line in ENTRYPOINT.read_text(encoding="utf-8").splitlines()]
    assert lines[0] == "#!/bin/sh"
    assert lines[-1] == 'exec modelserve "$@"'
    missing = entrypoint(dry_run=False, PATH="/nonexistent")
    assert missing.returncode == 127, missing.stderr  # not found on PATH: the shell's "command not found"
