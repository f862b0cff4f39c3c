"""Array A's protocol core, sans-I/O: host writes, markers, mirroring, timeouts, crash, checkpoint, resync.

Theory of operation. Each input (``host_write``, ``set_marker``, ``receive(message)``, ``timeout``, ``crash``,
``checkpoint``, ...) first checks its guard and raises the typed refusal with nothing changed; then it
persists what it must to A's own drives and shared memory, and returns a ``Ready``: what it persisted,
the messages for the path, the host requests to acknowledge or fail. It never touches the path or the
host: the driver does, after the Ready is returned. Recovery lives in ``recovery.py`` (``self.recovery``),
which sees this controller only through its ``RecoveryController`` protocol.

The write order, for host, marker and recovery writes alike (``journaled_write``):
  1. the journal record is persisted to J (claim 4: the log table gives location and seq);
  2. P is written (a multi-block host write: its blocks in LBA order; a power loss between them leaves P
     torn until the restart redoes the record from J, so no host ever reads a torn write);
  3. in PAIR the write goes in flight and ``MirrorWrite`` is sent; in SUSPENDED (fence ``never``) the
     block is marked dirty and the write completes at once;
  4. the host is acknowledged only when R has applied it (``MirrorAck``) or the pair is suspended with
     fence ``never``, and never before step 1 is durable (``_ack_host`` enforces it).
Every place a mutant switches a step is marked ``MUTANT``.
"""

from __future__ import annotations

from pitmirror.impl.array import StorageArray
from pitmirror.impl.blocks import covered, split_blocks
from pitmirror.impl.errors import (
    CommandSequenceError,
    ControllerReset,
    InvalidParameter,
    JournalFull,
    JournalRecordError,
    MarkerNameInUse,
    PairNotInPair,
    PairSuspended,
    ProtocolViolation,
    RecoveryInProgress,
    ResyncInProgress,
    ScsiError,
    TooManyInFlight,
    WritesInFlight,
)
from pitmirror.impl.journal import Journal
from pitmirror.impl.messages import Checkpointed, Message, MirrorAck, MirrorWrite, Resynced, SwapDone
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.ready import HostRequest, InFlight, Persist, Ready, ResyncBatch
from pitmirror.impl.record import MARKER, MAX_NAME, JournalRecord
from pitmirror.impl.recovery import RecoveryEngine
from pitmirror.impl.states import (
    FencePolicy,
    JournalingState,
    Origin,
    PairState,
    RecoveryKind,
    RemoteSwapStatus,
    next_pair_state,
)
from pitmirror.impl.tables import JournalFunctionManagementTable, JournalLogTable, PairTable


class ArrayAController:
    """The storage controller of array A (claim 8), as a sans-I/O state machine over its hardware."""

    def __init__(self, array: StorageArray, mutant: Mutant, max_in_flight: int) -> None:
        self.array = array
        self.mutant = mutant
        self.max_in_flight = max_in_flight
        self.journal = Journal(array, mutant)
        # Volatile state: lost by a crash. Everything else is on the drives or in shared memory.
        self.in_flight: list[InFlight] = []
        self.journal_cache: list[JournalRecord] = []  # only journal_not_persisted_before_ack fills it
        self.recovery = RecoveryEngine(self)
        self.last_restart_errors: list[JournalRecordError] = []

    # --- views ----------------------------------------------------------------------------------------

    @property
    def jfmt(self) -> JournalFunctionManagementTable:
        """The journal function management table."""
        return self.array.shm.jfmt

    @property
    def log(self) -> JournalLogTable:
        """The journal log table."""
        return self.array.shm.log

    @property
    def pair(self) -> PairTable:
        """The pair table (A always has one)."""
        pair = self.array.shm.pair
        assert pair is not None
        return pair

    def label(self, role: str) -> str:
        """``P (LDEV 0x01)``."""
        return self.array.volume_label(role)

    def primary(self) -> list[bytes]:
        """Every block of P."""
        return self.array.volume("primary")

    def base(self) -> list[bytes]:
        """Every block of B."""
        return self.array.volume("base")

    def records(self, upto: int | None = None) -> list[JournalRecord]:
        """J's records (of ``seq <= upto`` only, if given), verified as they are read. A record still in
        the volatile cache of journal_not_persisted_before_ack is not in J, so no replay sees it."""
        return self.journal.records(upto)

    def journal_free(self, for_recovery: bool = False) -> int:
        """Free journal slots. Host writes may fill ``capacity``; recovery writes may also use a reserve of
        one slot per block, so a recovery never waits for a checkpoint it forbids (none may pass T).
        Cached records take slots too."""
        reserve = self.array.blocks if for_recovery else 0
        return self.jfmt.capacity + reserve - len(self.log.entries) - len(self.journal_cache)

    # --- host writes and markers ----------------------------------------------------------------------

    def host_io_refusal(self, request: str) -> ScsiError | None:
        """Why host I/O is refused now (None: accepted). Changes nothing."""
        jfmt, pair = self.jfmt, self.pair
        r = jfmt.recovery
        # MUTANT swap_without_freeze: a swap recovery does not freeze host I/O
        unfrozen = self.mutant("swap_without_freeze") and r is not None and r.kind == RecoveryKind.SWAP
        if jfmt.journaling_state != JournalingState.JOURNALING and not unfrozen:
            target = "?" if r is None else r.target
            return RecoveryInProgress(request, f"a recovery to seq {target} freezes host I/O "
                                               f"(journaling_state={jfmt.journaling_state.name})")
        if pair.pair_state == PairState.COPY:
            return ResyncInProgress(request, "pair_state=COPY: host writes wait until the pair is in PAIR")
        if pair.pair_state == PairState.SUSPENDED and pair.fence_policy == FencePolicy.DATA:
            return PairSuspended(request, "pair_state=SUSPENDED and fence_policy=data: P must not diverge "
                                          "from S")
        if self.journal_free() <= 0:
            return JournalFull(request, f"all {jfmt.capacity} journal slots hold records of the window "
                                        f"[{jfmt.base_seq}, {jfmt.next_seq - 1}]; checkpoint to free one")
        waiting = sum(1 for e in self.in_flight if e.origin != Origin.RECOVERY)
        if waiting >= self.max_in_flight:
            return TooManyInFlight(request, f"{waiting} writes already wait for R "
                                            f"(limit {self.max_in_flight})")
        return None

    def check_host_write(self, lba: int, data: bytes) -> ScsiError | None:
        """The refusal a ``WRITE(lba, data)`` would get now, or None."""
        err = self.array.front_end.check_host_io("WRITE", lba, data)
        return err or self.host_io_refusal(f"WRITE lba={lba} to {self.label('primary')}")

    def host_write(self, request: HostRequest) -> Ready:
        """HostWrite: journal, write P, then mirror (PAIR) or mark dirty and acknowledge (SUSPENDED)."""
        err = self.check_host_write(request.lba, request.data)
        if err is not None:
            raise err
        ready = Ready()
        self.journaled_write(ready, request.lba, request.data, Origin.HOST, request=request)
        return ready

    def next_marker_name(self) -> str:
        """The name the next unnamed marker gets: ``m1``, ``m2``, ... (skipping names in use)."""
        n = self.log.markers_set + 1
        while f"m{n}" in self.log.markers:
            n += 1
        return f"m{n}"

    def check_set_marker(self, name: str | None) -> ScsiError | None:
        """The refusal ``SetMarker(name)`` would get now, or None."""
        shown = name if name is not None else self.next_marker_name()
        request = f"SET MARKER {shown!r} in {self.label('journal')}"
        if name is not None:
            raw = name.encode() if isinstance(name, str) else b""
            if not isinstance(name, str) or not 0 < len(raw) <= MAX_NAME or name.strip() != name \
                    or name.lstrip("-").isdigit():
                return InvalidParameter(request, f"a marker name is 1..{MAX_NAME} bytes of text, not a "
                                                 "number, without surrounding blanks")
            if name in self.log.markers:
                return MarkerNameInUse(request, f"marker {name!r} already names seq {self.log.markers[name]}")
        return self.host_io_refusal(request)

    def set_marker(self, name: str | None = None) -> tuple[str, Ready]:
        """SetMarker: a named consistency point, journaled and mirrored like a write with no data."""
        err = self.check_set_marker(name)
        if err is not None:
            raise err
        name = name if name is not None else self.next_marker_name()
        seq = self.log.next_seq
        ready = Ready()
        self.journaled_write(ready, MARKER, b"", Origin.MARKER, name=name)
        self.log.markers[name] = seq
        self.log.markers_set += 1
        return name, ready

    def journaled_write(self, ready: Ready, lba: int, data: bytes, origin: Origin,
                         request: HostRequest | None = None, name: str = "") -> None:
        """Steps 1-4 of a write (host, marker or recovery): see the module docstring."""
        seq = self.log.next_seq  # claim 4: the journal log table hands out the sequence number
        if request is not None:
            request.seq = seq
        # MUTANT reuse_sequence_number: the counter moves when a host write completes, not now
        next_seq = seq if self.mutant("reuse_sequence_number") and origin == Origin.HOST else seq + 1
        record = JournalRecord(seq, lba, data, name=name)
        if self.mutant("skip_journal") and origin == Origin.HOST:
            self.log.next_seq = next_seq  # MUTANT: the seq is taken, no record is stored
        elif self.mutant("journal_not_persisted_before_ack"):
            self.journal_cache.append(record)  # MUTANT: only a volatile cache until PersistJournal
            self.log.next_seq = next_seq
        else:
            # Step 1: the journal record is persisted BEFORE P is written and before any send or ack.
            self.journal.append([record], next_seq)
            ready.persisted.append(Persist("journal", self.jfmt.ldev_j, None if lba == MARKER else lba, seq))
            if self.mutant("redo_trusts_commit"):
                self.log.written_seq = max(self.log.written_seq, seq)  # MUTANT (impl only): before P is written
        if lba != MARKER and origin == Origin.HOST:  # step 2: a host write goes where the host's LUN points
            ldev = self.array.shm.volume_map.luns[0]
            for i, block in enumerate(split_blocks(data)):  # every block of a multi-block write
                self.array.write_ldev(ldev, lba + i, block)
            ready.persisted.append(Persist(self.array.shm.volume_map.role_of(ldev), ldev, lba, seq))
        elif lba != MARKER:  # step 2: A's own write (a recovery's) goes to P through the role map
            self.array.write("primary", lba, data)
            ready.persisted.append(Persist("primary", self.jfmt.ldev_p, lba, seq))
        self.log.written_seq = max(self.log.written_seq, seq)
        bypass = origin == Origin.RECOVERY and self.mutant("recovery_bypasses_mirror")
        payload = name.encode() if lba == MARKER else data
        if self.pair.pair_state == PairState.PAIR and not bypass:  # step 3, synchronous mode
            entry = InFlight(seq, lba, data, origin, request=request)
            self.in_flight.append(entry)
            ready.messages.append(MirrorWrite(seq, lba, payload))
            if self.mutant("ack_before_remote") and origin == Origin.HOST:
                self._ack_host(ready, entry)  # MUTANT: the host hears before R has the write
            return
        # SUSPENDED with fence `never` (or a bypassing recovery): local only, dirty, complete at once
        for b in covered(lba, data):
            self.pair.mark_dirty(b)
        self._complete(ready, InFlight(seq, lba, data, origin, request=request), acked=True)

    def _ack_host(self, ready: Ready, entry: InFlight) -> None:
        """Acknowledge the host write of ``entry``.

        RULE (ack_durable): the journal record is persisted BEFORE the host ack. Durable means in J, or
        already folded into B by a checkpoint. The two mutants whose wrong step is exactly this rule are
        let through, so the checkers see what breaking it does."""
        durable = entry.seq <= self.jfmt.base_seq or self.log.find(entry.seq) is not None
        exempt = self.mutant("skip_journal") or self.mutant("journal_not_persisted_before_ack")
        if not durable and not exempt:
            raise ProtocolViolation(f"host ack for seq {entry.seq} before its journal record is durable")
        entry.host_acked = True
        if entry.request is not None:
            ready.acked.append(entry.request)

    def _complete(self, ready: Ready, entry: InFlight, acked: bool, error: ScsiError | None = None) -> None:
        """A write leaves the in-flight table: answer the host (ack or fail) if it has not been yet."""
        if entry.origin != Origin.HOST:
            return
        if not entry.host_acked and entry.request is not None:
            if acked:
                self._ack_host(ready, entry)
            else:
                assert error is not None
                ready.failed.append((entry.request, error))
        if self.mutant("reuse_sequence_number") and self.log.next_seq == entry.seq:
            self.log.next_seq = entry.seq + 1  # MUTANT: the counter moves only when a write completes

    def fail_cut_write(self, ready: Ready, entry: InFlight, error: ScsiError) -> None:
        """A host write cut by a power loss before it went in flight (``CrashMidWrite``): the host gets the
        failure, not an ack; its record is in J, and the restart redoes it onto P."""
        self._complete(ready, entry, acked=False, error=error)

    # --- messages from R, timeouts, crash -------------------------------------------------------------

    def receive(self, msg: Message) -> Ready:
        """A message from R: ``MirrorAck`` completes a write (unknown seqs are ignored); ``SwapDone``
        records R's half of a swap; ``Resynced`` ends COPY (A's half of the resync)."""
        ready = Ready()
        if isinstance(msg, MirrorAck):
            entry = next((e for e in self.in_flight if e.seq == msg.seq), None)
            if entry is not None:
                self.in_flight.remove(entry)
                self._complete(ready, entry, acked=True)
        elif isinstance(msg, SwapDone):
            r = self.jfmt.recovery
            if r is not None and r.recovery_id == msg.recovery_id \
                    and r.remote_status == RemoteSwapStatus.REQUESTED:
                r.remote_status = RemoteSwapStatus.DONE
        elif isinstance(msg, Resynced):
            self._resynced(msg.resync_id)
        else:
            raise ProtocolViolation(f"array A does not receive {msg!r}")
        return ready

    def timeout(self, seq: int) -> Ready:
        """MirrorTimeout(seq): A gives up on write ``seq`` (its message or R's answer is lost, or only late:
        A cannot tell, and a late answer is then ignored). The pair suspends; every write in flight is marked
        dirty; host writes fail (fence ``data``) or are acknowledged (fence ``never``: they are on
        P and J); recovery writes go on after resync."""
        if all(e.seq != seq for e in self.in_flight):
            raise CommandSequenceError(f"TIME OUT write seq={seq}", "no such write is in flight")
        ready = Ready()
        pair = self.pair
        for e in self.in_flight:
            # MUTANT timeout_dirties_only_lost_write (impl only): the other writes in flight are forgotten
            if e.seq == seq or not self.mutant("timeout_dirties_only_lost_write"):
                for b in covered(e.lba, e.data):
                    pair.mark_dirty(b)
        never = pair.fence_policy == FencePolicy.NEVER
        for e in self.in_flight:
            error = PairSuspended(f"WRITE lba={e.lba} to {self.label('primary')}",
                                  f"R did not acknowledge seq {seq}; the pair is suspended, "
                                  "fence_policy=data")
            self._complete(ready, e, acked=never, error=error)
        self.in_flight = []
        pair.pair_state = next_pair_state(pair.pair_state, "MirrorTimeout")
        return ready

    def swap_timeout(self) -> Ready:
        """SwapTimeout: A gives up on R's half of a swap (the request or answer lost, or only late). The pair
        suspends with every block dirty, so resync copies the rebuilt primary to R and PAIR is never reached
        with P != S; the resync also settles the recovery at R, so a late request does not swap again."""
        r = self.jfmt.recovery
        if r is None or r.remote_status != RemoteSwapStatus.REQUESTED:
            raise CommandSequenceError("TIME OUT swap", "no swap answer is awaited")
        r.remote_status = RemoteSwapStatus.TIMED_OUT
        self.pair.mark_all_dirty()
        self.pair.pair_state = next_pair_state(self.pair.pair_state, "SwapTimeout")
        return Ready()

    def crash(self) -> Ready:
        """CrashArray("A") and restart: the in-flight table (and any journal cache) is lost, so the host
        writes in it fail and, not knowing what R received, A suspends the pair with every block dirty.
        Drives and shared memory are kept: a recovery in progress resumes from B and J. Restart redoes any
        journal record P missed (a power loss between the journal and P)."""
        ready = Ready()
        if self.mutant("crash_restores_blocks_from_base"):  # MUTANT: P's blocks in flight re-read from B
            for e in self.in_flight:
                if e.origin == Origin.HOST:
                    for b in covered(e.lba, e.data):
                        self.array.write("primary", b, self.array.read("base", b))
                        ready.persisted.append(Persist("primary", self.jfmt.ldev_p, b))
        for e in self.in_flight:
            error = ControllerReset(f"WRITE lba={e.lba} to {self.label('primary')}",
                                    f"array A's controller restarted (seq {e.seq})")
            self._complete(ready, e, acked=False, error=error)
        self.in_flight = []
        self.journal_cache = []
        pair = self.pair
        pair.mark_all_dirty()
        if pair.pair_state != PairState.SUSPENDED:
            pair.pair_state = next_pair_state(pair.pair_state, "CrashArray")
        if self.jfmt.lun_switch_pending:
            # a swap cut between its two map updates: the intent record says the role map is swapped, so the
            # restart completes it by moving the host's LUN (docs/PROTOCOL.md)
            if not self.mutant("swap_updates_lun_map_last_without_intent"):  # MUTANT: no intent, switch lost
                self.array.shm.volume_map.point_lun(0, "primary")
                ready.persisted.append(Persist("volume map"))
            self.jfmt.lun_switch_pending = False
        if self.jfmt.checkpoint_seq is not None:  # a checkpoint the power loss cut short
            oldest = self.journal.oldest()
            assert oldest is not None and oldest.seq == self.jfmt.checkpoint_seq
            ready.extend(self._finish_checkpoint(oldest))
        # MUTANT torn_multiblock_write: a multi-block record cut by the power loss is not redone
        redone, errors = self.journal.redo(lambda lba, block: self.array.write("primary", lba, block),
                                           skip_multiblock=self.mutant("torn_multiblock_write"))
        ready.persisted += [Persist("primary", self.jfmt.ldev_p, lba) for lba in redone]
        ready.errors += errors
        self.last_restart_errors = errors
        return ready

    def power_fail_after(self, sector_writes: int | None) -> None:
        """Fault hook: the power fails after ``sector_writes`` more sector writes (PowerLoss)."""
        self.array.power.fail_after = sector_writes

    # --- checkpoint -----------------------------------------------------------------------------------

    def check_checkpoint(self) -> ScsiError | None:
        """A's half of the Checkpoint guard (the driver adds: path up). Quiesced: no mirrored write is in
        flight, so every record of J has R's acknowledgement and R holds it in JR for its half."""
        def request() -> str:  # formatted only for a refusal: the driver asks this guard at every step
            return f"CHECKPOINT {self.label('journal')} into {self.label('base')}"

        if self.pair.pair_state != PairState.PAIR:
            return PairNotInPair(request(), f"pair_state={self.pair.pair_state.name}: R's half follows over the "
                                            "mirror")
        if not self.log.entries:
            return CommandSequenceError(request(), "the journal is empty")
        if self.in_flight:
            return WritesInFlight(request(), f"{len(self.in_flight)} mirrored writes are in flight: a checkpoint "
                                             "waits for the mirror to quiesce")
        oldest, r = self.log.entries[0], self.jfmt.recovery
        # MUTANT checkpoint_during_recovery: no checkpoint may pass T while a recovery runs
        if r is not None and oldest.seq > r.target and not self.mutant("checkpoint_during_recovery"):
            return RecoveryInProgress(request(), f"seq {oldest.seq} would pass the target {r.target} of the "
                                                 "recovery in progress")
        return None

    def checkpoint(self) -> tuple[int, Ready]:
        """A's half of Checkpoint: apply the oldest record to B, advance ``base_seq``, free the record, durably;
        the Ready carries ``Checkpointed(seq)`` for R's half (not under ``remote_checkpoints_alone``, whose R
        checkpoints on its own). Returns its seq. A record that cannot be trusted is refused, not applied."""
        err = self.check_checkpoint()
        if err is not None:
            raise err
        rec = self.journal.oldest()
        assert rec is not None
        # The intent, in shared memory, makes the checkpoint restartable: a power loss between the B write
        # and the commit below leaves B one record ahead of base_seq, and the restart finishes it.
        self.jfmt.checkpoint_seq = rec.seq
        ready = self._finish_checkpoint(rec)
        if not self.mutant("remote_checkpoints_alone"):  # MUTANT: R checkpoints alone, A sends nothing
            ready.messages.append(Checkpointed(rec.seq))  # sent once the commit above is durable
        return rec.seq, ready

    def _finish_checkpoint(self, rec: JournalRecord) -> Ready:
        ready = Ready()
        if not rec.is_marker and not self.mutant("checkpoint_drops_record"):  # MUTANT: freed unapplied
            self.array.write_range("base", rec.lba, rec.payload)  # idempotent: safe to redo at restart
            ready.persisted.append(Persist("base", self.jfmt.ldev_b, rec.lba, rec.seq))
        if self.mutant("log_table_frees_newest"):
            self.log.entries.pop()  # MUTANT (impl only): the newest entry is freed, the oldest stays
        else:
            self.log.pop_oldest()  # the commit: one shared-memory update
        self.jfmt.base_seq = rec.seq
        self.jfmt.checkpoint_seq = None
        self.log.markers = {n: s for n, s in self.log.markers.items() if s >= rec.seq}
        return ready

    # --- resync ---------------------------------------------------------------------------------------

    def check_start_resync(self) -> ScsiError | None:
        """A's half of the StartResync guard (the driver adds: path up)."""
        request = "START RESYNC of the pair"
        if self.pair.pair_state != PairState.SUSPENDED:
            return CommandSequenceError(request, f"pair_state={self.pair.pair_state.name}, not SUSPENDED")
        if self.in_flight:
            return WritesInFlight(request, f"{len(self.in_flight)} writes are in flight")
        r = self.jfmt.recovery
        if r is not None and r.kind == RecoveryKind.SWAP and not r.a_swapped:
            return RecoveryInProgress(request, f"A's half of swap recovery {r.recovery_id} is still to come "
                                               "and would undo the copy")
        return None

    def start_resync(self) -> Ready:
        """StartResync: SUSPENDED -> COPY, as resync number ``resync_id + 1``; host writes, checkpoints and
        recoveries wait, so the copy A sends is what it holds until R's answer."""
        err = self.check_start_resync()
        if err is not None:
            raise err
        self.pair.pair_state = next_pair_state(self.pair.pair_state, "StartResync")
        self.pair.resync_id += 1
        return Ready()

    def check_finish_resync(self) -> ScsiError | None:
        """A's part of the FinishResync guard, sending the copy (the driver adds: path up, no answer of this
        resync on the path)."""
        if self.pair.pair_state != PairState.COPY:
            return CommandSequenceError("FINISH RESYNC of the pair",
                                        f"pair_state={self.pair.pair_state.name}, not COPY")
        return None

    def resync_source(self) -> ResyncBatch:
        """What resync makes R hold: the dirty blocks of P, B at base_seq, J, next_seq, and the last
        recovery A started (so R treats every older RecoverRequest as settled)."""
        return ResyncBatch(blocks={lba: self.array.read("primary", lba) for lba in self.pair.dirty_lbas()},
                           base=self.base(), base_seq=self.jfmt.base_seq, records=self.journal.records(),
                           next_seq=self.log.next_seq, recovery_id=self.jfmt.last_recovery_id,
                           resync_id=self.pair.resync_id)

    def _resynced(self, resync_id: int) -> None:
        """A's half of the resync, on R's ``Resynced``: clean bitmap, COPY -> PAIR, in one commit; only for
        the resync A runs (a late answer of one a crash abandoned is ignored: R holds that older copy)."""
        # MUTANT resync_accepts_stale_answer: any answer ends COPY
        if self.pair.pair_state != PairState.COPY or (
                resync_id != self.pair.resync_id and not self.mutant("resync_accepts_stale_answer")):
            return
        self.pair.dirty = [False] * len(self.pair.dirty)
        self.pair.pair_state = next_pair_state(self.pair.pair_state, "Resynced")

    # --- the journal_not_persisted_before_ack mutant's flush ------------------------------------------

    def persist_journal(self) -> Ready:
        """PersistJournal: the oldest cached record reaches J (only that mutant ever caches one)."""
        if not self.journal_cache:
            raise CommandSequenceError(f"PERSIST journal cache to {self.label('journal')}",
                                       "the cache is empty")
        rec = self.journal_cache.pop(0)
        self.journal.append([rec], self.log.next_seq)
        return Ready(persisted=[Persist("journal", self.jfmt.ldev_j, rec.lba, rec.seq)])

