"""Each mutant of docs/PROTOCOL.md, in a small scenario where it visibly misbehaves; the same scenario
holds without it. A scenario returns True when the protocol behaved correctly."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pitmirror.impl import MUTANTS, MirroredSystem
from pitmirror.impl.blocks import block_of_value, value_of_block
from pitmirror.impl.errors import RecoveryInProgress, UnknownMutantError
from pitmirror.impl.messages import MirrorWrite, RecoverRequest
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.ready import RequestStatus
from pitmirror.impl.states import PairState


def system(mutant: str | None, journal_capacity: int = 8, **kw: object) -> MirroredSystem:
    return MirroredSystem(blocks=2, journal_capacity=journal_capacity, mutant=mutant, **kw)  # type: ignore[arg-type]


def p(s: MirroredSystem) -> list[int]:
    return [value_of_block(b) for b in s.primary_blocks()]


def synced(s: MirroredSystem, image: list[int]) -> bool:
    """P == S == image."""
    return p(s) == [value_of_block(b) for b in s.remote_blocks()] == image


def ack_before_remote(m: str | None) -> bool:
    s = system(m)
    req = s.host_write(0, 1)
    return not (req.status is RequestStatus.ACKED and s.read_remote(0) != block_of_value(1))


def skip_journal(m: str | None) -> bool:
    s = system(m)
    s.write(0, 1)
    s.write(0, 2)
    well_formed = [e.seq for e in s.a.log.entries] == [1, 2]
    s.recover(to=1)
    return well_formed and synced(s, [1, 0])


def reuse_sequence_number(m: str | None) -> bool:
    s = system(m)
    s.host_write(0, 1)
    s.host_write(1, 2)  # concurrent with the first
    s.stabilize()
    return [e.seq for e in s.a.log.entries] == [1, 2] and synced(s, [1, 2])


def recovery_bypasses_mirror(m: str | None) -> bool:
    s = system(m)
    s.write(0, 1)
    s.write(0, 2)
    report = s.recover(to=1, method="writethrough")
    return not report.left_pair and report.crossed.data_blocks["MirrorWrite"] == 1 and synced(s, [1, 0])


def recovery_off_by_one(m: str | None) -> bool:
    s = system(m)
    s.write(0, 1)
    s.write(0, 2)
    s.recover(to=1)
    return synced(s, [1, 0])


def replay_out_of_order(m: str | None) -> bool:
    s = system(m)
    for v in (1, 2, 3):
        s.write(0, v)
    s.recover(to=2)
    return synced(s, [2, 0])


def checkpoint_drops_record(m: str | None) -> bool:
    s = system(m, journal_capacity=2)
    s.write(0, 1)
    s.write(0, 2)
    s.checkpoint()  # J full: A checkpoints on demand
    s.stabilize()  # R's half
    bases_equal = s.base_blocks() == s.replica_base_blocks()
    s.recover(to=1)
    return bases_equal and synced(s, [1, 0])


def checkpoint_during_recovery(m: str | None) -> bool:
    s = system(m, journal_capacity=2)
    s.write(0, 1)
    s.write(1, 2)
    s.start_recovery(1, "writethrough")
    for _ in range(2):  # checkpoint whenever J is full again, a recovery write at a time
        while "Checkpoint" in [a.name for a in s.enabled_actions()]:
            s.checkpoint()
            s.stabilize()
        if s.a.recovery.differing():
            s.recovery_write(s.a.recovery.differing()[0])
            s.stabilize()
    s.resume_recovery()
    return synced(s, [1, 0])


def remote_applies_in_arrival_order(m: str | None) -> bool:
    s = system(m)
    s.host_write(0, 1)
    s.host_write(0, 2)
    s.deliver(MirrorWrite(2, 0, block_of_value(2)))
    s.deliver(MirrorWrite(1, 0, block_of_value(1)))
    s.stabilize()
    return synced(s, [2, 0])


def remote_writes_ahead_of_gap(m: str | None) -> bool:
    s = system(m)
    s.host_write(0, 1)
    s.host_write(1, 2)  # in flight with the first
    s.deliver(MirrorWrite(2, 1, block_of_value(2)))  # arrives first: R must hold it until write 1 is in
    s_before_gap = [value_of_block(b) for b in s.remote_blocks()]
    s.stabilize()
    return s_before_gap == [0, 0] and synced(s, [1, 2])


def crash_restores_blocks_from_base(m: str | None) -> bool:
    s = system(m)
    s.host_write(0, 1)  # in flight when A crashes: it fails, but P and J keep it (P == B + J to the newest)
    s.crash_array("A")
    kept = p(s) == [1, 0]
    s.stabilize()
    return kept and synced(s, [1, 0])


def swap_without_freeze(m: str | None) -> bool:
    s = system(m, recovery="swap")
    s.write(0, 1)
    s.start_recovery(0)
    try:
        req = s.host_write(1, 7)
    except RecoveryInProgress:
        req = None
    if req is not None:  # R rebuilds first, then the write arrives, then A swaps
        s.deliver(RecoverRequest(1, 0))
        s.deliver(MirrorWrite(2, 1, block_of_value(7)))
        s.stabilize()
        assert req.status is RequestStatus.ACKED
    s.resume_recovery()
    return req is None and synced(s, [0, 0])  # with the mutant, an acknowledged write is lost


def remote_checkpoints_alone(m: str | None) -> bool:
    s = system(m)
    s.write(0, 1)
    if "RemoteCheckpoint" in [a.name for a in s.enabled_actions()]:
        s.remote_checkpoint()
    return s.base_blocks() == s.replica_base_blocks() and s.a.jfmt.base_seq == s.r.replica_base_seq


def rebuild_from_primary(m: str | None) -> bool:
    s = system(m, recovery="swap")
    s.write(0, 1)
    s.write(1, 5)
    s.recover(to=1)
    return synced(s, [1, 0])


def journal_not_persisted_before_ack(m: str | None) -> bool:
    s = system(m)
    req = s.write(0, 1)
    s.crash_array("A")  # a volatile cache is lost
    return req.status is RequestStatus.ACKED and s.a.log.find(1) is not None


def no_remote_timeout(m: str | None) -> bool:
    s = system(m)
    req = s.host_write(0, 1)
    s.lose_message(MirrorWrite(1, 0, block_of_value(1)))
    can_time_out = "MirrorTimeout" in [a.name for a in s.enabled_actions()]
    s.stabilize()
    return can_time_out and req.done


def remote_accepts_stale_messages(m: str | None) -> bool:
    s = system(m)
    s.host_write(0, 1)
    s.mirror_timeout(1)  # premature: write 1 is still on the path, only late; the pair suspends
    s.host_write(0, 2)  # suspended (fence never): on P and in J, block 0 dirty
    s.start_resync()
    s.finish_resync()  # S takes P's block 0 = 2; R's applied seq moves past write 1
    s.deliver(MirrorWrite(1, 0, block_of_value(1)))  # the late write arrives: stale, R must drop it
    s.stabilize()
    return synced(s, [2, 0])


def journal_location_ignores_header(m: str | None) -> bool:
    s = system(m)
    s.host_write(0, 1)
    s.host_write(1, 2)  # allocated over the tail of write 1's record under the mutant
    s.stabilize()
    return not s.audit() and synced(s, [1, 2])
def swap_updates_lun_map_last_without_intent(m: str | None) -> bool:
    s = system(m, recovery="swap")
    s.write(0, 1)
    s.start_recovery(0)
    s.swap_volumes()  # the role map is swapped; the host's LUN still names the old P
    s.crash_array("A")  # the restart must complete the swap from its intent record
    s.stabilize()  # R's swap, SwapDone, the resync, FinishRecovery
    vmap = s.a.array.shm.volume_map
    return vmap.luns[0] == vmap.ldev("primary")


def torn_multiblock_write(m: str | None) -> bool:
    s = system(m, write_blocks=2)
    s.write(0, 1)
    s.crash_mid_write(0, 2, 2)  # J holds the record, P only its first block when the power fails
    s.resync()
    return synced(s, [2, 2])  # the restart redid the record from J: the whole write, never half of it


def torn_remote_apply(m: str | None) -> bool:
    s = system(m, write_blocks=2)
    s.write(0, 1)
    s.host_write(0, 2, 2)
    (msg,) = s.path.messages
    s.crash_mid_apply(msg)  # JR holds the record, S only its first block when R's power fails
    return [value_of_block(b) for b in s.remote_blocks()] == [2, 2]


def checkpoint_not_redone(m: str | None) -> bool:
    s = system(m, journal_capacity=2)
    s.write(0, 1)
    s.write(0, 2)
    s.checkpoint()  # A's half; its Checkpointed is on the path
    s.crash_array("A")
    s.fail_path()  # ... and lost: R's half must be redone by the resync
    s.repair_path()
    s.resync()
    return s.base_blocks() == s.replica_base_blocks() and s.a.jfmt.base_seq == s.r.replica_base_seq == 1


def resync_accepts_stale_answer(m: str | None) -> bool:
    s = system(m)
    s.write(0, 1)
    s.crash_array("A")  # suspended, every block dirty
    s.start_resync()
    s.finish_resync()  # R commits resync 1 and answers Resynced(1) ...
    (answer,) = s.path.messages
    s.crash_array("A")  # ... which A's crash leaves on the path, late
    s.host_write(0, 2)  # fence never: P takes it while suspended, S does not
    s.start_resync()
    s.deliver(answer)  # the late answer of resync 1 must not end resync 2
    s.resync()
    return s.a.pair.pair_state == PairState.PAIR and synced(s, [2, 0])


def remote_swap_not_redone(m: str | None) -> bool:
    s = system(m, recovery="swap")
    s.write(0, 1)
    s.write(1, 2)
    s.start_recovery(2)
    (msg,) = [x for x in s.path.messages if isinstance(x, RecoverRequest)]
    s.crash_mid_remote_swap(msg)  # the power fails after the rebuild's first record reached RB
    answered = any(x.name == "SwapDone" for x in s.path.messages)
    return answered and [value_of_block(b) for b in s.replica_base_blocks()] == p(s) == [1, 2]


SCENARIOS: dict[str, Callable[[str | None], bool]] = {
    f.__name__: f for f in (
        ack_before_remote, skip_journal, reuse_sequence_number, recovery_bypasses_mirror, recovery_off_by_one,
        replay_out_of_order, checkpoint_drops_record, checkpoint_during_recovery,
        remote_applies_in_arrival_order, swap_without_freeze, remote_checkpoints_alone, rebuild_from_primary,
        journal_not_persisted_before_ack, no_remote_timeout, remote_writes_ahead_of_gap,
        crash_restores_blocks_from_base,
        remote_accepts_stale_messages, journal_location_ignores_header, swap_updates_lun_map_last_without_intent,
        checkpoint_not_redone, torn_multiblock_write, torn_remote_apply, resync_accepts_stale_answer,
        remote_swap_not_redone,
    )
}


def test_every_mutant_of_the_protocol_has_a_scenario() -> None:
    assert list(SCENARIOS) == list(MUTANTS)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_mutant_misbehaves_and_the_protocol_does_not(name: str) -> None:
    scenario = SCENARIOS[name]
    assert scenario(None), f"the correct protocol fails the {name} scenario"
    assert not scenario(name), f"mutant {name} went unnoticed"


def test_the_visible_damage() -> None:
    """A few of the misbehaviours spelled out."""
    s = system("reuse_sequence_number")
    s.host_write(0, 1)
    s.host_write(1, 2)
    s.stabilize()
    assert [e.seq for e in s.a.log.entries] == [1, 1]  # a duplicate seq in the journal log table
    remote = [value_of_block(b) for b in s.remote_blocks()]
    assert p(s) == [1, 2] and remote in ([1, 0], [0, 2])  # R took one of the two as a duplicate
    s = system("checkpoint_drops_record", journal_capacity=1)
    s.write(0, 1)
    s.checkpoint()
    s.stabilize()
    assert p(s) == [1, 0] and s.base_blocks() != s.replica_base_blocks()
    s = system("no_remote_timeout")
    req = s.host_write(0, 1)
    s.fail_path()
    s.stabilize()
    assert req.status is RequestStatus.PENDING  # pending forever:
    assert "MirrorTimeout" not in [a.name for a in s.enabled_actions()]


def test_mutant_names_are_checked() -> None:
    for name in MUTANTS:
        assert MirroredSystem(blocks=1, journal_capacity=1, mutant=name).mutant.name == name
    with pytest.raises(UnknownMutantError, match="valid names: ack_before_remote, skip_journal"):
        MirroredSystem(mutant="ack_before_remot")
    with pytest.raises(UnknownMutantError, match="no mutant 'typo' to ask about"):
        Mutant(None)("typo")
