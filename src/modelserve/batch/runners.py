"""Beam pipeline options for batch prediction: the local runner by default, any Beam runner by flags.

Locally the pipeline runs on Beam's ``FnApiRunner``, pinned by name: Beam's ``DirectRunner`` first tries the
Prism runner, a Go binary it downloads from GitHub at run time, and FnApiRunner never does. By default it
uses every core: one SDK worker process per core (``direct_running_mode=multi_processing``,
``direct_num_workers=0``); ``workers=1`` runs in the launching process instead (fastest to start).

Any other runner is chosen with Beam's own flags, passed through unchanged: Dataflow
(``--runner=DataflowRunner --project --region --temp_location=gs://...``), Flink (``--runner=FlinkRunner
--flink_master=host:8081``), Spark (``--runner=SparkRunner --spark_master_url=spark://host:7077``) or any job
server (``--runner=PortableRunner --job_endpoint=host:8099``). :func:`runner_problems` checks the flags those
runners need by reading the options only; it contacts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import (
    DirectOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
    WorkerOptions,
)

LOCAL_RUNNER = "FnApiRunner"
#: Local worker processes log warnings and errors only (their INFO lines would bury the progress display);
#: ``--default_sdk_harness_log_level=INFO`` brings them back.
QUIET_WORKERS = "WARNING"
_LOCAL = {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "SwitchingDirectRunner", "PrismRunner"}


def local_runner_options(workers: int = 0, streaming: bool = False, extra: Sequence[str] = ()) -> PipelineOptions:
    """Options for the local runner: ``workers`` SDK processes (0: one per core; 1: in this process).

    ``streaming=True`` picks the ``BundleBasedDirectRunner`` instead (the only local runner for unbounded
    pipelines and ``TestStream``; it never uses Prism either).
    """
    if streaming:
        return PipelineOptions(["--runner=BundleBasedDirectRunner", "--streaming", *extra])
    mode = "in_memory" if workers == 1 else "multi_processing"
    return PipelineOptions(
        [
            f"--runner={LOCAL_RUNNER}",
            f"--direct_num_workers={workers}",
            f"--direct_running_mode={mode}",
            f"--default_sdk_harness_log_level={QUIET_WORKERS}",
            *extra,
        ]
    )


def pipeline_options(beam_args: Sequence[str], workers: int = 0) -> PipelineOptions:
    """Beam's options from ``beam_args``; without ``--runner``, the local runner with ``workers`` workers.

    ``--direct_num_workers``/``--direct_running_mode`` in ``beam_args`` win over ``workers``.
    """
    args = list(beam_args)
    options = PipelineOptions(args)
    if options.view_as(StandardOptions).runner is not None:
        return options
    direct = options.view_as(DirectOptions)
    options.view_as(StandardOptions).runner = LOCAL_RUNNER
    if not _given(args, "direct_num_workers"):
        direct.direct_num_workers = workers
    if not _given(args, "direct_running_mode"):
        direct.direct_running_mode = "in_memory" if direct.direct_num_workers == 1 else "multi_processing"
    if not _given(args, "default_sdk_harness_log_level"):
        options.view_as(WorkerOptions).default_sdk_harness_log_level = QUIET_WORKERS
    return options


def runner_name(options: PipelineOptions) -> str:
    return options.view_as(StandardOptions).runner or LOCAL_RUNNER


def is_local(options: PipelineOptions) -> bool:
    """True when the workers run on this machine (they can read local files and reach 127.0.0.1)."""
    runner = runner_name(options)
    name = runner.rsplit(".", 1)[-1]
    if name in _LOCAL:
        return True
    if name in ("FlinkRunner", "SparkRunner", "PortableRunner"):
        environment = options.view_as(PortableOptions).environment_type
        return environment is not None and environment.upper() == "LOOPBACK"
    return False


def uses_worker_processes(options: PipelineOptions) -> bool:
    """True for the local runner with subprocess workers (``direct_running_mode=multi_processing``)."""
    if runner_name(options).rsplit(".", 1)[-1] != LOCAL_RUNNER:
        return False
    return options.view_as(DirectOptions).direct_running_mode == "multi_processing"


def runner_problems(options: PipelineOptions) -> list[str]:
    """Flags a runner cannot start without, found by reading the options only (nothing is contacted).

    Flink and Spark have usable defaults (``--flink_master=[auto]``, ``--spark_master_url=local[4]``); note
    that Beam fetches their job-server jars from Maven Central unless ``--flink_job_server_jar`` /
    ``--spark_job_server_jar`` name local files.
    """
    name = runner_name(options).rsplit(".", 1)[-1]
    problems: list[str] = []
    if name == "PrismRunner":
        problems.append("the Prism runner downloads a binary at run time; leave --runner out for the local runner")
    if name in ("DataflowRunner", "TestDataflowRunner"):
        cloud = options.view_as(GoogleCloudOptions)
        if not cloud.project:
            problems.append("DataflowRunner needs --project")
        if not cloud.region:
            problems.append("DataflowRunner needs --region")
        location = cloud.temp_location or cloud.staging_location
        if not location or not location.startswith("gs://"):
            problems.append("DataflowRunner needs --temp_location=gs://BUCKET/PATH")
    if name == "PortableRunner" and not options.view_as(PortableOptions).job_endpoint:
        problems.append("PortableRunner needs --job_endpoint=HOST:PORT")
    return problems


def _given(args: Sequence[str], name: str) -> bool:
    flag = f"--{name}"
    return any(a == flag or a.startswith(flag + "=") for a in args)
