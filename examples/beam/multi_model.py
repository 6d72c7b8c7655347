"""Pattern 3, several models side by side: the same questions through x5 and x10, results flattened.

key is first_question * 5 input is [105.0] output is 524.99...
key is first_question * 10 input is [105.0] output is 1049.9...

python examples/beam/multi_model.py --models models
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from example_helpers import QUESTIONS, arguments, keyed_entry, make_example, options, read_json_lines, write_json_lines

from modelserve.batch import ModelServeHandler


def run(models: Path, out: Path, beam_args=()) -> list[dict]:
    five = KeyedModelHandler(ModelServeHandler(models / "multiply_five", outputs="output_0"))
    ten = KeyedModelHandler(ModelServeHandler(models / "multiply_ten", outputs="output_0"))
    with beam.Pipeline(options=options(beam_args)) as p:
        questions = p | "Questions" >> beam.Create(sorted(QUESTIONS.items()))
        multiply_five = (
            questions
            | "FiveTuples" >> beam.Map(lambda kv: (f"{kv[0]} * 5", make_example(kv[1])))
            | "MultiplyFive" >> RunInference(five)
        )
        multiply_ten = (
            questions
            | "TenTuples" >> beam.Map(lambda kv: (f"{kv[0]} * 10", make_example(kv[1])))
            | "MultiplyTen" >> RunInference(ten)
        )
        results = (multiply_five, multiply_ten) | "Both" >> beam.Flatten() | "Format" >> beam.Map(keyed_entry)
        write_json_lines(results, out / "multi_model")
    return read_json_lines(out / "multi_model")


if __name__ == "__main__":
    args = arguments(__doc__.splitlines()[0])
    for entry in run(Path(args.models), Path(args.out), args.beam_args):
        print(f"key is {entry['key']} input is [{entry['input']}] output is {entry['output']}")
