"""A SparkSession for batch prediction: the master named, executors on this Python, no web UI.

    with spark_session("spark://127.0.0.1:7077", conf={"spark.executor.memory": "2g"}) as spark:
        ...

PySpark is imported when a session is made, never on import of this module. Executors start Python workers
with the driver's ``PYSPARK_PYTHON``; when it is unset it becomes this interpreter, so workers import the
same ``modelserve`` (on a cluster of other machines, set it to a Python that has modelserve installed there).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from modelserve.errors import FailedPrecondition, InvalidArgument

DEFAULT_MASTER = "local[*]"
#: What batch jobs do not need: the application's web UI (seconds of start-up) and its console progress bar.
DEFAULT_CONF = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}


def parse_conf(pairs: Sequence[str]) -> dict[str, str]:
    """``["spark.executor.memory=2g", ...]`` -> a dict; InvalidArgument for an item without ``=``."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidArgument(f"--spark_conf takes KEY=VALUE, not {pair!r}")
        conf[key.strip()] = value
    return conf


@contextlib.contextmanager
def spark_session(
    master: str = DEFAULT_MASTER,
    app_name: str = "modelserve batch-predict",
    conf: Mapping[str, str] | None = None,
    progress: bool = False,
    log_level: str = "WARN",
) -> Iterator[Any]:
    """A new SparkSession on ``master`` (``local[N]``, ``spark://HOST:PORT``, ...), stopped when the block ends.

    ``conf`` adds to (and overrides) :data:`DEFAULT_CONF`; ``progress`` turns Spark's console progress bar on.
    Refuses to start while another SparkContext runs in this process (Spark allows one per process): pass
    that session to :func:`~modelserve.batch.spark_engine.run_spark_job` instead.
    """
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    active = SparkContext._active_spark_context
    if active is not None:
        raise FailedPrecondition(
            f"a SparkContext is already running in this process (master {active.master}); "
            "use that session (modelserve.batch.spark_engine.run_spark_job) or stop it first"
        )
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = {**DEFAULT_CONF, "spark.ui.showConsoleProgress": str(progress).lower(), **(conf or {})}
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # Py4JJavaError, a JVM that did not start, a malformed master URL
        raise FailedPrecondition(f"cannot start Spark on {master}: {_first_line(exc)}") from exc
    try:
        spark.sparkContext.setLogLevel(log_level)
        yield spark
    finally:
        spark.stop()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
