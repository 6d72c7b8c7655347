"""``modelserve batch-predict --engine spark``: the same job as the Beam pipeline, run as one Spark job.

    modelserve batch-predict --engine spark --master 'local[4]' --model models/digits_onnx \\
        --input 'models/digits_png/*.png' --output out/digits
    modelserve batch-predict --engine spark --master spark://HOST:7077 --model models/digits_onnx \\
        --input 'data/*.jsonl' --key id --output out/pred --spark_conf spark.executor.memory=2g

The driver lists the inputs, loads the model once to learn its signature (as Beam's launcher does), and runs::

    paths ── read_file (one task per group of files) ── partitionBy(N) ── predict_shard ×N ── counters
                                                                         (writes shard i of N: predictions
                                                                          and dead letters)

Records, keys, output rows, dead letters and file names are the Beam pipeline's
(:mod:`modelserve.batch.spark_tasks`), so the two engines' results compare record by record. ``N`` is
``--num_shards``, else Spark's default parallelism (the cores of ``local[N]`` or of the cluster's executors).
PySpark is imported only when a job runs.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from modelserve.batch.clients import RetryPolicy
from modelserve.batch.info import ModelInfo
from modelserve.batch.job import COUNTER_NAMES, BatchPredictJob, Summary, default_format
from modelserve.batch.spark_tasks import ShardPlan, by_shard, list_inputs, predict_shard, read_file
from modelserve.batch.spark_worker import ModelSpec, describe
from modelserve.batch.targets import is_server_url
from modelserve.errors import InvalidArgument

#: ``batch-predict`` flags that belong to Beam's engine only.
_BEAM_ONLY = {"workers": 0, "model_copies": None, "large_model": False}


def spark_problems(args: argparse.Namespace) -> list[str]:
    """Flags given that ``--engine spark`` cannot honour (found from the parsed arguments only)."""
    problems = [f"--{name} is a Beam option" for name, default in _BEAM_ONLY.items() if getattr(args, name) != default]
    if args.beam_args:
        problems.append(f"Beam flags after '--' ({' '.join(args.beam_args)}) do not apply; use --spark_conf KEY=VALUE")
    return problems


def model_spec(args: argparse.Namespace) -> ModelSpec:
    """The :class:`ModelSpec` the command's model flags describe."""
    if args.batch_size < 1:
        raise InvalidArgument("--batch_size must be at least 1")
    remote = args.remote or is_server_url(args.model)
    if remote and (args.model_config_file or args.platform):
        raise InvalidArgument("--model_config_file and --platform are for local models")
    return ModelSpec(
        args.model,
        signature=args.signature,
        remote=args.remote,
        version=args.version,
        label=args.label,
        model_config_file=None if remote else args.model_config_file,
        platform=args.platform,
        allow_code_models=args.allow_code_models and not remote,
        protocol=args.protocol,
        timeout_secs=args.timeout,
        retry=RetryPolicy(max_attempts=args.max_attempts),
    )


def run_command(args: argparse.Namespace, make_job: Callable[[str], BatchPredictJob]) -> int:
    """The command with ``--engine spark``: plan (model, inputs), then run on ``--master`` and print the summary."""
    from modelserve.batch.spark_session import parse_conf

    problems = spark_problems(args)
    if problems:
        raise InvalidArgument("; ".join(problems) + " (with --engine spark)")
    conf = parse_conf(args.spark_conf or ())
    spec = model_spec(args)
    paths = list_inputs(args.input)
    job = make_job(args.format or default_format(paths))
    info = describe(spec)
    for name in job.outputs or ():
        info.output(name)  # NotFound naming the outputs there are
    master = args.master
    if args.dry_run:
        print(f"model: {info.model_id} signature {info.signature!r}: {info.describe_inputs()}")
        print(f"inputs: {len(paths)} files as {job.format}; engine: spark, master: {master}")
        return 0
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    summary, shards = run_spark_job_on(master, job, spec, info, paths, args.batch_size, conf, show)
    print(summary.text())
    print(f"  Spark: master {master}, {shards} tasks writing {shards} shards")
    return 0


def run_spark_job_on(
    master: str,
    job: BatchPredictJob,
    spec: ModelSpec,
    info: ModelInfo,
    paths: Sequence[str],
    batch_size: int = 64,
    conf: dict[str, str] | None = None,
    progress: bool = False,
) -> tuple[Summary, int]:
    """:func:`run_spark_job` in a session of its own on ``master`` (started and stopped here)."""
    from modelserve.batch.spark_session import spark_session

    with spark_session(master, conf=conf, progress=progress) as spark:
        return run_spark_job(spark, job, spec, info, paths, batch_size)


def run_spark_job(
    spark: Any,
    job: BatchPredictJob,
    spec: ModelSpec,
    info: ModelInfo | None = None,
    paths: Sequence[str] | None = None,
    batch_size: int = 64,
) -> tuple[Summary, int]:
    """Run ``job`` in ``spark`` (a SparkSession); returns the summary and the number of shards written.

    ``info`` (the model's signature, from :func:`~modelserve.batch.spark_worker.describe`) and ``paths``
    (:func:`~modelserve.batch.spark_tasks.list_inputs` of ``job.inputs``) are computed when omitted. Local
    output and dead-letter prefixes are made absolute, since executors run in folders of their own.
    """
    info = info or describe(spec)
    paths = list(paths) if paths is not None else list_inputs(job.inputs)
    job = _absolute_outputs(job)
    for prefix in (job.output, job.dead_letter_prefix):
        if "://" not in prefix:
            os.makedirs(os.path.dirname(prefix), exist_ok=True)
    context = spark.sparkContext
    shards = job.num_shards or max(1, context.defaultParallelism)
    plan = ShardPlan(job, spec, info, shards, batch_size)
    started = time.monotonic()
    counters = (
        context.parallelize(paths, max(1, min(len(paths), shards)))
        .flatMap(functools.partial(read_file, job.format, shards))
        .partitionBy(shards, by_shard)
        .mapPartitionsWithIndex(functools.partial(predict_shard, plan))
        .collect()
    )
    seconds = time.monotonic() - started
    totals = {name: sum(c.get(name, 0) for c in counters) for name in COUNTER_NAMES}
    summary = Summary(totals, seconds, job.output, job.dead_letter_prefix, job.output_format)
    return summary, shards


def _absolute_outputs(job: BatchPredictJob) -> BatchPredictJob:
    from dataclasses import replace

    def absolute(prefix: str) -> str:
        return prefix if "://" in prefix else os.path.abspath(prefix)

    return replace(job, output=absolute(job.output), dead_letters=absolute(job.dead_letter_prefix))
