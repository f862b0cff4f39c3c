"""Two-phase commit, as Lamport's TLA+ ``TwoPhase`` spec writes it, checked by pitmirror's explicit engine.

The spec (Gray and Lamport, "Consensus on Transaction Commit"): a set ``RM`` of resource managers and one
transaction manager (TM). Variables, with TLA+'s names:

- ``rmState[rm]``: ``working``, ``prepared``, ``committed`` or ``aborted``;
- ``tmState``: ``init`` or ``done``;
- ``tmPrepared``: the set of RMs from which the TM has received ``Prepared``;
- ``msgs``: the set of messages ever sent (a message is never removed, so loss and duplication need no
  action of their own): ``Prepared(rm)``, ``Commit``, ``Abort``.

Actions, one per TLA+ operator: ``TMRcvPrepared(rm)``, ``TMCommit`` (every RM prepared), ``TMAbort``,
``RMPrepare(rm)``, ``RMChooseToAbort(rm)``, ``RMRcvCommitMsg(rm)``, ``RMRcvAbortMsg(rm)``. Properties:
``TPTypeOK`` and ``TCConsistent`` (no RM committed while another aborted) always; every RM eventually
decides; a commit and an abort are each reachable.

TLC finds 288 distinct states for three RMs, and stateright's port 8,832 for five; the RMs are
interchangeable, so ``TwoPhaseCommit.canonicalizer()`` sorts them, which is exact (one state per orbit).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from pitmirror.checkers.explicit import ExplicitChecker, Kind


class RmState(IntEnum):
    """A resource manager's state (``rmState[rm]``)."""

    WORKING = 0
    PREPARED = 1
    COMMITTED = 2
    ABORTED = 3


class TmState(IntEnum):
    """The transaction manager's state (``tmState``)."""

    INIT = 0
    DONE = 1


class Message(NamedTuple):
    """An element of ``msgs``: ``Prepared`` names its RM; ``Commit`` and ``Abort`` go to every RM."""

    type: str
    rm: int = -1  # -1 for Commit and Abort, which name no RM


COMMIT = Message("Commit")
ABORT = Message("Abort")


def prepared(rm: int) -> Message:
    """``[type |-> "Prepared", rm |-> rm]``."""
    return Message("Prepared", rm)


class TwoPhaseState(NamedTuple):
    """One state of the spec."""

    rm_state: tuple[RmState, ...]
    tm_state: TmState
    tm_prepared: frozenset[int]
    msgs: frozenset[Message]


@dataclass(frozen=True)
class TMRcvPrepared:
    """The TM receives ``Prepared`` from ``rm``."""

    rm: int


@dataclass(frozen=True)
class TMCommit:
    """The TM commits: every RM has prepared."""


@dataclass(frozen=True)
class TMAbort:
    """The TM aborts (it may, at any time before it is done)."""


@dataclass(frozen=True)
class RMPrepare:
    """``rm`` prepares and tells the TM."""

    rm: int


@dataclass(frozen=True)
class RMChooseToAbort:
    """``rm``, still working, aborts on its own."""

    rm: int


@dataclass(frozen=True)
class RMRcvCommitMsg:
    """``rm`` receives the TM's ``Commit``."""

    rm: int


@dataclass(frozen=True)
class RMRcvAbortMsg:
    """``rm`` receives the TM's ``Abort``."""

    rm: int


Action = TMRcvPrepared | TMCommit | TMAbort | RMPrepare | RMChooseToAbort | RMRcvCommitMsg | RMRcvAbortMsg


def _set_rm(s: TwoPhaseState, rm: int, value: RmState) -> TwoPhaseState:
    return s._replace(rm_state=(*s.rm_state[:rm], value, *s.rm_state[rm + 1:]))


class TwoPhaseCommit:
    """The ``TwoPhase`` spec for ``rms`` resource managers, numbered ``0 .. rms - 1``: a ``Model`` of
    ``pitmirror.spec.interface`` (with its symmetry)."""

    def __init__(self, rms: int) -> None:
        if rms < 1:
            raise ValueError(f"two-phase commit needs at least one resource manager, not {rms}")
        self.rms = rms

    def init_states(self) -> list[TwoPhaseState]:
        """``TPInit``: every RM working, the TM in init, nothing prepared, no message sent."""
        return [TwoPhaseState((RmState.WORKING,) * self.rms, TmState.INIT, frozenset(), frozenset())]

    def actions(self, s: TwoPhaseState) -> list[Action]:
        """The enabled actions: the TM's first, then each RM's, in RM order (a fixed order, for replay)."""
        out: list[Action] = []
        if s.tm_state == TmState.INIT:
            out += [TMRcvPrepared(rm) for rm in range(self.rms) if prepared(rm) in s.msgs]
            if len(s.tm_prepared) == self.rms:
                out.append(TMCommit())
            out.append(TMAbort())
        for rm in range(self.rms):
            if s.rm_state[rm] == RmState.WORKING:
                out += [RMPrepare(rm), RMChooseToAbort(rm)]
            # as in TLA+, an RM may receive the decision in any state (a no-op when it has it already)
            if COMMIT in s.msgs:
                out.append(RMRcvCommitMsg(rm))
            if ABORT in s.msgs:
                out.append(RMRcvAbortMsg(rm))
        return out

    def next_state(self, s: TwoPhaseState, a: Action) -> TwoPhaseState:
        """The state after ``a`` (one of ``actions(s)``)."""
        match a:
            case TMRcvPrepared(rm):
                return s._replace(tm_prepared=s.tm_prepared | {rm})
            case TMCommit():
                return s._replace(tm_state=TmState.DONE, msgs=s.msgs | {COMMIT})
            case TMAbort():
                return s._replace(tm_state=TmState.DONE, msgs=s.msgs | {ABORT})
            case RMPrepare(rm):
                return _set_rm(s, rm, RmState.PREPARED)._replace(msgs=s.msgs | {prepared(rm)})
            case RMChooseToAbort(rm):
                return _set_rm(s, rm, RmState.ABORTED)
            case RMRcvCommitMsg(rm):
                return _set_rm(s, rm, RmState.COMMITTED)
            case RMRcvAbortMsg(rm):
                return _set_rm(s, rm, RmState.ABORTED)
        raise TypeError(f"not a two-phase-commit action: {a!r}")

    def canonicalizer(self) -> RmSymmetry:
        """The RMs are interchangeable."""
        return RmSymmetry(self.rms)


class RmSymmetry:
    """Renames the RMs so that their (state, prepared at the TM, Prepared sent) triples come out sorted.
    Two states are in one orbit exactly when they have the same TM state, the same Commit/Abort messages
    and the same multiset of triples, so this representative is exact."""

    def __init__(self, rms: int) -> None:
        self.rms = rms
        self.group_size = math.factorial(rms)

    def __call__(self, s: TwoPhaseState) -> TwoPhaseState:
        """The representative of ``s``'s orbit."""
        triples = sorted((s.rm_state[rm], rm in s.tm_prepared, prepared(rm) in s.msgs) for rm in range(self.rms))
        decisions = frozenset(m for m in s.msgs if m.type != "Prepared")
        return TwoPhaseState(tuple(t[0] for t in triples), s.tm_state,
                             frozenset(i for i, t in enumerate(triples) if t[1]),
                             decisions | {prepared(i) for i, t in enumerate(triples) if t[2]})


# --- properties -------------------------------------------------------------------------------------------


def tp_type_ok(s: TwoPhaseState) -> bool:
    """``TPTypeOK``: every variable in its type (what a Python type hint does not already promise)."""
    rms = range(len(s.rm_state))
    return (all(isinstance(x, RmState) for x in s.rm_state) and isinstance(s.tm_state, TmState)
            and s.tm_prepared <= set(rms)
            and all(m in (COMMIT, ABORT) or (m.type == "Prepared" and m.rm in rms) for m in s.msgs))


def tc_consistent(s: TwoPhaseState) -> bool:
    """``TCConsistent``: no RM has committed while another has aborted."""
    return not (RmState.COMMITTED in s.rm_state and RmState.ABORTED in s.rm_state)


def undecided(s: TwoPhaseState) -> bool:
    """Some RM has neither committed nor aborted (the pending condition of ``all_decide``)."""
    return any(x in (RmState.WORKING, RmState.PREPARED) for x in s.rm_state)


def all_committed(s: TwoPhaseState) -> bool:
    """Every RM committed."""
    return all(x == RmState.COMMITTED for x in s.rm_state)


def all_aborted(s: TwoPhaseState) -> bool:
    """Every RM aborted."""
    return all(x == RmState.ABORTED for x in s.rm_state)


@dataclass(frozen=True)
class TwoPhaseProperty:
    """A property of the spec: a ``pitmirror.spec.interface.Property[TwoPhaseState]``."""

    name: str
    kind: Kind
    predicate: Callable[[TwoPhaseState], bool]


PROPERTIES: tuple[TwoPhaseProperty, ...] = (
    TwoPhaseProperty("TPTypeOK", Kind.ALWAYS, tp_type_ok),
    TwoPhaseProperty("TCConsistent", Kind.ALWAYS, tc_consistent),
    TwoPhaseProperty("all_decide", Kind.EVENTUALLY, undecided),
    TwoPhaseProperty("commit_reachable", Kind.SOMETIMES, all_committed),
    TwoPhaseProperty("abort_reachable", Kind.SOMETIMES, all_aborted),
)


def main() -> None:
    """Check the spec for one to five RMs, with and without symmetry, and print the figures."""
    print(f"{'RMs':>3}  {'symmetry':>8}  {'states':>7}  {'depth':>5}  verdicts")
    for rms in range(1, 6):
        for symmetry in (False, True):
            r = ExplicitChecker(TwoPhaseCommit(rms), PROPERTIES, symmetry=symmetry).run()
            verdicts = ", ".join(f"{n} {d.verdict.value}" for n, d in r.discoveries.items())
            print(f"{rms:>3}  {'on' if symmetry else 'off':>8}  {r.states:>7,}  {r.depth:>5}  {verdicts}")


if __name__ == "__main__":
    main()


__all__ = ["PROPERTIES", "Action", "Message", "RmState", "RmSymmetry", "TmState", "TwoPhaseCommit",
           "TwoPhaseProperty", "TwoPhaseState"]
