"""Typed errors, SCSI style: each refusal carries a sense key and an additional sense code (ASC).

A message names the request, the volume and the state, h11 style::

    can't WRITE lba=9 to P (LDEV 0x01): LBA out of range 0..7 [ILLEGAL REQUEST / LBA OUT OF RANGE]

Every refusal is raised before anything changes: a rejected request leaves drives, tables, the path and
the event log exactly as they were (tests snapshot the whole system around each one).
"""

from __future__ import annotations

from enum import Enum
from typing import ClassVar


class SenseKey(Enum):
    """The SCSI sense keys pitmirror uses. ``BUSY`` is strictly a SCSI status, carried here as a key so
    every refusal has the same shape."""

    NOT_READY = "NOT READY"
    MEDIUM_ERROR = "MEDIUM ERROR"
    ILLEGAL_REQUEST = "ILLEGAL REQUEST"
    UNIT_ATTENTION = "UNIT ATTENTION"
    BUSY = "BUSY"


class ScsiError(Exception):
    """A request the array refuses (or a host write it fails), with sense key and ASC."""

    sense_key: ClassVar[SenseKey] = SenseKey.ILLEGAL_REQUEST
    asc: ClassVar[str] = "INVALID COMMAND OPERATION CODE"

    def __init__(self, request: str, reason: str) -> None:
        self.request = request
        self.reason = reason
        # The message is built when shown (``__str__``), not here: the guards build a refusal to answer
        # "is this enabled?" many times per step, and most are never shown.
        super().__init__(request, reason)

    def __str__(self) -> str:
        return f"can't {self.request}: {self.reason} [{self.sense}]"

    @property
    def sense(self) -> str:
        """``SENSE KEY / ASC`` as a storage engineer reads it."""
        return f"{self.sense_key.value} / {self.asc}"


# --- ILLEGAL REQUEST ------------------------------------------------------------------------------------


class LbaOutOfRange(ScsiError):
    """The LBA is not on the volume."""

    asc = "LBA OUT OF RANGE"


class InvalidParameter(ScsiError):
    """A malformed argument: a block of the wrong size, a bad marker name, an unknown recovery kind."""

    asc = "INVALID FIELD IN PARAMETER LIST"


class TargetOutOfWindow(ScsiError):
    """The recovery target is outside the recoverable window ``[base_seq, next_seq - 1]``."""

    asc = "RECOVERY TARGET OUT OF WINDOW"


class UnknownMarker(ScsiError):
    """No marker of that name is in the window."""

    asc = "UNKNOWN MARKER"


class MarkerNameInUse(ScsiError):
    """A marker of that name already exists."""

    asc = "MARKER NAME IN USE"


class CommandSequenceError(ScsiError):
    """The step is not enabled in this state (the step-by-step API's refusal)."""

    asc = "COMMAND SEQUENCE ERROR"


# --- NOT READY ------------------------------------------------------------------------------------------


class RecoveryInProgress(ScsiError):
    """A recovery freezes host I/O to P, or another recovery is running."""

    sense_key = SenseKey.NOT_READY
    asc = "RECOVERY IN PROGRESS"


class PairSuspended(ScsiError):
    """The pair is suspended and the fence policy is ``data``: writes must not diverge from S."""

    sense_key = SenseKey.NOT_READY
    asc = "PAIR SUSPENDED (FENCE DATA)"


class PairNotInPair(ScsiError):
    """The step needs the pair in PAIR (recovery, checkpoint)."""

    sense_key = SenseKey.NOT_READY
    asc = "PAIR NOT IN PAIR STATE"


class ResyncInProgress(ScsiError):
    """The pair is in COPY: host writes wait until it is back in PAIR."""

    sense_key = SenseKey.NOT_READY
    asc = "RESYNC IN PROGRESS"


class PathDown(ScsiError):
    """The step needs the path between the arrays."""

    sense_key = SenseKey.NOT_READY
    asc = "PATH DOWN"


class RecoveryStalled(ScsiError):
    """``recover()`` ran out of steps that make progress (the path stays down, say)."""

    sense_key = SenseKey.NOT_READY
    asc = "RECOVERY CANNOT PROGRESS"


# --- BUSY -----------------------------------------------------------------------------------------------


class JournalFull(ScsiError):
    """No free journal slot: checkpoint (in PAIR) to free one."""

    sense_key = SenseKey.BUSY
    asc = "JOURNAL FULL"


class TooManyInFlight(ScsiError):
    """The concurrency limit of host writes waiting for R is reached."""

    sense_key = SenseKey.BUSY
    asc = "TOO MANY WRITES IN FLIGHT"


class WritesInFlight(ScsiError):
    """The step needs nothing in flight (recovery start, resync start)."""

    sense_key = SenseKey.BUSY
    asc = "WRITES IN FLIGHT"


# --- failures of an accepted request --------------------------------------------------------------------


class ControllerReset(ScsiError):
    """A host write in flight when A's controller crashed: the host must retry."""

    sense_key = SenseKey.UNIT_ATTENTION
    asc = "POWER ON, RESET, OR BUS DEVICE RESET OCCURRED"


class JournalRecordError(ScsiError):
    """A journal record that cannot be trusted: it is reported, never replayed."""

    sense_key = SenseKey.MEDIUM_ERROR
    asc = "JOURNAL RECORD UNREADABLE"


class RecordChecksumError(JournalRecordError):
    """The record's CRC32 does not match its contents."""

    asc = "JOURNAL RECORD CHECKSUM MISMATCH"


class TornRecordError(JournalRecordError):
    """A multi-block record whose trailer is missing or stale: the write was torn."""

    asc = "TORN JOURNAL RECORD"


class RecordMismatchError(JournalRecordError):
    """The header is intact but is not the record the journal log table points at."""

    asc = "JOURNAL RECORD DOES NOT MATCH LOG TABLE"


# --- not SCSI -------------------------------------------------------------------------------------------


class UnknownMutantError(ValueError):
    """A mutant name that is not in docs/PROTOCOL.md's table."""


class ProtocolViolation(RuntimeError):
    """An internal rule of the protocol was about to be broken (a bug in pitmirror, not a refusal)."""
