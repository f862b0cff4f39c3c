"""The control tables and the hardware they describe."""

from __future__ import annotations

import copy
import pickle

import pytest

from pitmirror.impl.array import StorageArray
from pitmirror.impl.blocks import BLOCK_SIZE, block_of_value
from pitmirror.impl.errors import ProtocolViolation
from pitmirror.impl.hardware import DiskDrive, PowerLoss, PowerSupply, carve
from pitmirror.impl.record import MARKER
from pitmirror.impl.states import FencePolicy, JournalingState, PairState, next_journaling_state, next_pair_state
from pitmirror.impl.tables import JournalLogTable, LogEntry, PairTable, VolumeMap


@pytest.mark.claims(2, 4, 16, 18)
def test_journal_log_table_allocates_commits_and_frees() -> None:
    log = JournalLogTable(size=9)
    assert log.allocate(3) == 0
    log.commit([LogEntry(1, 0, 4, 512, 3)], next_free=3, next_seq=2)
    log.commit([LogEntry(2, 3, -1, 0, 2), LogEntry(3, 5, 1, 512, 3)], next_free=8, next_seq=4)
    assert [e.seq for e in log.entries] == [1, 2, 3] and log.used_sectors == 8 and log.next_seq == 4
    assert log.find(2) == LogEntry(2, 3, -1, 0, 2) and log.find(9) is None
    with pytest.raises(ValueError, match="no free sectors"):
        log.allocate(2)
    assert log.pop_oldest().seq == 1 and log.allocate(3) == 8  # the ring wraps at the next write


def test_journal_log_table_keeps_duplicate_seqs_visible() -> None:
    log = JournalLogTable(size=9)
    log.commit([LogEntry(1, 0, 0, 512, 3), LogEntry(1, 3, 1, 512, 3)], 6, 2)
    assert [e.seq for e in log.entries] == [1, 1]


@pytest.mark.claims(3, 17)
def test_jfmt_reads_next_seq_and_ldevs_from_their_one_home() -> None:
    a = StorageArray.main_site(blocks=4, journal_capacity=3, fence_policy=FencePolicy.NEVER)
    jfmt = a.shm.jfmt
    assert (jfmt.ldev_p, jfmt.ldev_j, jfmt.ldev_b) == (0x01, 0x02, 0x03)
    assert jfmt.journaling_state is JournalingState.JOURNALING and jfmt.base_seq == 0
    a.shm.log.next_seq = 5
    assert jfmt.next_seq == 5 and jfmt.window() == range(0, 5) and jfmt.free_slots == 3
    a.shm.volume_map.swap_volumes("primary", "spare")
    assert jfmt.ldev_p == 0x04
    r = StorageArray.remote_site(blocks=4, journal_capacity=3)
    assert (r.shm.jfmt.ldev_p, r.shm.jfmt.ldev_j, r.shm.jfmt.ldev_b) == (0x11, 0x12, 0x13)
    assert r.volume_label("replica_base") == "RB (LDEV 0x13)"


def test_pair_table_dirty_bitmap() -> None:
    pair = PairTable(FencePolicy.DATA, [False] * 4)
    assert pair.pair_state is PairState.PAIR
    pair.mark_dirty(2)
    assert pair.dirty_lbas() == [2]
    pair.mark_all_dirty()
    assert pair.dirty_lbas() == [0, 1, 2, 3]


@pytest.mark.claims(13, 14, 27, 28)
def test_volume_map_swap_is_atomic_and_a_bijection() -> None:
    vmap = VolumeMap(roles={"primary": 1, "journal": 2, "base": 3, "spare": 4}, luns={0: 1})
    vmap.swap_volumes("primary", "spare")
    assert vmap.roles == {"primary": 4, "journal": 2, "base": 3, "spare": 1}
    assert vmap.luns == {0: 4}  # the host LUN follows the primary role
    assert vmap.role_of(4) == "primary" and vmap.is_bijection()
    assert not VolumeMap(roles={"a": 1, "b": 1}, luns={}).is_bijection()


def test_transition_tables_refuse_what_they_do_not_list() -> None:
    assert next_pair_state(PairState.SUSPENDED, "StartResync") is PairState.COPY
    assert next_journaling_state(JournalingState.RECOVERING, "SwapVolumes") is JournalingState.SWAPPING
    with pytest.raises(ProtocolViolation, match="can't handle Resynced when pair_state=PAIR"):
        next_pair_state(PairState.PAIR, "Resynced")
    with pytest.raises(ProtocolViolation, match="journaling_state=JOURNALING"):
        next_journaling_state(JournalingState.JOURNALING, "FinishRecovery")


@pytest.mark.claims(8, 9, 22, 23)
def test_ldevs_are_carved_across_drives() -> None:
    power = PowerSupply()
    drives = [DiskDrive(0, 10, power), DiskDrive(1, 10, power)]
    ldevs = carve(drives, [(1, 6), (2, 8), (3, 6)])
    assert ldevs[2].locate(0) == (0, 6) and ldevs[2].locate(4) == (1, 0)  # spans the two drives
    assert ldevs[3].locate(5) == (1, 9)
    with pytest.raises(IndexError):
        ldevs[1].locate(6)
    with pytest.raises(ValueError, match="too small"):
        carve(drives, [(1, 21)])


@pytest.mark.claims(8, 22)
def test_array_blocks_go_through_interconnect_and_back_end() -> None:
    a = StorageArray.main_site(blocks=4, journal_capacity=2, fence_policy=FencePolicy.NEVER)
    a.write("base", 3, block_of_value(9))
    assert a.read("base", 3) == block_of_value(9)
    assert a.interconnect.transfers == 2 and sum(d.writes for d in a.drives) == 1
    assert len(a.backends) == 2 and a.front_end.host_port == "CL1-A"


def test_power_loss_stops_sector_writes() -> None:
    power = PowerSupply(fail_after=1)
    drive = DiskDrive(0, 2, power)
    drive.write(0, b"\1" * BLOCK_SIZE)
    with pytest.raises(PowerLoss):
        drive.write(1, b"\2" * BLOCK_SIZE)
    assert drive.read(1) == bytes(BLOCK_SIZE)


def test_journal_log_table_survives_pickle_and_deepcopy_with_its_entries() -> None:
    """A served array commits the table as a pickle (entries packed as integers): every field of every
    entry, a marker's negative LBA included, comes back; so does a table pickled with a list of entries."""
    log = JournalLogTable(size=64)
    log.commit([LogEntry(7, 3, 5, 512, 3), LogEntry(8, 6, MARKER, 0, 2), LogEntry(9, 8, 1, 512, 3)], 11, 10)
    log.markers["m"] = 8
    back = pickle.loads(pickle.dumps(log))
    assert back == log and back.entries == log.entries and back.next_free == 11 and back.markers == {"m": 8}
    assert copy.deepcopy(log) == log
    old = JournalLogTable(size=64)
    old.__setstate__({**log.__dict__, "entries": list(log.entries)})  # a slot written before the packing
    assert old == log
