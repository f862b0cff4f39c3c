"""Every refusal: its type, its sense key / ASC, a message naming request, volume and state, and the
guarantee that a refused request changes nothing (the whole system is snapshotted around it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pitmirror.impl import MirroredSystem
from pitmirror.impl.errors import (
    CommandSequenceError,
    InvalidParameter,
    JournalFull,
    LbaOutOfRange,
    MarkerNameInUse,
    PairNotInPair,
    PairSuspended,
    PathDown,
    RecoveryInProgress,
    ResyncInProgress,
    ScsiError,
    TargetOutOfWindow,
    TooManyInFlight,
    UnknownMarker,
    UnknownMutantError,
    WritesInFlight,
)
from pitmirror.impl.messages import MirrorAck


def fresh(**kw: Any) -> MirroredSystem:
    return MirroredSystem(blocks=8, journal_capacity=4, **kw)


def written(**kw: Any) -> MirroredSystem:
    s = fresh(**kw)
    s.write(0, 1)
    s.write(1, 2)
    return s


def suspended(fence: str) -> MirroredSystem:
    s = written(fence_policy=fence)
    s.fail_path()
    s.host_write(2, 3)  # its MirrorWrite is dropped: the path is down
    s.stabilize()  # times out: SUSPENDED
    s.repair_path()
    return s


def copying() -> MirroredSystem:
    s = suspended("never")
    s.start_resync()
    return s


def recovering() -> MirroredSystem:
    s = written()
    s.start_recovery(0, "writethrough")
    return s


def full() -> MirroredSystem:
    s = fresh()
    for v in range(4):
        s.write(0, v + 1)
    return s


def in_flight(**kw: Any) -> MirroredSystem:
    s = written(**kw)
    s.host_write(3, 1)
    return s


def two_in_flight(**kw: Any) -> MirroredSystem:
    s = in_flight(**kw)
    s.host_write(2, 1)
    return s


Case = tuple[str, Callable[[], MirroredSystem], Callable[[MirroredSystem], object], type[ScsiError], str, str]

CASES: list[Case] = [
    ("lba out of range", fresh, lambda s: s.host_write(9, 1), LbaOutOfRange,
     "ILLEGAL REQUEST / LBA OUT OF RANGE", "can't WRITE lba=9 to P (LDEV 0x01): LBA out of range 0..7"),
    ("negative lba read", fresh, lambda s: s.read(-1), LbaOutOfRange,
     "ILLEGAL REQUEST / LBA OUT OF RANGE", "can't READ lba=-1 from P (LDEV 0x01)"),
    ("short block", fresh, lambda s: s.host_write(0, b"abc"), InvalidParameter,
     "ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST", "512 bytes, got 3"),
    ("write during recovery", recovering, lambda s: s.host_write(4, 1), RecoveryInProgress,
     "NOT READY / RECOVERY IN PROGRESS", "recovery to seq 0 freezes host I/O (journaling_state=RECOVERING)"),
    ("read during recovery", recovering, lambda s: s.read(0), RecoveryInProgress,
     "NOT READY / RECOVERY IN PROGRESS", "can't READ lba=0 from P"),
    ("second recovery", recovering, lambda s: s.start_recovery(1), RecoveryInProgress,
     "NOT READY / RECOVERY IN PROGRESS", "recovery 1 to seq 0 is running"),
    ("fence data", lambda: suspended("data"), lambda s: s.host_write(0, 2), PairSuspended,
     "NOT READY / PAIR SUSPENDED (FENCE DATA)", "pair_state=SUSPENDED and fence_policy=data"),
    ("write in COPY", copying, lambda s: s.host_write(0, 2), ResyncInProgress,
     "NOT READY / RESYNC IN PROGRESS", "pair_state=COPY"),
    ("journal full", full, lambda s: s.host_write(1, 1), JournalFull,
     "BUSY / JOURNAL FULL", "all 4 journal slots hold records of the window [0, 4]; checkpoint"),
    ("marker, journal full", full, lambda s: s.set_marker(), JournalFull,
     "BUSY / JOURNAL FULL", "SET MARKER 'm1'"),
    ("concurrency", lambda: in_flight(max_in_flight=1), lambda s: s.host_write(4, 1), TooManyInFlight,
     "BUSY / TOO MANY WRITES IN FLIGHT", "1 writes already wait for R (limit 1)"),
    ("target out of window", written, lambda s: s.recover(to=9), TargetOutOfWindow,
     "ILLEGAL REQUEST / RECOVERY TARGET OUT OF WINDOW", "seq 9 is outside the window [0, 2]"),
    ("bad target, writes in flight", in_flight, lambda s: s.recover(to=9), TargetOutOfWindow,
     "ILLEGAL REQUEST / RECOVERY TARGET OUT OF WINDOW", "seq 9 is outside the window [0, 3]"),
    ("unknown marker", written, lambda s: s.recover(to="eod"), UnknownMarker,
     "ILLEGAL REQUEST / UNKNOWN MARKER", "no marker of that name in the window (markers: none)"),
    ("marker name in use", lambda: _marked("eod"), lambda s: s.set_marker("eod"), MarkerNameInUse,
     "ILLEGAL REQUEST / MARKER NAME IN USE", "marker 'eod' already names seq 3"),
    ("numeric marker name", written, lambda s: s.set_marker("12"), InvalidParameter,
     "ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST", "not a number"),
    ("recovery while suspended", lambda: suspended("never"), lambda s: s.start_recovery(1), PairNotInPair,
     "NOT READY / PAIR NOT IN PAIR STATE", "pair_state=SUSPENDED: resynchronize first"),
    ("recovery with writes in flight", in_flight, lambda s: s.start_recovery(1), WritesInFlight,
     "BUSY / WRITES IN FLIGHT", "1 writes are in flight"),
    ("recovery needs journal slots", lambda: _reserve_used(), lambda s: s.start_recovery(2), JournalFull,
     "BUSY / JOURNAL FULL", "2 blocks differ from image(2) and a write-through recovery journals each, but "
     "only 0 journal slots are free (reserve included)"),
    ("checkpoint while suspended", lambda: suspended("never"), lambda s: s.checkpoint(), PairNotInPair,
     "NOT READY / PAIR NOT IN PAIR STATE", "R's half follows over the mirror"),
    ("checkpoint, J has room", written, lambda s: s.checkpoint(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "J has room: A checkpoints on demand"),
    ("checkpoint, path down", lambda: _down(_full()), lambda s: s.checkpoint(), PathDown,
     "NOT READY / PATH DOWN", "R's half follows over the path"),
    ("checkpoint past target", lambda: _checkpointed_recovery(), lambda s: s.checkpoint(), RecoveryInProgress,
     "NOT READY / RECOVERY IN PROGRESS", "seq 2 would pass the target 1"),
    ("checkpoint, writes in flight", lambda: _in_flight_full(), lambda s: s.checkpoint(),
     WritesInFlight, "BUSY / WRITES IN FLIGHT", "a checkpoint waits for the mirror to quiesce"),
    ("resync, path down", lambda: _down(suspended("never")), lambda s: s.start_resync(), PathDown,
     "NOT READY / PATH DOWN", "START RESYNC"),
    ("resync in PAIR", written, lambda s: s.start_resync(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "pair_state=PAIR, not SUSPENDED"),
    ("finish resync in PAIR", written, lambda s: s.finish_resync(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "not COPY"),
    ("finish nothing", written, lambda s: s.finish_recovery(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "no recovery is running"),
    ("finish too early", recovering, lambda s: s.finish_recovery(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "2 blocks still differ from image(0)"),
    ("recovery write, nothing to do", recovering, lambda s: s.recovery_write(5), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "P already equals image(0) there"),
    ("recovery write, bad lba", recovering, lambda s: s.recovery_write(8), LbaOutOfRange,
     "ILLEGAL REQUEST / LBA OUT OF RANGE", "RECOVERY WRITE lba=8"),
    ("swap in write-through", recovering, lambda s: s.swap_volumes(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "no swap recovery is running"),
    ("deliver what is not there", written, lambda s: s.deliver(MirrorAck(9)), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "no such message is on the path"),
    ("deliver a non-message", written, lambda s: s.deliver(42), InvalidParameter,
     "ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST", "not a message"),
    # a write merely late may time out (a premature timeout), but timers fire oldest first
    ("timeout of a younger write", two_in_flight, lambda s: s.mirror_timeout(4), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "fires first"),
    ("timeout, nothing in flight", written, lambda s: s.mirror_timeout(1), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "no such write is in flight"),
    ("swap timeout, no swap", written, lambda s: s.swap_timeout(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "no swap answer is awaited"),
    ("fail a failed path", lambda: _down(written()), lambda s: s.fail_path(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "already down"),
    ("repair an up path", written, lambda s: s.repair_path(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "the path is up"),
    ("remote checkpoint alone", written, lambda s: s.remote_checkpoint(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "only in lockstep"),
    ("persist with no cache", written, lambda s: s.persist_journal(), CommandSequenceError,
     "ILLEGAL REQUEST / COMMAND SEQUENCE ERROR", "the cache is empty"),
    ("crash a third array", written, lambda s: s.crash_array("B"), InvalidParameter,
     "ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST", "the arrays are 'A' and 'R'"),
    ("unknown recovery method", written, lambda s: s.recover(to=1, method="fast"), InvalidParameter,
     "ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST", "'writethrough' or 'swap'"),
]


def _marked(name: str) -> MirroredSystem:
    s = written()
    s.set_marker(name)
    s.stabilize()
    return s


def _reserve_used() -> MirroredSystem:
    s = MirroredSystem(blocks=2, journal_capacity=2)
    s.write(0, 1)
    s.write(1, 1)
    s.recover(to=0)  # two recovery writes use the reserve: 4 records of 2 + 2
    return s


def _down(s: MirroredSystem) -> MirroredSystem:
    s.fail_path()
    return s


def _full() -> MirroredSystem:
    """J full (its capacity is 2): A checkpoints on demand."""
    s = MirroredSystem(blocks=8, journal_capacity=2)
    s.write(0, 1)
    s.write(1, 2)
    return s


def _in_flight_full() -> MirroredSystem:
    s = MirroredSystem(blocks=8, journal_capacity=2)
    s.write(0, 1)
    s.host_write(1, 2)  # the second record fills J, its MirrorWrite still on the path
    return s


def _checkpointed_recovery() -> MirroredSystem:
    s = _full()
    s.start_recovery(1, "writethrough")
    s.checkpoint()  # seq 1 == target: allowed
    return s


@pytest.mark.parametrize(("setup", "request_", "error", "sense", "words"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refusal_is_typed_named_and_changes_nothing(
        setup: Callable[[], MirroredSystem], request_: Callable[[MirroredSystem], object],
        error: type[ScsiError], sense: str, words: str) -> None:
    system = setup()
    before = system.snapshot()
    with pytest.raises(error) as e:
        request_(system)
    assert e.value.sense == sense
    assert words in str(e.value)
    assert str(e.value).startswith("can't ") and str(e.value).endswith(f"[{sense}]")
    assert system.snapshot() == before


def test_step_api_refuses_unknown_actions_and_mutants() -> None:
    s = fresh()
    with pytest.raises(ValueError, match="unknown action 'Teleport'; valid: HostWrite, SetMarker"):
        s.apply("Teleport")
    with pytest.raises(UnknownMutantError, match="'skip_jornal'; valid names: ack_before_remote, skip"):
        MirroredSystem(mutant="skip_jornal")
    with pytest.raises(ValueError, match="fence policy"):
        MirroredSystem(fence_policy="sometimes")
    with pytest.raises(ValueError, match="blocks must be an int >= 1"):
        MirroredSystem(blocks=0)
