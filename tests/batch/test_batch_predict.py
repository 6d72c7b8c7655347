"""``modelserve batch-predict`` end to end: real files, real models, the local runner, exact outputs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from modelserve.batch.tfrecord import write_records
from modelserve.cli import main
from modelserve.protocols.tfs.tf_example import Feature, encode_example

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def predict(*args: str) -> int:
    return main(["batch-predict", "--workers", "1", "--progress", "never", *args])


def read_jsonl(prefix: Path) -> list[dict]:
    records = []
    for shard in sorted(prefix.parent.glob(prefix.name + "-0*.jsonl")):
        records.extend(json.loads(line) for line in shard.read_text().splitlines())
    return records


def test_jsonl_with_keys_inputs_and_a_dead_letter_per_bad_record(scale_repo: Path, tmp_path: Path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text(
        "\n".join(
            [
                '{"id": "a", "x": 1.5}',
                '{"id": "b", "x": [2]}',
                '{"id": "c", "x": "two"}',
                "",
                "{oops",
                '{"id": "d", "x": -1}',
            ]
        )
        + "\n"
    )
    out = tmp_path / "out" / "pred"
    assert (
        predict(
            "--model",
            str(scale_repo / "scale"),
            "--input",
            str(data),
            "--output",
            str(out),
            "--key",
            "id",
            "--include_inputs",
        )
        == 0
    )
    got = sorted(read_jsonl(out), key=lambda r: r["key"])
    assert got == [
        {"key": "a", "model": "scale:2", "inputs": {"x": [1.5]}, "outputs": {"y": [4.5]}},
        {"key": "b", "model": "scale:2", "inputs": {"x": [2.0]}, "outputs": {"y": [6.0]}},
        {"key": "d", "model": "scale:2", "inputs": {"x": [-1.0]}, "outputs": {"y": [-3.0]}},
    ]
    dead = sorted(read_jsonl(Path(f"{out}-dead-letters")), key=lambda r: r["source"])
    assert [(d["key"], d["source"], d["stage"]) for d in dead] == [
        ("c", "in.jsonl:3", "decode"),
        (None, "in.jsonl:5", "decode"),
    ]
    assert (
        dead[0]["error"].startswith("INVALID_ARGUMENT: input 'x' expects float32")
        and dead[0]["record"] == '{"id": "c", "x": "two"}'
    )
    assert dead[1]["error"].startswith("INVALID_ARGUMENT: not valid JSON")
    summary = capsys.readouterr().out
    assert "5 records in, 3 predictions out, 2 failed (read 0, decode 2, predict 0)" in summary


def test_csv_to_parquet(scale_repo: Path, tmp_path: Path):
    pq = pytest.importorskip("pyarrow.parquet")
    data = tmp_path / "in.csv"
    with data.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "x"])
        writer.writerows([[f"r{i}", i / 4] for i in range(12)])
    out = tmp_path / "pred"
    args = ["--model", str(scale_repo / "scale"), "--version", "1", "--input", str(data), "--output", str(out)]
    assert predict(*args, "--key", "name", "--output_format", "parquet", "--batch_size", "5") == 0
    table = pq.read_table(sorted(tmp_path.glob("pred-0*.parquet"))).to_pylist()
    assert sorted((r["key"], r["model"], r["y"]) for r in table) == sorted(
        (f"r{i}", "scale:1", [i / 2]) for i in range(12)
    )


def test_tfrecord_examples_by_feature_and_an_unreadable_file(scale_repo: Path, tmp_path: Path):
    with (tmp_path / "a.tfrecord").open("wb") as f:
        write_records(
            f,
            [
                encode_example({"x": Feature("float", [v]), "id": Feature("int64", [n])})
                for n, v in enumerate([1, 2, 3])
            ],
        )
    (tmp_path / "b.tfrecord").write_bytes(b"this is not a TFRecord file")
    out = tmp_path / "pred"
    assert (
        predict(
            "--model",
            str(scale_repo / "scale" / "1"),
            "--input",
            str(tmp_path / "*.tfrecord"),
            "--output",
            str(out),
            "--key",
            "id",
        )
        == 0
    )
    assert sorted((r["key"], r["outputs"]["y"]) for r in read_jsonl(out)) == [("0", [2.0]), ("1", [4.0]), ("2", [6.0])]
    (dead,) = read_jsonl(Path(f"{out}-dead-letters"))
    assert dead["stage"] == "read" and dead["source"].endswith("b.tfrecord") and "corrupted length" in dead["error"]


def _labels(examples_dir: Path) -> dict[str, str]:
    with (examples_dir / "digits_png" / "labels.csv").open() as f:
        return {row["filename"]: row["label"] for row in csv.DictReader(f)}


def test_images_locally_and_through_the_server_give_the_same_classes(
    scale_repo: Path, examples_dir: Path, server, tmp_path: Path
):
    pattern = str(examples_dir / "digits_png" / "*.png")
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert (
        predict(
            "--model",
            str(scale_repo / "digits_onnx"),
            "--input",
            pattern,
            "--output",
            str(local),
            "--outputs",
            "class_name",
        )
        == 0
    )
    url = server.url + "/v2/models/digits_onnx"
    assert predict("--model", url, "--input", pattern, "--output", str(remote), "--outputs", "class_name") == 0
    by_name = ["--remote", server.grpc, "--model", "digits_onnx", "--protocol", "v2", "--version", "1", "--dry_run"]
    assert predict(*by_name, "--input", pattern, "--output", str(remote)) == 0
    local_classes = {r["key"]: r["outputs"]["class_name"] for r in read_jsonl(local)}
    assert local_classes == _labels(examples_dir)  # the class per file name is the digit in the name
    assert {r["key"]: r["outputs"]["class_name"] for r in read_jsonl(remote)} == local_classes


@pytest.mark.slow
def test_a_poison_record_fails_alone_and_its_batch_mates_succeed(examples_dir: Path, tmp_path: Path, capsys):
    """A corrupt PNG passes decoding (bytes are bytes) but fails inside the SavedModel's ``from_bytes`` graph, so
    its whole batch fails; the batch is run again one record at a time and only the corrupt file is dead."""
    folder = tmp_path / "pngs"
    folder.mkdir()
    for png in sorted((examples_dir / "digits_png").glob("*.png"))[:5]:
        (folder / png.name).write_bytes(png.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    out = tmp_path / "pred"
    args = ["--model", str(examples_dir / "digits" / "1"), "--signature", "from_bytes", "--format", "images"]
    assert (
        predict(
            *args,
            "--input",
            str(folder / "*.png"),
            "--output",
            str(out),
            "--outputs",
            "class_name",
            "--min_batch_size",
            "6",
            "--batch_size",
            "6",
        )
        == 0
    )
    labels = _labels(examples_dir)
    assert {r["key"]: r["outputs"]["class_name"] for r in read_jsonl(out)} == {
        n: labels[n] for n in labels if (folder / n).exists()
    }
    (dead,) = read_jsonl(Path(f"{out}-dead-letters"))
    assert (dead["key"], dead["stage"]) == ("broken.png", "predict") and dead["error"].startswith("INVALID_ARGUMENT")
    assert "6 records of failed batches were run again one by one" in capsys.readouterr().out


def test_progress_line_and_summary(scale_repo: Path, tmp_path: Path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text("".join(f'{{"x": {i}}}\n' for i in range(20)))
    args = ["batch-predict", "--workers", "1", "--progress", "always", "--model", str(scale_repo / "scale")]
    assert main([*args, "--input", str(data), "--output", str(tmp_path / "p")]) == 0
    captured = capsys.readouterr()
    assert "batch-predict: read 20 · predicted 20 · failed 0" in captured.err
    assert "20 records in, 20 predictions out, 0 failed" in captured.out


def test_dry_run_and_runner_flags_are_checked_without_running(scale_repo: Path, tmp_path: Path, capsys):
    data = tmp_path / "in.jsonl"
    data.write_text('{"x": 1}\n')
    base = ["--model", str(scale_repo / "scale"), "--input", str(data), "--output", str(tmp_path / "p"), "--dry_run"]
    assert predict(*base) == 0
    assert "model: scale:2 signature 'serving_default': x (float32 [-1, 1])" in capsys.readouterr().out
    dataflow = [
        "--",
        "--runner=DataflowRunner",
        "--project=p",
        "--region=europe-west1",
        "--temp_location=gs://bucket/tmp",
    ]
    assert predict(*base, *dataflow) == 0
    out = capsys.readouterr().out
    assert "runner: DataflowRunner" in out and "remote workers must be able to read the model path" in out
    assert predict(*base, "--", "--runner=DataflowRunner", "--project=p") == 1
    assert (
        "DataflowRunner needs --region; DataflowRunner needs --temp_location=gs://BUCKET/PATH"
        in capsys.readouterr().err
    )
    assert not list(tmp_path.glob("p-*"))  # nothing ran


def test_input_and_model_errors_are_one_line(scale_repo: Path, tmp_path: Path, capsys):
    assert (
        predict(
            "--model",
            str(scale_repo / "scale"),
            "--input",
            str(tmp_path / "none*.jsonl"),
            "--output",
            str(tmp_path / "p"),
        )
        == 1
    )
    assert "error: no input files match" in capsys.readouterr().err
    (tmp_path / "a.bin").write_bytes(b"")
    assert (
        predict(
            "--model", str(scale_repo / "scale"), "--input", str(tmp_path / "a.bin"), "--output", str(tmp_path / "p")
        )
        == 1
    )
    assert "cannot tell the input format from the file names (.bin); give --format" in capsys.readouterr().err
    assert (
        predict(
            "--model",
            str(scale_repo / "scale"),
            "--input",
            str(tmp_path / "a.bin"),
            "--format",
            "jsonl",
            "--outputs",
            "zz",
            "--output",
            "p",
        )
        == 1
    )
    assert "has no output 'zz'; it has: y" in capsys.readouterr().err


def test_importing_the_command_imports_neither_beam_nor_a_framework():
    code = "import modelserve.cli, modelserve.batch, modelserve.batch.cli, sys; print(' '.join(sorted(sys.modules)))"
    modules = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert not {"apache_beam", "tensorflow", "onnxruntime", "pyarrow"} & modules


def test_runner_options_local_by_default_and_others_by_flags():
    from apache_beam.options.pipeline_options import (
        DirectOptions,
        FlinkRunnerOptions,
        GoogleCloudOptions,
        SparkRunnerOptions,
    )

    from modelserve.batch.runners import is_local, pipeline_options, runner_problems

    local = pipeline_options([], workers=0)
    direct = local.view_as(DirectOptions)
    assert (runner_problems(local), direct.direct_num_workers, direct.direct_running_mode) == (
        [],
        0,
        "multi_processing",
    )
    assert pipeline_options([], workers=1).view_as(DirectOptions).direct_running_mode == "in_memory"
    dataflow = pipeline_options(
        ["--runner=DataflowRunner", "--project=p", "--region=r", "--temp_location=gs://b/t", "--max_num_workers=8"]
    )
    assert (
        dataflow.view_as(GoogleCloudOptions).project == "p"
        and runner_problems(dataflow) == []
        and not is_local(dataflow)
    )
    flink = pipeline_options(
        ["--runner=FlinkRunner", "--flink_master=host:8081", "--parallelism=4", "--environment_type=LOOPBACK"]
    )
    assert flink.view_as(FlinkRunnerOptions).flink_master == "host:8081" and is_local(flink)
    spark = pipeline_options(["--runner=SparkRunner", "--spark_master_url=spark://host:7077"])
    assert spark.view_as(SparkRunnerOptions).spark_master_url == "spark://host:7077" and runner_problems(spark) == []
    assert "downloads a binary" in runner_problems(pipeline_options(["--runner=PrismRunner"]))[0]
    assert np  # numpy is the pipeline's array type (imported for the fixtures above)
