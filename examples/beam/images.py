"""The image pattern: a folder of digit PNGs in, the predicted class per file name out.

The digits SavedModel's ``from_bytes`` signature decodes PNG/JPEG bytes itself, so the pipeline only reads
files; keys are the file names (``digit_<label>_<index>.png``), which carry the true label for checking::

    digit_3_2.png -> 3

    python examples/beam/images.py --models models
"""

from __future__ import annotations

import os
from pathlib import Path

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
from example_helpers import arguments, options, read_json_lines, write_json_lines

from modelserve.batch import ModelServeHandler


def run(models: Path, out: Path, beam_args=()) -> list[dict]:
    handler = KeyedModelHandler(
        ModelServeHandler(models / "digits", signature="from_bytes", outputs="class_name", max_batch_size=32)
    )
    with beam.Pipeline(options=options(beam_args)) as p:
        results = (
            p
            | "Match" >> fileio.MatchFiles(str(models / "digits_png" / "*.png"))
            | "Open" >> fileio.ReadMatches()
            | "NameAndBytes" >> beam.Map(lambda f: (os.path.basename(f.metadata.path), f.read()))
            | "Classify" >> RunInference(handler)
            | "Format" >> beam.Map(lambda kv: {"file": kv[0], "class": kv[1].inference.decode()})
        )
        write_json_lines(results, out / "images")
    return read_json_lines(out / "images")


if __name__ == "__main__":
    args = arguments(__doc__.splitlines()[0])
    for entry in sorted(run(Path(args.models), Path(args.out), args.beam_args), key=lambda e: e["file"]):
        print(f"{entry['file']} -> {entry['class']}")
