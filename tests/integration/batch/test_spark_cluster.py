"""``batch-predict --engine spark`` and the DataFrame API on a real standalone Spark cluster (a master and a
2-core worker started with PySpark's ``spark-class`` on 127.0.0.1), checked record by record against Beam's
local run of the same command and against the in-process ``modelserve.load_model(...).predict``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyspark")

from modelserve import load_model
from modelserve.batch.spark_cluster import StandaloneCluster
from modelserve.cli import main

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),  # PySpark 4.3 on pandas 3
]

ROWS = 100_000
DRIVER = ["--spark_conf", "spark.driver.host=127.0.0.1", "--spark_conf", "spark.driver.bindAddress=127.0.0.1"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("a standalone Spark cluster needs Java 17+ (not found on PATH or JAVA_HOME)")
    with StandaloneCluster(tmp_path_factory.mktemp("spark"), cores=2, memory="2g") as running:
        yield running


@pytest.fixture(scope="module")
def table(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """100k keyed rows of digits features (held-out images, each pixel shifted by -1, 0 or +1 sixteenths) as
    JSONL and Parquet, and the in-process model's outputs for them."""
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    with np.load(examples_dir / "digits_test.npz") as data:
        images = data["images"].reshape(-1, 64)
    rng = np.random.default_rng(7)
    pixels = np.clip(images[rng.integers(0, len(images), ROWS)] + rng.integers(-1, 2, (ROWS, 64)) / 16, 0, 1)
    pixels = pixels.astype(np.float32)
    ids = [f"r{i}" for i in range(ROWS)]
    folder = tmp_path_factory.mktemp("table")
    with (folder / "rows.jsonl").open("wb") as f:
        f.writelines(
            orjson.dumps({"id": k, "images": p}, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for k, p in zip(ids, pixels)
        )
    pq.write_table(pa.table({"id": ids, "pixels": list(pixels)}), folder / "rows.parquet")
    with load_model(examples_dir / "digits_onnx" / "1") as model:
        expected = model.predict({"images": pixels.reshape(-1, 8, 8, 1)})
    return folder, ids, expected


def predict(*args: str) -> int:
    return main(["batch-predict", "--progress", "never", *args])


def read_jsonl(prefix: Path) -> list[dict]:
    return [
        json.loads(line) for shard in sorted(prefix.parent.glob(prefix.name + "-0*.jsonl")) for line in shard.open()
    ]


def by_key(records: list[dict]) -> dict[str, dict]:
    keyed = {r["key"]: r for r in records}
    assert len(keyed) == len(records), "a key was written twice"
    return keyed


def test_digit_images_on_the_cluster_equal_beams_local_run(
    cluster: StandaloneCluster, examples_dir: Path, tmp_path: Path, capsys
):
    from PIL import Image

    folder = tmp_path / "pngs"
    folder.mkdir()
    for png in (examples_dir / "digits_png").glob("*.png"):
        (folder / png.name).write_bytes(png.read_bytes())
    with np.load(examples_dir / "digits_test.npz") as data:
        for index, image in enumerate(data["images"][:90]):
            Image.fromarray((image[..., 0] * 255).round().astype(np.uint8), "L").save(folder / f"test_{index}.png")
    args = ["--model", str(examples_dir / "digits_onnx"), "--input", str(folder / "*.png")]
    assert predict(*args, "--output", str(tmp_path / "beam" / "p"), "--workers", "1") == 0
    spark = ["--engine", "spark", "--master", cluster.master_url, *DRIVER]
    assert predict(*args, "--output", str(tmp_path / "spark" / "p"), *spark) == 0
    out = capsys.readouterr().out
    assert "100 records in, 100 predictions out, 0 failed" in out and f"master {cluster.master_url}" in out
    beam, spark_records = by_key(read_jsonl(tmp_path / "beam" / "p")), by_key(read_jsonl(tmp_path / "spark" / "p"))
    assert len(beam) == 100 and spark_records == beam  # every key, model, output value
    shards = sorted(p.name for p in (tmp_path / "spark").iterdir())
    assert shards == ["p-00000-of-00002.jsonl", "p-00001-of-00002.jsonl"] + [
        f"p-dead-letters-0000{i}-of-00002.jsonl" for i in range(2)
    ]
    with (examples_dir / "digits_png" / "labels.csv").open() as f:
        labels = dict(line.strip().split(",") for line in list(f)[1:])
    assert {k: spark_records[k]["outputs"]["class_name"] for k in labels} == labels


def test_100k_rows_through_the_command_on_the_cluster_equal_in_process_predict(
    cluster: StandaloneCluster, examples_dir: Path, table, tmp_path: Path, capsys
):
    import pyarrow.parquet as pq

    folder, ids, expected = table
    out = tmp_path / "pred"
    args = ["--model", str(examples_dir / "digits_onnx"), "--input", str(folder / "rows.jsonl"), "--key", "id"]
    spark = ["--engine", "spark", "--master", cluster.master_url, "--num_shards", "4", *DRIVER]
    assert predict(*args, "--output", str(out), "--output_format", "parquet", "--batch_size", "256", *spark) == 0
    assert f"{ROWS} records in, {ROWS} predictions out, 0 failed" in capsys.readouterr().out
    files = sorted(tmp_path.glob("pred-0*.parquet"))
    assert [f.name for f in files] == [f"pred-0000{i}-of-00004.parquet" for i in range(4)]
    got = pq.read_table(files).to_pydict()
    order = np.argsort(np.asarray([int(k[1:]) for k in got["key"]]))
    assert [got["key"][i] for i in order] == ids
    assert set(got["model"]) == {"digits_onnx:1"}
    assert np.array_equal(np.asarray(got["class_index"])[order], expected["class_index"])
    assert np.array_equal(np.asarray(got["probabilities"], dtype=np.float32)[order], expected["probabilities"])
    assert [got["class_name"][i] for i in order] == [c.decode() for c in expected["class_name"]]


@pytest.fixture
def server(examples_dir: Path, tmp_path: Path):
    """A real ``modelserve serve`` of digits_onnx on 127.0.0.1, for the DataFrame API to call."""
    from servers import ServerProcess

    process = ServerProcess(
        "--model_name=digits_onnx",
        f"--model_base_path={examples_dir / 'digits_onnx'}",
        log_path=tmp_path / "server.log",
    )
    try:
        process.wait_ready(path="/v1/models/digits_onnx")
        yield process
    finally:
        process.stop()


def test_100k_rows_through_the_dataframe_api_on_the_cluster(
    cluster: StandaloneCluster, examples_dir: Path, table, server
):
    from modelserve.batch.spark import predict as predict_frame
    from modelserve.batch.spark_session import spark_session

    folder, ids, expected = table
    conf = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"}
    with spark_session(cluster.master_url, "modelserve tests", conf=conf, log_level="ERROR") as spark:
        frame = spark.read.parquet(str(folder / "rows.parquet"))
        result = predict_frame(
            frame,
            examples_dir / "digits_onnx",
            inputs={"images": "pixels"},
            outputs={"class_index": "digit", "probabilities": "probabilities"},
            keep=["id"],
            model_column="model",
        )
        assert [(f.name, f.dataType.simpleString()) for f in result.schema.fields] == [
            ("id", "string"),
            ("digit", "bigint"),
            ("probabilities", "array<float>"),
            ("model", "string"),
        ]
        got = result.toPandas()
        assert sorted(got["id"], key=lambda k: int(k[1:])) == ids
        order = np.argsort(got["id"].map(lambda k: int(k[1:])).to_numpy())
        assert np.array_equal(got["digit"].to_numpy()[order], expected["class_index"])
        assert np.array_equal(np.stack(got["probabilities"].to_numpy()[order]), expected["probabilities"])
        assert set(got["model"]) == {"digits_onnx:1"}

        some = frame.filter("length(id) <= 4")  # r0 .. r999
        for url in (server.url + "/v2/models/digits_onnx", f"grpc://{server.grpc_target}/v1/models/digits_onnx"):
            remote = predict_frame(
                some, url, inputs={"images": "pixels"}, outputs=["class_index"], model_column="model"
            )
            answers = remote.toPandas()
            assert len(answers) == 1000 and set(answers["model"]) == {"digits_onnx:1"}
            rows_of = answers["id"].map(lambda k: int(k[1:])).to_numpy()
            assert np.array_equal(answers["class_index"].to_numpy(), expected["class_index"][rows_of])

        rows = [("good", [0.5] * 64), ("short", [0.5] * 63), ("null", None)]
        bad = spark.createDataFrame(rows, "id string, pixels array<float>")
        checked = predict_frame(bad, examples_dir / "digits_onnx", inputs={"images": "pixels"}, outputs=["class_index"])
        with_errors = predict_frame(
            bad,
            examples_dir / "digits_onnx",
            inputs={"images": "pixels"},
            outputs=["class_index"],
            error_column="error",
        )
        answers = {r["id"]: (r["class_index"], r["error"]) for r in with_errors.collect()}
        assert answers["good"][0] is not None and answers["good"][1] is None
        assert answers["short"][0] is None and "each example must have shape [8, 8, 1]" in answers["short"][1]
        assert answers["null"] == (None, "INVALID_ARGUMENT: column 'pixels' is null")
        with pytest.raises(Exception, match="pass error_column="):
            checked.collect()


def test_bad_records_become_the_same_dead_letters_as_with_beam(
    cluster: StandaloneCluster, examples_dir: Path, tmp_path: Path, capsys
):
    good = json.dumps({"id": "ok", "images": [0.25] * 64})
    lines = [
        good,
        json.dumps({"id": "short", "images": [0.25] * 63}),
        json.dumps({"id": "text", "images": "seven"}),
        "{not json",
        json.dumps({"images": [0.5] * 64}),  # no key field
        json.dumps({"id": "ok2", "images": [[0.75] * 8] * 8}),
    ]
    data = tmp_path / "in.jsonl"
    data.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "latin", "images": "\xe9"}\n')
    args = ["--model", str(examples_dir / "digits_onnx"), "--input", str(data), "--key", "id", "--include_inputs"]
    assert predict(*args, "--output", str(tmp_path / "beam" / "p"), "--workers", "1") == 0
    beam_summary = capsys.readouterr().out.splitlines()[0].split(" in ")[0]
    spark = ["--engine", "spark", "--master", cluster.master_url, *DRIVER]
    assert predict(*args, "--output", str(tmp_path / "spark" / "p"), *spark) == 0
    spark_summary = capsys.readouterr().out.splitlines()[0].split(" in ")[0]
    assert spark_summary == beam_summary
    assert beam_summary == "batch-predict: 7 records in, 2 predictions out, 5 failed (read 0, decode 5, predict 0)"

    def letters(engine: str) -> list[dict]:
        return sorted(read_jsonl(tmp_path / engine / "p-dead-letters"), key=lambda d: d["source"])

    assert by_key(read_jsonl(tmp_path / "spark" / "p")) == by_key(read_jsonl(tmp_path / "beam" / "p"))
    assert letters("spark") == letters("beam")
    assert [(d["key"], d["source"], d["stage"]) for d in letters("spark")] == [
        ("short", "in.jsonl:2", "decode"),
        ("text", "in.jsonl:3", "decode"),
        (None, "in.jsonl:4", "decode"),
        (None, "in.jsonl:5", "decode"),
        (None, "in.jsonl:7", "decode"),
    ]
