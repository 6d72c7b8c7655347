"""What a ``batch-predict`` job is and what it reports, for every engine (Beam's and Spark's); no Beam here.

:class:`BatchPredictJob` names the inputs, how to decode them and where results and dead letters go;
:class:`Summary` holds a finished run's totals (:data:`COUNTER_NAMES`) and prints the command's summary.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from modelserve.errors import InvalidArgument

OUTPUT_FORMATS = ("jsonl", "parquet")
#: The totals every engine counts: records read, failures per stage, predictions, and records of failed
#: batches run again one by one.
COUNTER_NAMES = ("read", "failed_read", "failed_decode", "predicted", "failed_predict", "rerun_alone")


@dataclass(frozen=True)
class BatchPredictJob:
    """What to read, how to decode it, and where results and dead letters go.

    ``outputs`` keeps only some model outputs; ``include_inputs`` writes each record's model inputs next to
    its outputs (like TF Serving's PredictionLog). ``dead_letters`` defaults to ``OUTPUT-dead-letters``.
    ``num_shards=0`` lets the runner choose how many output files to write.
    """

    inputs: tuple[str, ...]
    format: str
    output: str
    output_format: str = "jsonl"
    dead_letters: str | None = None
    key_field: str | None = None
    outputs: tuple[str, ...] | None = None
    include_inputs: bool = False
    image_scale: float | None = None
    image_resample: str = "box"
    num_shards: int = 0
    isolate_failures: bool = True

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise InvalidArgument(f"unknown output format {self.output_format!r}; use jsonl or parquet")
        if not self.inputs:
            raise InvalidArgument("no input files given")

    @property
    def dead_letter_prefix(self) -> str:
        return self.dead_letters or f"{self.output}-dead-letters"


@dataclass
class Summary:
    """The totals of a finished run (from the engine's counters) and where the files are."""

    counters: dict[str, int]
    seconds: float
    output: str
    dead_letters: str
    output_format: str = "jsonl"

    @property
    def records_in(self) -> int:
        return self.counters.get("read", 0)

    @property
    def records_out(self) -> int:
        return self.counters.get("predicted", 0)

    @property
    def failed(self) -> int:
        return sum(self.counters.get(n, 0) for n in ("failed_read", "failed_decode", "failed_predict"))

    @property
    def throughput(self) -> float:
        return self.records_out / self.seconds if self.seconds > 0 else 0.0

    def text(self) -> str:
        c = self.counters
        lines = [
            f"batch-predict: {self.records_in} records in, {self.records_out} predictions out, {self.failed} failed "
            f"(read {c.get('failed_read', 0)}, decode {c.get('failed_decode', 0)}, "
            f"predict {c.get('failed_predict', 0)}) in {self.seconds:.1f} s: {self.throughput:.0f} records/s",
            f"  predictions:  {self.output}-?????-of-?????.{self.output_format}",
            f"  dead letters: {self.dead_letters}-?????-of-?????.jsonl (each with its reason)",
        ]
        if c.get("rerun_alone"):
            lines.append(f"  {c['rerun_alone']} records of failed batches were run again one by one")
        return "\n".join(lines)


def default_format(paths: Sequence[str]) -> str:
    """The format the matched files' names suggest, or InvalidArgument asking for ``--format``."""
    from modelserve.batch.records import format_for

    formats = {format_for(p) for p in paths}
    if len(formats) == 1 and None not in formats:
        return formats.pop()
    names = ", ".join(sorted({os.path.splitext(p)[1] or p for p in paths})[:5])
    raise InvalidArgument(f"cannot tell the input format from the file names ({names}); give --format")
