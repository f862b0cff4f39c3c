"""The journal volume: records on the ring of sectors, indexed by the journal log table."""

from __future__ import annotations

import pytest

from pitmirror.impl import MirroredSystem
from pitmirror.impl.array import StorageArray
from pitmirror.impl.blocks import block_of_value
from pitmirror.impl.errors import RecordChecksumError, TornRecordError
from pitmirror.impl.hardware import PowerLoss
from pitmirror.impl.journal import Journal
from pitmirror.impl.record import MARKER, JournalRecord
from pitmirror.impl.states import FencePolicy


def _journal(records: int = 3) -> Journal:
    """A journal of ``records`` one-block records (capacity plus the reserve of one per block)."""
    array = StorageArray.main_site(blocks=1, journal_capacity=records - 1, fence_policy=FencePolicy.NEVER)
    return Journal(array)


def test_append_read_and_logical_timestamps() -> None:
    j = _journal()
    entries = j.append([JournalRecord(1, 2, block_of_value(5)), JournalRecord(2, MARKER, b"", name="m1")], 3)
    assert [(e.seq, e.location, e.nsectors) for e in entries] == [(1, 0, 3), (2, 3, 2)]
    recs = j.records()
    assert [(r.seq, r.lba, r.timestamp, r.name) for r in recs] == [(1, 2, 1, ""), (2, MARKER, 2, "m1")]
    assert j.log.next_seq == 3 and j.log.next_free == 5 and j.label == "J (LDEV 0x02)"


def test_ring_wraps_around_and_frees_oldest_first() -> None:
    j = _journal(records=3)  # 9 sectors
    for seq in range(1, 4):
        j.append([JournalRecord(seq, 0, block_of_value(seq))], seq + 1)
    assert j.free_oldest().seq == 1
    j.append([JournalRecord(4, 1, block_of_value(4))], 5)  # sectors 0..2 again
    assert [r.seq for r in j.records()] == [2, 3, 4] and j.log.entries[-1].location == 0
    j.free_oldest()
    j.append([JournalRecord(5, MARKER, b"", name="m")], 6)  # header at 3, trailer at 4
    j.free_oldest()
    j.append([JournalRecord(6, 2, block_of_value(6))], 7)  # sectors 5, 6, 7
    assert [(r.seq, r.payload == block_of_value(r.seq)) for r in j.records() if not r.is_marker] == \
        [(4, True), (6, True)]


def test_truncate_drops_the_tail() -> None:
    j = _journal()
    for seq in (1, 2, 3):
        j.append([JournalRecord(seq, 0, block_of_value(seq))], seq + 1)
    j.truncate(1)
    assert [e.seq for e in j.log.entries] == [1] and j.log.next_free == 3


@pytest.mark.claims(5, 19)
def test_audit_reports_and_recovery_never_replays_a_corrupt_record() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=8)
    s.write(0, 1)
    s.write(0, 2)
    s.write(0, 3)
    entry = s.a.log.entries[1]  # seq 2
    drive_id, sector = s.a.array.interconnect.ldevs[0x02].locate(entry.location + 1)
    raw = bytearray(s.a.array.drives[drive_id].read(sector))
    raw[0] ^= 0xFF
    s.a.array.drives[drive_id].write(sector, bytes(raw))
    errors = s.audit()
    assert len(errors) == 1 and isinstance(errors[0], RecordChecksumError) and "seq 2" in str(errors[0])
    before = s.snapshot()
    for target in (2, 3):  # both would replay seq 2
        with pytest.raises(RecordChecksumError):
            s.recover(to=target)
        with pytest.raises(RecordChecksumError):
            s.start_recovery(target)
    assert s.snapshot() == before
    s.recover(to=1)  # needs only seq 1: the bad record is never read into P
    assert s.read(0) == block_of_value(1) and s.primary_blocks() == s.remote_blocks()


def test_torn_journal_write_is_not_in_the_table_and_is_redone_never() -> None:
    """A power loss in the middle of a journal append: the torn record is not committed, P is untouched;
    after the restart the journal is intact and the write simply did not happen."""
    s = MirroredSystem(blocks=4, journal_capacity=8)
    s.write(1, 1)
    before_log = list(s.a.log.entries)
    s.a.power_fail_after(2)  # header and data sector land, the trailer does not
    with pytest.raises(PowerLoss):
        s.host_write(1, 2)
    s.a.power_fail_after(None)
    # the sectors past next_free hold a torn record that nobody points at
    torn = s.a.log.next_free
    sectors = [s.a.array.read("journal", torn + i) for i in range(3)]
    from pitmirror.impl.record import decode
    with pytest.raises(TornRecordError):
        decode(sectors, "J", expect_seq=2)
    s.crash_array("A")
    assert s.a.log.entries == before_log and s.a.log.next_seq == 2
    assert s.read(1) == block_of_value(1) and s.audit() == []


@pytest.mark.claims(1, 4)
def test_power_loss_between_journal_and_primary_is_redone_at_restart() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=8)
    s.write(2, 1)
    s.a.power_fail_after(3)  # the whole record lands, then the power fails before P is written
    with pytest.raises(PowerLoss):
        s.host_write(2, 7)
    s.a.power_fail_after(None)
    assert s.a.array.read("primary", 2) == block_of_value(1) and s.a.log.find(2) is not None
    s.crash_array("A")
    assert s.read(2) == block_of_value(7)  # the WAL redo wrote P from J
    s.resync()
    assert s.primary_blocks() == s.remote_blocks()
    assert [r.seq for r in s.journal_records()] == [1, 2]


@pytest.mark.claims(10, 24)
def test_power_loss_in_the_middle_of_a_checkpoint_is_finished_at_restart() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=2)
    s.write(1, 1)
    s.write(1, 2)  # J full: A checkpoints on demand
    s.a.power_fail_after(0)  # the B write fails: the checkpoint stops after its intent
    with pytest.raises(PowerLoss):
        s.checkpoint()
    s.a.power_fail_after(None)
    assert s.a.jfmt.checkpoint_seq == 1 and s.a.jfmt.base_seq == 0 and s.r.replica_base_seq == 0
    assert not s.path.messages  # nothing was sent: the power failed before the commit
    s.crash_array("A")
    # the restart finishes A's half; its Checkpointed was never sent, so R's half waits for the resync
    assert s.a.jfmt.checkpoint_seq is None and s.a.jfmt.base_seq == 1 and s.r.replica_base_seq == 0
    assert s.base_blocks()[1] == block_of_value(1) and [r.seq for r in s.journal_records()] == [2]
    assert [r.seq for r in s.remote_journal_records()] == [1, 2]
    s.resync()
    assert s.r.replica_base_seq == 1 and s.base_blocks() == s.replica_base_blocks()
    assert [r.seq for r in s.journal_records()] == [2] == [r.seq for r in s.remote_journal_records()]
    s.recover(to=1)
    assert s.read(1) == block_of_value(1) and s.primary_blocks() == s.remote_blocks()


