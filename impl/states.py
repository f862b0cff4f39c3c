"""The control states, and every transition between them in one place (h11's ``_state.py`` house rule).

Values equal the model's (``spec.state``) so an abstraction can compare them as ints; names are the
protocol's. The controllers change ``pair_state`` and ``journaling_state`` only through
``next_pair_state`` / ``next_journaling_state``, so an illegal transition is a loud ``ProtocolViolation``
instead of a silent bad state. The trace page can read the tables to draw the state diagram.
"""

from __future__ import annotations

from enum import IntEnum

from pitmirror.impl.errors import ProtocolViolation


class PairState(IntEnum):
    """State of the mirror pair (P, S) in the pair table."""

    PAIR = 0
    SUSPENDED = 1
    COPY = 2


class JournalingState(IntEnum):
    """State in the journal function management table (claim 3)."""

    JOURNALING = 0
    RECOVERING = 1
    SWAPPING = 2


class FencePolicy(IntEnum):
    """What a host write does when it cannot reach R: ``data`` fails it, ``never`` suspends and goes on."""

    DATA = 0
    NEVER = 1


class RecoveryKind(IntEnum):
    """Write-through (claims 1-7, 15-21) or swap (claims 10-14, 24-28)."""

    WRITETHROUGH = 0
    SWAP = 1


class RemoteSwapStatus(IntEnum):
    """What A knows of R's half of a swap recovery."""

    NONE = 0
    REQUESTED = 1
    DONE = 2
    TIMED_OUT = 3


class Origin(IntEnum):
    """Who issued a write that is in flight on the mirror."""

    HOST = 0
    MARKER = 1
    RECOVERY = 2


#: pair_state -> event -> new pair_state. ``StartRecovery`` suspends only under recovery_bypasses_mirror.
PAIR_TRANSITIONS: dict[PairState, dict[str, PairState]] = {
    PairState.PAIR: {
        "MirrorTimeout": PairState.SUSPENDED,
        "SwapTimeout": PairState.SUSPENDED,
        "CrashArray": PairState.SUSPENDED,
        "StartRecovery": PairState.SUSPENDED,
    },
    PairState.SUSPENDED: {
        "MirrorTimeout": PairState.SUSPENDED,
        "SwapTimeout": PairState.SUSPENDED,
        "CrashArray": PairState.SUSPENDED,
        "StartResync": PairState.COPY,
    },
    PairState.COPY: {
        "SwapTimeout": PairState.SUSPENDED,
        "CrashArray": PairState.SUSPENDED,
        "Resynced": PairState.PAIR,  # A's half of the resync, on R's answer
    },
}

#: journaling_state -> event -> new journaling_state. A swap recovery is RECOVERING until A has swapped.
JOURNALING_TRANSITIONS: dict[JournalingState, dict[str, JournalingState]] = {
    JournalingState.JOURNALING: {"StartRecovery": JournalingState.RECOVERING},
    JournalingState.RECOVERING: {
        "SwapVolumes": JournalingState.SWAPPING,
        "FinishRecovery": JournalingState.JOURNALING,
    },
    JournalingState.SWAPPING: {"FinishRecovery": JournalingState.JOURNALING},
}


def next_pair_state(state: PairState, event: str) -> PairState:
    """The pair state after ``event``; ``ProtocolViolation`` when the table has no such transition."""
    try:
        return PAIR_TRANSITIONS[state][event]
    except KeyError:
        raise ProtocolViolation(f"can't handle {event} when pair_state={state.name}") from None


def next_journaling_state(state: JournalingState, event: str) -> JournalingState:
    """The journaling state after ``event``; ``ProtocolViolation`` when the table has no such transition."""
    try:
        return JOURNALING_TRANSITIONS[state][event]
    except KeyError:
        raise ProtocolViolation(f"can't handle {event} when journaling_state={state.name}") from None
