"""Pattern 1, plain RunInference: a TFRecord of tf.Examples in; each input and its output together out.

The seed's tfx-bsl pipeline returned a PredictionLog (request + response); here RunInference returns a
``PredictionResult`` holding the example and the inference, which a post-processing step prints as the seed did::

    input is [105.0] output is [524.99...]

    python examples/beam/plain.py --models models --out out/beam-examples
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult, RunInference
from example_helpers import arguments, example_x, options, read_json_lines, write_json_lines, write_questions_tfrecord

from modelserve.batch import ModelServeHandler


def log_entry(result: PredictionResult) -> dict:
    """The PredictionLog-like record: the model, the request's ``x`` and the response's ``output_0``."""
    return {"model": result.model_id, "input": example_x(result.example), "output": result.inference.tolist()}


def run(models: Path, out: Path, beam_args=()) -> list[dict]:
    tfrecord = write_questions_tfrecord(out / "predict_values_five_times_table.tfrecord")
    handler = ModelServeHandler(models / "multiply_five", outputs="output_0")
    with beam.Pipeline(options=options(beam_args)) as p:
        results = (
            p
            | "ReadExamples" >> beam.io.ReadFromTFRecord(str(tfrecord))
            | "MultiplyFive" >> RunInference(handler)
            | "PredictionLog" >> beam.Map(log_entry)
        )
        write_json_lines(results, out / "plain")
    return read_json_lines(out / "plain")


if __name__ == "__main__":
    args = arguments(__doc__.splitlines()[0])
    for entry in run(Path(args.models), Path(args.out), args.beam_args):
        print(f"input is [{entry['input']}] output is {entry['output']}")
