"""The Spark engine's tasks and batch loop, run here as plain functions (what an executor's Python worker runs),
on a real ONNX model: the records, dead letters and shard files the Beam pipeline writes for the same input."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from scaffolding import write_scale_model

from modelserve.batch.info import ModelInfo
from modelserve.batch.job import BatchPredictJob
from modelserve.batch.spark_tasks import ShardPlan, ShardWriter, list_inputs, predict_shard, read_file, shard_of
from modelserve.batch.spark_worker import ModelSpec, describe, predict_rows
from modelserve.batch.tfrecord import write_records
from modelserve.errors import InvalidArgument
from modelserve.protocols.tfs.tf_example import Feature, encode_example


@pytest.fixture
def scale(tmp_path: Path) -> ModelSpec:
    write_scale_model(tmp_path / "scale" / "1" / "model.onnx", 2.0)
    write_scale_model(tmp_path / "scale" / "2" / "model.onnx", 3.0)
    return ModelSpec(str(tmp_path / "scale"))


def run_shards(job: BatchPredictJob, spec: ModelSpec, info: ModelInfo, shards: int = 2) -> dict[str, int]:
    """What the engine's Spark job does, without Spark: read every file, group by shard, predict each shard."""
    grouped: dict[int, list] = {i: [] for i in range(shards)}
    for path in list_inputs(job.inputs):
        for tagged in read_file(job.format, shards, path):
            grouped[tagged[0]].append(tagged)
    totals: dict[str, int] = {}
    for index, items in grouped.items():
        (counts,) = predict_shard(ShardPlan(job, spec, info, shards, batch_size=2), index, items)
        totals = {k: totals.get(k, 0) + v for k, v in counts.items()}
    return totals


def read_jsonl(prefix: Path) -> list[dict]:
    return [
        json.loads(line) for shard in sorted(prefix.parent.glob(prefix.name + "-0*.jsonl")) for line in shard.open()
    ]


def test_jsonl_records_and_dead_letters_are_the_beam_pipelines(scale: ModelSpec, tmp_path: Path):
    data = tmp_path / "in.jsonl"
    data.write_text(
        '{"id": "a", "x": 1.5}\n{"id": "b", "x": [2]}\n{"id": "c", "x": "two"}\n\n{oops\n{"id": "d", "x": -1}\n'
    )
    out = tmp_path / "out" / "pred"
    out.parent.mkdir()
    job = BatchPredictJob((str(data),), "jsonl", str(out), key_field="id", include_inputs=True)
    counts = run_shards(job, scale, describe(scale))
    assert counts == {
        "read": 5,
        "failed_read": 0,
        "failed_decode": 2,
        "predicted": 3,
        "failed_predict": 0,
        "rerun_alone": 0,
    }
    assert sorted(
        read_jsonl(out), key=lambda r: r["key"]
    ) == [  # what tests/batch/test_batch_predict.py expects of Beam
        {"key": "a", "model": "scale:2", "inputs": {"x": [1.5]}, "outputs": {"y": [4.5]}},
        {"key": "b", "model": "scale:2", "inputs": {"x": [2.0]}, "outputs": {"y": [6.0]}},
        {"key": "d", "model": "scale:2", "inputs": {"x": [-1.0]}, "outputs": {"y": [-3.0]}},
    ]
    dead = sorted(read_jsonl(Path(f"{out}-dead-letters")), key=lambda d: d["source"])
    assert [(d["key"], d["source"], d["stage"]) for d in dead] == [
        ("c", "in.jsonl:3", "decode"),
        (None, "in.jsonl:5", "decode"),
    ]
    assert dead[0]["record"] == '{"id": "c", "x": "two"}' and dead[1]["error"].startswith(
        "INVALID_ARGUMENT: not valid JSON"
    )
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "pred-00000-of-00002.jsonl",
        "pred-00001-of-00002.jsonl",
        "pred-dead-letters-00000-of-00002.jsonl",
        "pred-dead-letters-00001-of-00002.jsonl",
    ]  # no temporary files left


def test_tfrecords_by_feature_gzip_and_an_unreadable_file(scale: ModelSpec, tmp_path: Path):
    examples = [
        encode_example({"x": Feature("float", [v]), "id": Feature("int64", [n])}) for n, v in enumerate([1, 2, 3])
    ]
    with gzip.open(tmp_path / "a.tfrecord.gz", "wb") as f:
        write_records(f, examples)
    (tmp_path / "b.tfrecord").write_bytes(b"this is not a TFRecord file")
    spec = ModelSpec(str(Path(scale.model) / "1"))
    out = tmp_path / "pred"
    job = BatchPredictJob(
        (str(tmp_path / "*.tfrecord*"),), "tfrecord", str(out), key_field="id", output_format="parquet"
    )
    counts = run_shards(job, spec, describe(spec), shards=3)
    assert (counts["read"], counts["predicted"], counts["failed_read"]) == (3, 3, 1)
    import pyarrow.parquet as pq

    table = pq.read_table(sorted(tmp_path.glob("pred-0*-of-00003.parquet"))).to_pylist()
    assert sorted((r["key"], r["model"], r["y"]) for r in table) == [
        ("0", "scale:1", [2.0]),
        ("1", "scale:1", [4.0]),
        ("2", "scale:1", [6.0]),
    ]
    (dead,) = read_jsonl(Path(f"{out}-dead-letters"))
    assert (
        dead["stage"] == "read"
        and dead["source"] == str(tmp_path / "b.tfrecord")
        and "corrupted length" in dead["error"]
    )


def test_a_failed_batch_is_run_again_row_by_row_so_only_its_bad_rows_fail():
    calls: list[int] = []

    def run(rows: list[float]):
        import numpy as np

        calls.append(len(rows))
        if any(r < 0 for r in rows):
            raise InvalidArgument("negative input")
        return "m:1", {"y": np.asarray(rows) * 2}

    outcomes = list(predict_rows(enumerate([1.0, -1.0, 2.0, 3.0, 4.0]), run, batch_size=3))
    assert calls == [3, 1, 1, 1, 2]  # the failed batch of three again, one at a time
    assert [(o.ident, o.error is None, o.alone) for o in outcomes] == [
        (0, True, True),
        (1, False, True),
        (2, True, True),
        (3, True, False),
        (4, True, False),
    ]
    assert [float(o.outputs["y"]) for o in outcomes if o.error is None] == [2.0, 4.0, 6.0, 8.0]
    assert str(outcomes[1].error) == "negative input"
    assert [o.error is None for o in predict_rows(enumerate([-1.0, 1.0]), run, 2, isolate_failures=False)] == [
        False,
        False,
    ]


def test_a_shard_that_fails_leaves_no_file(tmp_path: Path):
    with pytest.raises(RuntimeError), ShardWriter(str(tmp_path / "p"), 0, 1, "jsonl") as writer:
        writer.write({"key": "a"})
        raise RuntimeError("the task died")
    assert list(tmp_path.iterdir()) == []
    with ShardWriter(str(tmp_path / "p"), 0, 1, "jsonl") as writer:
        writer.write({"key": "a"})
    assert (tmp_path / "p-00000-of-00001.jsonl").read_text() == '{"key":"a"}\n'


def test_inputs_and_specs_are_absolute_and_shards_are_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    for name in ("b.jsonl", "a.jsonl"):
        Path(name).write_text("{}\n")
    Path("sub").mkdir()
    assert list_inputs(["*.jsonl"]) == [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]
    with pytest.raises(InvalidArgument, match="no input files match sub"):
        list_inputs(["sub*"])  # folders are not files
    assert ModelSpec("models/x").model == str(tmp_path / "models" / "x")
    assert ModelSpec("http://h:1/v1/models/x").model == "http://h:1/v1/models/x"
    with pytest.raises(InvalidArgument, match="for local models"):
        ModelSpec("grpc://h:1", platform="onnx")
    assert [shard_of(s, 4) for s in ("in.jsonl:1", "in.jsonl:2")] == [
        shard_of(s, 4) for s in ("in.jsonl:1", "in.jsonl:2")
    ]
    assert len({shard_of(f"in.jsonl:{i}", 4) for i in range(100)}) == 4
