"""Point-in-time recovery by write-through and by swap: what crosses the path, the images reached, and
recovery across crashes, timeouts and checkpoints."""

from __future__ import annotations

import pytest

from pitmirror.impl import MirroredSystem
from pitmirror.impl.blocks import block_of_value, value_of_block
from pitmirror.impl.errors import RecordChecksumError, RecoveryStalled
from pitmirror.impl.messages import MirrorAck, MirrorWrite, RecoverRequest, Resynced, SwapDone
from pitmirror.impl.recovery import RecoveryEngine
from pitmirror.impl.states import JournalingState, PairState, RecoveryKind, RemoteSwapStatus


def vals(blocks: list[bytes]) -> list[int]:
    return [value_of_block(b) for b in blocks]


def history_system(writes: list[tuple[int, int]], blocks: int = 6, journal_capacity: int = 32, **kw: object
                   ) -> MirroredSystem:
    s = MirroredSystem(blocks=blocks, journal_capacity=journal_capacity, **kw)  # type: ignore[arg-type]
    for lba, v in writes:
        s.write(lba, v)
    return s


def image(writes: list[tuple[int, int]], n: int, blocks: int = 6) -> list[int]:
    """The ghost: the image P had right after write n (writes are seqs 1, 2, ...)."""
    img = [0] * blocks
    for lba, v in writes[:n]:
        img[lba] = v
    return img


WRITES = [(0, 1), (1, 2), (2, 3), (0, 4), (3, 5), (1, 6), (4, 7), (0, 8)]


@pytest.mark.claims(1, 5, 6, 7, 15, 19, 20, 21)
@pytest.mark.parametrize("target", range(len(WRITES) + 1))
def test_write_through_sends_exactly_the_differing_blocks(target: int) -> None:
    s = history_system(WRITES)
    differing = sum(1 for p, q in zip(vals(s.primary_blocks()), image(WRITES, target), strict=True) if p != q)
    report = s.recover(to=target, method="writethrough")
    assert report.blocks_differing == differing
    assert report.crossed.data_blocks_sent == report.crossed.data_blocks["MirrorWrite"] == differing
    expected = {"MirrorWrite": differing, "MirrorAck": differing} if differing else {}
    assert dict(report.crossed.sent) == expected
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, target)
    assert not report.left_pair and s.pair_state is PairState.PAIR


@pytest.mark.claims(10, 11, 12, 13, 14, 24, 25, 26, 27, 28)
@pytest.mark.parametrize("target", range(len(WRITES) + 1))
def test_swap_sends_no_data_block(target: int) -> None:
    s = history_system(WRITES)
    report = s.recover(to=target, method="swap")
    assert report.crossed.data_blocks_sent == 0
    assert dict(report.crossed.sent) == {"RecoverRequest": 1, "SwapDone": 1}
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, target)
    # B and RB, rebuilt in place, became P and S through the role maps; the host's LUN followed P
    assert s.a.array.shm.volume_map.ldev("primary") == 0x03 == s.a.array.shm.volume_map.luns[0]
    assert s.r.array.shm.volume_map.ldev("remote") == 0x13
    assert s.a.array.shm.volume_map.is_bijection() and s.r.array.shm.volume_map.is_bijection()
    # the volume left over became the new base at both arrays, at the same number; the journals restarted
    assert s.a.array.shm.volume_map.ldev("base") == 0x01 and s.r.array.shm.volume_map.ldev("replica_base") == 0x11
    assert s.base_blocks() == s.replica_base_blocks() == s.primary_blocks()
    assert s.a.jfmt.base_seq == s.r.replica_base_seq == len(WRITES) + 1 == s.a.log.next_seq - 1
    assert s.journal_records() == [] == s.remote_journal_records() and s.r.applied_seq == len(WRITES) + 1
    s.write(5, 9)  # the mirror goes on from the new base
    assert s.primary_blocks() == s.remote_blocks() and [r.seq for r in s.remote_journal_records()] == [10]


@pytest.mark.claims(3, 5, 6, 19, 20)
@pytest.mark.parametrize("method", ["writethrough", "swap"])
def test_recover_to_a_marker(method: str) -> None:
    s = history_system(WRITES[:3])
    s.set_marker("eod")
    for lba, v in WRITES[3:]:
        s.write(lba, v)
    end = s.a.log.next_seq - 1
    s.recover(to="eod", method=method)
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 3)
    if method == "writethrough":  # the recovery was journaled, so it can itself be undone
        assert s.a.log.next_seq - 1 > end and "eod" in s.markers
        s.recover(to=end, method=method)
        assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, len(WRITES))
    else:  # a swap restarts the journal at a new base: the window is that base alone
        assert list(s.window) == [end + 1] and s.markers == {}


def test_recovery_step_by_step_freezes_host_io_and_resumes_it() -> None:
    s = history_system(WRITES[:4])
    s.start_recovery(2, "writethrough")
    assert s.journaling_state is JournalingState.RECOVERING
    assert [a.name for a in s.enabled_actions() if a.name.startswith("Host")] == []
    assert [str(a) for a in s.enabled_actions() if a.name == "RecoveryWrite"] == \
        ["RecoveryWrite(lba=0)", "RecoveryWrite(lba=2)"]
    s.recovery_write(0)
    s.recovery_write(2)
    s.stabilize()
    s.finish_recovery()
    assert s.journaling_state is JournalingState.JOURNALING and vals(s.primary_blocks())[:3] == [1, 2, 0]
    s.write(5, 1)  # host I/O resumed


def test_write_through_passes_s_through_a_mixed_image_and_swap_does_not() -> None:
    """remote_is_point_in_time: the trade-off the checkers must show, seen here on real bytes."""
    writes = [(0, 1), (1, 1), (0, 2), (1, 2)]
    images = [image(writes, n, 2) for n in range(5)]
    s = history_system(writes, blocks=2)
    s.start_recovery(2, "writethrough")  # image(2) == [1, 1]; P == [2, 2]
    s.recovery_write(0)
    s.deliver(MirrorWrite(5, 0, block_of_value(1)))
    assert vals(s.remote_blocks()) == [1, 2] and [1, 2] not in images  # S holds no point in time
    s2 = history_system(writes, blocks=2)
    s2.start_recovery(2, "swap")
    s2.swap_volumes()
    s2.switch_host_lun()  # the swap's second half: the host's LUN
    assert vals(s2.remote_blocks()) in images
    s2.deliver(RecoverRequest(1, 2))
    assert vals(s2.remote_blocks()) == images[2]


@pytest.mark.claims(1, 5, 6, 7)
def test_crash_of_a_during_write_through_recovery_resumes_from_b_and_j() -> None:
    s = history_system(WRITES)
    s.start_recovery(1, "writethrough")
    s.recovery_write(0)
    s.recovery_write(1)
    s.deliver(MirrorWrite(9, 0, block_of_value(1)))
    s.crash_array("A")
    assert s.pair_state is PairState.SUSPENDED and s.a.jfmt.recovery is not None  # kept in shared memory
    assert [a.name for a in s.enabled_actions() if a.name == "RecoveryWrite"] == []  # waits for resync
    s.stabilize()
    s.resync()
    left = s.a.recovery.differing()
    assert left and 0 not in left  # block 0 was restored before the crash, the rest resumes
    s.resume_recovery()
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 1)


def test_crash_of_r_during_recovery_times_out_and_the_recovery_completes() -> None:
    s = history_system(WRITES)
    s.start_recovery(3, "writethrough")
    s.recovery_write(0)
    s.recovery_write(1)
    s.deliver(MirrorWrite(10, 1, block_of_value(2)))  # waits behind seq 9 in R's buffer
    s.crash_array("R")
    s.stabilize()  # seq 9 reaches R; seq 10 was lost with the buffer and times out
    assert s.pair_state is PairState.SUSPENDED and s.a.jfmt.recovery is not None
    s.resume_recovery()
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 3)


@pytest.mark.claims(13, 14)
def test_crash_of_a_during_swap_resumes() -> None:
    s = history_system(WRITES)
    s.start_recovery(4, "swap")
    s.crash_array("A")  # before A swapped; the request is still on the path
    assert s.a.jfmt.recovery is not None and s.pair_state is PairState.SUSPENDED
    s.swap_volumes()
    s.switch_host_lun()  # the swap's second half: the host's LUN
    s.deliver(RecoverRequest(1, 4))
    s.deliver(SwapDone(1))
    s.finish_recovery()
    s.resync()
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 4)


@pytest.mark.claims(13, 14, 27, 28)
@pytest.mark.parametrize("lose", ["request", "answer"])
def test_swap_whose_message_is_lost_times_out_and_never_pairs_with_p_ne_s(lose: str) -> None:
    s = history_system(WRITES)
    s.start_recovery(2, "swap")
    s.swap_volumes()
    s.switch_host_lun()  # the swap's second half: the host's LUN
    if lose == "request":
        s.lose_message(RecoverRequest(1, 2))
    else:
        s.deliver(RecoverRequest(1, 2))
        s.lose_message(SwapDone(1))
    assert [a.name for a in s.enabled_actions() if "Timeout" in a.name] == ["SwapTimeout"]
    s.swap_timeout()
    assert s.a.jfmt.recovery is not None and s.a.jfmt.recovery.remote_status is RemoteSwapStatus.TIMED_OUT
    assert s.pair_state is PairState.SUSPENDED and len(s.a.pair.dirty_lbas()) == 6
    s.finish_recovery()
    s.resync()
    assert s.pair_state is PairState.PAIR
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 2)


def test_duplicate_recover_request_is_handled_once() -> None:
    s = history_system(WRITES)
    s.start_recovery(2, "swap")
    s.duplicate_message(RecoverRequest(1, 2))
    s.deliver(RecoverRequest(1, 2))
    jr = len(s.r.log.entries)
    s.deliver(RecoverRequest(1, 2))
    assert len(s.r.log.entries) == jr and s.path.messages == [SwapDone(1), SwapDone(1)]
    s.swap_volumes()
    s.switch_host_lun()  # the swap's second half: the host's LUN
    s.stabilize()
    s.finish_recovery()
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 2)


def test_checkpoint_during_recovery_stops_at_the_target_and_target_can_be_base() -> None:
    s = history_system(WRITES, journal_capacity=len(WRITES))  # J full: A checkpoints on demand
    s.start_recovery(2, "writethrough")
    assert s.checkpoint() == 1
    s.recovery_write(s.a.recovery.differing()[0])  # a recovery write fills J again (the reserve)
    s.stabilize()
    assert s.checkpoint() == 2
    assert "Checkpoint" not in [a.name for a in s.enabled_actions()]
    s.resume_recovery()
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 2) == vals(s.base_blocks())
    report = s.recover(to=2, method="swap")  # target == base_seq: the base image itself
    assert report.blocks_differing == 0 and report.method is RecoveryKind.SWAP


def test_path_down_during_recovery() -> None:
    s = history_system(WRITES)
    s.fail_path()
    report = s.recover(to=0)  # the recovery writes time out: P is restored, the pair suspended
    assert report.left_pair and s.pair_state is PairState.SUSPENDED
    assert vals(s.primary_blocks()) == image(WRITES, 0)
    s.repair_path()
    s.resync()
    assert s.primary_blocks() == s.remote_blocks()


def test_a_recovery_that_cannot_progress_stalls_until_the_path_is_back() -> None:
    s = history_system(WRITES)
    s.start_recovery(1, "writethrough")
    s.crash_array("A")  # recovery writes wait for resync, and resync for the path
    s.fail_path()
    with pytest.raises(RecoveryStalled, match="path down, pair_state=SUSPENDED"):
        s.resume_recovery()
    s.repair_path()
    assert s.resume_recovery() is True
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 1)


def test_every_stale_ack_after_recovery_is_ignored() -> None:
    s = history_system(WRITES[:2])
    s.start_recovery(0, "writethrough")
    s.recovery_write(0)
    s.duplicate_message(MirrorWrite(3, 0, block_of_value(0)))
    s.stabilize()
    s.recovery_write(1)
    s.stabilize()
    s.finish_recovery()
    assert s.path.messages == [] and not s.a.in_flight
    assert s.path.stats.delivered["MirrorAck"] == s.path.stats.sent["MirrorAck"]
    assert MirrorAck(3) not in s.path.messages


def test_resync_settles_a_stale_recover_request_and_copies_the_base() -> None:
    s = history_system(WRITES)
    s.start_recovery(3, "swap")
    s.crash_array("A")  # the RecoverRequest stays on the path
    assert "StartResync" not in [a.name for a in s.enabled_actions()]  # A's half would undo the copy
    s.swap_volumes()
    s.switch_host_lun()  # the swap's second half: the host's LUN
    s.start_resync()
    before = s.path.stats.copy()
    s.finish_resync()
    crossed = s.path.stats.since(before)
    assert crossed.sent["ResyncBaseBlock"] == 3 and crossed.sent["ResyncBlock"] == 6  # B -> RB, all dirty
    assert s.base_blocks() == s.replica_base_blocks() and s.r.replica_base_seq == s.a.jfmt.base_seq
    assert s.r.jfmt.last_recovery_id == 1
    assert s.pair_state is PairState.COPY  # A's half waits for R's answer
    s.deliver(Resynced(1))
    assert s.pair_state is PairState.PAIR
    rb, jr = s.replica_base_blocks(), s.r.log.entries
    s.deliver(RecoverRequest(1, 3))  # stale: settled by the resync, answered, not acted on
    assert s.replica_base_blocks() == rb and s.r.log.entries == jr and s.path.messages == [SwapDone(1)]
    s.deliver(SwapDone(1))
    s.finish_recovery()
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 3)


# --- the image memo: RecoveryEngine rebuilds image(T) only when what it reads changed -----------------------


def test_image_reflects_a_record_that_reached_j_after_it_was_first_rebuilt() -> None:
    """Under journal_not_persisted_before_ack a record sits in a volatile cache, not in J, when image(1)
    is first rebuilt; it reaches J before the recovery starts, so the recovery must restore it."""
    s = MirroredSystem(blocks=4, journal_capacity=8, mutant="journal_not_persisted_before_ack")
    s.write(0, 1)
    assert vals(s.image(1)) == [0, 0, 0, 0]  # seq 1 is not in J yet: the memo now holds this image
    s.persist_journal()
    s.write(0, 2)
    s.persist_journal()
    assert vals(s.image(1)) == [1, 0, 0, 0]
    s.recover(to=1, method="writethrough")
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == [1, 0, 0, 0]


@pytest.mark.claims(5, 19)
@pytest.mark.parametrize("through", ["interconnect", "drive"])
def test_a_record_corrupted_after_its_image_was_rebuilt_blocks_the_recovery(through: str) -> None:
    """A sector of seq 2 flipped after image(3) was rebuilt (through the interconnect, or straight on the
    drive where no LDEV counts it): no recovery that would replay seq 2 may use the remembered image."""
    s = history_system(WRITES[:3])
    assert vals(s.image(3)) == image(WRITES, 3)
    entry = s.a.log.entries[1]
    assert entry.seq == 2
    if through == "interconnect":
        raw = bytearray(s.a.array.read("journal", entry.location + 1))
        raw[0] ^= 0xFF
        s.a.array.write("journal", entry.location + 1, bytes(raw))
    else:
        drive_id, sector = s.a.array.interconnect.ldevs[s.a.jfmt.ldev_j].locate(entry.location + 1)
        raw = bytearray(s.a.array.drives[drive_id].read(sector))
        raw[0] ^= 0xFF
        s.a.array.drives[drive_id].write(sector, bytes(raw))
    before = s.snapshot()
    with pytest.raises(RecordChecksumError):
        s.recover(to=3)
    assert s.snapshot() == before
    s.recover(to=1)  # needs only seq 1
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 1)


@pytest.mark.claims(1, 5, 6, 7)
def test_write_through_resumed_after_a_crash_and_a_checkpoint_restores_the_image_it_started_from() -> None:
    """The memo survives recovery writes, a checkpoint up to T (B changes) and a crash of A; after each,
    what it returns is what a fresh rebuild from B and J gives, and the resumed recovery ends at image(T)."""
    s = history_system(WRITES, journal_capacity=len(WRITES))  # J full: A checkpoints on demand
    s.start_recovery(3, "writethrough")
    first = s.a.recovery.differing()
    assert len(first) > 2
    for lba in first[:2]:
        s.recovery_write(lba)
    s.stabilize()
    assert vals(s.a.recovery.local_image()) == image(WRITES, 3)
    assert s.checkpoint() == 1 and s.checkpoint() == 2  # B moves towards T; image(T) must not
    s.crash_array("A")
    s.stabilize()
    s.resync()
    assert s.a.recovery.local_image() == RecoveryEngine(s.a).image(3)  # the memo == a rebuild from scratch
    assert s.a.recovery.differing() == first[2:]
    s.resume_recovery()
    assert vals(s.primary_blocks()) == vals(s.remote_blocks()) == image(WRITES, 3)
    assert s.journaling_state is JournalingState.JOURNALING and s.pair_state is PairState.PAIR
