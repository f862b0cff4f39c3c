"""Array R's protocol core, sans-I/O: in-order apply of mirrored writes, swap rebuild, checkpoint, resync.

R applies a mirrored write only when its seq is the next one (``remote_applied_seq + 1``): the path may
reorder, so writes that arrive early wait in the reorder buffer (volatile: a crash loses it, and A's
timeout covers what was in it). A seq already applied is acknowledged again and not re-applied, so a
duplicated message is harmless, and so is a late one: A may time a write out while it is only late, and the
resync that follows raises R's applied seq past it (S then holds newer data). ``remote_applied_seq`` is
``next_seq - 1`` of R's journal log table. A RecoverRequest is acted on once per recovery id, and a resync
settles every recovery A started, so a late request never swaps again.
"""

from __future__ import annotations

import bisect

from pitmirror.impl.array import StorageArray
from pitmirror.impl.errors import JournalFull, JournalRecordError, ProtocolViolation
from pitmirror.impl.hardware import PowerLoss
from pitmirror.impl.journal import Journal
from pitmirror.impl.messages import (
    Checkpointed,
    Message,
    MirrorAck,
    MirrorWrite,
    RecoverRequest,
    Resynced,
    SwapDone,
)
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.ready import Persist, Ready, ResyncBatch
from pitmirror.impl.rebuild import rebuild_in_place, replay_records
from pitmirror.impl.record import JournalRecord
from pitmirror.impl.tables import (
    JournalFunctionManagementTable,
    JournalLogTable,
    RemoteSwapIntent,
    RemoteSwapPhase,
)


def record_of(msg: MirrorWrite) -> JournalRecord:
    """The journal record a mirrored write becomes at R (a marker's name travels as its data)."""
    if msg.is_marker:
        return JournalRecord(msg.seq, msg.lba, b"", name=msg.data.decode(errors="replace"))
    return JournalRecord(msg.seq, msg.lba, msg.data)


def same_record(x: JournalRecord, y: JournalRecord) -> bool:
    """Equal as the protocol sees records (timestamps are each array's own clock)."""
    return (x.seq, x.lba, x.payload, x.name) == (y.seq, y.lba, y.payload, y.name)


class ArrayRController:
    """The storage controller of array R: S, JR and RB, and the remote side of the protocol."""

    def __init__(self, array: StorageArray, mutant: Mutant) -> None:
        self.array = array
        self.mutant = mutant
        self.journal = Journal(array, mutant)
        self.buffer: list[MirrorWrite] = []  # volatile reorder buffer, in path order

    @property
    def jfmt(self) -> JournalFunctionManagementTable:
        """R's journal function management table (``base_seq`` is ``replica_base_seq``)."""
        return self.array.shm.jfmt

    @property
    def log(self) -> JournalLogTable:
        """R's journal log table."""
        return self.array.shm.log

    @property
    def applied_seq(self) -> int:
        """``remote_applied_seq``: every write up to it is on S and in JR."""
        return self.log.next_seq - 1

    @property
    def replica_base_seq(self) -> int:
        """RB is the image at this seq."""
        return self.jfmt.base_seq

    def remote(self) -> list[bytes]:
        """Every block of S."""
        return self.array.volume("remote")

    def replica_base(self) -> list[bytes]:
        """Every block of RB."""
        return self.array.volume("replica_base")

    # --- messages from A ------------------------------------------------------------------------------

    def receive(self, msg: Message) -> Ready:
        """A message from A: ``MirrorWrite``, ``RecoverRequest`` or ``Checkpointed``."""
        if isinstance(msg, MirrorWrite):
            return self._receive_write(msg)
        if isinstance(msg, RecoverRequest):
            return self._receive_recover(msg)
        if isinstance(msg, Checkpointed):
            return self.checkpoint_upto(msg.seq)
        raise ProtocolViolation(f"array R does not receive {msg!r}")

    def _receive_write(self, msg: MirrorWrite) -> Ready:
        ready = Ready()
        if self.mutant("remote_applies_in_arrival_order"):
            self._apply(ready, msg, max(self.log.next_seq, msg.seq + 1))  # MUTANT: as it arrives
            return ready
        if msg.seq <= self.applied_seq:  # a duplicate or a late write R has passed: acknowledge, apply nothing
            if self.mutant("remote_accepts_stale_messages") and not msg.is_marker:
                self.array.write_range("remote", msg.lba, msg.data)  # MUTANT: the late write lands on S
                ready.persisted.append(Persist("remote", self.jfmt.ldev_p, msg.lba, msg.seq))
            ready.messages.append(MirrorAck(msg.seq))
            return ready
        if msg not in self.buffer:
            bisect.insort(self.buffer, msg, key=lambda m: m.sort_key())
        if self.mutant("remote_writes_ahead_of_gap") and not msg.is_marker:
            # MUTANT: S takes the write on arrival, ahead of the earlier writes still missing (JR stays in order)
            self.array.write_range("remote", msg.lba, msg.data)
            ready.persisted.append(Persist("remote", self.jfmt.ldev_p, msg.lba, msg.seq))
        while self.buffer and self.buffer[0].seq == self.applied_seq + 1 and not ready.errors:
            nxt = self.buffer.pop(0)
            self._apply(ready, nxt, nxt.seq + 1)
            if self.mutant("reorder_buffer_releases_one"):
                break  # MUTANT (impl only): the writes waiting behind it stay buffered
        return ready

    def _apply(self, ready: Ready, msg: MirrorWrite, next_seq: int) -> None:
        """Append the write to JR, then write S, then acknowledge."""
        rec = record_of(msg)
        in_jr = self.mutant("remote_applies_in_arrival_order") and any(
            same_record(rec, old) for old in self.journal.records())  # JR holds a record once
        if not in_jr and not self.journal.has_room([rec]):
            # Only a mutant outruns A's journal checks this far: R reports it and does not apply or ack.
            ready.errors.append(JournalFull(f"APPLY mirrored write seq={msg.seq} to {self.journal.label}",
                                            "JR has no free sectors"))
            return
        if in_jr:
            self.log.next_seq = next_seq
        else:
            self.journal.append([rec], next_seq)
            lba = None if msg.is_marker else msg.lba
            ready.persisted.append(Persist("remote_journal", self.jfmt.ldev_j, lba, msg.seq))
        if msg.is_marker:
            self.log.markers[rec.name] = msg.seq
        else:
            self.array.write_range("remote", msg.lba, msg.data)  # every block of a multi-block write
            ready.persisted.append(Persist("remote", self.jfmt.ldev_p, msg.lba, msg.seq))
        self.log.written_seq = max(self.log.written_seq, msg.seq)
        ready.messages.append(MirrorAck(msg.seq))

    def apply_until_power_loss(self, msg: MirrorWrite, sector_writes: int) -> None:
        """The next mirrored write ``msg`` applied as usual (JR, then S block by block), with the power failing
        after ``sector_writes`` sector writes: R's half of ``CrashMidApply``. Nothing is acknowledged; the
        restart (``crash``) redoes the record from JR. Raises ``ProtocolViolation`` if ``msg`` is not next."""
        if msg.seq != self.applied_seq + 1:
            raise ProtocolViolation(f"seq {msg.seq} is not the next write R applies ({self.applied_seq + 1})")
        self.array.power.fail_after = sector_writes
        try:
            self._apply(Ready(), msg, msg.seq + 1)
        except PowerLoss:
            pass
        finally:
            self.array.power.fail_after = None

    def _receive_recover(self, msg: RecoverRequest) -> Ready:
        """R's half of a swap (claims 12, 14), once per recovery id (a duplicate only gets the answer
        again): rebuild image(target) from RB and JR, make it S and, as a local copy, the new RB at
        ``replica_base_seq = remote_applied_seq + 1`` (the number A uses); JR restarts empty. Answers
        ``SwapDone``. If a record R needs cannot be trusted, R reports it and does not answer: A's
        timeout suspends the pair and resync copies everything."""
        ready = Ready()
        # MUTANT remote_accepts_stale_messages: a request of a recovery R has settled swaps again
        if msg.recovery_id > self.jfmt.last_recovery_id or self.mutant("remote_accepts_stale_messages"):
            try:
                self.journal.records(msg.target)  # every record the rebuild needs can be trusted
            except JournalRecordError as e:
                ready.errors.append(e)
                return ready
            # the intent record, in one shared-memory update before RB is touched: a restart redoes the swap
            # (MUTANT remote_swap_not_redone: none is written, so a restart does not know a swap was running)
            if not self.mutant("remote_swap_not_redone"):
                self.jfmt.remote_swap = RemoteSwapIntent(msg.recovery_id, msg.target)
            ready.persisted += self._swap(msg.recovery_id, msg.target)
        ready.messages.append(SwapDone(msg.recovery_id))
        return ready

    def _swap(self, recovery_id: int, target: int) -> list[Persist]:
        """The swap itself, from where the intent record says it stands (from the start without one): RB is
        rebuilt in place into image(target) (only the records' blocks are written, in seq order, so doing it
        again on a partly rebuilt RB ends the same); the role map swaps it in as S, with the intent record's
        phase; the image is copied onto the old S, now RB; the commit (``replica_base_seq``, JR restarted,
        the recovery id settled, the intent record cleared) is one shared-memory update. R's LUN follows S at
        once (R serves no host I/O). Raises ``JournalRecordError`` if a record cannot be trusted (nothing
        moved) and ``PowerLoss`` if the power fails (``crash`` redoes it)."""
        vmap, power, done = self.array.shm.volume_map, self.array.power, []
        intent = self.jfmt.remote_swap
        if intent is None or intent.phase is RemoteSwapPhase.REBUILDING:
            records = self.journal.records(target)
            done += rebuild_in_place(self.array, "replica_base", self.remote(), records, target, self.mutant)
            power.check()  # the role map moves only after the rebuild's last sector write
            vmap.swap_roles("remote", "replica_base")  # with the two lines below, one shared-memory update
            vmap.point_lun(0, "remote")
            if intent is not None:
                self.jfmt.remote_swap = intent = RemoteSwapIntent(recovery_id, target, RemoteSwapPhase.COPYING)
            done.append(Persist("volume map"))
        for lba, block in enumerate(self.remote()):
            self.array.write("replica_base", lba, block)
        done.append(Persist("replica_base", self.jfmt.ldev_b))
        power.check()  # the commit only after the copy's last sector write
        base_seq = self.applied_seq + 1
        self.jfmt.base_seq = base_seq  # with the lines below, one shared-memory update: the commit
        self.log.restart(base_seq)
        self.jfmt.last_recovery_id = recovery_id
        self.jfmt.remote_swap = None
        self.buffer = []
        done.append(Persist("journal function management table"))
        return done

    def swap_until_power_loss(self, msg: RecoverRequest, sector_writes: int) -> Ready:
        """R acts on the RecoverRequest ``msg`` as usual (``receive``), with the power failing after
        ``sector_writes`` sector writes: R's half of ``CrashMidRemoteSwap``. What the swap would answer is lost
        with the power (the restart, ``crash``, redoes the swap from its intent record and answers); a record
        that cannot be trusted is reported in the Ready returned. Raises ``ProtocolViolation`` for a request R
        would not act on (a stale one does no swap work)."""
        if msg.recovery_id <= self.jfmt.last_recovery_id:
            raise ProtocolViolation(f"R has settled recovery {self.jfmt.last_recovery_id}: "
                                    f"recovery {msg.recovery_id} is stale")
        self.array.power.fail_after = sector_writes
        ready = Ready()
        try:
            ready = self._receive_recover(msg)
        except PowerLoss:
            return Ready()
        finally:
            self.array.power.fail_after = None
        return ready

    def rebuild_first_record_sectors(self, target: int) -> int:
        """The sector writes of the first record R's rebuild in place to ``target`` applies (0 for a marker,
        or when it applies none): where ``crash_mid_remote_swap`` cuts the power."""
        chosen = replay_records(self.journal.records(target), target, self.mutant)
        return chosen[0].nblocks if chosen and not chosen[0].is_marker else 0

    # --- crash, checkpoint, resync --------------------------------------------------------------------

    def crash(self) -> Ready:
        """CrashArray("R") and restart: the reorder buffer is lost (A times those writes out); S, JR, RB
        and the tables are kept; any record S missed (power loss) is redone, and so is a swap the intent
        record says was running, which is then answered (``SwapDone``)."""
        self.buffer = []
        ready = Ready()
        # MUTANT torn_remote_apply: a multi-block record cut by the power loss is not redone
        redone, errors = self.journal.redo(lambda lba, block: self.array.write("remote", lba, block),
                                           skip_multiblock=self.mutant("torn_remote_apply"))
        ready.persisted += [Persist("remote", self.jfmt.ldev_p, lba) for lba in redone]
        ready.errors += errors
        intent = self.jfmt.remote_swap
        if intent is not None:
            try:
                ready.persisted += self._swap(intent.recovery_id, intent.target)
            except JournalRecordError as e:  # the intent record stays: a later restart or the resync ends it
                ready.errors.append(e)
                return ready
            ready.messages.append(SwapDone(intent.recovery_id))
        return ready

    def checkpoint_upto(self, seq: int) -> Ready:
        """R's half of a checkpoint, on ``Checkpointed(seq)``: JR's records up to ``seq`` go into RB, oldest
        first, each committed (RB's blocks, then the table: freed, ``replica_base_seq`` moved) before the next.
        A power loss inside one leaves its record in JR and RB maybe already holding it: applying it again is
        idempotent, so the next ``Checkpointed`` or the resync redoes it. A record that cannot be trusted is
        reported and stops it (the resync replaces it)."""
        ready = Ready()
        while self.log.entries and self.log.entries[0].seq <= seq:
            try:
                ready.extend(self.checkpoint())
            except JournalRecordError as e:
                ready.errors.append(e)
                break
        return ready

    def checkpoint(self) -> Ready:
        """R's half of Checkpoint (or ``RemoteCheckpoint`` alone, under that mutant): apply JR's oldest
        record to RB, advance ``replica_base_seq``, free it."""
        rec = self.journal.oldest()
        if rec is None:
            raise ProtocolViolation("R checkpoint with an empty JR")
        ready = Ready()
        if not rec.is_marker:
            self.array.write_range("replica_base", rec.lba, rec.payload)
            ready.persisted.append(Persist("replica_base", self.jfmt.ldev_b, rec.lba, rec.seq))
        self.log.pop_oldest()
        self.jfmt.base_seq = rec.seq
        self.log.markers = {n: s for n, s in self.log.markers.items() if s >= rec.seq}
        return ready

    def apply_resync(self, batch: ResyncBatch) -> tuple[int, list[JournalRecord], Ready]:
        """FinishResync, R's half: S takes P's dirty blocks; RB becomes B (only the blocks that differ
        cross); JR becomes J (the common prefix is kept); R is caught up to ``next_seq - 1`` and takes every
        recovery up to ``batch.recovery_id`` as settled; all of it committed, then answered with
        ``Resynced(batch.resync_id)`` (A leaves COPY on it). Applying the same copy again changes nothing, so
        A may send it again when the answer is lost. Returns the base blocks and the records that had to
        cross the path."""
        ready = Ready()
        for lba, block in sorted(batch.blocks.items()):
            self.array.write("remote", lba, block)
            ready.persisted.append(Persist("remote", self.jfmt.ldev_p, lba))
        base_blocks = 0
        # RB becomes B: this redoes R's half of every checkpoint whose Checkpointed the path lost
        # (MUTANT checkpoint_not_redone: RB is left as it is)
        for lba, (mine, theirs) in enumerate(zip(self.replica_base(), batch.base, strict=True)):
            if mine != theirs and not self.mutant("checkpoint_not_redone"):
                self.array.write("replica_base", lba, theirs)
                ready.persisted.append(Persist("replica_base", self.jfmt.ldev_b, lba))
                base_blocks += 1
        self.jfmt.base_seq = batch.base_seq
        while self.log.entries and self.log.entries[0].seq <= batch.base_seq:
            self.log.pop_oldest()  # already in the base
        keep = 0
        for entry, rec in zip(self.log.entries, batch.records, strict=False):
            try:
                if not same_record(self.journal.read(entry), rec):
                    break
            except JournalRecordError:
                break  # an untrusted record is replaced, never kept
            keep += 1
        self.journal.truncate(keep)
        shipped = batch.records[keep:]
        self.journal.append(shipped, batch.next_seq)
        ready.persisted += [Persist("remote_journal", self.jfmt.ldev_j, r.lba, r.seq) for r in shipped]
        self.log.markers = {r.name: r.seq for r in self.journal.records() if r.is_marker}
        self.log.written_seq = batch.next_seq - 1
        self.jfmt.last_recovery_id = max(self.jfmt.last_recovery_id, batch.recovery_id)
        self.jfmt.remote_swap = None  # a swap left unfinished (an untrusted record) is settled with the rest
        self.buffer = []
        ready.messages.append(Resynced(batch.resync_id))
        return base_blocks, shipped, ready
