"""Pattern 4, models in sequence: x5, then its output through x10 (about 50x the question).

key is first_question original input is 105.0 input is [524.99...] output is 5249.9...

python examples/beam/sequential.py --models models
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference
from example_helpers import (
    QUESTIONS,
    arguments,
    example_x,
    keyed_entry,
    make_example,
    options,
    read_json_lines,
    write_json_lines,
)

from modelserve.batch import ModelServeHandler


def process_interim_inference(element: tuple[str, PredictionResult]) -> tuple[str, bytes]:
    """The seed's step between the models: the key notes the original input; the x5 output is the next input."""
    key, result = element
    return f"{key} original input is {example_x(result.example)}", make_example(float(result.inference[0]))


def run(models: Path, out: Path, beam_args=()) -> list[dict]:
    five = KeyedModelHandler(ModelServeHandler(models / "multiply_five", outputs="output_0"))
    ten = KeyedModelHandler(ModelServeHandler(models / "multiply_ten", outputs="output_0"))
    with beam.Pipeline(options=options(beam_args)) as p:
        results = (
            p
            | "Questions" >> beam.Create(sorted(QUESTIONS.items()))
            | "ToExamples" >> beam.Map(lambda kv: (kv[0], make_example(kv[1])))
            | "MultiplyFive" >> RunInference(five)
            | "ExtractResult" >> beam.Map(process_interim_inference)
            | "MultiplyTen" >> RunInference(ten)
            | "Format" >> beam.Map(keyed_entry)
        )
        write_json_lines(results, out / "sequential")
    return read_json_lines(out / "sequential")


if __name__ == "__main__":
    args = arguments(__doc__.splitlines()[0])
    for entry in run(Path(args.models), Path(args.out), args.beam_args):
        print(f"key is {entry['key']} input is [{entry['input']}] output is {entry['output']}")
