"""A power loss in the middle of R's half of a swap (issue 14, ``CrashMidRemoteSwap``): R writes its swap's intent
record before it touches RB, advances it with the role map's swap and clears it with the commit, so a restart
after a cut anywhere inside the swap redoes it whole and answers SwapDone. Without the intent record
(``remote_swap_not_redone``) a cut leaves RB torn and R silent."""

from __future__ import annotations

import pytest

from pitmirror.impl import MirroredSystem
from pitmirror.impl.blocks import value_of_block
from pitmirror.impl.errors import CommandSequenceError, InvalidParameter, PathDown
from pitmirror.impl.messages import MirrorWrite, RecoverRequest, SwapDone
from pitmirror.impl.tables import RemoteSwapIntent, RemoteSwapPhase

#: image(3) of the scenario below: a two-block write, then two one-block writes
IMAGE = [1, 3, 2, 0]


def values(blocks: list[bytes]) -> list[int]:
    return [value_of_block(b) for b in blocks]


def scenario(mutant: str | None = None) -> tuple[MirroredSystem, RecoverRequest]:
    """Three writes mirrored (JR holds seqs 1-3, RB is still zero), a swap recovery to seq 3 started: its
    RecoverRequest is taken off the path, as the path hands it to R."""
    s = MirroredSystem(blocks=4, journal_capacity=4, write_blocks=2, mutant=mutant, recovery="swap")
    s.host_write(0, 1, 2)
    s.stabilize()
    s.write(2, 2)
    s.write(1, 3)
    s.start_recovery(3)
    (msg,) = [m for m in s.path.messages if isinstance(m, RecoverRequest)]
    s.path.take(msg)
    return s, msg


def swap_sector_writes() -> int:
    """How many sector writes R's swap makes in the scenario, uncut: the rebuild's records onto RB, then the
    image onto the old S."""
    s, msg = scenario()
    before = s.r.array.interconnect.writes
    ready = s.r.receive(msg)
    assert ready.messages == [SwapDone(1)]
    return s.r.array.interconnect.writes - before


def test_the_swap_writes_only_the_records_onto_rb_then_the_image_onto_the_old_s() -> None:
    assert swap_sector_writes() == (2 + 1 + 1) + 4  # three records (one of two blocks), then four blocks


@pytest.mark.claims(8, 14, 22, 28)
def test_a_cut_after_any_number_of_sector_writes_is_redone_whole_and_answered() -> None:
    total = swap_sector_writes()
    for cut in range(total + 1):
        s, msg = scenario()
        remote_ldev, rb_ldev = s.r_volumes
        applied = s.r.applied_seq
        assert s.r.swap_until_power_loss(msg, cut).messages == []  # the answer is lost with the power
        intent = s.r.jfmt.remote_swap
        assert intent is not None and (intent.recovery_id, intent.target) == (1, 3)
        # the phase says where the power failed: before the role map moved (the rebuild), or after it
        moved = s.r.array.shm.volume_map.ldev("remote") == rb_ldev
        assert intent.phase is (RemoteSwapPhase.COPYING if moved else RemoteSwapPhase.REBUILDING), cut
        ready = s.r.crash()
        assert ready.messages == [SwapDone(1)] and not ready.errors, cut
        assert values(s.remote_blocks()) == values(s.replica_base_blocks()) == IMAGE, cut
        vmap = s.r.array.shm.volume_map
        assert (vmap.ldev("remote"), vmap.ldev("replica_base")) == (rb_ldev, remote_ldev), cut  # swapped once
        assert vmap.luns[0] == vmap.ldev("remote")
        jfmt = s.r.jfmt
        assert (jfmt.remote_swap, jfmt.last_recovery_id, jfmt.base_seq) == (None, 1, applied + 1), cut
        assert s.r.log.entries == [] and s.r.applied_seq == applied + 1, cut


def test_without_the_intent_record_a_cut_leaves_rb_torn_and_r_silent() -> None:
    total = swap_sector_writes()
    torn = []
    for cut in range(total + 1):
        s, msg = scenario("remote_swap_not_redone")
        s.r.swap_until_power_loss(msg, cut)
        assert s.r.jfmt.remote_swap is None
        ready = s.r.crash()
        assert ready.messages == [], cut  # the restart does not know a swap was running
        if values(s.replica_base_blocks()) not in ([0, 0, 0, 0], IMAGE):
            torn.append(cut)
    assert torn  # e.g. the first record alone: [1, 1, 0, 0]


def test_the_driver_cuts_after_the_first_record_and_restarts_r() -> None:
    for mutant, rb in ((None, IMAGE), ("remote_swap_not_redone", [1, 1, 0, 0])):
        s, msg = scenario(mutant)
        s.path.send(msg)  # back on the path: the driver takes it
        s.crash_mid_remote_swap(msg)
        assert values(s.replica_base_blocks()) == rb
        assert (SwapDone(1) in s.path.messages) is (mutant is None)
        assert s.events[-1].to_json() == {"action": "CrashMidRemoteSwap", "args": {
            "message": {"kind": "RecoverRequest", "recovery_id": 1, "target": 3}}}
        assert s.abstract_state()["secondary_volume"] == (1 if mutant is None else 0)


def test_the_driver_refuses_what_r_would_not_swap_on_and_changes_nothing() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=4, recovery="swap")
    s.host_write(0, 1)
    (mw,) = s.path.messages
    assert isinstance(mw, MirrorWrite)
    before = s.snapshot()
    with pytest.raises(InvalidParameter):
        s.crash_mid_remote_swap(mw)
    assert s.snapshot() == before
    s.stabilize()
    s.start_recovery(1)
    (rr,) = s.path.messages
    s.duplicate_message(rr)
    s.deliver(rr)  # R settles recovery 1: the copy left on the path is stale
    assert "CrashMidRemoteSwap" not in {a.name for a in s.enabled_actions()}
    before = s.snapshot()
    with pytest.raises(CommandSequenceError, match="stale"):
        s.crash_mid_remote_swap(rr)
    assert s.snapshot() == before
    s2 = MirroredSystem(blocks=2, journal_capacity=4, recovery="swap")
    s2.write(0, 1)
    s2.start_recovery(1)
    (rr2,) = s2.path.messages
    assert "CrashMidRemoteSwap" in {a.name for a in s2.enabled_actions()}
    for link in s2.path.links:  # every link down with the request still on them (as the model's path_up)
        link.up = False
    assert "CrashMidRemoteSwap" not in {a.name for a in s2.enabled_actions()}
    before = s2.snapshot()
    with pytest.raises(PathDown):
        s2.crash_mid_remote_swap(rr2)
    assert s2.snapshot() == before


def test_a_resync_settles_a_swap_left_unfinished() -> None:
    s, _msg = scenario()
    s.r.jfmt.remote_swap = RemoteSwapIntent(1, 3)  # as a restart leaves it when a record cannot be trusted
    s.swap_volumes()
    s.switch_host_lun()
    s.stabilize()  # R never answered: A times the swap answer out, the pair suspends
    s.resync()
    assert s.r.jfmt.remote_swap is None
    assert s.r.crash().messages == []  # nothing is redone any more
