"""Seeded bugs (DESIGN section 3): each switches one protocol step to a known-wrong variant.

The registry is data: the step it changes, the property it is meant to break, and the recovery kind
that exposes it. Tests assert that every checker reports that property for every mutant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar

from pitmirror.spec.state import FencePolicy, RecoveryKind


class _Raisable(Protocol):
    """What ``Mutant.exposed_in`` needs of the bounds (``model.config.Bounds``, which imports this module)."""

    def with_(self, **changes: Any) -> Self:
        """A copy with some bounds changed."""
        ...


B = TypeVar("B", bound=_Raisable)


@dataclass(frozen=True)
class Mutant:
    """A seeded bug: its name, the wrong step, the property it breaks and the recovery kind exposing it."""

    name: str
    wrong_step: str
    breaks: str
    recovery_kind: RecoveryKind = RecoveryKind.WRITETHROUGH
    #: the least bounds that can show the bug, for checkers that run small fixed bounds (the Z3 column runs one
    #: block and one write in flight: a mixed image of S needs two blocks and two writes in flight)
    needs: tuple[tuple[str, int], ...] = ()
    #: the fence policy the bug needs, when only one shows it (a host write while the pair is suspended needs
    #: fence ``never``): a run that draws its policy per example (fuzz) then spends none on the other
    fence: FencePolicy | None = None

    def exposed_in(self, bounds: B) -> B:
        """``bounds`` with this mutant and its recovery kind, every bound raised to what it ``needs`` (and the
        fence policy narrowed to the one it needs, if any)."""
        raised: dict[str, Any] = {k: max(getattr(bounds, k), v) for k, v in self.needs}
        if self.fence is not None:
            raised["fence_policies"] = (self.fence,)
        return bounds.with_(mutant=self.name, recovery_kind=self.recovery_kind, **raised)


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    Mutant("ack_before_remote", "the host is acknowledged before R applies the write", "ack_durable"),
    Mutant("skip_journal", "host writes take a sequence number but store no journal record",
           "journal_well_formed"),
    Mutant("reuse_sequence_number", "next_seq advances when a write completes, not when it starts",
           "journal_well_formed"),
    Mutant("recovery_bypasses_mirror", "recovery suspends the pair, restores P locally, then resyncs",
           "recovery_correct"),
    Mutant("recovery_off_by_one", "replay applies records < T instead of <= T", "recovery_correct"),
    Mutant("replay_out_of_order", "replay applies records newest first", "recovery_correct"),
    Mutant("checkpoint_drops_record", "checkpoint frees the oldest record without applying it to B",
           "replay_is_point_in_time"),
    Mutant("checkpoint_during_recovery", "checkpoint may pass the target of a running recovery",
           "recovery_correct"),
    Mutant("remote_applies_in_arrival_order", "R applies mirrored writes as they arrive, duplicates too",
           "mirror_consistent"),
    Mutant("swap_without_freeze", "host writes are accepted during a swap recovery", "swap_correct",
           RecoveryKind.SWAP),
    Mutant("remote_checkpoints_alone", "R checkpoints RB on its own, not in lockstep with A", "bases_agree"),
    Mutant("rebuild_from_primary", "the rebuild starts from the current P (S at R) instead of the base",
           "swap_correct", RecoveryKind.SWAP),
    Mutant("journal_not_persisted_before_ack",
           "the journal record sits in a volatile cache; the host ack does not wait for it", "ack_durable"),
    Mutant("no_remote_timeout", "A never times out a lost mirror write or swap answer",
           "host_write_completes", needs=(("path_failures", 1),)),  # a message must be lost to time out
    Mutant("remote_writes_ahead_of_gap",
           "R writes a mirrored write to S as it arrives, before the earlier writes it waits for (JR stays in order)",
           "remote_is_point_in_time_or_recovering", needs=(("blocks", 2), ("concurrency", 2))),
    Mutant("crash_restores_blocks_from_base",
           "A's restart after a crash re-reads the blocks of the host writes in flight from B (the old data), "
           "though J keeps their records", "primary_is_latest_image", needs=(("crashes", 1),)),
    Mutant("remote_accepts_stale_messages",
           "R takes a late message as current: a mirrored write it has passed lands on S again, a RecoverRequest "
           "of a settled recovery swaps again", "mirror_consistent",
           needs=(("premature_timeouts", 1), ("host_writes", 2))),  # a timeout while the write is late
    Mutant("journal_location_ignores_header",
           "the journal log table's next free location moves past a record's payload sectors only, not its "
           "header and trailer: the next record is allocated over the tail of this one",
           "journal_records_at_their_locations"),
    Mutant("swap_updates_lun_map_last_without_intent",
           "A's swap updates the role map, then the host-LUN map, with no intent record: a crash between the two "
           "loses the pending LUN switch and the host stays on the old volume", "host_lun_serves_primary",
           RecoveryKind.SWAP, needs=(("crashes", 1), ("recoveries", 1))),  # a crash during the swap
    # the two-phase checkpoint: only a Checkpointed message the path lost, or still on it when the pair left
    # PAIR, leaves RB behind B at a resync (a crash of A is the shortest way)
    Mutant("checkpoint_not_redone",
           "the resync ships J's records and P's dirty blocks to R but leaves RB as it is, trusting every "
           "checkpoint's message reached R: R's half of a checkpoint whose Checkpointed was lost is never redone",
           "bases_agree", needs=(("crashes", 1),)),
    # the multi-block write faults: only a write of two blocks or more, and a power loss inside it, show them
    Mutant("torn_multiblock_write",
           "A's restart after a power loss in the middle of a multi-block host write does not redo its record "
           "from J: P keeps the blocks written before the power failed", "primary_is_latest_image",
           needs=(("blocks", 2), ("write_blocks", 2), ("crashes", 1))),
    Mutant("torn_remote_apply",
           "R's restart after a power loss in the middle of applying a multi-block MirrorWrite does not redo "
           "its record from JR: S keeps the blocks written before the power failed",
           "remote_is_point_in_time_or_recovering", needs=(("blocks", 2), ("write_blocks", 2), ("crashes", 1))),
    # the two-phase resync: a first suspension (a write lost with the path), a crash of A between R's half and
    # A's half, a host write while suspended and a second resync let a late Resynced reach A in COPY again
    Mutant("resync_accepts_stale_answer",
           "A leaves COPY on any Resynced, not only on the answer of the resync it runs: a late answer of a "
           "resync a crash of A abandoned ends the next one, before R has what A wrote in between",
           "mirror_consistent", needs=(("crashes", 1), ("path_failures", 1), ("host_writes", 2)),
           fence=FencePolicy.NEVER),
    # power loss in the middle of R's swap: only a crash while R acts on a RecoverRequest shows it
    Mutant("remote_swap_not_redone",
           "R keeps no intent record for its half of a swap: a restart after a power loss in the middle of it "
           "does not know a swap was running, so RB keeps the first record of the rebuild in place and nothing "
           "else moves (S, the role map, JR, the recovery id), and no SwapDone is sent", "bases_agree",
           RecoveryKind.SWAP, needs=(("crashes", 1), ("recoveries", 1))),
)}


def check_mutant(name: str | None) -> None:
    """Raise ``KeyError`` with the valid names when ``name`` is not a mutant (``None`` is the correct
    protocol)."""
    if name is not None and name not in MUTANTS:
        raise KeyError(f"unknown mutant {name!r}; valid: {', '.join(MUTANTS)}")
