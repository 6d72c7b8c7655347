"""Shared by the RunInference pattern examples: tf.Example helpers, the question set, runner options, output.

The examples follow the seed's four patterns (Google's "RunInference" blog series) on the ``multiply_five`` and
``multiply_ten`` example models (``modelserve examples build``): their ``serving_default`` signature takes
serialized ``tf.train.Example`` s with a float feature ``x`` and returns ``output_0`` (about 5x, 10x).
No TensorFlow is needed to build or read the Examples (modelserve writes and parses them itself).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from modelserve.batch.records import parse_example
from modelserve.batch.runners import local_runner_options
from modelserve.batch.tfrecord import write_records
from modelserve.protocols.tfs.tf_example import Feature, encode_example

#: The seed's questions: values inside and outside the 0..99 training range.
QUESTIONS = {"first_question": 105.0, "second_question": 108.0, "third_question": 1000.0, "fourth_question": 1013.0}


def make_example(x: float) -> bytes:
    """A serialized tf.train.Example with the float feature ``x``."""
    return encode_example({"x": Feature("float", [float(x)])})


def example_x(serialized: bytes) -> float:
    """The ``x`` feature of a serialized Example (as float32 became a Python float)."""
    return float(parse_example(serialized)["x"][0])


def keyed_entry(element: tuple) -> dict:
    """``(key, PredictionResult)`` of a multiply model as ``{"key", "input", "output"}``."""
    key, result = element
    return {"key": key, "input": example_x(result.example), "output": float(result.inference[0])}


def write_questions_tfrecord(path: Path, values: Iterable[float] = QUESTIONS.values()) -> Path:
    """The seed's ``predict_values_five_times_table.tfrecord``: one Example per value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_records(f, [make_example(v) for v in values])
    return path


def options(beam_args: Sequence[str] = ()) -> PipelineOptions:
    """Beam's local FnApiRunner in this process (never Prism), unless ``beam_args`` name a runner."""
    if any(a.startswith("--runner") for a in beam_args):
        return PipelineOptions(list(beam_args))
    return local_runner_options(workers=1, extra=list(beam_args))


def write_json_lines(pcoll: beam.PCollection, prefix: Path) -> None:
    _ = pcoll | "ToJson" >> beam.Map(json.dumps) | "Write" >> beam.io.WriteToText(str(prefix), ".jsonl", num_shards=1)


def read_json_lines(prefix: Path) -> list[dict]:
    records = []
    for shard in sorted(prefix.parent.glob(prefix.name + "-*.jsonl")):
        records.extend(json.loads(line) for line in shard.read_text().splitlines() if line)
    return records


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--models", default="models", help="the example model repository (default: models)")
    parser.add_argument("--out", default="out/beam-examples", help="folder for inputs and results")
    parser.add_argument("beam_args", nargs="*", help="Beam options after '--' (default: the local runner)")
    return parser.parse_args()
