"""Synchronous remote copy: the write order, in-order apply at R, duplicates, fence policies, suspension,
resync, the two-phase checkpoint, markers, and crashes of either controller."""

from __future__ import annotations

import pytest

from pitmirror.impl import MirroredSystem
from pitmirror.impl.blocks import block_of_value, value_of_block
from pitmirror.impl.errors import ControllerReset, PairSuspended
from pitmirror.impl.messages import MirrorAck, MirrorWrite, Resynced
from pitmirror.impl.ready import RequestStatus
from pitmirror.impl.states import Origin, PairState


def vals(blocks: list[bytes]) -> list[int]:
    return [value_of_block(b) for b in blocks]


@pytest.mark.claims(1, 2, 4, 15)
def test_host_ack_waits_for_r_and_the_journal_comes_first() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=8)
    req = s.host_write(2, 5)
    # before anything crossed: on J and P, in flight, not acknowledged, S untouched
    assert req.status is RequestStatus.PENDING and req.seq == 1
    assert s.a.log.find(1) is not None and s.a.array.read("primary", 2) == block_of_value(5)
    assert s.path.messages == [MirrorWrite(1, 2, block_of_value(5))]
    assert s.read_remote(2) == block_of_value(0)
    s.deliver(MirrorWrite(1, 2, block_of_value(5)))
    assert s.read_remote(2) == block_of_value(5) and s.path.messages == [MirrorAck(1)]
    assert [(r.seq, r.lba) for r in s.remote_journal_records()] == [(1, 2)]
    assert req.status is RequestStatus.PENDING
    s.deliver(MirrorAck(1))
    assert req.status is RequestStatus.ACKED and not s.a.in_flight


def test_ready_reports_journal_before_primary_before_send() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=8)
    from pitmirror.impl.ready import HostRequest
    ready = s.a.host_write(HostRequest(1, 0, block_of_value(3)))
    assert [p.what for p in ready.persisted] == ["journal", "primary"]
    assert ready.messages and not ready.acked


@pytest.mark.claims(1, 10, 15)
def test_r_applies_in_sequence_order_whatever_the_path_does() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=8, max_in_flight=3)
    for v in (1, 2, 3):
        s.host_write(0, v)
    s.deliver({"kind": "MirrorWrite", "seq": 3, "lba": 0, "value": 3})  # named like the model names it
    s.deliver(MirrorWrite(2, 0, block_of_value(2)))
    assert [m.seq for m in s.r.buffer] == [2, 3] and s.read_remote(0) == block_of_value(0)
    s.deliver(MirrorWrite(1, 0, block_of_value(1)))
    assert not s.r.buffer and s.read_remote(0) == block_of_value(3) and s.r.applied_seq == 3
    s.stabilize()
    assert all(q.status is RequestStatus.ACKED for q in s.requests)


def test_duplicates_are_acknowledged_again_and_not_reapplied() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=8)
    s.host_write(0, 1)
    s.duplicate_message(MirrorWrite(1, 0, block_of_value(1)))
    s.deliver(MirrorWrite(1, 0, block_of_value(1)))
    s.deliver(MirrorAck(1))
    s.host_write(0, 2)
    s.deliver(MirrorWrite(2, 0, block_of_value(2)))
    s.deliver(MirrorAck(2))
    s.deliver(MirrorWrite(1, 0, block_of_value(1)))  # the late duplicate
    assert s.read_remote(0) == block_of_value(2)
    assert [r.seq for r in s.remote_journal_records()] == [1, 2]
    s.deliver(MirrorAck(1))  # an unknown seq at A: ignored
    assert s.primary_blocks() == s.remote_blocks()


@pytest.mark.claims(1, 15)
def test_fence_never_suspends_acknowledges_and_resync_copies_dirty_blocks() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=8, fence_policy="never")
    s.write(0, 1)
    s.fail_path()
    req = s.host_write(1, 2)
    s.mirror_timeout(req.seq or 0)
    assert req.status is RequestStatus.ACKED and s.pair_state is PairState.SUSPENDED
    assert s.a.pair.dirty_lbas() == [1]
    s.write(3, 4)  # suspended: acknowledged at once, marked dirty
    assert s.a.pair.dirty_lbas() == [1, 3] and s.path.messages == []
    s.repair_path()
    s.start_resync()
    assert s.pair_state is PairState.COPY
    before = s.path.stats.copy()
    s.finish_resync()
    crossed = s.path.stats.since(before)
    assert crossed.sent["ResyncBlock"] == 2 and crossed.sent["ResyncRecord"] == 2
    # R has committed its half and answered; A leaves COPY on the answer
    assert s.pair_state is PairState.COPY and s.path.messages == [Resynced(1)]
    s.deliver(Resynced(1))
    assert s.pair_state is PairState.PAIR and s.a.pair.dirty_lbas() == []
    assert s.primary_blocks() == s.remote_blocks() and s.r.applied_seq == 3
    assert [r.seq for r in s.remote_journal_records()] == [1, 2, 3]
    s.write(2, 5)
    assert s.read_remote(2) == block_of_value(5)


@pytest.mark.claims(1, 15)
def test_fence_data_fails_the_write_and_refuses_more() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=8, fence_policy="data")
    req = s.host_write(1, 2)
    s.lose_message(MirrorWrite(1, 1, block_of_value(2)))
    assert [a.name for a in s.enabled_actions() if a.name == "MirrorTimeout"] == ["MirrorTimeout"]
    s.mirror_timeout(1)
    assert req.status is RequestStatus.FAILED and isinstance(req.error, PairSuspended)
    assert "R did not acknowledge seq 1" in str(req.error)
    assert s.pair_state is PairState.SUSPENDED and s.a.pair.dirty_lbas() == [1]
    s.resync()
    assert s.primary_blocks() == s.remote_blocks()


def test_write_blocked_in_r_buffer_does_not_time_out_until_r_loses_it() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=8)
    s.host_write(0, 1)
    s.host_write(1, 2)
    s.lose_message(MirrorWrite(1, 0, block_of_value(1)))
    s.deliver(MirrorWrite(2, 1, block_of_value(2)))  # waits in R's reorder buffer behind seq 1
    assert s.lost_write() == 1
    s.crash_array("R")  # the buffer is volatile
    assert s.r.buffer == [] and s.lost_write() == 1
    s.mirror_timeout(1)
    assert s.a.pair.dirty_lbas() == [0, 1] and all(q.status is RequestStatus.ACKED for q in s.requests)


@pytest.mark.claims(1, 8, 22)
def test_crash_of_a_in_the_middle_of_a_write() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=8)
    s.write(0, 1)
    req = s.host_write(2, 3)
    s.deliver(MirrorWrite(2, 2, block_of_value(3)))  # R applied it; the ack is still on the path
    s.crash_array("A")
    assert req.status is RequestStatus.FAILED and isinstance(req.error, ControllerReset)
    assert s.a.in_flight == [] and s.pair_state is PairState.SUSPENDED
    assert s.a.pair.dirty_lbas() == [0, 1, 2, 3]  # A cannot tell what R received
    assert s.a.array.read("primary", 2) == block_of_value(3)  # on P and J: only the ack was lost
    s.stabilize()  # the stale ack is ignored
    s.resync()
    assert s.primary_blocks() == s.remote_blocks() and s.pair_state is PairState.PAIR
    s.write(1, 4)
    assert vals(s.remote_blocks()) == [1, 4, 3, 0]


@pytest.mark.claims(10, 24)
def test_checkpoint_is_two_phase_and_keeps_the_window() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=3)
    for v in (1, 2, 3):
        s.write(0, v)
    assert list(s.window) == [0, 1, 2, 3]
    seq = s.checkpoint()  # J full: A's half, committed; R's half is on the path
    assert seq == 1 and s.a.jfmt.base_seq == 1 and s.r.replica_base_seq == 0
    assert [repr(m) for m in s.path.messages] == ["Checkpointed(seq=1)"]
    s.stabilize()
    assert s.r.replica_base_seq == 1
    assert s.base_blocks() == s.replica_base_blocks() and vals(s.base_blocks()) == [1, 0]
    assert [r.seq for r in s.journal_records()] == [2, 3] == [r.seq for r in s.remote_journal_records()]
    assert s.path.stats.sent["Checkpointed"] == 1
    s.write(1, 1)  # a free slot again
    assert s.image(1) == s.base_blocks()


@pytest.mark.claims(10, 24)
def test_a_lost_checkpoint_message_is_caught_up_by_the_next_and_redone_by_the_resync() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=2)
    s.write(0, 1)
    s.write(1, 2)
    s.checkpoint()
    s.fail_path()  # Checkpointed(1) is lost: RB lags B, JR keeps the record
    s.repair_path()
    assert s.a.jfmt.base_seq == 1 and s.r.replica_base_seq == 0
    assert [r.seq for r in s.remote_journal_records()] == [1, 2]
    s.write(0, 3)
    s.checkpoint()
    s.stabilize()  # Checkpointed(2) applies JR's records 1 and 2: R's half of both checkpoints
    assert s.r.replica_base_seq == 2 and s.base_blocks() == s.replica_base_blocks()
    assert [r.seq for r in s.remote_journal_records()] == [3]
    s.write(1, 4)
    s.checkpoint()
    s.crash_array("A")  # the pair suspends with Checkpointed(3) still on the path
    s.fail_path()
    s.repair_path()
    assert s.r.replica_base_seq == 2
    s.resync()  # RB becomes B: R's half of the lost checkpoint is redone
    assert s.r.replica_base_seq == 3 and s.base_blocks() == s.replica_base_blocks()


@pytest.mark.claims(3, 4, 17, 18)
def test_markers_are_named_journaled_and_mirrored() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=4)
    s.write(0, 1)
    assert s.set_marker() == "m1"
    assert s.set_marker("before upgrade") == "before upgrade"
    assert s.set_marker() == "m3"
    s.stabilize()
    assert s.markers == {"m1": 2, "before upgrade": 3, "m3": 4}
    assert s.r.log.markers == s.markers
    recs = s.journal_records()
    assert [(r.seq, r.lba, r.name) for r in recs[1:]] == \
        [(2, -1, "m1"), (3, -1, "before upgrade"), (4, -1, "m3")]
    assert s.path.stats.data_blocks["MirrorWrite"] == 1  # markers carry no data block
    assert [str(e) for e in s.events if e.name == "SetMarker"] == \
        ["SetMarker()", "SetMarker(name='before upgrade')", "SetMarker()"]
    for v in range(3):  # J full each time: A checkpoints on demand
        s.checkpoint()
        s.write(1, v)
    assert "m1" not in s.markers and s.markers["before upgrade"] == 3  # seq == base_seq: still a target


def test_suspended_marker_and_origin_bookkeeping() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=8)
    s.set_marker()
    assert [e.origin for e in s.a.in_flight] == [Origin.MARKER]
    s.stabilize()
    assert s.a.in_flight == []
