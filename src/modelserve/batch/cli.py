"""``modelserve batch-predict``: predictions for files of records, on Beam (its local runner or any Beam runner)
or on Spark (``--engine spark``: ``local[N]`` or a cluster's master).

    modelserve batch-predict --model models/digits_onnx --input 'models/digits_png/*.png' --output out/digits
    modelserve batch-predict --model http://127.0.0.1:8501/v1/models/digits_onnx --input data.jsonl --output out/p
    modelserve batch-predict --model models/multiply_five --input data.tfrecord --output out/m -- \\
        --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp
    modelserve batch-predict --engine spark --master spark://HOST:7077 --model models/digits_onnx \\
        --input 'data/*.jsonl' --key id --output out/p

This module only declares arguments; Beam or PySpark, and the model's framework, are imported when the
command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import sys
from typing import Any

FORMATS = ("jsonl", "csv", "tfrecord", "images")
ENGINES = ("beam", "spark")
SPARK_MASTER = "local[*]"


def add_parser(commands: Any) -> None:
    """Register ``batch-predict`` on the ``modelserve`` sub-command parser."""
    parser = commands.add_parser(
        "batch-predict",
        help="predict files of records with Apache Beam (local runner by default) or Spark (--engine spark)",
        description="Run a model over files of records with Apache Beam's RunInference, or as a Spark job "
        "(--engine spark --master local[N]|spark://HOST:PORT). With Beam, everything after '--' is passed to Beam "
        "(e.g. -- --runner=DataflowRunner --project=P --region=R --temp_location=gs://B/t).",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        required=True,
        help="a model file, version folder or base folder of versions; or a server URL "
        "(http://HOST:PORT/v1/models/NAME[/versions/N|/labels/L], .../v2/models/NAME, grpc://HOST:PORT/...); "
        "with --remote, the model's name",
    )
    model.add_argument("--remote", metavar="URL", help="a server (http://HOST:PORT or grpc://HOST:PORT) to call")
    model.add_argument("--protocol", choices=("tfs", "v2"), help="the server's API (default: from the URL, else tfs)")
    model.add_argument("--version", type=int, help="model version (default: the newest)")
    model.add_argument("--label", help="version label (from --model_config_file locally; TF Serving API remotely)")
    model.add_argument("--model_config_file", help="TF Serving model config file with version_labels (local)")
    model.add_argument("--signature", default="serving_default", help="signature to call (default: serving_default)")
    model.add_argument("--platform", help="tensorflow | keras | onnx | tflite | python (default: detected)")
    model.add_argument("--allow_code_models", action="store_true", help="load a Python model (it runs code)")

    data = parser.add_argument_group("data")
    data.add_argument("--input", action="append", required=True, metavar="GLOB", help="input files (repeatable)")
    data.add_argument("--format", choices=FORMATS, help="input format (default: from the file names)")
    data.add_argument("--key", metavar="FIELD", help="field (jsonl, csv) or feature (tfrecord) holding each key")
    data.add_argument("--output", required=True, metavar="PREFIX", help="write PREFIX-SSSSS-of-NNNNN.jsonl|parquet")
    data.add_argument("--output_format", choices=("jsonl", "parquet"), default="jsonl")
    data.add_argument("--dead_letters", metavar="PREFIX", help="failed records (default: OUTPUT-dead-letters)")
    data.add_argument("--outputs", metavar="NAMES", help="comma-separated model outputs to keep (default: all)")
    data.add_argument("--include_inputs", action="store_true", help="write each record's inputs with its outputs")
    data.add_argument("--image_scale", type=float, help="pixel scale for numeric image inputs (default: 1/255)")
    data.add_argument("--image_resample", default="box", choices=("box", "bilinear", "bicubic", "nearest", "lanczos"))
    data.add_argument("--num_shards", type=int, default=0, help="output files (default: the runner decides)")

    run = parser.add_argument_group("run")
    run.add_argument("--engine", choices=ENGINES, default="beam", help="beam (default) or spark")
    run.add_argument("--master", help=f"Spark's master with --engine spark (default: {SPARK_MASTER})")
    run.add_argument(
        "--spark_conf", action="append", metavar="KEY=VALUE", help="a Spark setting with --engine spark (repeatable)"
    )
    run.add_argument("--batch_size", type=int, default=64, help="largest batch per model call (default: 64)")
    run.add_argument("--min_batch_size", type=int, default=1)
    run.add_argument(
        "--workers", type=int, default=0, help="local worker processes (default 0: one per core; 1: this process)"
    )
    run.add_argument("--model_copies", type=int, help="load N copies per machine, shared by all worker processes")
    run.add_argument("--large_model", action="store_true", help="one copy per machine (model_copies=1)")
    run.add_argument("--timeout", type=float, default=60.0, help="seconds per remote request (default: 60)")
    run.add_argument("--max_attempts", type=int, default=8, help="attempts per remote batch (default: 8)")
    run.add_argument("--progress", choices=("auto", "always", "never"), default="auto")
    run.add_argument("--dry_run", action="store_true", help="check the model, inputs and Beam flags; run nothing")
    parser.add_argument("beam_args", nargs="*", metavar="-- BEAM_FLAGS", help="Beam pipeline options after '--'")
    parser.set_defaults(func=run_batch_predict)


#: Warnings Beam 2.77 prints on every run that say nothing about this job: its GCP I/O module without the GCP
#: client libraries, and RunInference's memory metric, whose ``resource`` import fails with torch's absence.
_BEAM_NOISE = ("apitools not found", "Resource module is not available")


def _drop_beam_noise(record: logging.LogRecord) -> bool:
    return not (isinstance(record.msg, str) and record.msg.startswith(_BEAM_NOISE))


def run_batch_predict(args: argparse.Namespace) -> int:
    """The command: plan (describe the model, match inputs), then run the pipeline and print the summary."""
    from modelserve.errors import InvalidArgument

    if args.engine == "spark":
        from modelserve.batch.spark_engine import run_command

        args.master = args.master or SPARK_MASTER
        return run_command(args, functools.partial(make_job, args))
    if args.master or args.spark_conf:
        raise InvalidArgument(
            "--master and --spark_conf are for --engine spark (Beam's own Spark runner takes "
            "-- --runner=SparkRunner --spark_master_url=spark://HOST:PORT)"
        )
    logging.getLogger().addFilter(_drop_beam_noise)
    from modelserve.batch.pipeline import check_inputs, default_format, run_job
    from modelserve.batch.progress import ProgressDisplay, stderr_to_file
    from modelserve.batch.remote import ServerModelHandler
    from modelserve.batch.runners import is_local, pipeline_options, runner_name, runner_problems, uses_worker_processes

    options = pipeline_options(args.beam_args, args.workers)
    problems = runner_problems(options)
    if problems:
        raise InvalidArgument("; ".join(problems))
    local = is_local(options)
    matched = check_inputs(args.input) if local or not args.format else []
    fmt = args.format or default_format(matched)
    handler = make_handler(args)
    info = handler.describe()
    job = make_job(args, fmt)
    for name in job.outputs or ():
        info.output(name)
    if args.dry_run:
        print(f"model: {info.model_id} signature {info.signature!r}: {info.describe_inputs()}")
        print(f"inputs: {len(matched) if matched else '?'} files as {fmt}; runner: {runner_name(options)}")
        if not local and not isinstance(handler, ServerModelHandler):
            print("note: remote workers must be able to read the model path (or use --remote)")
        return 0
    if "://" not in args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    show = args.progress == "always" or (args.progress == "auto" and local and sys.stderr.isatty())
    with contextlib.ExitStack() as stack:
        stream = None
        if local and uses_worker_processes(options):
            stream = stack.enter_context(stderr_to_file(f"{args.output}-beam.log"))
        progress = stack.enter_context(ProgressDisplay(stream, enabled=show))
        summary = run_job(job, handler, options, info, progress.address if local else None)
    print(summary.text())
    if local and uses_worker_processes(options):
        print(f"  Beam's worker logs: {args.output}-beam.log")
    return 0


def make_job(args: argparse.Namespace, fmt: str) -> Any:
    """The :class:`~modelserve.batch.job.BatchPredictJob` the data flags describe, for either engine."""
    from modelserve.batch.job import BatchPredictJob

    return BatchPredictJob(
        inputs=tuple(args.input),
        format=fmt,
        output=args.output,
        output_format=args.output_format,
        dead_letters=args.dead_letters,
        key_field=args.key,
        outputs=tuple(n.strip() for n in args.outputs.split(",") if n.strip()) if args.outputs else None,
        include_inputs=args.include_inputs,
        image_scale=args.image_scale,
        image_resample=args.image_resample,
        num_shards=args.num_shards,
    )


def make_handler(args: argparse.Namespace) -> Any:
    """A ServerModelHandler for server URLs (or --remote), else a ModelServeHandler for local paths."""
    from modelserve.batch.targets import is_server_url
    from modelserve.errors import InvalidArgument

    batching = {"min_batch_size": args.min_batch_size, "max_batch_size": args.batch_size}
    if args.batch_size < 1 or args.min_batch_size < 1 or args.min_batch_size > args.batch_size:
        raise InvalidArgument("batch sizes must satisfy 1 <= --min_batch_size <= --batch_size")
    if args.remote or is_server_url(args.model):
        from modelserve.batch.remote import RetryPolicy, ServerModelHandler

        if args.model_config_file or args.model_copies or args.large_model or args.platform:
            raise InvalidArgument(
                "--model_config_file, --model_copies, --large_model and --platform are for local models"
            )
        url, name = (args.remote, args.model) if args.remote else (args.model, None)
        return ServerModelHandler(
            url,
            model=name,
            version=args.version,
            label=args.label,
            protocol=args.protocol,
            signature=args.signature,
            timeout_secs=args.timeout,
            retry=RetryPolicy(max_attempts=args.max_attempts),
            **batching,
        )
    from modelserve.batch.handler import ModelServeHandler

    if args.protocol:
        raise InvalidArgument("--protocol is for server URLs")
    copies = 1 if args.large_model and not args.model_copies else args.model_copies
    return ModelServeHandler(
        args.model,
        signature=args.signature,
        version=args.version,
        label=args.label,
        model_config_file=args.model_config_file,
        platform=args.platform,
        allow_code_models=args.allow_code_models,
        model_copies=copies,
        **batching,
    )
