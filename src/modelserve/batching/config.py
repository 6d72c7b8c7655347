"""Batching parameters with TF Serving's names and defaults, read from its ``BatchingParameters`` file.

max_batch_size { value: 128 }
batch_timeout_micros { value: 0 }
max_enqueued_batches { value: 1000000 }
num_batch_threads { value: 8 }
allowed_batch_sizes: 32  allowed_batch_sizes: 128
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from modelserve.errors import InvalidArgument
from modelserve.textproto import Message, TextProtoError, parse


@dataclass(frozen=True)
class BatchingConfig:
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = os.cpu_count() or 1
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    enable_large_batch_splitting: bool = False

    def __post_init__(self) -> None:
        if self.max_batch_size < 1 or self.num_batch_threads < 1 or self.max_enqueued_batches < 1:
            raise InvalidArgument("max_batch_size, num_batch_threads and max_enqueued_batches must be positive")
        sizes = self.allowed_batch_sizes
        if sizes and (list(sizes) != sorted(set(sizes)) or sizes[-1] != self.max_batch_size):
            raise InvalidArgument(
                "allowed_batch_sizes must increase strictly and end with max_batch_size "
                f"({self.max_batch_size}), got {list(sizes)}"
            )


_WRAPPED = {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads"}
_FLAGS = {"pad_variable_length_inputs", "enable_large_batch_splitting"}
_IGNORED = {"thread_pool_name", "max_execution_batch_size"}


def _unwrap(value: object, name: str, path: Path) -> object:
    """TF writes wrapper messages (``max_batch_size { value: 8 }``); plain values are accepted too."""
    if isinstance(value, Message):
        values = value.fields.get("value", [])
        if len(values) != 1:
            raise InvalidArgument(f"{path}: '{name}' needs one value {{ value: ... }}")
        return values[0]
    return value


def read_batching_parameters(path: Path) -> BatchingConfig:
    try:
        root = parse(path.read_text())
    except OSError as exc:
        raise InvalidArgument(f"cannot read batching parameters file {path}: {exc.strerror}") from None
    except TextProtoError as exc:
        raise InvalidArgument(f"{path}: {exc}") from None
    values: dict[str, object] = {}
    for name, items in root.fields.items():
        line = root.lines[name][0]
        if name == "allowed_batch_sizes":
            values[name] = tuple(int(_unwrap(v, name, path)) for v in items)
        elif name in _WRAPPED | _FLAGS:
            value = _unwrap(items[-1], name, path)
            expected = bool if name in _FLAGS else int
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise InvalidArgument(f"{path}:{line}: '{name}' must be {expected.__name__}")
            values[name] = value
        elif name not in _IGNORED:
            raise InvalidArgument(f"{path}:{line}: unknown batching parameter '{name}'")
    return BatchingConfig(**values)  # type: ignore[arg-type]
