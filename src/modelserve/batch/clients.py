"""Calling a model server from a batch job, for every engine (Beam's and Spark's); no Beam here.

* :class:`RetryPolicy`: how a batch is re-sent after a retryable failure (429, 503 or a refused connection, 504).
* :func:`make_client`: the REST or gRPC client, TF Serving's API or V2, for a :class:`ServerTarget`.
* :func:`typed_inputs`: a stacked batch converted to the dtypes the server declared.
* :func:`send_with_retries`: one batch, retried per the policy; hooks let a caller count attempts and throttle.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelserve.batch.client_errors import is_retryable
from modelserve.batch.info import ModelInfo
from modelserve.batch.rest_client import RemoteClient, TfsRestClient, V2RestClient
from modelserve.batch.rows import fit_batch
from modelserve.batch.targets import ServerTarget
from modelserve.errors import InvalidArgument, ServingError
from modelserve.serving.inputs import convert
from modelserve.types import Signature, TensorSpec

#: The longest ``Retry-After`` a server can impose on one retry.
MAX_RETRY_AFTER_SECS = 60.0

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How a batch is re-sent after a retryable failure.

    Attempt ``n`` (from 1) waits ``min(max_backoff_secs, initial_backoff_secs * multiplier ** (n - 1))``,
    spread by ``± jitter`` (a fraction), or the server's ``Retry-After`` when that is longer (up to
    :data:`MAX_RETRY_AFTER_SECS`). At most ``max_attempts`` attempts, and none that would start after
    ``deadline_secs`` from the first one.
    """

    max_attempts: int = 8
    initial_backoff_secs: float = 0.2
    max_backoff_secs: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.25
    deadline_secs: float | None = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidArgument(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_backoff_secs < 0 or self.max_backoff_secs < 0 or self.multiplier < 1:
            raise InvalidArgument("backoff times must be >= 0 and the multiplier >= 1")

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        base = min(self.max_backoff_secs, self.initial_backoff_secs * self.multiplier ** (attempt - 1))
        wait = max(0.0, base + base * self.jitter * (2 * (rng or random).random() - 1))
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER_SECS))
        return wait


def make_client(target: ServerTarget, timeout_secs: float) -> RemoteClient:
    """The client for the target's transport and protocol."""
    if target.transport == "rest":
        return (TfsRestClient if target.protocol == "tfs" else V2RestClient)(target, timeout_secs)
    from modelserve.batch.grpc_client import TfsGrpcClient, V2GrpcClient

    return (TfsGrpcClient if target.protocol == "tfs" else V2GrpcClient)(target, timeout_secs)


def typed_inputs(info: ModelInfo, stacked: dict[str, Any], count: int) -> dict[str, np.ndarray]:
    """Inputs converted to the server's declared dtypes (V2 servers do not convert: FP64 is not FP32)."""
    signature = Signature.from_specs(info.signature, [TensorSpec(t.name, t.dtype, t.shape) for t in info.inputs], [])
    fitted = fit_batch(info, stacked, count)
    return {name: convert(spec, fitted[name]) for name, spec in signature.inputs.items()}  # stacked by input name


def send_with_retries(
    client: RemoteClient,
    signature: str,
    inputs: dict[str, np.ndarray],
    retry: RetryPolicy,
    *,
    before_retry: Callable[[], None] | None = None,
    on_attempt: Callable[[], None] | None = None,
    on_retry: Callable[[], None] | None = None,
    on_give_up: Callable[[], None] | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """``client.predict`` for one batch, retried per ``retry``: ``(model_id, outputs)`` or the last ServingError
    (its message ends with "gave up after N attempts" when it was retried). ``before_retry`` runs before every
    attempt after the first (a throttler); the ``on_*`` hooks count attempts, retries and failures."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        if attempt > 1 and before_retry is not None:
            before_retry()
        if on_attempt is not None:
            on_attempt()
        try:
            return client.predict(signature, inputs)
        except ServingError as exc:
            delay = retry.delay(attempt, getattr(exc, "retry_after", None))
            deadline = retry.deadline_secs
            out_of_time = deadline is not None and time.monotonic() - started + delay > deadline
            if not is_retryable(exc) or attempt >= retry.max_attempts or out_of_time:
                if on_give_up is not None:
                    on_give_up()
                if attempt > 1:
                    exc.message = f"{exc.message} (gave up after {attempt} attempts)"
                    exc.args = (exc.message,)
                raise
            if on_retry is not None:
                on_retry()
            (logger or _LOG).warning("retrying in %.2f s (attempt %d): %s", delay, attempt, exc.message)
            time.sleep(delay)
