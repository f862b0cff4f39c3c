"""Point-in-time recovery of P: array A's recovery steps, over ``replay`` and ``install_image`` (``rebuild.py``).

Write-through (claims 1-7, 15-21): ``StartRecovery`` freezes host I/O; each ``RecoveryWrite(lba)`` writes
one block where P differs from ``replay(B, J, T)`` through the normal synchronous path (journaled, so a
recovery can itself be undone); ``FinishRecovery`` once no block differs and nothing is in flight. The
image is recomputed from B and J every time, which a recovery never changes, so a crash resumes it.

Swap (claims 10-14, 24-28): ``StartRecovery`` also sends ``RecoverRequest(recovery_id, T)``;
``SwapVolumes`` builds the image in the spare LDEV and makes it the primary through the volume map
(claim 13); the volume left over becomes a local copy of it and the new base, at ``base_seq = next_seq``,
and the journal restarts empty (R does the same with RB and JR, at the same number, claim 14).
``FinishRecovery`` once R answered ``SwapDone`` or A timed out (the pair then suspended, every block
dirty). No data block crosses the path; a swap recovery cannot itself be undone.

A recovery's state lives in the journal function management table (shared memory), not here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Protocol

from pitmirror.impl.array import StorageArray
from pitmirror.impl.errors import (
    CommandSequenceError,
    JournalFull,
    JournalRecordError,
    LbaOutOfRange,
    PairNotInPair,
    RecoveryInProgress,
    ScsiError,
    TargetOutOfWindow,
    UnknownMarker,
    WritesInFlight,
)
from pitmirror.impl.journal import Journal
from pitmirror.impl.messages import RecoverRequest
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.ready import HostRequest, InFlight, Persist, Ready
from pitmirror.impl.rebuild import install_image, replay
from pitmirror.impl.record import JournalRecord
from pitmirror.impl.states import (
    JournalingState,
    Origin,
    PairState,
    RecoveryKind,
    RemoteSwapStatus,
    next_journaling_state,
    next_pair_state,
)
from pitmirror.impl.tables import (
    JournalFunctionManagementTable,
    JournalLogTable,
    LogEntry,
    PairTable,
    RecoveryEntry,
)


class RecoveryController(Protocol):
    """What the recovery engine needs from array A's controller, and nothing more: its hardware and tables,
    its views of P, B and J, its journal space, its in-flight writes, and the one journaled write path
    (``primary.ArrayAController`` provides it). Declared here so that recovery depends on this, not on the
    controller class, and the controller may import the engine without a cycle."""

    array: StorageArray
    journal: Journal
    mutant: Mutant
    in_flight: list[InFlight]
    journal_cache: list[JournalRecord]

    @property
    def jfmt(self) -> JournalFunctionManagementTable:
        """The journal function management table."""
        ...

    @property
    def log(self) -> JournalLogTable:
        """The journal log table."""
        ...

    @property
    def pair(self) -> PairTable:
        """The pair table."""
        ...

    def label(self, role: str) -> str:
        """A volume's name for messages: ``P (LDEV 0x01)``."""
        ...

    def primary(self) -> list[bytes]:
        """Every block of P."""
        ...

    def base(self) -> list[bytes]:
        """Every block of B."""
        ...

    def records(self, upto: int | None = None) -> list[JournalRecord]:
        """J's records (of ``seq <= upto``), verified as they are read."""
        ...

    def journal_free(self, for_recovery: bool = False) -> int:
        """Free journal slots (with the recovery reserve if ``for_recovery``)."""
        ...

    def journaled_write(self, ready: Ready, lba: int, data: bytes, origin: Origin,
                        request: HostRequest | None = None, name: str = "") -> None:
        """Journal, write P and mirror one block, as every write of A does."""
        ...


class RecoveryEngine:
    """Array A's recovery steps. Holds no state: everything is in A's tables and volumes."""

    def __init__(self, a: RecoveryController) -> None:
        self.a = a
        # Memos keyed on exactly what they read, so a write elsewhere (a recovery write appending a record
        # after T and writing P) leaves them valid: rebuilding image(T) per recovery write read all of B
        # and P each time, which made a write-through recovery quadratic in the blocks it writes.
        self._images: dict[int, tuple[tuple[object, ...], list[bytes]]] = {}  # target -> (inputs, image)
        self._base: tuple[tuple[int, int, int], list[bytes]] | None = None  # (B's key, B)
        # (seq, location, lba, length, nsectors, bypassing writes, writes to its sectors) -> the record read
        # there, or why it cannot be trusted
        self._records: dict[tuple[int, ...], JournalRecord | JournalRecordError] = {}
        self._checked: dict[int, tuple[int, ...]] = {}  # target -> the counters when its memo last matched
        # target -> what _only_appended compares, when the memo was last known right
        self._tail: dict[int, tuple[object, ...]] = {}
        # (_seen(), cached records, kind) -> the targets ``startable`` found (asked at every step)
        self._startable: tuple[tuple[object, ...], list[int]] | None = None

    def _seen(self) -> tuple[int, ...]:
        """Counters that change whenever anything an image reads may have: sectors written to A's drives,
        base_seq, the records in the log table, next_seq, the LDEVs playing P and B."""
        a = self.a
        jfmt = a.jfmt
        return (sum(d.writes for d in a.array.drives), jfmt.base_seq, len(a.log.entries), a.log.next_seq,
                jfmt.ldev_p, jfmt.ldev_b)

    def _bypassed(self) -> int:
        """Sector writes that reached a drive without the interconnect (a test corrupting a sector in
        place): the engine cannot tell which volume they hit, so any of them invalidates every memo."""
        a = self.a
        return sum(d.writes for d in a.array.drives) - a.array.interconnect.writes

    def _volume_key(self, role: str) -> tuple[int, int, int]:
        """What identifies a volume's contents: the LDEV playing ``role``, the writes that reached it,
        and the writes that bypassed the interconnect."""
        ldev = self.a.array.shm.volume_map.ldev(role)
        return ldev, self.a.array.interconnect.ldev_writes.get(ldev, 0), self._bypassed()

    def _record_keys(self, target: int) -> list[tuple[LogEntry, tuple[int, ...]]]:
        """The records image(target) reads, each with what identifies it: its live entry (``seq <= target``),
        the writes that bypassed the interconnect and those that reached its sectors in J (a record is never
        rewritten in place unless something tears or corrupts it). Reads no block."""
        a = self.a
        ldev_j, size, bypassed = a.jfmt.ldev_j, a.log.size, self._bypassed()
        writes = a.array.interconnect.block_writes
        return [(e, (e.seq, e.location, e.lba, e.length, e.nsectors, bypassed,
                     sum(writes.get((ldev_j, (e.location + i) % size), 0) for i in range(e.nsectors))))
                for e in a.log.entries if e.seq <= target]

    @property
    def entry(self) -> RecoveryEntry | None:
        """The recovery in progress (from the journal function management table)."""
        return self.a.jfmt.recovery

    def image(self, target: int) -> list[bytes]:
        """A's rebuild of image(target): replay(B, J, target). ``JournalRecordError`` if a record it needs
        cannot be trusted.

        Rebuilt only when what it reads changed: B, the records of ``seq <= target`` (and P under the
        ``rebuild_from_primary`` mutant, which starts from it). While a recovery to T runs, none of these
        changes (records after T are appended, B stays: no checkpoint may pass T), so each recovery write
        costs a look-up, not a replay; a checkpoint, a swap, a corrupted or torn record does change them."""
        a = self.a
        # first the cheap test: nothing written, freed or remapped since this memo was last checked (the
        # guards ask for an image many times between two writes)
        seen = self._seen()
        checked = self._checked.get(target)
        memo = self._images.get(target)
        if memo is not None and checked == seen:
            return list(memo[1])
        if memo is not None and self._only_appended(target):
            self._checked[target] = seen
            self._tail[target] = self._tail_state()
            return list(memo[1])
        base_key = self._volume_key("base")
        needed = self._record_keys(target)
        from_primary = a.mutant("rebuild_from_primary")
        key: tuple[object, ...] = (base_key, tuple(k for _, k in needed),
                                   self._volume_key("primary") if from_primary else None)
        if memo is not None and memo[0] == key:
            self._checked[target] = seen
            self._tail[target] = self._tail_state()
            return list(memo[1])
        if self._base is None or self._base[0] != base_key:
            self._base = (base_key, a.base())
        base = self._base[1]
        records: dict[tuple[int, ...], JournalRecord | JournalRecordError] = {}
        chosen: list[JournalRecord] = []
        for e, rkey in needed:  # in log order, as a.records(upto=target): the first untrusted one is raised
            rec = self._records.get(rkey)
            if rec is None:
                try:
                    rec = a.journal.read(e)
                except JournalRecordError as err:
                    rec = err
            records[rkey] = rec
            if isinstance(rec, JournalRecordError):
                self._records.update(records)
                raise rec
            chosen.append(rec)
        # forget the records a checkpoint or a swap freed, and the images of targets left behind the window
        live = {(e.seq, e.location) for e in a.log.entries}
        self._records = {k: v for k, v in self._records.items() if (k[0], k[1]) in live}
        self._records.update(records)
        image = replay(base, a.primary() if from_primary else base, chosen, target, a.mutant)
        self._images = {t: m for t, m in self._images.items() if t >= a.jfmt.base_seq}
        self._images[target] = (key, image)
        self._checked[target] = seen
        self._tail[target] = self._tail_state()  # where the journal ended when the image was right
        return list(image)

    def _tail_state(self) -> tuple[object, ...]:
        a = self.a
        writes = a.array.interconnect.ldev_writes
        entries = a.log.entries
        return (a.jfmt.ldev_p, a.jfmt.ldev_b, writes.get(a.jfmt.ldev_b, 0), writes.get(a.jfmt.ldev_j, 0),
                a.jfmt.base_seq, self._bypassed(), len(entries), a.log.next_seq, entries[0] if entries else None)

    def _only_appended(self, target: int) -> bool:
        """Whether, since image(target) last matched its inputs, the journal only grew by new records (a
        recovery write's) and nothing else was written that image(target) reads: B untouched, no record
        freed, and J written exactly in the sectors of the records appended. A check in O(records
        appended): the full key walks the window, which after every recovery write made write-through
        recovery cost the blocks times the window (quadratic at 64 MiB)."""
        now, before = self._tail_state(), self._tail.get(target)
        if before is None or self.a.mutant("rebuild_from_primary"):  # that mutant's image reads P too
            return False
        n0, n1 = before[6], now[6]
        assert isinstance(n0, int) and isinstance(n1, int) and isinstance(before[3], int) \
            and isinstance(now[3], int) and isinstance(before[7], int) and isinstance(now[7], int)
        if before[:3] != now[:3] or before[4:6] != now[4:6] or (n0 and before[8] is not now[8]) \
                or n1 - n0 != now[7] - before[7] or n1 < n0:
            return False
        appended = self.a.log.entries[n0:]
        return all(e.seq > target for e in appended) and now[3] - before[3] == sum(e.nsectors for e in appended)

    def resolve(self, target: int | str) -> int:
        """A target as a sequence number: an int, or the name of a marker."""
        if isinstance(target, str):
            seq = self.a.log.markers.get(target)
            if seq is None:
                known = ", ".join(sorted(self.a.log.markers)) or "none"
                raise UnknownMarker(f"RECOVER {self.a.label('primary')} to marker {target!r}",
                                    f"no marker of that name in the window (markers: {known})")
            return seq
        return target

    # --- StartRecovery --------------------------------------------------------------------------------

    def check_target(self, target: int | str, kind: RecoveryKind) -> ScsiError | None:
        """The refusal for the request itself, whatever the pair does: a recovery already running, an
        unknown marker, a target outside the window. Changes nothing."""
        jfmt = self.a.jfmt
        request = functools.partial(self._start_request, target, kind)  # formatted only for a refusal
        r = jfmt.recovery
        if r is not None or jfmt.journaling_state != JournalingState.JOURNALING:
            return RecoveryInProgress(request(), f"recovery {r.recovery_id if r else '?'} to seq "
                                               f"{r.target if r else '?'} is running "
                                               f"(journaling_state={jfmt.journaling_state.name})")
        try:
            seq = self.resolve(target)
        except UnknownMarker as e:
            return e
        if isinstance(seq, bool) or not isinstance(seq, int) or seq not in jfmt.window():
            return TargetOutOfWindow(request(), f"seq {seq} is outside the window "
                                              f"[{jfmt.base_seq}, {jfmt.next_seq - 1}]")
        return None

    def _pair_refusal(self, request: Callable[[], str]) -> ScsiError | None:
        """The part of the StartRecovery guard that holds for every target alike: the pair in PAIR,
        nothing in flight."""
        a = self.a
        if a.pair.pair_state != PairState.PAIR:
            return PairNotInPair(request(), f"pair_state={a.pair.pair_state.name}: resynchronize first")
        if a.in_flight:
            return WritesInFlight(request(), f"{len(a.in_flight)} writes are in flight")
        return None

    def may_start(self) -> bool:
        """Whether a recovery to some target could start now, as far as the guard's target-independent
        parts say (no recovery running, the pair in PAIR, nothing in flight): when not, ``check_start``
        refuses every target, so a caller listing the enabled targets need not ask per target."""
        jfmt = self.a.jfmt
        return jfmt.recovery is None and jfmt.journaling_state == JournalingState.JOURNALING and \
            self._pair_refusal(lambda: "") is None

    def _start_request(self, target: int | str, kind: RecoveryKind) -> str:
        """How a refusal of ``StartRecovery(target, kind)`` names the request."""
        return f"RECOVER {self.a.label('primary')} to {target!r} ({kind.name.lower()})"

    def check_start(self, target: int | str, kind: RecoveryKind) -> ScsiError | None:
        """The refusal ``StartRecovery(target, kind)`` would get now, or None. Changes nothing."""
        err = self.check_target(target, kind)
        if err is not None:
            return err
        a, seq = self.a, self.resolve(target)
        request = functools.partial(self._start_request, target, kind)
        err = self._pair_refusal(request)
        if err is not None:
            return err
        return self._image_refusal(seq, kind, a.primary(), a.journal_free(for_recovery=True), request)

    def _image_refusal(self, seq: int, kind: RecoveryKind, primary: list[bytes], free: int,
                       request: Callable[[], str]) -> ScsiError | None:
        """The part of the StartRecovery guard that depends on the target: image(seq) must be readable, and
        a write-through recovery must find a journal slot for each block it changes. ``primary`` and
        ``free`` (P, the free slots with the recovery reserve) are the caller's: the same for every target."""
        try:
            image = self.image(seq)
        except JournalRecordError as e:
            return e
        differing = sum(1 for p, v in zip(primary, image, strict=True) if p != v)
        if kind == RecoveryKind.WRITETHROUGH and differing > free:
            return JournalFull(request(), f"{differing} blocks differ from image({seq}) and a write-through "
                                        f"recovery journals each, but only {free} journal slots are free "
                                        "(reserve included)")
        return None

    def startable(self, kind: RecoveryKind) -> list[int]:
        """The targets of the window that ``check_start(target, kind)`` accepts now, in order: the same
        guard, with what does not depend on the target (no recovery running, the pair, P, the free journal
        slots) read once rather than once per target. Changes nothing."""
        if not self.may_start():
            return []  # check_target or _pair_refusal refuses every target
        a = self.a
        # the rest reads the images, P, the window and the free slots: unchanged while no sector of A was
        # written and no record appended, freed or cached (most steps act at R or on the path)
        key = (self._seen(), len(a.journal_cache), kind)
        if self._startable is not None and self._startable[0] == key:
            return list(self._startable[1])
        primary, free = a.primary(), a.journal_free(for_recovery=True)
        # every target of the window passes check_target (no recovery runs, the seq is in the window)
        out = [seq for seq in a.jfmt.window()
               if self._image_refusal(seq, kind, primary, free, functools.partial(self._start_request, seq, kind))
               is None]
        self._startable = (key, out)
        return list(out)

    def start(self, target: int | str, kind: RecoveryKind) -> Ready:
        """StartRecovery: freeze host I/O; a swap also asks R to rebuild (``RecoverRequest``)."""
        err = self.check_start(target, kind)
        if err is not None:
            raise err
        a, jfmt = self.a, self.a.jfmt
        seq = self.resolve(target)
        jfmt.last_recovery_id += 1
        rid = jfmt.last_recovery_id
        swap = kind == RecoveryKind.SWAP
        jfmt.recovery = RecoveryEntry(rid, kind, seq, remote_status=RemoteSwapStatus.REQUESTED if swap
                                      else RemoteSwapStatus.NONE)
        jfmt.journaling_state = next_journaling_state(jfmt.journaling_state, "StartRecovery")
        ready = Ready(persisted=[Persist("journal function management table")])
        if swap:
            ready.messages.append(RecoverRequest(rid, seq))
        elif a.mutant("recovery_bypasses_mirror"):
            # MUTANT: the conventional suspend-and-restore: leave PAIR, restore P locally, resync later
            a.pair.pair_state = next_pair_state(a.pair.pair_state, "StartRecovery")
        return ready

    # --- write-through --------------------------------------------------------------------------------

    def local_image(self) -> list[bytes]:
        """replay(B, J, T) for the recovery in progress."""
        r = self.entry
        assert r is not None
        return self.image(r.target)

    def differing(self) -> list[int]:
        """The blocks where P differs from image(T), in LBA order."""
        return [lba for lba, (p, v) in enumerate(zip(self.a.primary(), self.local_image(), strict=True))
                if p != v]

    def check_write(self, lba: int) -> ScsiError | None:
        """The refusal ``RecoveryWrite(lba)`` would get now, or None."""
        a, r = self.a, self.entry
        request = f"RECOVERY WRITE lba={lba} to {a.label('primary')}"
        if r is None or r.kind != RecoveryKind.WRITETHROUGH:
            return CommandSequenceError(request, "no write-through recovery is running")
        if isinstance(lba, bool) or not isinstance(lba, int) or not 0 <= lba < a.array.blocks:
            return LbaOutOfRange(request, f"LBA out of range 0..{a.array.blocks - 1}")
        if a.pair.pair_state != PairState.PAIR and not a.mutant("recovery_bypasses_mirror"):
            return PairNotInPair(request, f"pair_state={a.pair.pair_state.name}: recovery writes go on after "
                                          "resync")
        if a.journal_free(for_recovery=True) <= 0:
            return JournalFull(request, "no free journal slot for the recovery write, reserve included")
        try:
            image = self.local_image()
        except JournalRecordError as e:
            return e
        if a.array.read("primary", lba) == image[lba]:
            return CommandSequenceError(request, f"P already equals image({r.target}) there")
        if any(e.lba == lba for e in a.in_flight):
            return CommandSequenceError(request, "a write to that block is in flight")
        return None

    def write(self, lba: int) -> Ready:
        """RecoveryWrite(lba): journal image(T)[lba] as a new record, write P, mirror synchronously."""
        err = self.check_write(lba)
        if err is not None:
            raise err
        ready = Ready()
        self.a.journaled_write(ready, lba, self.local_image()[lba], Origin.RECOVERY)
        return ready

    # --- swap -----------------------------------------------------------------------------------------

    def check_swap(self) -> ScsiError | None:
        """The refusal ``SwapVolumes()`` would get now, or None."""
        a, r = self.a, self.entry
        request = f"SWAP VOLUMES into {a.label('primary')}"
        if r is None or r.kind != RecoveryKind.SWAP:
            return CommandSequenceError(request, "no swap recovery is running")
        if r.a_swapped:
            return CommandSequenceError(request, "array A has already swapped")
        try:
            self.local_image()
        except JournalRecordError as e:
            return e
        return None

    def swap(self) -> Ready:
        """SwapVolumes: image(T) becomes P (claim 13) and, as a local copy, the new base at
        ``base_seq = next_seq``; the journal restarts empty. R does the same at the same number."""
        err = self.check_swap()
        if err is not None:
            raise err
        a, r = self.a, self.entry
        assert r is not None
        if a.mutant("swap_skips_base_remap"):
            # MUTANT (impl only): the rebuilt LDEV becomes P, the base role is never remapped
            for lba, block in enumerate(self.local_image()):
                a.array.write("spare", lba, block)
            a.array.shm.volume_map.swap_volumes("primary", "spare")
            ready = Ready(persisted=[Persist("primary", a.jfmt.ldev_p), Persist("volume map")])
        else:
            ready = Ready(persisted=install_image(a.array, self.local_image(), "primary", "base"))
        base_seq = a.log.next_seq
        a.jfmt.base_seq = base_seq  # with the lines below, one shared-memory update
        a.log.restart(base_seq)
        r.a_swapped = True
        # the intent record: the role map is swapped, the host's LUN is still on the old P. Written with the
        # role map's swap, so a restart completes the swap (``ArrayAController.crash``)
        a.jfmt.lun_switch_pending = not a.mutant("swap_skips_base_remap")  # that mutant moved the LUN already
        a.jfmt.journaling_state = next_journaling_state(a.jfmt.journaling_state, "SwapVolumes")
        ready.persisted.append(Persist("journal function management table"))
        return ready

    def check_switch_lun(self) -> ScsiError | None:
        """The refusal ``SwitchHostLun()`` would get now, or None."""
        a, r = self.a, self.entry
        if r is None or r.kind != RecoveryKind.SWAP or not r.a_swapped or not a.jfmt.lun_switch_pending:
            return CommandSequenceError("SWITCH HOST LUN", "no swap awaits its host-LUN update")
        return None

    def switch_lun(self) -> Ready:
        """SwitchHostLun: the second half of A's swap. The host's LUN names the LDEV the role map calls P,
        and the intent record is cleared in the same shared-memory update."""
        err = self.check_switch_lun()
        if err is not None:
            raise err
        a = self.a
        a.array.shm.volume_map.point_lun(0, "primary")
        a.jfmt.lun_switch_pending = False
        return Ready(persisted=[Persist("volume map")])

    # --- FinishRecovery -------------------------------------------------------------------------------

    def check_finish(self) -> ScsiError | None:
        """The refusal ``FinishRecovery()`` would get now, or None."""
        a, r = self.a, self.entry
        request = "FINISH RECOVERY"
        if r is None:
            return CommandSequenceError(request, "no recovery is running")
        if r.kind == RecoveryKind.WRITETHROUGH:
            try:
                left = self.differing()
            except JournalRecordError as e:
                return e
            if left:
                return CommandSequenceError(request, f"{len(left)} blocks still differ from "
                                                     f"image({r.target})")
            if a.in_flight:
                return WritesInFlight(request, f"{len(a.in_flight)} writes are in flight")
            return None
        if not r.a_swapped:
            return CommandSequenceError(request, "array A has not swapped yet")
        if a.jfmt.lun_switch_pending:
            return CommandSequenceError(request, "the host's LUN is not on the swapped-in P yet")
        if r.remote_status not in (RemoteSwapStatus.DONE, RemoteSwapStatus.TIMED_OUT):
            return CommandSequenceError(request, f"R's swap is {r.remote_status.name}, not DONE or TIMED_OUT")
        return None

    def finish(self) -> tuple[RecoveryEntry, Ready]:
        """FinishRecovery: host I/O resumes. Returns the recovery that ended."""
        err = self.check_finish()
        if err is not None:
            raise err
        jfmt = self.a.jfmt
        r = jfmt.recovery
        assert r is not None
        jfmt.recovery = None
        jfmt.journaling_state = next_journaling_state(jfmt.journaling_state, "FinishRecovery")
        return r, Ready(persisted=[Persist("journal function management table")])
