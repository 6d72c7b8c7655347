"""What a Kafka worker may commit: never past a record that is not finished."""

from __future__ import annotations

from modelserve.streaming.kafka_offsets import OffsetTracker

P0, P1 = ("in", 0), ("in", 1)


def test_offsets_are_committed_up_to_the_first_unfinished_record():
    offsets = OffsetTracker()
    assert offsets.due() == {} and offsets.position(P0) is None
    for offset in (5, 6, 7):
        offsets.started(P0, offset)
    offsets.started(P1, 0)
    offsets.finished(P0, 6)
    offsets.finished(P0, 7)
    assert offsets.due() == {P0: 5, P1: 0} and offsets.open_count() == 2  # 5 is not finished: nothing past it
    offsets.committed({P0: 5, P1: 0})
    assert offsets.due() == {}
    offsets.finished(P0, 5)
    assert offsets.due() == {P0: 8}  # the next offset to read
    offsets.committed({P0: 8})
    offsets.finished(P1, 0)
    assert offsets.due([P0]) == {} and offsets.due([P1]) == {P1: 1}


def test_forgotten_partitions_start_over_and_ignore_late_finishes():
    offsets = OffsetTracker()
    offsets.started(P0, 10)
    offsets.committed({P0: 10})
    offsets.forget([P0])  # revoked: the next owner starts from the group's committed offset
    offsets.finished(P0, 10)  # a late finish of the old assignment changes nothing
    assert offsets.due() == {} and offsets.position(P0) is None
    offsets.started(P0, 10)  # assigned again and read again from 10
    assert offsets.due() == {P0: 10}
    offsets.committed({P1: 99})  # a partition never read is not recorded
    assert offsets.due([P1]) == {}
