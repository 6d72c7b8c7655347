"""Beam's RunInference through a running server: :class:`ServerModelHandler`.

    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference
    from modelserve.batch import ServerModelHandler

    handler = ServerModelHandler("http://127.0.0.1:8501/v1/models/digits_onnx", max_batch_size=64)
    keyed | RunInference(KeyedModelHandler(handler))     # same elements and results as ModelServeHandler

The model and the pipeline scale apart: workers send whole batches to modelserve (or TF Serving, or any V2
server: KServe, Triton) over REST or gRPC (:mod:`modelserve.batch.targets` reads the URL). Elements,
``PredictionResult`` s and ``outputs=`` work as in :class:`~modelserve.batch.handler.ModelServeHandler`;
``model_id`` is the version that answered.

Failures, built on Beam's ``RemoteModelHandler``:

* **Retries** (:class:`RetryPolicy`): a batch is re-sent after 429/``RESOURCE_EXHAUSTED``, 503/``UNAVAILABLE``
  (also a refused or reset connection: a restarting or killed server) and 504/``DEADLINE_EXCEEDED`` or no
  answer within ``timeout_secs``, with exponential backoff and jitter, honouring ``Retry-After``. Other
  errors (a bad record: 400) fail the batch at once. The retries live here rather than in Beam's outer
  retry, whose first wait is a fixed 5 s and which cannot read ``Retry-After``.
* **Client-side throttling**: Beam's ``ReactiveThrottler`` (the SRE book's adaptive throttling) counts every
  attempt and every success over the last ``window_ms``; while attempts outnumber ``overload_ratio`` times the
  successes, a new attempt is held back, ``throttle_delay_secs`` at a time, with a probability that grows with
  the failure rate, and the time is reported as ``cumulativeThrottlingSeconds`` (Dataflow's autoscaler reads
  it). The delay must cover the window (Beam reports whole seconds, and shorter delays refill the window).
  An optional Beam ``RateLimiter`` caps rows per second across workers.
* A batch that still fails raises its ServingError, for ``with_exception_handling()`` dead letters.

Counters (namespace :data:`REMOTE_NAMESPACE`): ``requests``, ``retries``, ``failed_requests``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RateLimitExceeded, RemoteModelHandler

from modelserve.batch.clients import MAX_RETRY_AFTER_SECS, RetryPolicy, make_client, send_with_retries, typed_inputs
from modelserve.batch.handler import batch_bytes, results, with_batch_size_one
from modelserve.batch.info import ModelInfo
from modelserve.batch.rest_client import RemoteClient
from modelserve.batch.rows import Row, stack_rows
from modelserve.batch.targets import parse_target
from modelserve.errors import InvalidArgument
from modelserve.types import DEFAULT_SIGNATURE

__all__ = ["MAX_RETRY_AFTER_SECS", "REMOTE_NAMESPACE", "RetryPolicy", "ServerModelHandler", "make_client"]

REMOTE_NAMESPACE = "BeamML_modelserve_remote"

_REQUESTS = Metrics.counter(REMOTE_NAMESPACE, "requests")
_RETRIES = Metrics.counter(REMOTE_NAMESPACE, "retries")
_FAILED = Metrics.counter(REMOTE_NAMESPACE, "failed_requests")


class ServerModelHandler(RemoteModelHandler[Row, PredictionResult, RemoteClient]):
    """Runs each batch on a model server. ``url`` is read by :func:`~modelserve.batch.targets.parse_target`;
    ``model``, ``version``, ``label`` and ``protocol`` complete or override it."""

    def __init__(
        self,
        url: str,
        *,
        model: str | None = None,
        version: int | None = None,
        label: str | None = None,
        protocol: str | None = None,
        signature: str = DEFAULT_SIGNATURE,
        outputs: str | Sequence[str] | None = None,
        timeout_secs: float = 60.0,
        retry: RetryPolicy | None = None,
        throttle_delay_secs: int = 1,
        window_ms: int = 1_000,
        bucket_ms: int = 1_000,
        overload_ratio: float = 2.0,
        rate_limiter: Any = None,
        min_batch_size: int | None = None,
        max_batch_size: int | None = None,
        max_batch_duration_secs: float | None = None,
        element_size_fn: Callable[[Any], int] | None = None,
    ) -> None:
        if throttle_delay_secs < 1 or throttle_delay_secs * 1000 < window_ms:
            # Beam's throttler counts every check as a request and reports whole seconds: a delay shorter than
            # the window keeps the window full of throttled checks, so requests stay held back indefinitely.
            raise InvalidArgument(
                f"throttle_delay_secs must be a whole number of seconds >= window_ms / 1000 "
                f"(got {throttle_delay_secs} s for a {window_ms} ms window)"
            )
        self.target = parse_target(url, model, version, label, protocol)
        self.retry = retry or RetryPolicy()
        ModelHandler.__init__(
            self,
            min_batch_size=min_batch_size,
            max_batch_size=max_batch_size,
            max_batch_duration_secs=max_batch_duration_secs,
            element_size_fn=element_size_fn,
        )
        RemoteModelHandler.__init__(
            self,
            namespace=REMOTE_NAMESPACE,
            # Beam's outer retry only waits out a shared RateLimiter's refusals; server errors retry in request().
            num_retries=self.retry.max_attempts,
            retry_filter=lambda exc: isinstance(exc, RateLimitExceeded),
            throttle_delay_secs=throttle_delay_secs,
            window_ms=window_ms,
            bucket_ms=bucket_ms,
            overload_ratio=overload_ratio,
            rate_limiter=rate_limiter,
        )
        self._signature = signature
        self._outputs = outputs
        self._timeout = timeout_secs

    # ---- Beam's RemoteModelHandler ----

    def create_client(self) -> RemoteClient:
        return make_client(self.target, self._timeout)

    def request(
        self, batch: Sequence[Row], model: RemoteClient, inference_args: dict[str, Any] | None = None
    ) -> Iterable[PredictionResult]:
        info = model.describe(self._signature)
        inputs = typed_inputs(info, stack_rows(list(batch), info.input_names), len(batch))
        model_id, outputs = self._send(model, inputs)
        return results(batch, outputs, model_id, self._outputs)

    def validate_inference_args(self, inference_args: dict[str, Any] | None) -> None:
        if inference_args:
            raise ValueError(f"{type(self).__name__} takes no inference_args (got {sorted(inference_args)})")

    def get_num_bytes(self, batch: Sequence[Row]) -> int:
        return batch_bytes(batch)

    def get_metrics_namespace(self) -> str:
        return REMOTE_NAMESPACE

    # ---- ours ----

    def _send(self, client: RemoteClient, inputs: dict[str, np.ndarray]) -> tuple[str, dict[str, np.ndarray]]:
        """One batch, retried per :attr:`retry`. Attempts after the first pass the throttler again."""
        return send_with_retries(
            client,
            self._signature,
            inputs,
            self.retry,
            before_retry=self.throttler.throttle,
            on_attempt=_REQUESTS.inc,
            on_retry=_RETRIES.inc,
            on_give_up=_FAILED.inc,
            logger=self.logger,
        )

    def describe(self) -> ModelInfo:
        """Ask the server, once, what the signature takes and returns (for planning a pipeline)."""
        client = self.create_client()
        try:
            return client.describe(self._signature)
        finally:
            client.close()

    def one_by_one(self) -> ServerModelHandler:
        """A copy that sends every element alone (to find which records of a failed batch fail)."""
        return with_batch_size_one(self)

    def __repr__(self) -> str:
        return f"ServerModelHandler({self.target.url()!r}, signature={self._signature!r})"
