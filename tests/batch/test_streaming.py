"""The same handler in a streaming pipeline: TestStream on the BundleBasedDirectRunner (the local streaming runner
that never uses Prism), event-time windows, stateful batching by time (max_batch_duration_secs), dead letters."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from apache_beam.testing import test_stream
from apache_beam.testing.util import assert_that, equal_to, equal_to_per_window
from apache_beam.transforms import window

from modelserve.batch.handler import ModelServeHandler
from modelserve.batch.runners import local_runner_options
from modelserve.model import load_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_keyed_predictions_per_event_time_window(scale_repo: Path, digits):
    images = digits[0][:8]
    with load_model(scale_repo / "digits_onnx" / "1") as model:
        classes = model.predict({"images": images})["class_index"].tolist()
    stream = (
        test_stream.TestStream()
        .advance_watermark_to(0)
        .add_elements([window.TimestampedValue((f"k{i}", {"images": images[i]}), i) for i in range(4)])
        .advance_processing_time(1)
        .advance_watermark_to(10)
        .add_elements([window.TimestampedValue((f"k{i}", {"images": images[i]}), 10 + i) for i in range(4, 8)])
        .advance_processing_time(1)
        .advance_watermark_to(20)  # the window's end flushes a part-full batch (see docs/batch.md, streaming)
        .advance_watermark_to_infinity()
    )
    handler = KeyedModelHandler(
        ModelServeHandler(
            scale_repo / "digits_onnx", outputs="class_index", max_batch_size=3, max_batch_duration_secs=0.05
        )
    )
    p = beam.Pipeline(options=local_runner_options(streaming=True))
    got = (
        p
        | stream
        | beam.WindowInto(window.FixedWindows(10))
        | RunInference(handler)
        | beam.Map(lambda kv: (kv[0], int(kv[1].inference), kv[1].model_id))
    )
    expected = {
        window.IntervalWindow(0, 10): [(f"k{i}", classes[i], "digits_onnx:1") for i in range(4)],
        window.IntervalWindow(10, 20): [(f"k{i}", classes[i], "digits_onnx:1") for i in range(4, 8)],
    }
    assert_that(got, equal_to_per_window(expected), use_global_window=False)
    p.run().wait_until_finish()


def test_streaming_dead_letters_keep_the_stream_going(scale_repo: Path):
    stream = (
        test_stream.TestStream()
        .add_elements([("a", {"x": np.float32(1)}), ("bad", {"x": np.zeros(3, np.float32)})])
        .advance_processing_time(1)
        .add_elements([("b", {"x": np.float32(2)})])
        .advance_watermark_to_infinity()
    )
    handler = KeyedModelHandler(ModelServeHandler(scale_repo / "scale" / "1", outputs="y", max_batch_size=1))
    p = beam.Pipeline(options=local_runner_options(streaming=True))
    main, dlq = p | stream | RunInference(handler).with_exception_handling()
    assert_that(main | beam.Map(lambda kv: (kv[0], kv[1].inference.tolist())), equal_to([("a", [2.0]), ("b", [4.0])]))
    failed = dlq.failed_inferences | beam.Map(lambda f: f[0][0][0])
    assert_that(failed, equal_to(["bad"]), label="dead letters")
    p.run().wait_until_finish()
