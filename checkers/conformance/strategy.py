"""What a fuzz step is and how likely: the kinds of step, their weights per phase of a run, the wheel that
turns one drawn number into a kind, and swarm testing's switches (``checkers.conformance.machine`` draws
with them).

A step draws one number (``CHOICES``), scattered by ``spread``. Its remainder by ``WHEEL`` picks a slot of
the current phase's wheel, each kind owning as many slots as its weight's share; the rest of the number
picks the instance among the model's enabled actions of that kind. Every part shrinks towards 0: the first
kind of ``KINDS`` (a delivery, what lets the protocol settle), the first instance in the model's order.
"""

from __future__ import annotations

from pitmirror.model.actions import ACTION_TYPES, Action
from pitmirror.spec import actions as spec_actions
from pitmirror.spec.state import MessageKind, PairState, Resynced, State


class StepKind:
    """A kind of step the machine can take: a model action's class, or one of the machine's own rules
    (``HostRead``, ``BadRequest``, ``Drain``). Printed by name in Hypothesis's reproduction."""

    __slots__ = ("action", "name")

    def __init__(self, name: str, action: type[Action] | None = None) -> None:
        self.name, self.action = name, action

    def __repr__(self) -> str:
        return self.name


def _k(action: type[Action]) -> StepKind:
    return StepKind(action.__name__, action)


#: Every kind of step, in the order a drawn kind shrinks towards (first: the simplest). Only a kind with an
#: enabled instance is offered; its chance is its weight (``ConformanceMachine.weight``). First come the
#: steps that let what is pending settle (deliver, finish a recovery or a resync, repair, time out), then
#: the protocol's own moves, then new faults and the machine's rules: a failing run whose every choice has
#: shrunk to 0 lets the protocol settle whenever it can, and starts something new only when it cannot.
#: The action kinds are exactly ``spec.actions``' (checked at import): the order is the fuzzer's own tuning.
SHRINK_ORDER: tuple[str, ...] = (
    "Deliver", "RecoveryWrite", "SwapVolumes", "SwitchHostLun", "FinishRecovery", "RepairPath", "MirrorTimeout",
    "SwapTimeout",
    "StartResync", "FinishResync", "PersistJournal", "Checkpoint", "HostWrite", "StartRecovery", "SetMarker",
    "RemoteCheckpoint", "FailPath", "LoseMessage", "DuplicateMessage", "CrashArray", "CrashMidWrite",
    "CrashMidApply", "CrashMidRemoteSwap",
)
if sorted(SHRINK_ORDER) != sorted(spec_actions.ACTION_NAMES):
    raise TypeError(f"the fuzzer's action kinds {sorted(SHRINK_ORDER)} are not spec.actions' "
                    f"{sorted(spec_actions.ACTION_NAMES)}")
KINDS: tuple[StepKind, ...] = (
    *(_k(ACTION_TYPES[name]) for name in SHRINK_ORDER), StepKind("HostRead"), StepKind("BadRequest"),
    StepKind("Drain"), StepKind("PowerCut"),
)
#: Base weights: the protocol's own moves are frequent; a started recovery is driven on to its end (its
#: steps weigh most), and what settles a fault (repair, timeouts, resync) is likely once it is possible.
BASE_WEIGHTS: dict[str, int] = {
    "HostWrite": 4, "Deliver": 6, "Checkpoint": 2, "StartRecovery": 1, "RecoveryWrite": 8, "SwapVolumes": 8,
    "SwitchHostLun": 8, "FinishRecovery": 8, "SetMarker": 1, "FailPath": 1, "RepairPath": 4, "LoseMessage": 1,
    "DuplicateMessage": 1,
    "MirrorTimeout": 4, "SwapTimeout": 4, "CrashArray": 1, "StartResync": 4, "FinishResync": 4,
    "RemoteCheckpoint": 2, "PersistJournal": 2, "HostRead": 1, "BadRequest": 1, "Drain": 1, "PowerCut": 6,
    "CrashMidWrite": 1, "CrashMidApply": 1, "CrashMidRemoteSwap": 1,
}
#: Once the journal holds two records there is history to recover to and to checkpoint: these weigh more.
HISTORY_WEIGHTS: dict[str, int] = {
    "StartRecovery": 6, "Checkpoint": 4, "SetMarker": 2, "FailPath": 2, "LoseMessage": 2, "DuplicateMessage": 2,
    "CrashArray": 2, "RemoteCheckpoint": 3,
}
#: While a recovery runs: drive it to its end, and try what must not happen meanwhile (a checkpoint that
#: passes the target, a host write into a swap, a crash or a path failure in the middle, a power loss in the
#: middle of R's swap: enabled only while the RecoverRequest is on the path, so it weighs as much as a delivery).
RECOVERY_WEIGHTS: dict[str, int] = {
    **HISTORY_WEIGHTS, "Checkpoint": 8, "HostWrite": 8, "CrashArray": 2, "FailPath": 2, "CrashMidRemoteSwap": 6,
}
#: Suspended with the path up and no recovery running: resynchronize promptly, as an array does, so that a
#: message left late on the path by a premature timeout is often still there when the pair is back in PAIR.
RESYNC_WEIGHTS: dict[str, int] = {"StartResync": 12, "FinishResync": 12}
#: A's copy is committed at R and its answer is on the path: deliver promptly, so the pair is back in PAIR
#: (host I/O, checkpoints and recoveries wait in COPY) as soon as an array would be; and, as between the
#: halves of a swap, what leaves the answer late is the classic hazard (a crash of A between the halves, a
#: duplicated answer), so those weigh as much as the delivery that ends the window.
ANSWER_WEIGHTS: dict[str, int] = {**RESYNC_WEIGHTS, "Deliver": 12, "CrashArray": 12, "DuplicateMessage": 12}
#: Suspended again with a resync's answer still on the path (A crashed between the halves): the answer is
#: late, and what makes it dangerous is a host write before the next resync starts and the answer arriving
#: after: write and resync promptly, deliver seldom.
LATE_ANSWER_WEIGHTS: dict[str, int] = {**RESYNC_WEIGHTS, "HostWrite": 12, "Deliver": 2}
#: Between the two halves of a swap at A (the role map swapped, the host's LUN not yet switched): the moment a
#: crash is the classic hazard (a lost second half), and one step long, so a crash weighs as much as the
#: step that ends it.
TORN_UPDATE_WEIGHTS: dict[str, int] = {**RECOVERY_WEIGHTS, "CrashArray": 8}
#: Slots of the wheel a step's number turns: each kind owns a run of slots in ``KINDS`` order, as many as
#: its weight's share. A number picks a slot; when that kind is offered now it is taken, so a number keeps
#: its meaning (a kind) wherever it lands in a run and Hypothesis can delete the steps before it while
#: shrinking. When it is not offered, the rest of the number picks among the offered kinds by weight.
WHEEL = 1 << 10


def _wheel(weights: dict[str, int]) -> tuple[int, ...]:
    """slot -> index in ``KINDS``."""
    total = sum(weights.get(k.name, BASE_WEIGHTS[k.name]) for k in KINDS)
    bounds, acc = [], 0
    for k in KINDS:
        acc += weights.get(k.name, BASE_WEIGHTS[k.name])
        bounds.append(acc * WHEEL / total)
    return tuple(next(i for i, b in enumerate(bounds) if slot < b) for slot in range(WHEEL))


#: (weights, wheel) of each phase: no history yet, history in the journal, a recovery running, a resync due,
#: a swap's update half done, a resync's answer in transit, a resync's answer left late.
PHASES = tuple((w, _wheel(w)) for w in (BASE_WEIGHTS, {**BASE_WEIGHTS, **HISTORY_WEIGHTS},
                                          {**BASE_WEIGHTS, **RECOVERY_WEIGHTS},
                                          {**BASE_WEIGHTS, **HISTORY_WEIGHTS, **RESYNC_WEIGHTS},
                                          {**BASE_WEIGHTS, **TORN_UPDATE_WEIGHTS},
                                          {**BASE_WEIGHTS, **HISTORY_WEIGHTS, **ANSWER_WEIGHTS},
                                          {**BASE_WEIGHTS, **HISTORY_WEIGHTS, **LATE_ANSWER_WEIGHTS}))


def phase(s: State) -> tuple[dict[str, int], tuple[int, ...]]:
    """The (weights, wheel) of the phase a run is in at model state ``s``."""
    if s.lun_switch_pending:
        return PHASES[4]
    if s.recovery is not None:
        return PHASES[2]
    if s.pair_state == PairState.COPY and s.path_up and Resynced(s.resync_id) in s.path:
        return PHASES[5]
    if s.pair_state == PairState.SUSPENDED and s.path_up and any(m.kind == MessageKind.RESYNCED for m in s.path):
        return PHASES[6]
    if s.pair_state != PairState.PAIR and s.path_up:
        return PHASES[3]
    return PHASES[1 if len(s.journal) >= 2 else 0]


#: Swarm testing: each example switches each of these off (drawn by the ``start`` rule), so some runs are
#: fault-free, some never checkpoint, some never read, ... Checkpoints and recoveries are off in a quarter
#: of the examples, the rest in half. The kinds not listed (host writes, delivery, and every step that
#: settles a fault or finishes a recovery) are always on, so a run never starts what it cannot end.
SWARM: dict[str, int] = {
    "Checkpoint": 3, "StartRecovery": 3, "SetMarker": 2, "FailPath": 2, "LoseMessage": 2, "DuplicateMessage": 2,
    "CrashArray": 2, "RemoteCheckpoint": 2, "HostRead": 2, "BadRequest": 2, "Drain": 2, "PowerCut": 3,
}  # name -> off when the example's draw in 0..3 is at least this

#: The range of the number each step draws: enough for the total weight times the most instances of a
#: kind times a rule's own arguments, with room to spare so that the remainders are close to uniform.
CHOICES = 1 << 24
#: Odd, so that ``spread`` is a bijection of ``[0, CHOICES)``.
_SPREAD = 0x9E3779


def spread(n: int) -> int:
    """The number a step turns the wheel with, for the number Hypothesis drew: a bijection of
    ``[0, CHOICES)`` that keeps 0 at 0 (the simplest step stays where shrinking ends) and scatters the rest.
    Hypothesis draws small numbers far more often than large ones (a third of the draws were below the
    wheel's size, so their rest, the instance, was 0): read as they came, a host write was
    ``HostWrite(lba=0, value=0)``, a no-op on a fresh volume, half the time, the wheel's first slots (the
    first kinds) were taken far beyond their weights, and a delivery took the path's first message."""
    return (n * _SPREAD) & (CHOICES - 1)


#: Steps per call of the machine's rule: Hypothesis's own cost per rule (choosing it, its spans, its
#: bookkeeping) was about as much as a whole protocol step; paid once per batch it is a few percent.
BATCH = 10


__all__ = [
    "BASE_WEIGHTS", "BATCH", "CHOICES", "HISTORY_WEIGHTS", "KINDS", "PHASES", "RECOVERY_WEIGHTS",
    "RESYNC_WEIGHTS", "SWARM", "TORN_UPDATE_WEIGHTS",
    "WHEEL", "StepKind", "phase", "spread",
]
