"""Dynamic batching for one model version: concurrent compatible requests share one model call.

TF Serving's semantics (``../shared/reference/tf-serving.md`` §4): each request is a task of ``rows``
(dim 0 of its inputs). Tasks that share the signature, input names, dtypes and non-batch dimensions (only
the rank, with ``pad_variable_length_inputs``) queue together. A batch closes when it is full
(``max_batch_size`` rows), or when its oldest task has waited ``batch_timeout_micros`` and one of the
``num_batch_threads`` is free. Inputs are concatenated on dim 0 (padded up to the next
``allowed_batch_sizes`` entry with copies of the first row), run once, and split back by recorded row
counts. A task that would need more than ``max_enqueued_batches`` queued batches fails at once with
``Unavailable`` (HTTP 503); a task larger than ``max_batch_size`` fails unless
``enable_large_batch_splitting`` splits it. Poison isolation: when a merged batch of several tasks fails,
each task is run again alone, so only a task that fails alone fails; its batch-mates get their results.

Threading: :meth:`DynamicBatcher.submit` and all bookkeeping run on the event loop; only the model call
runs on the executor, so no locks are needed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from modelserve.config import BatchingConfig
from modelserve.errors import FailedPrecondition, InvalidArgument, Unavailable

Arrays = dict[str, np.ndarray]
#: Runs one batch on an executor thread: (inputs, time the oldest task was enqueued) -> outputs.
BatchRunner = Callable[[Arrays, float], Arrays]


@dataclass
class _Task:
    inputs: Mapping[str, np.ndarray]
    rows: int
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


def rows_of(inputs: Mapping[str, np.ndarray]) -> int:
    """A task's size: dim 0, which every input must share."""
    sizes = {name: (a.shape[0] if a.ndim else None) for name, a in inputs.items()}
    distinct = set(sizes.values())
    if None in distinct or len(distinct) != 1:
        raise InvalidArgument(f"batching needs every input to share dimension 0; got {sizes}")
    return distinct.pop()


class DynamicBatcher:
    def __init__(self, run: BatchRunner, config: BatchingConfig, executor: Executor) -> None:
        self._run = run
        self._config = config
        self._executor = executor
        self._queues: dict[Hashable, deque[_Task]] = {}
        self._queued_rows: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._busy = 0

    async def submit(self, inputs: Mapping[str, np.ndarray]) -> Arrays:
        """Queue one request and wait for its rows of the batched result."""
        rows = rows_of(inputs)
        limit = self._config.max_batch_size
        if rows > limit:
            if not self._config.enable_large_batch_splitting:
                raise InvalidArgument(f"Task size {rows} is larger than maximum input batch size {limit}")
            parts = [{n: a[i : i + limit] for n, a in inputs.items()} for i in range(0, rows, limit)]
            results = await asyncio.gather(*(self.submit(part) for part in parts))
            return {name: np.concatenate([r[name] for r in results]) for name in results[0]}
        key = self._key(inputs)
        queued = self._queued_rows.get(key, 0)
        if math.ceil((queued + rows) / limit) > self._config.max_enqueued_batches:
            raise Unavailable("The batch scheduling queue to which this task was submitted is full")
        task = _Task(inputs, rows, asyncio.get_running_loop().create_future())
        self._queues.setdefault(key, deque()).append(task)
        self._queued_rows[key] = queued + rows
        self._dispatch()
        return await task.future

    def _key(self, inputs: Mapping[str, np.ndarray]) -> Hashable:
        if self._config.pad_variable_length_inputs:
            return tuple(sorted((n, a.dtype.str, a.ndim) for n, a in inputs.items()))
        return tuple(sorted((n, a.dtype.str, a.shape[1:]) for n, a in inputs.items()))

    def _dispatch(self) -> None:
        """Start ready batches, oldest first, while threads are free; arm a timer for each waiting queue."""
        timeout = self._config.batch_timeout_micros / 1e6
        while self._busy < self._config.num_batch_threads:
            now = time.perf_counter()
            ready = [
                key
                for key, queue in self._queues.items()
                if self._queued_rows[key] >= self._config.max_batch_size or now - queue[0].enqueued >= timeout
            ]
            if not ready:
                break
            self._start(min(ready, key=lambda k: self._queues[k][0].enqueued))
        if self._busy >= self._config.num_batch_threads:
            return  # a finishing batch dispatches again; timers now would only spin
        now = time.perf_counter()
        for key, queue in self._queues.items():
            if key not in self._timers:
                delay = max(0.0, timeout - (now - queue[0].enqueued))
                self._timers[key] = asyncio.get_running_loop().call_later(delay, self._on_timer, key)

    def _on_timer(self, key: Hashable) -> None:
        self._timers.pop(key, None)
        self._dispatch()

    def _start(self, key: Hashable) -> None:
        queue, tasks, rows = self._queues[key], [], 0
        while queue and rows + queue[0].rows <= self._config.max_batch_size:
            task = queue.popleft()
            tasks.append(task)
            rows += task.rows
        self._queued_rows[key] -= rows
        if not queue:
            del self._queues[key], self._queued_rows[key]
            timer = self._timers.pop(key, None)
            if timer is not None:
                timer.cancel()
        live = [t for t in tasks if not t.future.cancelled()]
        if not live:
            return
        self._busy += 1
        inputs = self._merge(live)
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._run, inputs, live[0].enqueued)
        future.add_done_callback(lambda done: self._finish(live, done))

    def _merge(self, tasks: list[_Task]) -> Arrays:
        merged = {}
        for name in tasks[0].inputs:
            parts = [t.inputs[name] for t in tasks]
            if self._config.pad_variable_length_inputs:
                parts = _pad_to_common_shape(parts)
            merged[name] = parts[0] if len(parts) == 1 else np.concatenate(parts)
        rows = sum(t.rows for t in tasks)
        target = next((s for s in self._config.allowed_batch_sizes if s >= rows), rows)
        if target > rows:
            merged = {n: np.concatenate([a, np.repeat(a[:1], target - rows, axis=0)]) for n, a in merged.items()}
        return merged

    def _finish(self, tasks: list[_Task], done: asyncio.Future) -> None:
        self._busy -= 1
        try:
            outputs = done.result()
            offset, total = 0, sum(t.rows for t in tasks)
            for name, array in outputs.items():
                if array.ndim == 0 or array.shape[0] < total:
                    raise FailedPrecondition(
                        f"batched output '{name}' has shape {list(array.shape)}; it must keep the batch of {total}"
                    )
            for task in tasks:
                if not task.future.done():
                    task.future.set_result({n: a[offset : offset + task.rows] for n, a in outputs.items()})
                offset += task.rows
        except Exception as exc:
            live = [t for t in tasks if not t.future.done()]
            if len(tasks) > 1:
                for task in live:  # find the request that broke the batch: each one alone
                    self._run_alone(task)
            else:
                for task in live:
                    task.future.set_exception(exc)
        self._dispatch()

    def _run_alone(self, task: _Task) -> None:
        self._busy += 1
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._run, dict(task.inputs), task.enqueued)
        future.add_done_callback(lambda done: self._finish([task], done))


def _pad_to_common_shape(parts: list[np.ndarray]) -> list[np.ndarray]:
    """``pad_variable_length_inputs``: pad non-batch dimensions up to the largest, with each tensor's first
    element, as TF Serving does."""
    target = tuple(max(p.shape[d] for p in parts) for d in range(1, parts[0].ndim))
    padded = []
    for part in parts:
        widths = [(0, 0)] + [(0, t - s) for s, t in zip(part.shape[1:], target)]
        if any(w for _, w in widths):
            fill = part.reshape(-1)[0] if part.size else 0
            part = np.pad(part, widths, mode="constant", constant_values=fill)
        padded.append(part)
    return padded
