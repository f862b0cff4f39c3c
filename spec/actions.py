"""What each action of the protocol is: one table, from which the other layers derive their views of the actions.

For every action, in the order a model lists enabled actions (and the impl its own): its name, its parameters,
who takes it (the lane of a trace page), the claims of US 7,139,851 it realises, the recovery kinds that have
it, the budget it spends (the ``State`` field counting what was used and the ``Bounds`` field limiting it),
whether it is a fault, its rank when a conformance drain lets the protocol settle, and the seeded bugs that
add or remove it.

Derived from it: ``model.actions`` (each action class's ``claims`` and ``actor``, and ``ACTION_TYPES`` in this
order), ``MirrorModel.within_budget`` (the one budget hook: the protocol's guards, conformance and the Z3
encoding's ``budget_guard`` all read the budget column through it or through ``budget_of``),
``checkers.conformance.lockstep.DRAIN_ORDER``, the fuzzer's action kinds, the traceability table's actions.
The spec may not import the model, so this table names actions by their protocol names; the model's classes
are checked against it when ``model.actions`` is imported, and ``impl.actions.ACTION_NAMES`` (the impl may
import neither spec nor model) is proved equal to it by tests/test_layers.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitmirror.spec.state import RecoveryKind

_BOTH = frozenset(RecoveryKind)


@dataclass(frozen=True)
class Budget:
    """What bounds an action: ``used`` is the ``State`` field counting the actions taken, ``bound`` the
    ``Bounds`` field limiting it. An action is within its budget while ``state.used < bounds.bound``."""

    used: str
    bound: str


@dataclass(frozen=True)
class ActionSpec:
    """One action of the protocol."""

    name: str
    params: tuple[str, ...] = ()  # the fields of the action, in order (``HostWrite(lba, value)``)
    actor: str = "A"  # who takes it: host, A, path, R, or fault (a crash hits either array)
    claims: tuple[int, ...] = ()
    kinds: frozenset[RecoveryKind] = _BOTH  # the recovery kinds whose runs can take it
    budget: Budget | None = None
    # the budget it spends only when it fires early: a timeout while its message is late, not lost (the late
    # message stays on the path); which case applies depends on the state (``MirrorModel.is_premature``)
    late_budget: Budget | None = None
    fault: bool = False  # injected by the environment, never taken by the protocol itself
    drain: int | None = None  # rank in a conformance drain (the protocol settling by itself); None: not drained
    added_by: str | None = None  # the seeded bug that adds the action: only under it can the action happen
    removed_by: tuple[str, ...] = ()  # seeded bugs under which the action never happens

    def present(self, kind: RecoveryKind, mutant: str | None) -> bool:
        """Whether a run of this recovery kind under this mutant (``None``: the correct protocol) can take
        the action at all."""
        if kind not in self.kinds or mutant in self.removed_by:
            return False
        return self.added_by is None or self.added_by == mutant


_WT, _SWAP = frozenset({RecoveryKind.WRITETHROUGH}), frozenset({RecoveryKind.SWAP})
_PREMATURE = Budget("premature_timeouts", "premature_timeouts")

#: Every action, in the order the model (and the impl) list enabled actions.
ACTIONS: tuple[ActionSpec, ...] = (
    # a write that joins J takes the next location of the journal log table (claims 2, 4, 16, 18), in the ring the
    # journal function management table sizes and keeps from overfilling (3, 17); a write of ``length`` blocks is
    # one record and one mirror message
    ActionSpec("HostWrite", ("lba", "value", "length"), "host", (1, 2, 3, 4, 15, 16, 17, 18),
               budget=Budget("host_writes_issued", "host_writes")),
    ActionSpec("SetMarker", (), "host", (2, 3, 4, 16, 17, 18), budget=Budget("markers_set", "markers")),
    # delivering a RecoverRequest is R's half of a swap recovery: R rebuilds image(T) from RB and JR (claims 12,
    # 26) and swaps it in as S and the new replica base (claims 14, 28); delivering a Checkpointed is R's half
    # of a checkpoint (10, 24)
    ActionSpec("Deliver", ("message",), "path", (1, 7, 10, 12, 14, 15, 21, 24, 26, 28), drain=1),
    ActionSpec("LoseMessage", ("message",), "path", budget=Budget("message_faults", "message_faults"), fault=True),
    ActionSpec("DuplicateMessage", ("message",), "path", budget=Budget("message_faults", "message_faults"),
               fault=True),
    ActionSpec("FailPath", (), "path", budget=Budget("path_failures", "path_failures"), fault=True),
    ActionSpec("RepairPath", (), "path", drain=0),
    ActionSpec("MirrorTimeout", ("seq",), "A", (1, 15), late_budget=_PREMATURE, drain=2,
               removed_by=("no_remote_timeout",)),
    # A gives up on R's half: its own swap (claims 13, 27) stands as the result, R's (14, 28) never happens
    ActionSpec("SwapTimeout", (), "A", (13, 27), kinds=_SWAP, late_budget=_PREMATURE, drain=3,
               removed_by=("no_remote_timeout",)),
    ActionSpec("CrashArray", ("array",), "fault", (8, 22), budget=Budget("crashes", "crashes"), fault=True),
    # A's half of a checkpoint: B advances (claims 10, 24) and A sends Checkpointed; R's half, RB advancing, is
    # the Deliver of that message. Applying JR to RB in a recovery (12, 26) is R's swap, not this.
    # The record's entry of the journal log table, and so its location, is freed (2, 4, 16, 18)
    ActionSpec("Checkpoint", (), "A", (2, 4, 10, 16, 18, 24)),
    ActionSpec("RemoteCheckpoint", (), "R", added_by="remote_checkpoints_alone"),
    ActionSpec("PersistJournal", (), "A", added_by="journal_not_persisted_before_ack"),
    ActionSpec("StartResync", (), "A", (1, 15), drain=4),
    ActionSpec("FinishResync", (), "A", (1, 15), drain=5),
    ActionSpec("StartRecovery", ("target", "kind"), "host", (1, 3, 5, 10, 15, 17, 19, 24),
               budget=Budget("recoveries_started", "recoveries")),
    ActionSpec("RecoveryWrite", ("lba",), "A", (1, 2, 4, 5, 6, 7, 15, 16, 18, 19, 20, 21), kinds=_WT, drain=6),
    ActionSpec("SwapVolumes", (), "A", (11, 13, 25, 27), kinds=_SWAP, drain=7),
    ActionSpec("FinishRecovery", (), "A", (1, 6, 7, 10, 15, 20, 21, 24), drain=8),
    # the second half of A's swap: the host's LUN moves to the volume the role map now calls P (claims 13, 27)
    ActionSpec("SwitchHostLun", (), "A", (13, 27), kinds=_SWAP, drain=9),
    # power loss in the middle of a multi-block write (only with write_blocks >= 2): at A between the record
    # reaching J and the last block reaching P; at R between the record reaching JR and the last block
    # reaching S. Each array's restart redoes the record from its journal (docs/PROTOCOL.md, "Multi-block
    # writes"), so no torn write is ever visible
    ActionSpec("CrashMidWrite", ("lba", "value", "length"), "fault", (8, 22), budget=Budget("crashes", "crashes"),
               fault=True),
    ActionSpec("CrashMidApply", ("message",), "fault", (8, 22), budget=Budget("crashes", "crashes"), fault=True),
    # power loss in the middle of R's half of a swap (claims 14, 28): R has written its swap's intent record and
    # begun rebuilding RB in place. R's restart finds the intent record and redoes the swap whole, then answers
    # SwapDone (docs/PROTOCOL.md, "R's swap")
    ActionSpec("CrashMidRemoteSwap", ("message",), "fault", (14, 28), kinds=_SWAP, budget=Budget("crashes", "crashes"),
               fault=True),
)

BY_NAME: dict[str, ActionSpec] = {a.name: a for a in ACTIONS}
ACTION_NAMES: tuple[str, ...] = tuple(a.name for a in ACTIONS)
#: The actions a drain takes, in the order it prefers them: repair, deliver, time out, resync, move a
#: recovery on. Only steps the protocol takes by itself once the path is up: no host I/O, no new faults.
DRAIN_ORDER: tuple[str, ...] = tuple(a.name for a in sorted((a for a in ACTIONS if a.drain is not None),
                                                            key=lambda a: a.drain or 0))
#: The faults the environment injects.
FAULTS: tuple[str, ...] = tuple(a.name for a in ACTIONS if a.fault)
#: Each field of ``Bounds`` some action's budget (or late budget) spends, and the ``State`` counter that spends it:
#: what a run without budgets lifts.
BUDGET_COUNTERS: dict[str, str] = {b.bound: b.used for a in ACTIONS for b in (a.budget, a.late_budget) if b is not None}


def budget_of(name: str) -> Budget | None:
    """The budget an action spends (``None``: unbounded); ``KeyError`` for an unknown action."""
    return BY_NAME[name].budget


def actions_for(kind: RecoveryKind, mutant: str | None) -> tuple[ActionSpec, ...]:
    """The actions a run of this recovery kind under this mutant can take, in the table's order."""
    return tuple(a for a in ACTIONS if a.present(kind, mutant))


__all__ = ["ACTIONS", "ACTION_NAMES", "BY_NAME", "DRAIN_ORDER", "FAULTS", "ActionSpec", "Budget", "actions_for",
           "budget_of"]
