"""Which offsets a Kafka consumer may commit: at-least-once with records finished out of order.

    offsets = OffsetTracker()
    offsets.started(("in", 0), 7); offsets.started(("in", 0), 8)
    offsets.finished(("in", 0), 8)
    offsets.due()                  # {}: record 7 is not finished, so nothing past it may be committed
    offsets.finished(("in", 0), 7)
    offsets.due()                  # {("in", 0): 9}: the next offset to read; commit it, then
    offsets.committed({("in", 0): 9})

A committed offset is the next record to read, so committing ``n`` says every record below ``n`` is done. Per
partition the position is the lowest offset started and not finished, or one past the highest started when all
are finished. Records are started in offset order per partition (Kafka delivers them so); a finish for a
partition forgotten since (revoked) is ignored: its result was delivered, so a commit past it by a later owner
loses nothing. Plain data, no Kafka client; call it from one thread (the worker's event loop).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Partition = tuple[str, int]


class OffsetTracker:
    def __init__(self) -> None:
        self._open: dict[Partition, set[int]] = {}
        self._next: dict[Partition, int] = {}
        self._committed: dict[Partition, int] = {}

    def started(self, partition: Partition, offset: int) -> None:
        """A record was read and is being answered."""
        self._open.setdefault(partition, set()).add(offset)
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)

    def finished(self, partition: Partition, offset: int) -> None:
        """A record's result (or dead letter) was delivered."""
        opened = self._open.get(partition)
        if opened is not None:
            opened.discard(offset)

    def position(self, partition: Partition) -> int | None:
        """The offset that may be committed for ``partition`` now, or None when nothing was read from it."""
        if partition not in self._next:
            return None
        opened = self._open[partition]
        return min(opened) if opened else self._next[partition]

    def due(self, partitions: Iterable[Partition] | None = None) -> dict[Partition, int]:
        """Positions (of ``partitions``, default all) that moved past their last commit."""
        due = {}
        for partition in list(self._next) if partitions is None else partitions:
            position = self.position(partition)
            if position is not None and position > self._committed.get(partition, -1):
                due[partition] = position
        return due

    def committed(self, positions: Mapping[Partition, int]) -> None:
        """``positions`` were committed."""
        for partition, position in positions.items():
            if partition in self._next:
                self._committed[partition] = max(position, self._committed.get(partition, -1))

    def open_count(self) -> int:
        return sum(len(opened) for opened in self._open.values())

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Drop ``partitions`` (revoked or lost): a later assignment starts from the group's committed offset."""
        for partition in partitions:
            self._open.pop(partition, None)
            self._next.pop(partition, None)
            self._committed.pop(partition, None)
