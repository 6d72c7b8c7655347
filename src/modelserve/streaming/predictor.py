"""One input entry's answer, shared by the Redis and Kafka workers: decode, predict through the serving core,
encode the result.

    predictor = Predictor(service, source, config.signature, config.consumer)
    answer = await predictor.answer(entry_id, fields)     # fields: {b"request": ..., b"key": ...}
    if answer.result is not None: ...                     # the result fields (messages.result_fields)
    elif answer.retry: ...                                # transient (UNAVAILABLE): try the entry again later
    else: ...                                             # poison: dead-letter it with answer.code, answer.reason

Model calls go through :meth:`ModelService.infer` of a local service: the server's input gate, dispatcher and
dynamic batcher, with its poison isolation (when a merged batch fails, each entry is run again alone, so only
entries that fail alone get a ``code``). A full batch queue is waited out for up to
``QUEUE_FULL_PATIENCE_SECONDS`` before the answer is ``retry``. Nothing here knows Redis or Kafka.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from modelserve.errors import Code, ServingError, Unavailable
from modelserve.serving.service import ModelService
from modelserve.streaming.config import ModelSource
from modelserve.streaming.messages import Fields, StreamRequest, decode_entry, result_fields
from modelserve.types import InferRequest, InferResponse, ModelRef

log = logging.getLogger(__name__)

#: Error codes that leave an entry to be tried again rather than dead-lettered.
TRANSIENT = {Code.UNAVAILABLE}
#: How long an entry waits for room when the batch queue is full before its answer is ``retry``.
QUEUE_FULL_PATIENCE_SECONDS = 10.0


@dataclass(frozen=True)
class Answer:
    """Exactly one of: ``result`` (the result fields), ``retry`` (a transient failure), or ``code`` and
    ``reason`` (a poison entry: a :class:`~modelserve.errors.Code` name and a message fit for a dead letter)."""

    result: dict[str, bytes] | None = None
    code: str = ""
    reason: str = ""

    @property
    def retry(self) -> bool:
        return self.result is None and not self.code


class Predictor:
    """The model behind the serving core's dynamic batcher, answering entries in the stream format."""

    def __init__(self, service: ModelService, source: ModelSource, signature: str, consumer: str) -> None:
        self._service = service
        self._source = source
        self._ref = ModelRef(source.name)
        self._signature = signature
        self._consumer = consumer

    async def answer(self, entry_id: bytes, fields: Fields) -> Answer:
        """The answer for one entry; never raises (a bug is a poison ``INTERNAL`` answer, logged)."""
        label = entry_id.decode("utf-8", "replace")
        try:
            request = decode_entry(fields, lambda name: self._service.signature(self._ref, name), self._signature)
            response = await self._infer(request)
            source = self._source
            return Answer(result_fields(request, response.outputs, entry_id, source.name, source.version,
                                        self._consumer))  # fmt: skip
        except ServingError as exc:
            if exc.code in TRANSIENT:
                log.warning("entry %s to be tried again: %s", label, exc.message)
                return Answer()
            return Answer(code=exc.code.name, reason=exc.message)
        except Exception as exc:  # a bug: dead-letter the entry rather than crash-looping on it
            log.exception("entry %s failed unexpectedly", label)
            return Answer(code=Code.INTERNAL.name, reason=f"{type(exc).__name__}: {exc}")

    async def _infer(self, request: StreamRequest) -> InferResponse:
        """The serving core's answer; a full batch queue is retried with backoff for a while."""
        infer = InferRequest(
            self._ref, request.inputs, request.signature, outputs=request.outputs, rules=request.rules, api="stream"
        )
        deadline, pause = time.monotonic() + QUEUE_FULL_PATIENCE_SECONDS, 0.002
        while True:
            try:
                return await self._service.infer(infer)
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(0.1, pause * 2)
