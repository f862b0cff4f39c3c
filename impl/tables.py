"""The control tables, kept in each array's battery-backed shared memory (a controller crash keeps them).

- ``JournalLogTable`` (claim 4): per sequence number the location of its record in J, its LBA and length;
  the next free location and the next sequence number. Entries are a list in append order, not a dict, so
  a duplicate sequence number (the ``reuse_sequence_number`` mutant) is stored and visible, not hidden.
- ``JournalFunctionManagementTable`` (claim 3): journaling state, ``base_seq``, ``next_seq`` (read from the
  log table, its one home), capacity, the LDEVs of P, J and B (read from the volume map), and the recovery
  in progress, so a restarted controller resumes it; the swaps' intent records (A: the host-LUN switch
  pending; R: ``RemoteSwapIntent``, the swap a restart redoes).
- ``PairTable``: ``pair_state``, ``fence_policy`` and the dirty bitmap.
- ``VolumeMap``: host LUN -> LDEV and role -> LDEV, changed atomically by ``swap_volumes`` (claims 13, 14);
  always a bijection.
"""

from __future__ import annotations

import copy
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from itertools import chain
from operator import attrgetter
from typing import Any, SupportsIndex

from pitmirror.impl.states import FencePolicy, JournalingState, PairState, RecoveryKind, RemoteSwapStatus


@dataclass(frozen=True)
class LogEntry:
    """Where record ``seq`` lives in J: first sector ``location`` (the journal is a ring of sectors)."""

    seq: int
    location: int
    lba: int
    length: int
    nsectors: int


_ENTRY_FIELDS = attrgetter("seq", "location", "lba", "length", "nsectors")


class EntryList(list[LogEntry]):
    """The live entries, keeping the sum of their sectors as they change: ``used_sectors`` is asked at every
    append, and summing a window of thousands of entries each time cost most of a served host write. Every
    way a list changes keeps the sum (slice assignment and deletion count again)."""

    def __init__(self, items: Iterable[LogEntry] = ()) -> None:
        super().__init__(items)
        self.sectors = sum(e.nsectors for e in self)

    def __reduce__(self) -> tuple[Any, ...]:  # copies and pickles rebuild the sum from the entries
        return (EntryList, (list(self),))

    def _recount(self) -> None:
        self.sectors = sum(e.nsectors for e in self)

    def append(self, e: LogEntry) -> None:
        super().append(e)
        self.sectors += e.nsectors

    def extend(self, es: Iterable[LogEntry]) -> None:
        es = list(es)
        super().extend(es)
        self.sectors += sum(e.nsectors for e in es)

    def __iadd__(self, es: Iterable[LogEntry]) -> EntryList:  # type: ignore[override,misc]
        self.extend(es)
        return self

    def insert(self, i: SupportsIndex, e: LogEntry) -> None:
        super().insert(i, e)
        self.sectors += e.nsectors

    def pop(self, i: SupportsIndex = -1) -> LogEntry:
        e = super().pop(i)
        self.sectors -= e.nsectors
        return e

    def remove(self, e: LogEntry) -> None:
        super().remove(e)
        self.sectors -= e.nsectors

    def clear(self) -> None:
        super().clear()
        self.sectors = 0

    def __delitem__(self, k: SupportsIndex | slice) -> None:
        super().__delitem__(k)
        self._recount()

    def __setitem__(self, k: Any, v: Any) -> None:
        super().__setitem__(k, v)
        self._recount()

    def __imul__(self, n: SupportsIndex) -> EntryList:
        super().__imul__(n)
        self._recount()
        return self


@dataclass
class JournalLogTable:
    """Claim 4's journal log table, over a journal LDEV of ``size`` sectors used as a ring."""

    size: int
    entries: list[LogEntry] = field(default_factory=list)  # oldest first
    next_free: int = 0
    next_seq: int = 1
    written_seq: int = 0  # newest record also written to the data volume (redo after a power loss)
    clock: int = 0  # logical clock stamped on records: runs stay deterministic
    markers: dict[str, int] = field(default_factory=dict)  # marker name -> seq
    markers_set: int = 0

    def __getstate__(self) -> dict[str, object]:
        """The table as a served array commits it (a pickle per batch): the entries packed as one array of
        integers, since pickling thousands of entry objects cost most of a host write's time."""
        state = dict(self.__dict__)
        state["entries"] = array("q", chain.from_iterable(map(_ENTRY_FIELDS, self.entries))).tobytes()
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        """Inverse of ``__getstate__`` (an older list of entries is taken as it is)."""
        state = dict(state)
        raw = state["entries"]
        if isinstance(raw, bytes):
            packed = array("q")
            packed.frombytes(raw)
            state["entries"] = [LogEntry(*packed[i : i + 5]) for i in range(0, len(packed), 5)]
        self.__dict__.update(state)
        self.entries = self.__dict__["entries"]  # as an EntryList

    def __setattr__(self, name: str, value: object) -> None:
        if name == "entries" and not isinstance(value, EntryList):
            value = EntryList(value)  # type: ignore[arg-type]
        super().__setattr__(name, value)

    @property
    def used_sectors(self) -> int:
        """Sectors held by live records (kept by the entry list as it changes)."""
        entries = self.entries
        return entries.sectors if isinstance(entries, EntryList) else sum(e.nsectors for e in entries)

    def find(self, seq: int) -> LogEntry | None:
        """The (first) entry of ``seq``."""
        return next((e for e in self.entries if e.seq == seq), None)

    def allocate(self, nsectors: int) -> int:
        """The location for a new record of ``nsectors``; ``ValueError`` if the ring has no room."""
        if self.used_sectors + nsectors > self.size:
            raise ValueError("journal LDEV has no free sectors")
        return self.next_free

    def commit(self, new: list[LogEntry], next_free: int, next_seq: int) -> None:
        """Make records durable in the table, in one shared-memory update (the commit point)."""
        self.entries.extend(new)
        self.next_free = next_free
        self.next_seq = next_seq

    def pop_oldest(self) -> LogEntry:
        """Free the oldest record."""
        return self.entries.pop(0)

    def restart(self, base_seq: int) -> None:
        """Empty the journal after a swap made ``base_seq`` the new base: one shared-memory update."""
        self.entries = []
        self.next_seq = base_seq + 1
        self.written_seq = base_seq
        self.markers = {n: s for n, s in self.markers.items() if s >= base_seq}


@dataclass
class RecoveryEntry:
    """The recovery in progress, as A records it (it survives a crash)."""

    recovery_id: int
    kind: RecoveryKind
    target: int
    a_swapped: bool = False
    remote_status: RemoteSwapStatus = RemoteSwapStatus.NONE


class RemoteSwapPhase(Enum):
    """Where R's half of a swap stands: rebuilding RB in place into image(T) (the role map not swapped yet), or
    copying the image onto the old S (the role map swapped: the rebuilt volume is S, the old S is RB)."""

    REBUILDING = "rebuilding RB"
    COPYING = "copying the image onto the old S"


@dataclass(frozen=True)
class RemoteSwapIntent:
    """R's swap intent record: the swap of recovery ``recovery_id`` to ``target`` is running, in ``phase``.
    Written in one shared-memory update before RB is touched, advanced with the role map's swap, cleared with
    the commit; a restart that finds it redoes the swap from ``phase`` and answers SwapDone."""

    recovery_id: int
    target: int
    phase: RemoteSwapPhase = RemoteSwapPhase.REBUILDING


@dataclass
class VolumeMap:
    """Host LUN -> LDEV (the host-LUN map) and role -> LDEV (the role map). ``swap_volumes`` and
    ``swap_roles`` are the only ways a role changes LDEV; ``point_lun`` the only way a LUN does apart from
    ``swap_volumes``, where the LUN follows its role."""

    roles: dict[str, int]
    luns: dict[int, int]

    def ldev(self, role: str) -> int:
        """The LDEV playing ``role``."""
        return self.roles[role]

    def role_of(self, ldev_id: int) -> str:
        """The role an LDEV plays."""
        return next(r for r, i in self.roles.items() if i == ldev_id)

    def swap_volumes(self, role_a: str, role_b: str) -> None:
        """Exchange the LDEVs of two roles; a LUN follows its role. One assignment: atomic."""
        a, b = self.roles[role_a], self.roles[role_b]
        roles = dict(self.roles)
        roles[role_a], roles[role_b] = b, a
        luns = {lun: (b if ldev == a else a if ldev == b else ldev) for lun, ldev in self.luns.items()}
        self.roles, self.luns = roles, luns

    def swap_roles(self, role_a: str, role_b: str) -> None:
        """Exchange the LDEVs of two roles in the role map alone: the LUNs stay where they are (a swap moves
        the host's LUN in a step of its own, ``point_lun``). One assignment: atomic."""
        roles = dict(self.roles)
        roles[role_a], roles[role_b] = self.roles[role_b], self.roles[role_a]
        self.roles = roles

    def point_lun(self, lun: int, role: str) -> None:
        """The host-LUN map names the LDEV playing ``role`` for ``lun``. One assignment: atomic."""
        self.luns = {**self.luns, lun: self.roles[role]}

    def is_bijection(self) -> bool:
        """Each role and each LUN has its own LDEV."""
        return (len(set(self.roles.values())) == len(self.roles)
                and len(set(self.luns.values())) == len(self.luns))


@dataclass
class JournalFunctionManagementTable:
    """Claim 3's table. ``roles`` names the LDEVs it manages: (P, J, B) at A, (S, JR, RB) at R."""

    log: JournalLogTable = field(repr=False)
    volume_map: VolumeMap = field(repr=False)
    capacity: int
    roles: tuple[str, str, str] = ("primary", "journal", "base")
    journaling_state: JournalingState = JournalingState.JOURNALING
    base_seq: int = 0
    recovery: RecoveryEntry | None = None
    last_recovery_id: int = 0
    checkpoint_seq: int | None = None  # a checkpoint begun and not yet committed (restart finishes it)
    # a swap's intent record: the role map is swapped and the host-LUN map not yet (restart completes it)
    lun_switch_pending: bool = False
    # R's swap intent record: its half of a swap is running (restart redoes it); None at A and between swaps
    remote_swap: RemoteSwapIntent | None = None

    @property
    def next_seq(self) -> int:
        """The next sequence number (kept in the journal log table, claim 4)."""
        return self.log.next_seq

    @property
    def ldev_p(self) -> int:
        """The LDEV of the primary (S at R)."""
        return self.volume_map.ldev(self.roles[0])

    @property
    def ldev_j(self) -> int:
        """The LDEV of the journal."""
        return self.volume_map.ldev(self.roles[1])

    @property
    def ldev_b(self) -> int:
        """The LDEV of the base (RB at R)."""
        return self.volume_map.ldev(self.roles[2])

    def window(self) -> range:
        """The recoverable window ``[base_seq, next_seq - 1]``."""
        return range(self.base_seq, self.next_seq)

    @property
    def free_slots(self) -> int:
        """Records host writes may still add (recovery writes also have a reserve of one per block)."""
        return self.capacity - len(self.log.entries)


@dataclass
class PairTable:
    """The mirror pair (P, S): its state, the fence policy and the dirty bitmap."""

    fence_policy: FencePolicy
    dirty: list[bool]
    pair_state: PairState = PairState.PAIR
    resync_id: int = 0  # the resync A runs or last ran: R's Resynced names it

    def mark_dirty(self, lba: int) -> None:
        """P[lba] may differ from S[lba]."""
        self.dirty[lba] = True

    def mark_all_dirty(self) -> None:
        """Nothing is known of S: a full copy at resync."""
        self.dirty = [True] * len(self.dirty)

    def dirty_lbas(self) -> list[int]:
        """The dirty blocks, in LBA order."""
        return [lba for lba, d in enumerate(self.dirty) if d]


@dataclass
class SharedMemory:
    """An array's battery-backed shared memory: its control tables (the pair table lives at A)."""

    log: JournalLogTable
    volume_map: VolumeMap
    jfmt: JournalFunctionManagementTable
    pair: PairTable | None = None

    def snapshot(self) -> SharedMemory:
        """A deep copy, for before/after comparisons."""
        return copy.deepcopy(self)
