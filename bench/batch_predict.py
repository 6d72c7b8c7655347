"""Batch prediction throughput on the digits images: modelserve's Beam handler vs Beam's own
``OnnxModelHandlerNumpy`` on the same data and ONNX model, vs the in-process ceiling, and the whole
``modelserve batch-predict`` command over PNG files.

    .venv/bin/python bench/batch_predict.py [--models models] [--records 20000] [--batch 64] [--workers 1]

Rows (records/s, best of ``--repeats``; pipelines include Beam's start-up, reported separately):

* ``in-process ceiling``: ``LoadedModel.run`` on pre-validated batches of ``--batch`` images, in a loop.
* ``Model.predict``: the in-memory API (validation included), same batches.
* ``Beam alone``: the same pipeline with no model (``beam.Create`` -> ``BatchElements`` -> count): the floor
  that Beam's own per-element cost sets on the local runner.
* ``RunInference + ModelServeHandler`` / ``RunInference + OnnxModelHandlerNumpy``: ``beam.Create`` of the
  images -> RunInference (``max_batch_size=--batch``) -> count, on the local FnApiRunner.
* ``batch-predict (PNG files)``: the CLI over ``--files`` PNG copies of the digits images: read, decode with
  Pillow, predict, write JSONL (``--workers`` local worker processes).

Both handlers get the same elements (one float32 [8, 8, 1] array each; ModelServeHandler takes a bare value for a
one-input signature). Not a test: numbers depend on the machine and its load. The images are the 360 held-out
digits, repeated.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import tempfile
import time
from pathlib import Path

import numpy as np


def best(repeats: int, run) -> float:
    """The shortest of ``repeats`` wall times of ``run()`` (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def in_process(model_path: Path, images: np.ndarray, batch: int) -> tuple[float, float]:
    from modelserve import load_model
    from modelserve.serving.inputs import admit
    from modelserve.types import InputRules

    model = load_model(model_path)
    signature = model.signatures["serving_default"]
    batches = [images[i : i + batch] for i in range(0, len(images), batch)]
    ready = [admit(signature, {"images": b}, InputRules.CAST) for b in batches]

    def ceiling() -> None:
        for inputs in ready:
            model.runtime.run("serving_default", inputs)

    def predict() -> None:
        for b in batches:
            model.predict({"images": b})

    ceiling()
    return best(3, ceiling), best(3, predict)


def pipeline_seconds(handler, images: np.ndarray, workers: int, as_rows: bool) -> float:
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.ml.inference.base import RunInference

    from modelserve.batch.runners import local_runner_options

    elements = [{"images": image} for image in images] if as_rows else list(images)
    start = time.perf_counter()
    p = beam.Pipeline(options=local_runner_options(workers=workers))
    created = p | beam.Create(elements, reshuffle=False)
    if handler is None:  # Beam alone: the same elements batched and unbatched, no model
        batch = len(elements) if len(elements) < 64 else 64
        _ = created | beam.BatchElements(batch, batch) | beam.FlatMap(lambda b: b) | beam.combiners.Count.Globally()
        p.run().wait_until_finish()
        return time.perf_counter() - start
    _ = created | RunInference(handler) | beam.combiners.Count.Globally()
    result = p.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    counters = result.metrics().query(MetricsFilter().with_name("num_inferences"))["counters"]
    done = sum(c.committed for c in counters)
    if done != len(images):
        raise RuntimeError(f"expected {len(images)} predictions, the pipeline made {done}")
    return seconds


def cli_seconds(models: Path, files: int, workers: int, batch: int) -> tuple[float, str]:
    from modelserve.cli import main

    pngs = sorted((models / "digits_png").glob("*.png"))
    with tempfile.TemporaryDirectory() as folder:
        for i in range(files):
            (Path(folder) / f"{i:06d}_{pngs[i % len(pngs)].name}").write_bytes(pngs[i % len(pngs)].read_bytes())
        out = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(out):
            status = main(
                [
                    "batch-predict",
                    "--model", str(models / "digits_onnx"),
                    "--input", f"{folder}/*.png",
                    "--output", f"{folder}/out/pred",
                    "--outputs", "class_index",
                    "--workers", str(workers),
                    "--batch_size", str(batch),
                    "--progress", "never",
                ]
            )  # fmt: skip
        seconds = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(out.getvalue())
    return seconds, out.getvalue().splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="models")
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="local worker processes for the pipelines")
    parser.add_argument("--files", type=int, default=2000, help="PNG files for the batch-predict row")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # Beam's start-up chatter

    from apache_beam.ml.inference.onnx_inference import OnnxModelHandlerNumpy

    from modelserve.batch import ModelServeHandler

    models = Path(args.models)
    model_path = models / "digits_onnx" / "1"
    base = np.load(models / "digits_test.npz")["images"]
    images = np.ascontiguousarray(np.resize(base, (args.records, *base.shape[1:])))
    print(f"digits ONNX model, {args.records} images of 8x8x1 float32, batch {args.batch}, workers {args.workers}")

    ceiling, predict = in_process(model_path, images, args.batch)
    rows = [("in-process ceiling (LoadedModel.run)", ceiling), ("Model.predict (in-memory API)", predict)]
    ours = ModelServeHandler(models / "digits_onnx", min_batch_size=args.batch, max_batch_size=args.batch)
    beams = OnnxModelHandlerNumpy(
        str(model_path / "model.onnx"),
        providers=["CPUExecutionProvider"],
        min_batch_size=args.batch,
        max_batch_size=args.batch,
    )
    startup = best(args.repeats, lambda: pipeline_seconds(ours, images[:10], args.workers, as_rows=False))
    for label, handler, as_rows in (
        ("Beam alone (Create, BatchElements; no model)", None, False),
        ("RunInference + ModelServeHandler", ours, False),
        ("RunInference + OnnxModelHandlerNumpy", beams, False),
    ):
        seconds = best(args.repeats, lambda h=handler, r=as_rows: pipeline_seconds(h, images, args.workers, r))
        rows.append((label, seconds))
    print(f"{'':<46}{'records/s':>12}{'vs ceiling':>12}{'seconds':>9}")
    for label, seconds in rows:
        rate = args.records / seconds
        print(f"{label:<46}{rate:>12,.0f}{ceiling / seconds:>12.3f}{seconds:>9.2f}")
    print(f"(a pipeline of 10 records takes {startup:.2f} s: Beam's fixed start-up cost, included above)")
    seconds, summary = cli_seconds(models, args.files, args.workers, args.batch)
    rate = args.files / seconds
    print(f"batch-predict over {args.files} PNG files: {rate:,.0f} records/s end to end ({seconds:.2f} s)")
    print(f"  {summary}")


if __name__ == "__main__":
    main()
