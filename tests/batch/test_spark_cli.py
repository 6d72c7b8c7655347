"""``batch-predict --engine spark``: flags, engine selection and planning, without starting Spark (the runs on a
real cluster are tests/integration/batch/test_spark_cluster.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from scaffolding import write_scale_model

from modelserve.batch.spark_session import parse_conf
from modelserve.cli import build_parser, main
from modelserve.errors import InvalidArgument


@pytest.fixture
def scale(tmp_path: Path) -> Path:
    write_scale_model(tmp_path / "scale" / "1" / "model.onnx", 2.0)
    return tmp_path / "scale"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text('{"x": 1}\n{"x": 2}\n')
    return path


def predict(*args: str) -> int:
    return main(["batch-predict", "--progress", "never", *args])


def test_beam_is_the_default_engine_and_spark_is_chosen_by_flag():
    base = ["batch-predict", "--model", "m", "--input", "i", "--output", "o"]
    beam = build_parser().parse_args(base)
    assert (beam.engine, beam.master, beam.spark_conf) == ("beam", None, None)
    spark = build_parser().parse_args([*base, "--engine", "spark", "--master", "spark://h:7077", "--spark_conf", "a=b"])
    assert (spark.engine, spark.master, spark.spark_conf) == ("spark", "spark://h:7077", ["a=b"])


def test_dry_run_plans_on_spark_without_starting_it(scale: Path, data: Path, tmp_path: Path):
    code = (
        "import sys\nfrom modelserve.cli import main\n"
        f"rc = main(['batch-predict', '--engine', 'spark', '--model', {str(scale)!r}, '--input', {str(data)!r}, "
        f"'--output', {str(tmp_path / 'p')!r}, '--dry_run'])\n"
        "print('rc', rc, 'pyspark' in sys.modules, 'apache_beam' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert "model: scale:1 signature 'serving_default': x (float32 [-1, 1])" in out
    assert "inputs: 1 files as jsonl; engine: spark, master: local[*]" in out
    assert out.strip().endswith("rc 0 False False")  # neither Spark nor Beam imported to plan
    assert not list(tmp_path.glob("p-*"))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--workers", "2"], "--workers is a Beam option (with --engine spark)"),
        (["--large_model"], "--large_model is a Beam option"),
        (["--", "--runner=DataflowRunner"], "Beam flags after '--' (--runner=DataflowRunner) do not apply"),
        (["--spark_conf", "spark.executor.memory"], "--spark_conf takes KEY=VALUE, not 'spark.executor.memory'"),
        (["--batch_size", "0"], "--batch_size must be at least 1"),
        (["--protocol", "v2"], "protocol is for server URLs"),
    ],
)
def test_flags_spark_cannot_honour_are_one_line_errors(scale: Path, data: Path, tmp_path: Path, capsys, flags, message):
    args = ["--engine", "spark", "--model", str(scale), "--input", str(data), "--output", str(tmp_path / "p")]
    assert predict(*args, *flags) == 1
    assert message in capsys.readouterr().err


def test_spark_flags_without_the_spark_engine_point_at_it(scale: Path, data: Path, tmp_path: Path, capsys):
    args = ["--model", str(scale), "--input", str(data), "--output", str(tmp_path / "p")]
    assert predict(*args, "--master", "local[2]") == 1
    assert "--master and --spark_conf are for --engine spark" in capsys.readouterr().err


def test_inputs_are_listed_before_anything_starts(scale: Path, tmp_path: Path, capsys):
    args = ["--engine", "spark", "--model", str(scale), "--output", str(tmp_path / "p")]
    assert predict(*args, "--input", str(tmp_path / "none*.jsonl")) == 1
    assert "error: no input files match" in capsys.readouterr().err
    (tmp_path / "a.bin").write_bytes(b"")
    assert predict(*args, "--input", str(tmp_path / "a.bin")) == 1
    assert "cannot tell the input format from the file names (.bin); give --format" in capsys.readouterr().err
    assert predict(*args, "--input", str(tmp_path / "a.bin"), "--format", "jsonl", "--outputs", "zz") == 1
    assert "has no output 'zz'; it has: y" in capsys.readouterr().err


def test_spark_conf_pairs():
    assert parse_conf(["spark.executor.memory=2g", "spark.x = a=b"]) == {
        "spark.executor.memory": "2g",
        "spark.x": " a=b",
    }
    with pytest.raises(InvalidArgument, match="KEY=VALUE"):
        parse_conf(["=1"])


def test_importing_the_spark_modules_imports_neither_spark_nor_beam():
    modules = "spark, spark_engine, spark_tasks, spark_worker, spark_frames, spark_session, spark_cluster"
    code = f"import sys\nfrom modelserve.batch import {modules}\nprint(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert not {"pyspark", "py4j", "apache_beam", "pandas", "pyarrow", "onnxruntime", "tensorflow"} & loaded
