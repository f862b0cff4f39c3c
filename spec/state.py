"""The abstract state of the mirrored system: the vocabulary every property is written in.

The spec owns the state's shape (which volumes, tables and ghost variables exist) and the definition of
``image(n)``; ``model/`` owns how the state changes. A state is an immutable, hashable ``NamedTuple`` of
tuples and ints, so the explicit checker can store millions of them and the Z3 layer can mirror them.

Field order is part of the trace format (traces name fields, not positions), so add new fields at the end.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

#: ``lba`` of a journal record that is a marker (a named consistency point, carrying no data).
MARKER = -1

# Journal locations (claims 2-4), in the units of the journal LDEV: sectors. A record is written as a header
# sector, its payload sectors and a trailer sector (``impl/record.py``'s format): a one-block write takes 3, a
# marker (no payload) 2, a write of k blocks k + 2. The LDEV is a ring of ``journal_capacity + blocks`` records
# of the longest write the bounds allow (what host writes may fill, plus the recovery reserve of one record per
# block), as ``impl.array.StorageArray`` sizes it.
#: sectors every record has around its payload: a header and a trailer
RECORD_FRAME_SECTORS = 2
#: sectors of a one-block write's record: header, payload, trailer
DATA_RECORD_SECTORS = RECORD_FRAME_SECTORS + 1
#: sectors of a marker's record: header and trailer
MARKER_RECORD_SECTORS = RECORD_FRAME_SECTORS


def record_sectors(lba: int, length: int = 1) -> int:
    """Sectors a journal record of a write of ``length`` blocks takes on the journal LDEV: its frame and one
    payload sector per block (a marker has no payload)."""
    return MARKER_RECORD_SECTORS if lba == MARKER else RECORD_FRAME_SECTORS + length


def journal_ring_sectors(journal_capacity: int, blocks: int, write_blocks: int = 1) -> int:
    """The size of A's journal LDEV, a ring of sectors: room for every record J can hold at once, each as long
    as the longest write (``write_blocks`` blocks) may make it."""
    return (journal_capacity + blocks) * (RECORD_FRAME_SECTORS + write_blocks)


class _Enum(IntEnum):
    """An IntEnum whose repr is valid Python (``PairState.PAIR``), for actions and traces."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"


class PairState(_Enum):
    """State of the mirror pair (P, S) in the pair table."""

    PAIR = 0
    SUSPENDED = 1
    COPY = 2


class JournalingState(_Enum):
    """State in the journal function management table (claim 3)."""

    JOURNALING = 0
    RECOVERING = 1
    SWAPPING = 2


class FencePolicy(_Enum):
    """What a host write does when it cannot reach R: ``data`` fails it, ``never`` suspends and goes on."""

    DATA = 0
    NEVER = 1


class RecoveryKind(_Enum):
    """Write-through (claims 1-7, 15-21) or swap (claims 10-14, 24-28)."""

    WRITETHROUGH = 0
    SWAP = 1


class RemoteSwapStatus(_Enum):
    """What A knows of R's half of a swap recovery."""

    NONE = 0
    REQUESTED = 1
    DONE = 2
    TIMED_OUT = 3


class Volume(_Enum):
    """One of an array's two data volumes: ``V0`` held P (S at R) when the run started, ``V1`` held B (RB).
    A swap exchanges their roles in the role map; the host-LUN map names one of them."""

    V0 = 0
    V1 = 1

    @property
    def other(self) -> Volume:
        """The array's other data volume."""
        return Volume(1 - self)


class Origin(_Enum):
    """Who issued a write that is in flight on the mirror."""

    HOST = 0
    MARKER = 1
    RECOVERY = 2


class Record(NamedTuple):
    """A journal record: sequence number, first LBA (``MARKER`` for a marker), the value written and how many
    contiguous blocks it covers (a multi-block host write is one record: ``value`` on blocks
    ``lba .. lba + length - 1``; the model writes one value to each block of the range)."""

    seq: int
    lba: int
    value: int
    length: int = 1


class InFlight(NamedTuple):
    """An entry of A's (volatile) in-flight table: a write sent to R and not yet acknowledged by R."""

    seq: int
    lba: int
    value: int
    origin: Origin
    host_acked: bool  # only the ack_before_remote mutant acknowledges the host before R does
    length: int = 1  # blocks covered from ``lba`` (a multi-block host write)


class MessageKind(_Enum):
    """Kinds of message on the path. The first field of every message tuple."""

    MIRROR_WRITE = 0  # A -> R: (kind, seq, lba, value, length)
    MIRROR_ACK = 1  # R -> A: (kind, seq, 0, 0)
    RECOVER_REQUEST = 2  # A -> R: (kind, recovery_id, target, 0)
    SWAP_DONE = 3  # R -> A: (kind, recovery_id, 0, 0)
    CHECKPOINTED = 4  # A -> R: (kind, seq, 0, 0): A's base has reached seq; R checkpoints RB from JR up to it
    RESYNCED = 5  # R -> A: (kind, resync_id, 0, 0): R has committed its half of that resync; A leaves COPY


class Message(NamedTuple):
    """A message on the path. One shape for every kind keeps the path a sortable multiset."""

    kind: MessageKind
    a: int  # seq (MIRROR_*) or recovery_id
    b: int = 0  # lba (MIRROR_WRITE) or target (RECOVER_REQUEST)
    c: int = 0  # value (MIRROR_WRITE)
    d: int = 0  # length (MIRROR_WRITE: the blocks the one message carries; 0 for every other kind)

    def __repr__(self) -> str:
        """The message in the protocol's words, valid Python: ``MirrorWrite(seq=3, lba=0, value=1)``."""
        if self.kind == MessageKind.MIRROR_WRITE:
            lba = "MARKER" if self.b == MARKER else str(self.b)
            more = f", length={self.d}" if self.d != 1 else ""
            return f"MirrorWrite(seq={self.a}, lba={lba}, value={self.c}{more})"
        if self.kind == MessageKind.MIRROR_ACK:
            return f"MirrorAck(seq={self.a})"
        if self.kind == MessageKind.RECOVER_REQUEST:
            return f"RecoverRequest(recovery_id={self.a}, target={self.b})"
        if self.kind == MessageKind.CHECKPOINTED:
            return f"Checkpointed(seq={self.a})"
        if self.kind == MessageKind.RESYNCED:
            return f"Resynced(resync_id={self.a})"
        return f"SwapDone(recovery_id={self.a})"

    @property
    def name(self) -> str:
        """The message kind in the protocol's words."""
        return MESSAGE_NAMES[self.kind]

    def fields(self) -> dict[str, int]:
        """The message's fields by their protocol names (a one-block MirrorWrite leaves its length out, so
        traces of one-block writes read as they always did)."""
        names = MESSAGE_FIELDS[self.kind]
        out = dict(zip(names, (self.a, self.b, self.c, self.d), strict=False))
        if self.kind == MessageKind.MIRROR_WRITE and self.d == 1:
            del out["length"]
        return out


MESSAGE_NAMES = {
    MessageKind.MIRROR_WRITE: "MirrorWrite",
    MessageKind.MIRROR_ACK: "MirrorAck",
    MessageKind.RECOVER_REQUEST: "RecoverRequest",
    MessageKind.SWAP_DONE: "SwapDone",
    MessageKind.CHECKPOINTED: "Checkpointed",
    MessageKind.RESYNCED: "Resynced",
}
MESSAGE_FIELDS: dict[MessageKind, tuple[str, ...]] = {
    MessageKind.MIRROR_WRITE: ("seq", "lba", "value", "length"),
    MessageKind.MIRROR_ACK: ("seq",),
    MessageKind.RECOVER_REQUEST: ("recovery_id", "target"),
    MessageKind.SWAP_DONE: ("recovery_id",),
    MessageKind.CHECKPOINTED: ("seq",),
    MessageKind.RESYNCED: ("resync_id",),
}


def MirrorWrite(seq: int, lba: int, value: int, length: int = 1) -> Message:
    """A mirrored write, A -> R: one message for the whole record, however many blocks it covers."""
    return Message(MessageKind.MIRROR_WRITE, seq, lba, value, length)


def MirrorAck(seq: int) -> Message:
    """R's acknowledgement of a mirrored write."""
    return Message(MessageKind.MIRROR_ACK, seq)


def RecoverRequest(recovery_id: int, target: int) -> Message:
    """A asks R to rebuild image(target) and swap (swap recovery)."""
    return Message(MessageKind.RECOVER_REQUEST, recovery_id, target)


def SwapDone(recovery_id: int) -> Message:
    """R's answer: its swap for ``recovery_id`` is done."""
    return Message(MessageKind.SWAP_DONE, recovery_id)


def Checkpointed(seq: int) -> Message:
    """A's half of a checkpoint is committed: its base is at ``seq``. R applies JR's records up to ``seq`` to
    RB (idempotent and cumulative: a duplicate, late or overtaken one changes nothing)."""
    return Message(MessageKind.CHECKPOINTED, seq)


def Resynced(resync_id: int) -> Message:
    """R's answer to a resync: its half (S, RB, JR and its watermarks, from A's copy) is committed. A leaves COPY
    on the answer of the resync it is running, and on no other (a late answer of a resync a crash abandoned
    names an older ``resync_id``)."""
    return Message(MessageKind.RESYNCED, resync_id)


def message_from_fields(name: str, fields: dict[str, int]) -> Message:
    """Inverse of ``Message.name`` / ``Message.fields``; ``KeyError``/``TypeError`` on a bad message."""
    kind = {v: k for k, v in MESSAGE_NAMES.items()}[name]
    names = MESSAGE_FIELDS[kind]
    if kind == MessageKind.MIRROR_WRITE and "length" not in fields:
        fields = {**fields, "length": 1}  # a one-block write (its length is left out of traces)
    if set(fields) != set(names):
        raise TypeError(f"{name} takes fields {', '.join(names)}")
    vals = [int(fields[n]) for n in names] + [0] * (4 - len(names))
    return Message(kind, vals[0], vals[1], vals[2], vals[3])


class Recovery(NamedTuple):
    """A recovery in progress, as A's journal function management table records it (it survives a crash).

    ``faulted``, ``left_pair``, ``host_io_during_swap`` and ``target_image`` are ghost fields the spec reads.
    """

    recovery_id: int
    kind: RecoveryKind
    target: int
    a_swapped: bool
    remote_status: RemoteSwapStatus
    faulted: bool
    left_pair: bool
    host_io_during_swap: bool
    target_image: tuple[int, ...]  # ghost: image(target) when the recovery started
    start_image: tuple[int, ...]  # ghost: P when the recovery started (a point in time the host saw)


class GhostWrite(NamedTuple):
    """A ghost history entry: a write applied to P, whether the host was acknowledged, and whether the
    image right after it is a point in time the host saw (host writes and markers; not the intermediate
    steps of a recovery)."""

    seq: int
    lba: int
    value: int
    acked: bool
    point_in_time: bool
    length: int = 1  # blocks covered from ``lba`` (a multi-block host write)


class State(NamedTuple):
    """The whole system: array A, the path, array R, the budgets used, and the ghost."""

    # array A
    fence_policy: FencePolicy
    primary: tuple[int, ...]
    base: tuple[int, ...]
    base_seq: int
    next_seq: int
    journal: tuple[Record, ...]
    journal_cache: tuple[Record, ...]  # volatile; non-empty only under journal_not_persisted_before_ack
    in_flight: tuple[InFlight, ...]
    pair_state: PairState
    dirty: tuple[int, ...]  # the dirty bitmap, one 0/1 per block
    journaling_state: JournalingState
    recovery: Recovery | None
    # the path
    path_up: bool
    path: tuple[Message, ...]  # a sorted multiset: any message may be delivered next (reordering)
    # array R
    remote: tuple[int, ...]
    replica_base: tuple[int, ...]
    replica_base_seq: int
    remote_journal: tuple[Record, ...]
    remote_applied_seq: int
    remote_buffer: tuple[Record, ...]  # volatile reorder buffer
    remote_recovery_id: int
    # budgets used
    host_writes_issued: int
    markers_set: int
    recoveries_started: int
    path_failures: int
    crashes: int
    message_faults: int
    premature_timeouts: int  # timeouts fired while the message or its answer was late, not lost
    # the ghost: only the spec reads these
    ghost_base: tuple[int, ...]
    ghost_base_seq: int
    history: tuple[GhostWrite, ...]
    recovery_ended: Recovery | None  # set only in the state right after FinishRecovery
    retired_image: tuple[int, ...] | None  # P's image just before the last swap: still a point in time
    # a write-through recovery that ended outside PAIR (a fault cut its mirroring short): until the resync,
    # S may still mix its start and target images
    recovery_awaiting_resync: Recovery | None
    # a swap recovery timed out waiting for R, and the pair has not been resynchronized since: the memory the
    # witness swap_timeout_resynced needs (set by SwapTimeout, cleared when A's half of the resync ends COPY)
    swap_timed_out: bool
    # array A's journal log table (claim 4): where each live record of J lies on the journal LDEV (its first
    # sector; one entry per record of ``journal``, in the same order), the next free sector, and the LDEV's
    # size in sectors (a ring; set when the run starts, never changed). A function of the journal's history
    # (the sizes of the records ever appended), so they add no state of their own at these bounds.
    journal_locations: tuple[int, ...]
    journal_next_free: int
    journal_sectors: int
    # the volume identities of a swap recovery (claims 13, 14, 27, 28). Each array has two data volumes, 0 and 1
    # (P's and B's at A, S's and RB's at R, when the run starts); its role map says which plays the data volume
    # (P, S), the other plays the base (B, RB). The contents fields (``primary``, ``base``, ``remote``,
    # ``replica_base``) are read through the role map: ``primary`` is the volume the role map names P.
    primary_volume: Volume  # A's role map: the volume playing P (the other plays B)
    host_lun: Volume  # A's host-LUN map: the volume the host's LUN names; host writes and reads go to it
    # A's swap intent: the role map has been swapped and the host-LUN map not yet (durable, so a restart
    # completes the swap; only the mutant swap_updates_lun_map_last_without_intent keeps it in memory alone)
    lun_switch_pending: bool
    secondary_volume: Volume  # R's role map: the volume playing S (the other plays RB); mirror writes go to it
    # A's pair management table: the number of the resync A runs or last ran (StartResync counts it); R's answer
    # carries it, so A tells its current resync's answer from a late one
    resync_id: int


def covered(lba: int, length: int) -> range:
    """The blocks a write of ``length`` blocks from ``lba`` covers (none for a marker)."""
    return range(0) if lba == MARKER else range(lba, lba + length)


def apply_records(image: tuple[int, ...], records: tuple[Record, ...] | list[Record]) -> tuple[int, ...]:
    """Apply journal records to an image, in the order given (markers carry no data); a multi-block record
    is applied whole."""
    out = list(image)
    for r in records:
        for b in covered(r.lba, r.length):
            out[b] = r.value
    return tuple(out)


def image(state: State, n: int) -> tuple[int, ...]:
    """``image(n)``: the image P had right after write ``n``, from the ghost history alone."""
    out = list(state.ghost_base)
    for h in state.history:
        if h.seq <= n:
            for b in covered(h.lba, h.length):
                out[b] = h.value
    return tuple(out)


def primary_is_newest_image(state: State) -> bool:
    """P is the image right after the newest write: ``P == image(next_seq - 1)`` (every write to P, host,
    marker or recovery, takes a seq and enters the ghost history; a swap restarts the ghost at P). A
    strengthening invariant of the proofs (``spec.invariants``) and, outside a recovery, the property
    ``primary_is_latest_image`` (``spec.properties``): defined here, once, for both."""
    return state.primary == image(state, state.next_seq - 1)


def points_in_time(state: State) -> list[int]:
    """The sequence numbers whose image the host saw: the ghost base and every host write or marker
    (see also ``State.retired_image``, the point a swap restarted the ghost from)."""
    return [state.ghost_base_seq, *(h.seq for h in state.history if h.point_in_time)]


def replay(base: tuple[int, ...], journal: tuple[Record, ...], target: int) -> tuple[int, ...]:
    """The correct replay: ``base`` with every record of ``seq <= target`` applied in sequence order."""
    return apply_records(base, sorted((r for r in journal if r.seq <= target), key=lambda r: r.seq))


def served_volume(state: State) -> tuple[int, ...]:
    """The contents the host's LUN serves: P when the host-LUN map names the volume the role map calls P,
    B (the other volume) when it does not. Host writes land here and host reads come from here."""
    return state.primary if state.host_lun == state.primary_volume else state.base


def recovery_active(state: State) -> bool:
    """True while a recovery freezes host I/O."""
    return state.recovery is not None


def pending_host_writes(state: State) -> bool:
    """True while some host write is waiting for its acknowledgement or failure."""
    return any(e.origin == Origin.HOST and not e.host_acked for e in state.in_flight)
