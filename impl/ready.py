"""What a controller core hands back for each input: the ``Ready`` (etcd raft's shape), and the records it
speaks of (host requests, in-flight writes, what was persisted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from pitmirror.impl.errors import ScsiError
from pitmirror.impl.messages import Message
from pitmirror.impl.record import JournalRecord
from pitmirror.impl.states import Origin


class RequestStatus(Enum):
    """Where a host request stands."""

    PENDING = "pending"
    ACKED = "acked"
    FAILED = "failed"


@dataclass
class HostRequest:
    """One host WRITE: its tag, what it writes, the seq A gave it, and how it ended."""

    tag: int
    lba: int
    data: bytes = field(repr=False)
    seq: int | None = None
    status: RequestStatus = RequestStatus.PENDING
    error: ScsiError | None = None

    @property
    def done(self) -> bool:
        """Acknowledged or failed."""
        return self.status is not RequestStatus.PENDING


@dataclass
class InFlight:
    """An entry of A's (volatile) in-flight table: a write sent to R and not yet acknowledged by R."""

    seq: int
    lba: int
    data: bytes = field(repr=False)
    origin: Origin
    host_acked: bool = False  # only the ack_before_remote mutant acknowledges the host before R does
    request: HostRequest | None = None


@dataclass(frozen=True)
class Persist:
    """One thing a controller made durable: ``what`` (a volume role or ``table``), on which LDEV."""

    what: str
    ldev: int | None = None
    lba: int | None = None
    seq: int | None = None

    def __str__(self) -> str:
        ldev = "" if self.ldev is None else f" (LDEV 0x{self.ldev:02x})"
        at = "" if self.lba is None else f" lba={self.lba}"
        seq = "" if self.seq is None else f" seq={self.seq}"
        return f"{self.what}{ldev}{at}{seq}"


@dataclass
class ResyncBatch:
    """What FinishResync makes R hold: P's dirty blocks, B at ``base_seq``, J, and ``next_seq``; and the
    last recovery A started, so R takes every older ``RecoverRequest`` as settled."""

    blocks: dict[int, bytes] = field(repr=False)
    base: list[bytes] = field(repr=False)
    base_seq: int
    records: list[JournalRecord] = field(repr=False)
    next_seq: int
    recovery_id: int
    resync_id: int  # which resync this copy belongs to: R's answer names it


@dataclass
class Ready:
    """The output of one input to a controller core. The ordering contract, in the order to act on it:

    1. ``persisted``: already durable on this array's drives and shared memory when the Ready is
       returned, in the order written. For a write, the journal record comes first, then the volume.
    2. ``messages``: to put on the path. Safe to send because (1) is durable: R never holds a write that A
       could lose.
    3. ``acked`` / ``failed``: host requests to answer. An ack is only ever emitted for a write whose
       journal record is durable (``ArrayAController._ack_host`` enforces it).
    """

    persisted: list[Persist] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    acked: list[HostRequest] = field(default_factory=list)
    failed: list[tuple[HostRequest, ScsiError]] = field(default_factory=list)
    errors: list[ScsiError] = field(default_factory=list)  # problems reported, not raised (a bad record)

    def extend(self, other: Ready) -> Ready:
        """Append another Ready's contents (for steps that chain two inputs)."""
        self.persisted += other.persisted
        self.messages += other.messages
        self.acked += other.acked
        self.failed += other.failed
        self.errors += other.errors
        return self
