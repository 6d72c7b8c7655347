"""Batch prediction engines on the same rows: ``batch-predict`` on Beam's local runner vs on Spark (``local[N]``
and a real standalone cluster on 127.0.0.1), the Spark DataFrame API, and the in-process ceiling.

    .venv/bin/python bench/batch_engines.py [--rows 100000] [--models models] [--cores 2] [--skip beam0,...]

The data: ``--rows`` rows of digits features (the 360 held-out images, drawn at random and shifted by -1, 0 or
+1 sixteenths per pixel, clipped), each ``{"id": "r17", "images": [64 floats]}``, as one JSONL file (for the
command) and one Parquet file (for the DataFrame API), on the digits ONNX model, batches of ``--batch``.

Rows printed (records/s; ``job`` is the engine's own time for the job as the summary prints it, ``wall`` the
whole command, JVM or Beam start-up and the model loads included):

* ``in-process``: ``modelserve.load_model(...).predict`` over the rows in batches of ``--batch``.
* ``beam, 1 worker`` / ``beam, N workers``: ``batch-predict`` (default engine) with ``--workers 1`` / ``0``.
* ``spark local[N]`` / ``spark cluster``: ``batch-predict --engine spark`` with ``--master local[N]`` / the
  cluster's ``spark://`` URL (one worker with ``--cores`` cores, started here with ``spark-class``).
* ``DataFrame API local[N]`` / ``cluster``: ``modelserve.batch.spark.predict`` on the Parquet file, written
  back as Parquet (``job``: the write; the session is already up).

Every command's predictions are checked against the in-process answer (class per id). Not a test: the
numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

MODELSERVE = str(Path(sys.executable).parent / "modelserve")
_SUMMARY = re.compile(r"(\d+) predictions out.* in ([\d.]+) s")


def make_rows(models: Path, count: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    with np.load(models / "digits_test.npz") as data:
        images = data["images"].reshape(len(data["images"]), 64)
    rng = np.random.default_rng(seed)
    pixels = images[rng.integers(0, len(images), count)] + rng.integers(-1, 2, (count, 64)) / 16
    return [f"r{i}" for i in range(count)], np.clip(pixels, 0, 1).astype(np.float32)


def write_inputs(folder: Path, ids: list[str], pixels: np.ndarray) -> tuple[Path, Path]:
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    jsonl = folder / "rows.jsonl"
    with jsonl.open("wb") as f:
        for key, row in zip(ids, pixels):
            f.write(orjson.dumps({"id": key, "images": row}, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    parquet = folder / "rows.parquet"
    pq.write_table(pa.table({"id": ids, "images": list(pixels)}), parquet)
    return jsonl, parquet


def in_process(model: Path, pixels: np.ndarray, batch: int) -> tuple[float, dict[str, int]]:
    import modelserve

    loaded = modelserve.load_model(model)
    images = pixels.reshape(-1, 8, 8, 1)
    started = time.perf_counter()
    classes = np.concatenate(
        [loaded.predict({"images": images[i : i + batch]})["class_index"] for i in range(0, len(images), batch)]
    )
    seconds = time.perf_counter() - started
    return seconds, {f"r{i}": int(c) for i, c in enumerate(classes)}


def command(args: list[str], out: Path) -> tuple[float, float, dict[str, int]]:
    """``modelserve batch-predict`` in a process of its own: (job seconds, wall seconds, class per id)."""
    started = time.perf_counter()
    done = subprocess.run([MODELSERVE, "batch-predict", *args, "--output", str(out)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"batch-predict failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    found = _SUMMARY.search(done.stdout)
    if found is None:
        raise RuntimeError(f"no summary in:\n{done.stdout}")
    classes = {}
    for shard in sorted(out.parent.glob(out.name + "-0*.jsonl")):
        for line in shard.read_text().splitlines():
            record = json.loads(line)
            classes[record["key"]] = record["outputs"]["class_index"]
    return float(found.group(2)), wall, classes


def dataframe(master: str, model: Path, parquet: Path, out: Path, batch: int) -> tuple[float, float, dict[str, int]]:
    import pyarrow.parquet as pq

    from modelserve.batch.spark import predict
    from modelserve.batch.spark_session import spark_session

    started = time.perf_counter()
    with spark_session(master, conf={"spark.driver.host": "127.0.0.1"}, log_level="ERROR") as spark:
        job_started = time.perf_counter()
        frame = predict(spark.read.parquet(str(parquet)), model, outputs=["class_index"], keep=["id"], batch_size=batch)
        frame.write.mode("overwrite").parquet(str(out))
        job = time.perf_counter() - job_started
    wall = time.perf_counter() - started
    table = pq.read_table(out).to_pydict()
    return job, wall, dict(zip(table["id"], table["class_index"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--cores", type=int, default=2, help="local[N] and the cluster worker's cores")
    parser.add_argument("--skip", default="", help="comma-separated rows to skip: beam1,beam0,local,cluster,df")
    options = parser.parse_args()
    skip = set(filter(None, options.skip.split(",")))
    models = Path(options.models).absolute()
    model = models / "digits_onnx"
    ids, pixels = make_rows(models, options.rows)
    results: list[tuple[str, float, float | None]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jsonl, parquet = write_inputs(folder, ids, pixels)
        seconds, expected = in_process(model / "1", pixels, options.batch)
        results.append(("in-process (Model.predict)", seconds, None))
        base = ["--model", str(model), "--input", str(jsonl), "--key", "id", "--batch_size", str(options.batch)]
        base += ["--outputs", "class_index", "--progress", "never"]
        runs: list[tuple[str, str, list[str]]] = [
            ("beam1", "batch-predict, beam, 1 worker", ["--workers", "1"]),
            ("beam0", f"batch-predict, beam, {options.cores} workers", ["--workers", str(options.cores)]),
            ("local", f"batch-predict, spark local[{options.cores}]", ["--engine", "spark", "--master"]),
        ]
        for name, title, extra in runs:
            if name in skip:
                continue
            if name == "local":
                extra = [*extra, f"local[{options.cores}]", "--spark_conf", "spark.driver.host=127.0.0.1"]
            job, wall, got = command([*base, *extra], folder / name / "pred")
            assert got == expected, f"{title}: predictions differ from the in-process ones"
            results.append((title, job, wall))
        if "df" not in skip:
            job, wall, got = dataframe(f"local[{options.cores}]", model, parquet, folder / "df-local", options.batch)
            assert got == expected, "DataFrame API local: predictions differ"
            results.append((f"DataFrame API, spark local[{options.cores}]", job, wall))
        if "cluster" not in skip:
            from modelserve.batch.spark_cluster import StandaloneCluster

            with StandaloneCluster(folder / "cluster", cores=options.cores) as cluster:
                master = ["--engine", "spark", "--master", cluster.master_url, "--spark_conf"]
                job, wall, got = command([*base, *master, "spark.driver.host=127.0.0.1"], folder / "cl" / "pred")
                assert got == expected, "spark cluster: predictions differ"
                results.append((f"batch-predict, spark cluster (1 worker, {options.cores} cores)", job, wall))
                if "df" not in skip:
                    job, wall, got = dataframe(cluster.master_url, model, parquet, folder / "df-cl", options.batch)
                    assert got == expected, "DataFrame API cluster: predictions differ"
                    results.append(("DataFrame API, spark cluster", job, wall))
    rows = options.rows
    print(f"\n{rows} rows, digits_onnx, batch {options.batch}; all predictions equal the in-process ones\n")
    print(f"| {'':58} | job records/s | wall s (incl. start-up) |")
    print(f"|{'-' * 60}|--------------:|-----------------------:|")
    for title, job, wall in results:
        print(f"| {title:58} | {rows / job:13,.0f} | {'' if wall is None else f'{wall:.1f}':>22} |")


if __name__ == "__main__":
    main()
