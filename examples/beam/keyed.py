"""Pattern 2, keyed RunInference: ``(key, example)`` in, ``(key, prediction)`` out; the key never reaches the model.

key is first_question input is [105.0] output is 524.99...

python examples/beam/keyed.py --models models
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from example_helpers import QUESTIONS, arguments, keyed_entry, make_example, options, read_json_lines, write_json_lines

from modelserve.batch import ModelServeHandler


def run(models: Path, out: Path, beam_args=()) -> list[dict]:
    handler = KeyedModelHandler(ModelServeHandler(models / "multiply_five", outputs="output_0"))
    with beam.Pipeline(options=options(beam_args)) as p:
        results = (
            p
            | "Questions" >> beam.Create(sorted(QUESTIONS.items()))
            | "ToExamples" >> beam.Map(lambda kv: (kv[0], make_example(kv[1])))
            | "MultiplyFive" >> RunInference(handler)
            | "Format" >> beam.Map(keyed_entry)
        )
        write_json_lines(results, out / "keyed")
    return read_json_lines(out / "keyed")


if __name__ == "__main__":
    args = arguments(__doc__.splitlines()[0])
    for entry in run(Path(args.models), Path(args.out), args.beam_args):
        print(f"key is {entry['key']} input is [{entry['input']}] output is {entry['output']}")
