"""ModelServeHandler in real Beam pipelines on the local FnApiRunner, with exact output assertions."""

from __future__ import annotations

import os
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import KeyedModelHandler, ModelMetadata, PredictionResult, RunInference
from apache_beam.testing.util import assert_that, equal_to

from modelserve.batch.handler import METRICS_NAMESPACE, ModelServeHandler
from modelserve.batch.runners import local_runner_options
from modelserve.model import load_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def pipeline(workers: int = 1) -> beam.Pipeline:
    return beam.Pipeline(options=local_runner_options(workers=workers))


def test_keyed_predictions_equal_in_process_ones_exactly(scale_repo: Path, digits):
    images, _ = digits
    images = images[:50]
    with load_model(scale_repo / "digits_onnx" / "1") as model:
        expected_out = model.predict({"images": images})
    expected = [
        (f"img-{i}", int(expected_out["class_index"][i]), expected_out["probabilities"][i].tolist(), "digits_onnx:1")
        for i in range(len(images))
    ]
    handler = KeyedModelHandler(ModelServeHandler(scale_repo / "digits_onnx", max_batch_size=16))
    p = pipeline()
    got = (
        p
        | beam.Create([(f"img-{i}", {"images": image}) for i, image in enumerate(images)])
        | RunInference(handler)
        | beam.Map(
            lambda kv: (
                kv[0],
                int(kv[1].inference["class_index"]),
                kv[1].inference["probabilities"].tolist(),
                kv[1].model_id,
            )
        )
    )
    assert_that(got, equal_to(expected))
    result = p.run()
    result.wait_until_finish()
    metrics = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    counters = {c.key.metric.name: c.committed for c in metrics["counters"]}
    assert counters["num_inferences"] == 50
    sizes = {d.key.metric.name: d.committed for d in metrics["distributions"]}["inference_request_batch_size"]
    assert sizes.max <= 16 and sizes.sum == 50  # batching settings reached BatchElements


def test_unkeyed_bare_values_single_output_and_batching_settings(scale_repo: Path):
    handler = ModelServeHandler(scale_repo / "scale", version=1, outputs="y", min_batch_size=2, max_batch_size=3)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 2, "max_batch_size": 3}
    with pipeline() as p:
        got = (
            p
            | beam.Create([1.0, 2.5, -4.0])
            | RunInference(handler)
            | beam.Map(lambda r: (r.example, r.inference.tolist(), r.model_id))
        )
        assert_that(got, equal_to([(1.0, [2.0], "scale:1"), (2.5, [5.0], "scale:1"), (-4.0, [-8.0], "scale:1")]))


def test_pre_and_post_processing_functions(scale_repo: Path):
    handler = (
        ModelServeHandler(scale_repo / "scale" / "2", outputs="y")
        .with_preprocess_fn(lambda text: {"x": float(text)})
        .with_postprocess_fn(lambda result: f"{result.model_id} says {float(result.inference[0]):g}")
    )
    with pipeline() as p:
        got = p | beam.Create(["1", "10"]) | RunInference(handler)
        assert_that(got, equal_to(["scale:2 says 3", "scale:2 says 30"]))


def test_failed_batches_become_dead_letters_and_the_rest_succeeds(scale_repo: Path):
    handler = KeyedModelHandler(ModelServeHandler(scale_repo / "scale" / "1", outputs="y", max_batch_size=1))
    with pipeline() as p:
        rows = p | beam.Create([("good", {"x": 1.0}), ("bad", {"x": [1.0, 2.0, 3.0]}), ("missing", {"z": 1.0})])
        main, dlq = rows | RunInference(handler).with_exception_handling()
        assert_that(
            main | "Good" >> beam.Map(lambda kv: (kv[0], kv[1].inference.tolist())),
            equal_to([("good", [2.0])]),
            label="main",
        )
        failed = dlq.failed_inferences | beam.Map(lambda f: (f[0][0][0], f[1][0].__name__))
        assert_that(failed, equal_to([("bad", "InvalidArgument"), ("missing", "InvalidArgument")]), label="dlq")


def test_model_refresh_through_the_model_metadata_side_input(scale_repo: Path):
    """What WatchFilePattern emits (a file path) swaps the model: built for version 1, answers as version 2."""
    handler = KeyedModelHandler(ModelServeHandler(scale_repo / "scale" / "1", outputs="y"))
    newest = str(scale_repo / "scale" / "2" / "model.onnx")
    with pipeline() as p:
        models = p | "Models" >> beam.Create([ModelMetadata(model_id=newest, model_name="scale_v2")])
        got = (
            p
            | beam.Create([("a", {"x": 1.0}), ("b", {"x": 2.0})])
            | RunInference(handler, model_metadata_pcoll=models)
            | beam.Map(lambda kv: (kv[0], kv[1].inference.tolist(), kv[1].model_id))
        )
        assert_that(got, equal_to([("a", [3.0], "scale:2"), ("b", [6.0], "scale:2")]))


def test_update_model_path_then_load(scale_repo: Path):
    handler = ModelServeHandler(scale_repo / "scale", version=1)
    assert handler.load_model().info().model_id == "scale:1"
    handler.update_model_path(str(scale_repo / "scale" / "2" / "model.onnx"))
    model = handler.load_model()
    assert model.info().model_id == "scale:2"
    assert model.run_rows([{"x": 1.0}])[1]["y"].tolist() == [[3.0]]


def test_inference_args_and_unknown_signature_are_refused(scale_repo: Path):
    from modelserve.errors import NotFound

    handler = ModelServeHandler(scale_repo / "scale", signature="nope")
    with pytest.raises(NotFound, match="signature 'nope' not found"):
        handler.load_model()
    with pytest.raises(ValueError, match="takes no inference_args"):
        handler.validate_inference_args({"a": 1})


class _WherePredicted(ModelServeHandler):
    """Test-only: tags each result with the worker's pid and the pid of the process holding the model."""

    def run_inference(self, batch, model, inference_args=None):
        model_pid = model.info().pid
        return [
            PredictionResult(r.example, (os.getpid(), model_pid, float(r.inference[0])), r.model_id)
            for r in super().run_inference(batch, model, inference_args)
        ]


def test_one_multi_process_run_shares_one_model_across_worker_processes(scale_repo: Path, tmp_path: Path):
    """Two SDK worker processes, model_copies=1: one loaded model serves both (Beam's MultiProcessShared: the
    first worker to acquire it hosts it, the other calls it through a proxy)."""
    import sys

    from apache_beam.internal.cloudpickle import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    handler = KeyedModelHandler(
        _WherePredicted(scale_repo / "scale" / "1", outputs="y", model_copies=1, max_batch_size=4)
    )
    assert handler.share_model_across_processes() and handler.model_copies() == 1
    out = tmp_path / "pids"
    with beam.Pipeline(options=local_runner_options(workers=2)) as p:
        _ = (
            p
            | beam.Create([(i, {"x": float(i)}) for i in range(40)])
            | beam.Reshuffle()
            | RunInference(handler)
            | beam.Map(lambda kv: f"{kv[0]} {kv[1].inference[0]} {kv[1].inference[1]} {kv[1].inference[2]}")
            | beam.io.WriteToText(str(out))
        )
    lines = [line.split() for shard in tmp_path.glob("pids*") for line in shard.read_text().splitlines()]
    assert sorted((int(k), float(y)) for k, _w, _m, y in lines) == [(i, 2.0 * i) for i in range(40)]
    workers = {w for _k, w, _m, _y in lines}
    models = {m for _k, _w, m, _y in lines}
    assert str(os.getpid()) not in workers  # the work ran in SDK worker subprocesses
    assert len(workers) == 2  # both SDK worker processes ran batches...
    assert len(models) == 1  # ...on the one model that Beam's MultiProcessShared hosts for the machine
