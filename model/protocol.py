"""The protocol as a state machine: initial states, enabled actions, next state.

House rules (h11's ``_state.py``): every transition of the protocol lives in this file, each action's
guard (``_enabled_*``) sits next to its effect (``_do_*``), and a mutant changes exactly one step, at the
place marked ``MUTANT``. ``docs/PROTOCOL.md`` is the prose for what is written here.

Theory of operation: ``MirrorModel(bounds).actions(s)`` lists the enabled actions of ``s`` in a fixed
order (ranges and sorted tuples, never set iteration), so a trace replays by action, not by index, across
processes. ``next_state(s, a)`` is pure. The spec's ghost variables (``history``, ``ghost_base``,
``recovery_ended``) are updated here but never read by a guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pitmirror.model.actions import (
    ACTION_TYPES,
    Action,
    Checkpoint,
    CrashArray,
    CrashMidApply,
    CrashMidRemoteSwap,
    CrashMidWrite,
    Deliver,
    DuplicateMessage,
    FailPath,
    FinishRecovery,
    FinishResync,
    HostWrite,
    LoseMessage,
    MirrorTimeout,
    PersistJournal,
    RecoveryWrite,
    RemoteCheckpoint,
    RepairPath,
    SetMarker,
    StartRecovery,
    StartResync,
    SwapTimeout,
    SwapVolumes,
    SwitchHostLun,
)
from pitmirror.model.config import Bounds
from pitmirror.model.symmetry import Canonicalizer
from pitmirror.spec import actions as spec_actions
from pitmirror.spec.state import (
    MARKER,
    RECORD_FRAME_SECTORS,
    Checkpointed,
    FencePolicy,
    GhostWrite,
    InFlight,
    JournalingState,
    Message,
    MessageKind,
    MirrorAck,
    MirrorWrite,
    Origin,
    PairState,
    Record,
    RecoverRequest,
    Recovery,
    RecoveryKind,
    RemoteSwapStatus,
    Resynced,
    State,
    SwapDone,
    Volume,
    apply_records,
    covered,
    image,
    journal_ring_sectors,
    record_sectors,
)

_UNKNOWN = object()  # within_budget: not a key of the budget table


def _set(vol: tuple[int, ...], lba: int, value: int) -> tuple[int, ...]:
    return (*vol[:lba], value, *vol[lba + 1:])


def _set_range(vol: tuple[int, ...], lba: int, length: int, value: int) -> tuple[int, ...]:
    """``vol`` with ``value`` on every block of a write of ``length`` blocks from ``lba`` (none for a marker):
    a multi-block record applied whole."""
    out = list(vol)
    for b in covered(lba, length):
        out[b] = value
    return tuple(out)


def _add(path: tuple[Message, ...], msg: Message) -> tuple[Message, ...]:
    return tuple(sorted((*path, msg)))


def _remove_one(path: tuple[Message, ...], msg: Message) -> tuple[Message, ...]:
    i = path.index(msg)
    return path[:i] + path[i + 1 :]


class MirrorModel:
    """The synchronous mirror with a point-in-time journal, bounded by ``Bounds``."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self.mutant = bounds.mutant
        self.blocks = range(bounds.blocks)
        self.values = range(bounds.values)
        # action name and action class -> (the State field counting what was used, its limit in these bounds),
        # or None: the budget column of spec.actions, read by within_budget (keyed both ways: one lookup)
        self._budget_limits: dict[str | type[Action], tuple[str, int] | None] = {}
        for a in spec_actions.ACTIONS:
            limit = None if a.budget is None else (a.budget.used, getattr(bounds, a.budget.bound))
            self._budget_limits[a.name] = self._budget_limits[ACTION_TYPES[a.name]] = limit

    def canonicalizer(self) -> Canonicalizer:
        """The symmetry of these bounds: blocks are interchangeable, and so are the non-zero values (the
        optional ``HasSymmetry`` hook of ``pitmirror.spec.interface``, which the explicit engine asks)."""
        return Canonicalizer(self.bounds.blocks, self.bounds.values, write_blocks=self.bounds.write_blocks)

    # --- initial states -------------------------------------------------------------------------------

    def init_states(self) -> list[State]:
        """One initial state per fence policy: every volume zero, the pair in PAIR, the journal empty."""
        zero = (0,) * self.bounds.blocks
        return [
            State(
                fence_policy=fence, primary=zero, base=zero, base_seq=0, next_seq=1, journal=(),
                journal_cache=(), in_flight=(), pair_state=PairState.PAIR, dirty=zero,
                journaling_state=JournalingState.JOURNALING, recovery=None, path_up=True, path=(),
                remote=zero, replica_base=zero, replica_base_seq=0, remote_journal=(),
                remote_applied_seq=0, remote_buffer=(), remote_recovery_id=0, host_writes_issued=0,
                markers_set=0, recoveries_started=0, path_failures=0, crashes=0, message_faults=0,
                premature_timeouts=0,
                ghost_base=zero, ghost_base_seq=0, history=(), recovery_ended=None, retired_image=None,
                recovery_awaiting_resync=None, swap_timed_out=False,
                journal_locations=(), journal_next_free=0,
                journal_sectors=journal_ring_sectors(self.bounds.journal_capacity, self.bounds.blocks,
                                                     self.bounds.write_blocks),
                primary_volume=Volume.V0, host_lun=Volume.V0, lun_switch_pending=False,
                secondary_volume=Volume.V0, resync_id=0,
            )
            for fence in self.bounds.fence_policies
        ]

    # --- the protocol's own computations --------------------------------------------------------------

    def replay(self, s: State, base: tuple[int, ...], journal: tuple[Record, ...], current: tuple[int, ...],
               target: int) -> tuple[int, ...]:
        """The array's rebuild of image(target) from a base and a journal (claims 5, 6, 11, 12)."""
        if self.mutant == "recovery_off_by_one":  # MUTANT: records < T
            records = [r for r in journal if r.seq < target]
        else:
            records = [r for r in journal if r.seq <= target]
        records.sort(key=lambda r: r.seq)
        if self.mutant == "replay_out_of_order":  # MUTANT: newest first
            records.reverse()
        if self.mutant == "rebuild_from_primary":  # MUTANT: start from the current volume, not the base
            base = current
        return apply_records(base, records)

    def local_image(self, s: State) -> tuple[int, ...]:
        """A's replay(B, J, T) for the running recovery."""
        assert s.recovery is not None
        return self.replay(s, s.base, s.journal, s.primary, s.recovery.target)

    def journal_free(self, s: State, for_recovery: bool = False) -> int:
        """Free journal slots. Host writes may fill ``journal_capacity``; recovery writes may also use a
        reserve of one slot per block, so a recovery never waits for a checkpoint it forbids (no
        checkpoint may pass T). The cache of journal_not_persisted_before_ack takes slots too."""
        reserve = self.bounds.blocks if for_recovery else 0
        return self.bounds.journal_capacity + reserve - len(s.journal) - len(s.journal_cache)

    def record_step(self, lba: int, length: int = 1) -> int:
        """How far the journal log table's next free location moves past a record appended at it: the record's
        sectors (``spec.state.record_sectors``)."""
        if self.mutant == "journal_location_ignores_header":  # MUTANT: the payload sectors alone
            return record_sectors(lba, length) - RECORD_FRAME_SECTORS
        return record_sectors(lba, length)

    def _append_to_journal(self, s: State, record: Record) -> State:
        """Claims 2-4: the journal log table gives ``record`` the next free location of the journal LDEV and
        moves the next free location past it, wrapping at the end of the ring (capacity checks keep the live
        records within it). The record joins J there."""
        at = s.journal_next_free
        return s._replace(journal=(*s.journal, record), journal_locations=(*s.journal_locations, at),
                          journal_next_free=(at + self.record_step(record.lba, record.length)) % s.journal_sectors)

    # --- bounds ---------------------------------------------------------------------------------------

    def within_budget(self, s: State, action: Action | type[Action] | str) -> bool:
        """The one budget hook (stateright's ``within_boundary``, per action): whether the bounds leave room
        for ``action`` in ``s``, by the budget column of ``spec.actions`` (an action without a budget always
        has room). The guards below ask it instead of reading a budget, and so does conformance, which
        applies the model's budgets to the impl (the impl has none). ``KeyError`` for an unknown action.
        A timeout object is the one argument-dependent budget: it spends ``premature_timeouts`` only when it
        fires while what it gives up on is late, not lost (``is_premature``)."""
        if isinstance(action, MirrorTimeout | SwapTimeout) and self.is_premature(s, action):
            late = spec_actions.BY_NAME[action.name].late_budget
            assert late is not None
            return bool(getattr(s, late.used) < getattr(self.bounds, late.bound))
        limit = self._budget_limits.get(action, _UNKNOWN)  # type: ignore[arg-type]
        if limit is _UNKNOWN:  # an action object (or a name or class no table knows: KeyError)
            limit = self._budget_limits[action.name if isinstance(action, Action) else action]
        return limit is None or getattr(s, limit[0]) < limit[1]  # type: ignore[index]

    # --- enabled actions ------------------------------------------------------------------------------

    def actions(self, s: State) -> list[Action]:
        """The enabled actions of ``s``, in a fixed order."""
        return list(self._actions(s))

    def _actions(self, s: State) -> Iterator[Action]:
        mutant = self.mutant
        if self._host_io_allowed(s):
            if self.within_budget(s, HostWrite):
                for lba in self.blocks:
                    for value in self.values:
                        for length in self.write_lengths(lba):
                            yield HostWrite(lba, value, length)
            if self.within_budget(s, SetMarker):
                yield SetMarker()
        if s.path_up:
            for msg in _distinct(s.path):
                yield Deliver(msg)
        if self.within_budget(s, LoseMessage):
            for msg in _distinct(s.path):
                yield LoseMessage(msg)
        if self.within_budget(s, DuplicateMessage):
            for msg in _distinct(s.path):
                yield DuplicateMessage(msg)
        if s.path_up and self.within_budget(s, FailPath):
            yield FailPath()
        if not s.path_up:
            yield RepairPath()
        if mutant != "no_remote_timeout":
            seq = self._timed_out_write(s)
            if seq is not None:
                yield MirrorTimeout(seq)  # one timeout resolves every write in flight
            r = s.recovery
            if (r is not None and r.remote_status == RemoteSwapStatus.REQUESTED
                    and self.within_budget(s, SwapTimeout())):
                yield SwapTimeout()
        if self.within_budget(s, CrashArray):
            yield CrashArray("A")
            yield CrashArray("R")
        if self._checkpoint_enabled(s):
            yield Checkpoint()
        if mutant == "remote_checkpoints_alone" and s.remote_journal:
            yield RemoteCheckpoint()
        if mutant == "journal_not_persisted_before_ack" and s.journal_cache:
            yield PersistJournal()
        if s.pair_state == PairState.SUSPENDED and s.path_up and not s.in_flight and not self._swap_half_done(s):
            yield StartResync()
        if self._resync_copy_enabled(s):
            yield FinishResync()
        yield from self._recovery_actions(s)
        yield from self._mid_write_crashes(s)
        yield from self._mid_swap_crashes(s)

    def write_lengths(self, lba: int) -> range:
        """The lengths of a host write from ``lba``: 1 .. write_blocks, within the volume."""
        return range(1, min(self.bounds.write_blocks, self.bounds.blocks - lba) + 1)

    def _mid_write_crashes(self, s: State) -> Iterator[Action]:
        """Power loss in the middle of a multi-block write: at A, of a host write it could take now (it
        spends a host write and a crash); at R, of the MirrorWrite it would apply next (the path delivers it)."""
        if not self.within_budget(s, CrashMidWrite):
            return
        if self._host_io_allowed(s) and self.within_budget(s, HostWrite):
            for lba in self.blocks:
                for value in self.values:
                    for length in self.write_lengths(lba)[1:]:
                        yield CrashMidWrite(lba, value, length)
        if s.path_up:
            for msg in _distinct(s.path):
                if msg.kind == MessageKind.MIRROR_WRITE and msg.d > 1 and msg.a == s.remote_applied_seq + 1:
                    yield CrashMidApply(msg)

    def _mid_swap_crashes(self, s: State) -> Iterator[Action]:
        """Power loss in the middle of R's half of a swap: of a RecoverRequest the path would deliver now and
        R would act on (a recovery id above the last R settled; a stale request does no swap work to cut)."""
        if not s.path_up or not self.within_budget(s, CrashMidRemoteSwap):
            return
        for msg in _distinct(s.path):
            if msg.kind == MessageKind.RECOVER_REQUEST and msg.a > s.remote_recovery_id:
                yield CrashMidRemoteSwap(msg)

    def _host_io_allowed(self, s: State) -> bool:
        if s.journaling_state != JournalingState.JOURNALING:
            r = s.recovery
            # MUTANT swap_without_freeze: a swap recovery does not freeze host I/O
            if not (self.mutant == "swap_without_freeze" and r is not None and r.kind == RecoveryKind.SWAP):
                return False
        if s.pair_state == PairState.COPY:
            return False
        if s.pair_state == PairState.SUSPENDED and s.fence_policy == FencePolicy.DATA:
            return False
        in_flight_host = sum(1 for e in s.in_flight if e.origin != Origin.RECOVERY)
        return in_flight_host < self.bounds.concurrency and self.journal_free(s) > 0

    @staticmethod
    def _resync_copy_enabled(s: State) -> bool:
        """A in COPY sends its copy (``FinishResync``) while the path is up and no answer of this resync is on it:
        a copy the path lost, or whose answer it lost, is sent again (R's half is idempotent while A is frozen
        in COPY), and one answer in transit is enough."""
        return (s.pair_state == PairState.COPY and s.path_up
                and Resynced(s.resync_id) not in s.path)

    @staticmethod
    def _swap_half_done(s: State) -> bool:
        """A swap recovery whose local swap is still to come: a resync now would be undone by it."""
        r = s.recovery
        return r is not None and r.kind == RecoveryKind.SWAP and not r.a_swapped

    def _lost(self, s: State, seq: int) -> bool:
        """Nothing of write ``seq`` is left on the path or in R's reorder buffer: only a timeout ends it."""
        for m in s.path:
            if m.kind in (MessageKind.MIRROR_WRITE, MessageKind.MIRROR_ACK) and m.a == seq:
                return False
        return all(r.seq != seq for r in s.remote_buffer)

    def _timed_out_write(self, s: State) -> int | None:
        """The write whose timer fires: the oldest lost one; failing that, while the budget of premature
        timeouts lasts, the oldest in flight, whose message or acknowledgement is merely late (A cannot tell
        late from lost: the late message stays on the path and may be delivered after the timeout)."""
        for e in s.in_flight:
            if self._lost(s, e.seq):
                return e.seq
        if s.in_flight and s.premature_timeouts < self.bounds.premature_timeouts:
            return s.in_flight[0].seq
        return None

    def is_premature(self, s: State, timeout: MirrorTimeout | SwapTimeout) -> bool:
        """Whether ``timeout`` fires in ``s`` while what it gives up on is still on the path or in R's
        reorder buffer (late, not lost): such a timeout spends the ``premature_timeouts`` budget."""
        if isinstance(timeout, MirrorTimeout):
            return not self._lost(s, timeout.seq)
        return self._swap_answer_late(s)

    @staticmethod
    def _swap_answer_late(s: State) -> bool:
        """The running swap's RecoverRequest or SwapDone is still on the path: a SwapTimeout now is premature."""
        r = s.recovery
        return r is not None and any(m.kind in (MessageKind.RECOVER_REQUEST, MessageKind.SWAP_DONE)
                                     and m.a == r.recovery_id for m in s.path)

    def _checkpoint_enabled(self, s: State) -> bool:
        """A's half of a checkpoint, on what A itself knows: on demand, when J is full (a host write would
        wait for it), with the pair in PAIR, the path up and no mirrored write in flight (a quiesced
        checkpoint: every record of J then has R's acknowledgement, so R holds it in JR), and never past a
        running recovery's target (docs/PROTOCOL.md, "Checkpoint")."""
        if (not s.journal or self.journal_free(s) > 0 or s.pair_state != PairState.PAIR or not s.path_up
                or s.in_flight):
            return False
        r = s.recovery
        # MUTANT checkpoint_during_recovery: no checkpoint may pass T while a recovery runs
        return r is None or s.journal[0].seq <= r.target or self.mutant == "checkpoint_during_recovery"

    def _recovery_actions(self, s: State) -> Iterator[Action]:
        b = self.bounds
        r = s.recovery
        if r is None:
            if (self.within_budget(s, StartRecovery) and s.pair_state == PairState.PAIR and not s.in_flight
                    and s.journaling_state == JournalingState.JOURNALING):
                for target in range(s.base_seq, s.next_seq):
                    img = self.replay(s, s.base, s.journal, s.primary, target)
                    differing = sum(1 for p, v in zip(s.primary, img, strict=True) if p != v)
                    if b.recovery_kind == RecoveryKind.SWAP or differing <= self.journal_free(s, True):
                        yield StartRecovery(target, b.recovery_kind)
            return
        if r.kind == RecoveryKind.WRITETHROUGH:
            img = self.local_image(s)
            bypass = self.mutant == "recovery_bypasses_mirror"
            differs = [lba for lba in self.blocks if s.primary[lba] != img[lba]]
            busy = {e.lba for e in s.in_flight}
            if (s.pair_state == PairState.PAIR or bypass) and self.journal_free(s, for_recovery=True) > 0:
                for lba in differs:
                    if lba not in busy:
                        yield RecoveryWrite(lba)
            if not differs and not s.in_flight:
                yield FinishRecovery()
        else:
            if not r.a_swapped:
                yield SwapVolumes()
            elif s.lun_switch_pending:
                yield SwitchHostLun()  # the role map is swapped, the host-LUN map not yet
            elif r.remote_status in (RemoteSwapStatus.DONE, RemoteSwapStatus.TIMED_OUT):
                yield FinishRecovery()

    # --- next state -----------------------------------------------------------------------------------

    def next_state(self, s: State, a: Action) -> State:
        """The state after ``a``. ``a`` must be enabled in ``s``."""
        if s.recovery_ended is not None:
            s = s._replace(recovery_ended=None)  # the ghost event flag lives for one state
        handler = _HANDLERS[type(a)]
        return handler(self, s, a)

    # host I/O

    def _do_host_write(self, s: State, a: HostWrite) -> State:
        return self._journaled_write(s, a.lba, a.value, Origin.HOST, a.length)

    def _do_set_marker(self, s: State, a: SetMarker) -> State:
        s = self._journaled_write(s, MARKER, 0, Origin.MARKER)
        return s._replace(markers_set=s.markers_set + 1)

    def _journaled_write(self, s: State, lba: int, value: int, origin: Origin, length: int = 1) -> State:
        """Steps 2-5 of a host write (and of a recovery write): journal, write P, mirror or mark dirty. A
        multi-block write is one record, one MirrorWrite and one step on P: atomic to every other actor (a
        power loss inside it is ``CrashMidWrite``)."""
        seq = s.next_seq
        record = Record(seq, lba, value, length)
        cache = s.journal_cache
        if self.mutant == "skip_journal" and origin == Origin.HOST:
            pass  # MUTANT: no journal record
        elif self.mutant == "journal_not_persisted_before_ack":
            cache = (*cache, record)  # MUTANT: only in volatile cache until PersistJournal
        else:
            s = self._append_to_journal(s, record)  # persisted BEFORE P is written and before any ack
        next_seq = seq if self.mutant == "reuse_sequence_number" and origin == Origin.HOST else seq + 1
        primary, base = s.primary, s.base
        if lba != MARKER:
            # a host write goes to the volume the host-LUN map names (P, unless a swap left the LUN behind);
            # a recovery write is A's own, through the role map to P
            if origin == Origin.HOST and s.host_lun != s.primary_volume:
                base = _set_range(base, lba, length, value)
            else:
                primary = _set_range(primary, lba, length, value)
        recovery = s.recovery
        if origin == Origin.HOST and recovery is not None:
            recovery = recovery._replace(host_io_during_swap=True)
        issued = s.host_writes_issued + (origin == Origin.HOST)
        s = s._replace(journal_cache=cache, next_seq=next_seq, primary=primary, base=base,
                       recovery=recovery, host_writes_issued=issued)
        bypass = origin == Origin.RECOVERY and self.mutant == "recovery_bypasses_mirror"
        if s.pair_state == PairState.PAIR and not bypass:
            acked_now = self.mutant == "ack_before_remote" and origin == Origin.HOST
            entry = InFlight(seq, lba, value, origin, acked_now, length)
            path = _add(s.path, MirrorWrite(seq, lba, value, length)) if s.path_up else s.path
            return s._replace(in_flight=(*s.in_flight, entry), path=path,
                              history=(*s.history, GhostWrite(seq, lba, value, acked_now, origin != Origin.RECOVERY,
                                                              length)))
        # SUSPENDED with fence `never` (or a bypassing recovery): local only, dirty, done at once
        if next_seq == seq:  # reuse_sequence_number: the write completes now, so the counter moves now
            s = s._replace(next_seq=seq + 1)
        dirty = _set_range(s.dirty, lba, length, 1)
        return s._replace(dirty=dirty,
                          history=(*s.history, GhostWrite(seq, lba, value, origin == Origin.HOST,
                                                    origin != Origin.RECOVERY, length)))

    # the path

    def _do_deliver(self, s: State, a: Deliver) -> State:
        m = a.message
        s = s._replace(path=_remove_one(s.path, m))
        if m.kind == MessageKind.MIRROR_WRITE:
            return self._remote_receive_write(s, Record(m.a, m.b, m.c, m.d))
        if m.kind == MessageKind.MIRROR_ACK:
            return self._receive_ack(s, m.a)
        if m.kind == MessageKind.RECOVER_REQUEST:
            return self._remote_swap(s, m.a, m.b)
        if m.kind == MessageKind.CHECKPOINTED:
            return _remote_checkpoint_upto(s, m.a)
        if m.kind == MessageKind.RESYNCED:
            return self._receive_resynced(s, m.a)
        r = s.recovery
        if r is not None and r.recovery_id == m.a and r.remote_status == RemoteSwapStatus.REQUESTED:
            s = s._replace(recovery=r._replace(remote_status=RemoteSwapStatus.DONE))
        return s

    def _remote_receive_write(self, s: State, rec: Record) -> State:
        """R: apply mirrored writes in sequence order, whatever order the path delivers them in."""
        if self.mutant == "remote_applies_in_arrival_order":  # MUTANT: apply as it arrives
            remote = _set_range(s.remote, rec.lba, rec.length, rec.value)
            rj = s.remote_journal if rec in s.remote_journal else (*s.remote_journal, rec)
            return s._replace(remote=remote, remote_journal=rj,
                              remote_applied_seq=max(s.remote_applied_seq, rec.seq),
                              path=_add(s.path, MirrorAck(rec.seq)) if s.path_up else s.path)
        if rec.seq <= s.remote_applied_seq:
            # a duplicate, or a late write R has passed (a resync raised applied seq over it, and S holds
            # newer data): acknowledge again, apply nothing. The seq is the write's generation number.
            if self.mutant == "remote_accepts_stale_messages" and rec.lba != MARKER:
                # MUTANT: the late write lands on S
                s = s._replace(remote=_set_range(s.remote, rec.lba, rec.length, rec.value))
            return s._replace(path=_add(s.path, MirrorAck(rec.seq)))
        buffer = s.remote_buffer if rec in s.remote_buffer else tuple(sorted((*s.remote_buffer, rec)))
        remote, rj, applied, path = s.remote, s.remote_journal, s.remote_applied_seq, s.path
        if self.mutant == "remote_writes_ahead_of_gap" and rec.lba != MARKER:
            # MUTANT: S written on arrival, before the gap fills
            remote = _set_range(remote, rec.lba, rec.length, rec.value)
        while buffer and buffer[0].seq == applied + 1:
            nxt, buffer = buffer[0], buffer[1:]
            remote = _set_range(remote, nxt.lba, nxt.length, nxt.value)
            rj = (*rj, nxt)
            applied = nxt.seq
            path = _add(path, MirrorAck(nxt.seq))
        return s._replace(remote=remote, remote_journal=rj, remote_applied_seq=applied,
                          remote_buffer=buffer, path=path)

    def _receive_ack(self, s: State, seq: int) -> State:
        """A: R has the write; acknowledge the host (the record is already in J)."""
        for i, e in enumerate(s.in_flight):  # noqa: B007 - i is used after the loop
            if e.seq == seq:
                break
        else:
            return s  # a duplicate or stale acknowledgement
        in_flight = s.in_flight[:i] + s.in_flight[i + 1 :]
        s = s._replace(in_flight=in_flight)
        if e.origin == Origin.HOST:
            s = self._complete_host_write(s, e, acked=True)
        return s

    def _complete_host_write(self, s: State, e: InFlight, acked: bool) -> State:
        history = s.history
        if acked and not e.host_acked:
            for j in range(len(history) - 1, -1, -1):
                h = history[j]
                if h.seq == e.seq and h.lba == e.lba and h.value == e.value and h.length == e.length:
                    history = (*history[:j], h._replace(acked=True), *history[j + 1:])
                    break
        next_seq = s.next_seq
        if self.mutant == "reuse_sequence_number" and next_seq == e.seq:
            next_seq = e.seq + 1  # MUTANT: the counter moves only when a write completes
        return s._replace(history=history, next_seq=next_seq)

    def _do_lose(self, s: State, a: LoseMessage) -> State:
        s = s._replace(path=_remove_one(s.path, a.message), message_faults=s.message_faults + 1)
        return _mark_faulted(s)

    def _do_duplicate(self, s: State, a: DuplicateMessage) -> State:
        return s._replace(path=_add(s.path, a.message), message_faults=s.message_faults + 1)

    def _do_fail_path(self, s: State, a: FailPath) -> State:
        s = s._replace(path_up=False, path=(), path_failures=s.path_failures + 1)
        return _mark_faulted(s)

    def _do_repair_path(self, s: State, a: RepairPath) -> State:
        return s._replace(path_up=True)

    def _do_mirror_timeout(self, s: State, a: MirrorTimeout) -> State:
        """The pair suspends; every write in flight is marked dirty and ends per the fence policy. A timeout
        of a write that is merely late spends the budget and is a fault of the path (it was slow)."""
        if self.is_premature(s, a):
            s = _mark_faulted(s._replace(premature_timeouts=s.premature_timeouts + 1))
        dirty = s.dirty
        for e in s.in_flight:
            dirty = _set_range(dirty, e.lba, e.length, 1)
        for e in s.in_flight:
            if e.origin == Origin.HOST:
                s = self._complete_host_write(s, e, acked=s.fence_policy == FencePolicy.NEVER)
        s = s._replace(in_flight=(), dirty=dirty)
        return _suspend(s)

    def _do_swap_timeout(self, s: State, a: SwapTimeout) -> State:
        if self.is_premature(s, a):  # the request or answer stays on the path, late
            s = _mark_faulted(s._replace(premature_timeouts=s.premature_timeouts + 1))
        assert s.recovery is not None
        s = s._replace(recovery=s.recovery._replace(remote_status=RemoteSwapStatus.TIMED_OUT),
                       dirty=(1,) * self.bounds.blocks, swap_timed_out=True)  # ghost: until the resync
        return _suspend(s)

    def _do_crash(self, s: State, a: CrashArray) -> State:
        s = s._replace(crashes=s.crashes + 1)
        if a.array == "R":
            return _mark_faulted(s._replace(remote_buffer=()))  # volatile reorder buffer lost
        # A: the in-flight table and any journal cache are lost; host writes in flight fail. A cannot tell
        # what R received, so the pair suspends with every block dirty (a full copy at resync).
        if self.mutant == "crash_restores_blocks_from_base":  # MUTANT: P's blocks in flight re-read from B
            primary = s.primary
            for e in s.in_flight:
                if e.origin == Origin.HOST:
                    for b in covered(e.lba, e.length):
                        primary = _set(primary, b, s.base[b])
            s = s._replace(primary=primary)
        for e in s.in_flight:
            if e.origin == Origin.HOST:
                s = self._complete_host_write(s, e, acked=False)
        s = s._replace(in_flight=(), journal_cache=(), dirty=(1,) * self.bounds.blocks)
        if s.lun_switch_pending:
            # the restart finds a swap between its two map updates: the intent record says the role map is
            # already swapped, so it completes the swap by moving the host's LUN (docs/PROTOCOL.md)
            if self.mutant == "swap_updates_lun_map_last_without_intent":
                s = s._replace(lun_switch_pending=False)  # MUTANT: no intent record: the pending switch is lost
            else:
                s = s._replace(host_lun=s.primary_volume, lun_switch_pending=False)
        if s.pair_state != PairState.SUSPENDED:
            s = _suspend(s)
        return _mark_faulted(s)

    def _do_crash_mid_write(self, s: State, a: CrashMidWrite) -> State:
        """A host write of ``length`` blocks begins: its record reaches J (the journal first, always), then
        power fails with only its first block on P; nothing was sent to R, the host gets no answer. A's
        restart redoes the record from J, so P holds all of it, and then recovers as from any crash
        (``CrashArray("A")``: in-flight writes fail, the pair suspends with every block dirty)."""
        seq, on_p = s.next_seq, s.host_lun == s.primary_volume
        before = s.primary if on_p else s.base  # the volume the host-LUN map sends the write to
        s = self._journaled_write(s, a.lba, a.value, Origin.HOST, a.length)
        # the write is not mirrored: the power failed before step 5 (what the PAIR branch put on the path
        # and in flight is taken back; a suspended pair marked the blocks dirty, as the crash does anyway)
        s = s._replace(path=tuple(m for m in s.path if not (m.kind == MessageKind.MIRROR_WRITE and m.a == seq)),
                       in_flight=tuple(e for e in s.in_flight if e.seq != seq))
        s = self._complete_host_write(s, InFlight(seq, a.lba, a.value, Origin.HOST, False, a.length), acked=False)
        h = s.history[-1]
        s = s._replace(history=(*s.history[:-1], h._replace(acked=False)))  # the host never had an answer
        if self.mutant == "torn_multiblock_write":  # MUTANT: no redo from J; P keeps the first block only
            torn = _set_range(before, a.lba, 1, a.value)
            s = s._replace(primary=torn) if on_p else s._replace(base=torn)
        return self._do_crash(s, CrashArray("A"))

    def _do_crash_mid_apply(self, s: State, a: CrashMidApply) -> State:
        """R takes the MirrorWrite it would apply next: its record reaches JR (the journal first), then
        power fails with only its first block on S, before the acknowledgement. R's restart redoes the record
        from JR, so S holds all of it; its reorder buffer is lost as in any crash of R."""
        m = a.message
        rec = Record(m.a, m.b, m.c, m.d)
        s = s._replace(path=_remove_one(s.path, m))
        remote = _set_range(s.remote, rec.lba, rec.length, rec.value)
        if self.mutant == "torn_remote_apply":  # MUTANT: no redo from JR; S keeps the first block only
            remote = _set_range(s.remote, rec.lba, 1, rec.value)
        s = s._replace(remote=remote, remote_journal=(*s.remote_journal, rec), remote_applied_seq=rec.seq)
        return self._do_crash(s, CrashArray("R"))

    def _do_crash_mid_remote_swap(self, s: State, a: CrashMidRemoteSwap) -> State:
        """R takes the RecoverRequest, writes its swap's intent record (recovery id, target) durably, starts
        rebuilding RB in place, and the power fails. R's restart finds the intent record and redoes the swap
        whole: the rebuild in place again (idempotent on a partly rebuilt RB), or, once the role map is
        swapped, only the copy onto the new RB; it commits the swap and answers SwapDone. So the step is R's
        swap (``_remote_swap``) followed by R's crash."""
        m = a.message
        s = s._replace(path=_remove_one(s.path, m))
        if self.mutant == "remote_swap_not_redone":
            # MUTANT: no intent record, so the restart does not know a swap was running: RB keeps the first of
            # JR's records up to T (the rebuild applies them in seq order) and nothing else moved, no answer
            chosen = sorted((r for r in s.remote_journal if r.seq <= m.b), key=lambda r: r.seq)
            if chosen:
                s = s._replace(replica_base=_set_range(s.replica_base, chosen[0].lba, chosen[0].length,
                                                       chosen[0].value))
        else:
            s = self._remote_swap(s, m.a, m.b)
        return self._do_crash(s, CrashArray("R"))

    # checkpoint and resync

    def _do_checkpoint(self, s: State, a: Checkpoint) -> State:
        """A's half of a checkpoint (claims 10, 24): the oldest record goes into B, ``base_seq`` moves to it and
        its entry of the journal log table (and so its sectors) is freed, durably, in one commit; then A sends
        ``Checkpointed(seq)`` and R does its half when the message arrives (``_remote_checkpoint_upto``). No
        answer is awaited: a message the path loses leaves RB behind B with JR still holding the records, and
        the next checkpoint's message or the resync catches R up (docs/PROTOCOL.md, "Checkpoint")."""
        rec = s.journal[0]
        base = s.base
        if self.mutant != "checkpoint_drops_record":  # MUTANT: record dropped
            base = _set_range(base, rec.lba, rec.length, rec.value)
        # the commit frees the record's entry of the journal log table, and with it its sectors
        s = s._replace(base=base, base_seq=rec.seq, journal=s.journal[1:], journal_locations=s.journal_locations[1:])
        if self.mutant != "remote_checkpoints_alone":  # MUTANT: R checkpoints on its own instead
            s = s._replace(path=_add(s.path, Checkpointed(rec.seq)))
        return self._ghost_checkpoint(s)

    def _do_remote_checkpoint(self, s: State, a: RemoteCheckpoint) -> State:
        return _remote_checkpoint(s)

    def _ghost_checkpoint(self, s: State) -> State:
        """Fold ghost history below the window into the ghost base, never past a running recovery's T."""
        limit = s.base_seq if s.recovery is None else min(s.base_seq, s.recovery.target)
        keep = tuple(h for h in s.history if h.seq > limit)
        if len(keep) == len(s.history):
            return s
        folded = apply_records(s.ghost_base, [Record(h.seq, h.lba, h.value, h.length) for h in s.history
                                              if h.seq <= limit])
        return s._replace(ghost_base=folded, ghost_base_seq=max(s.ghost_base_seq, limit), history=keep)

    def _do_persist_journal(self, s: State, a: PersistJournal) -> State:
        return self._append_to_journal(s, s.journal_cache[0])._replace(journal_cache=s.journal_cache[1:])

    def _do_start_resync(self, s: State, a: StartResync) -> State:
        """A starts resync number ``resync_id + 1``: the pair goes to COPY, host I/O, checkpoints and recoveries
        wait, so P, B and J stay as they are until the resync ends (A's copy is a snapshot)."""
        return s._replace(pair_state=PairState.COPY, resync_id=s.resync_id + 1)

    def _do_finish_resync(self, s: State, a: FinishResync) -> State:
        """The copy and R's half of the resync (docs/PROTOCOL.md, "Resync"): every dirty block P -> S, and
        B -> RB and J -> JR where R lacks them; R is caught up to next_seq - 1 and commits that durably, then
        answers ``Resynced(resync_id)``. A stays in COPY until the answer arrives (``_receive_resynced``). The
        copy is one step: A is frozen in COPY, so what it sends is what it holds when R commits."""
        remote = tuple(p if d else r for p, r, d in zip(s.primary, s.remote, s.dirty, strict=True))
        # RB becomes B: this redoes R's half of every checkpoint whose Checkpointed message the path lost
        replica_base = s.replica_base if self.mutant == "checkpoint_not_redone" else s.base  # MUTANT: RB kept
        # R's watermarks move past everything A sent before: a late MirrorWrite (seq <= next_seq - 1) or a
        # late RecoverRequest (id <= recoveries_started) is stale from now on, and R drops it
        return s._replace(remote=remote, replica_base=replica_base, replica_base_seq=s.base_seq,
                          remote_journal=s.journal, remote_applied_seq=s.next_seq - 1,
                          remote_recovery_id=max(s.remote_recovery_id, s.recoveries_started),
                          remote_buffer=(), path=_add(s.path, Resynced(s.resync_id)),
                          recovery_awaiting_resync=None)  # ghost: S is whole again

    def _receive_resynced(self, s: State, resync_id: int) -> State:
        """A's half of the resync, on R's answer: the dirty bitmap is cleared and the pair goes from COPY to
        PAIR, in one commit. Only the answer of the resync A runs counts: a late answer of one a crash of A
        abandoned (R holds that older copy, not what A has written since) changes nothing."""
        # MUTANT resync_accepts_stale_answer: any answer ends COPY, whichever resync it answers
        if s.pair_state != PairState.COPY or (resync_id != s.resync_id
                                               and self.mutant != "resync_accepts_stale_answer"):
            return s
        # ghost: the swap's timeout is resynced, and S is whole (a write-through recovery that ended in COPY, after
        # R's half, awaits no other resync)
        return s._replace(dirty=(0,) * self.bounds.blocks, pair_state=PairState.PAIR, swap_timed_out=False,
                          recovery_awaiting_resync=None)

    # recovery

    def _do_start_recovery(self, s: State, a: StartRecovery) -> State:
        rid = s.recoveries_started + 1
        swap = a.kind == RecoveryKind.SWAP
        rec = Recovery(rid, a.kind, a.target, a_swapped=False,
                       remote_status=RemoteSwapStatus.REQUESTED if swap else RemoteSwapStatus.NONE,
                       faulted=not s.path_up, left_pair=False, host_io_during_swap=False,
                       target_image=image(s, a.target), start_image=s.primary)
        s = s._replace(recovery=rec, recoveries_started=rid, journaling_state=JournalingState.RECOVERING)
        if swap and s.path_up:
            s = s._replace(path=_add(s.path, RecoverRequest(rid, a.target)))
        if not swap and self.mutant == "recovery_bypasses_mirror":
            s = _suspend(s)  # MUTANT: the conventional suspend-and-restore
        return s

    def _do_recovery_write(self, s: State, a: RecoveryWrite) -> State:
        return self._journaled_write(s, a.lba, self.local_image(s)[a.lba], Origin.RECOVERY)

    def _do_swap_volumes(self, s: State, a: SwapVolumes) -> State:
        """A, first half of its swap: B, rebuilt in place into image(T) from J, becomes P through the role
        map (claim 13), with the swap's intent record; the old P becomes B and a local copy of the image, and
        the journal restarts at a new sequence number. The host's LUN moves in the second half
        (``SwitchHostLun``)."""
        assert s.recovery is not None
        img = self.local_image(s)
        seq = s.next_seq
        # the journal log table restarts empty; its next free location stays where it was
        return s._replace(primary=img, base=img, base_seq=seq, next_seq=seq + 1, journal=(), journal_locations=(),
                          journaling_state=JournalingState.SWAPPING,
                          recovery=s.recovery._replace(a_swapped=True),
                          primary_volume=s.primary_volume.other, lun_switch_pending=True,
                          ghost_base=img, ghost_base_seq=seq, history=(), retired_image=s.primary)

    def _do_switch_host_lun(self, s: State, a: SwitchHostLun) -> State:
        """A, second half of its swap: the host-LUN map names the volume the role map calls P; the intent
        record is cleared with it (one shared-memory update)."""
        return s._replace(host_lun=s.primary_volume, lun_switch_pending=False)

    def _remote_swap(self, s: State, rid: int, target: int) -> State:
        """R: rebuild image(target) from RB and JR, make it S (claim 14) and the new replica base, answer
        SwapDone. Once per recovery id: a duplicate or late request only gets the answer again."""
        if rid > s.remote_recovery_id or self.mutant == "remote_accepts_stale_messages":  # MUTANT: swap again
            img = self.replay(s, s.replica_base, s.remote_journal, s.remote, target)
            seq = s.remote_applied_seq + 1
            # RB, rebuilt in place, becomes S through R's role map; the old S becomes RB, a copy of the image
            s = s._replace(remote=img, replica_base=img, replica_base_seq=seq, remote_journal=(),
                           remote_applied_seq=seq, remote_buffer=(), remote_recovery_id=rid,
                           secondary_volume=s.secondary_volume.other)
        return s._replace(path=_add(s.path, SwapDone(rid)))

    def _do_finish_recovery(self, s: State, a: FinishRecovery) -> State:
        assert s.recovery is not None
        r = s.recovery
        if s.pair_state != PairState.PAIR:
            r = r._replace(left_pair=True)
        history = s.history
        if history and not history[-1].point_in_time:  # ghost: the host sees this image when I/O resumes
            history = (*history[:-1], history[-1]._replace(point_in_time=True))
        # ghost: a write-through recovery cut short by a fault leaves S mixing its images until the resync
        awaiting = r if r.kind == RecoveryKind.WRITETHROUGH and s.pair_state != PairState.PAIR else None
        return s._replace(recovery=None, history=history, recovery_ended=r, journaling_state=JournalingState.JOURNALING,
                          recovery_awaiting_resync=awaiting)


def _distinct(path: tuple[Message, ...]) -> Iterator[Message]:
    prev = None
    for m in path:
        if m != prev:
            yield m
        prev = m


def _suspend(s: State) -> State:
    r = s.recovery
    if r is not None:
        s = s._replace(recovery=r._replace(left_pair=True))
    return s._replace(pair_state=PairState.SUSPENDED)


def _mark_faulted(s: State) -> State:
    r = s.recovery
    return s if r is None or r.faulted else s._replace(recovery=r._replace(faulted=True))


def _remote_checkpoint_upto(s: State, seq: int) -> State:
    """R's half of a checkpoint, on ``Checkpointed(seq)``: JR's records up to ``seq`` go into RB, oldest first,
    each freed as it is applied. Cumulative and idempotent, so the path may reorder, duplicate or deliver
    late: a message whose records R no longer holds (an older one, or one a resync or a swap passed) changes
    nothing, and one that follows a lost one catches RB up."""
    while s.remote_journal and s.remote_journal[0].seq <= seq:
        s = _remote_checkpoint(s)
    return s


def _remote_checkpoint(s: State) -> State:
    rec = s.remote_journal[0]
    rb = _set_range(s.replica_base, rec.lba, rec.length, rec.value)
    return s._replace(replica_base=rb, replica_base_seq=rec.seq, remote_journal=s.remote_journal[1:])


_HANDLERS: dict[type[Action], Callable[[MirrorModel, State, Any], State]] = {
    HostWrite: MirrorModel._do_host_write,
    SetMarker: MirrorModel._do_set_marker,
    Deliver: MirrorModel._do_deliver,
    LoseMessage: MirrorModel._do_lose,
    DuplicateMessage: MirrorModel._do_duplicate,
    FailPath: MirrorModel._do_fail_path,
    RepairPath: MirrorModel._do_repair_path,
    MirrorTimeout: MirrorModel._do_mirror_timeout,
    SwapTimeout: MirrorModel._do_swap_timeout,
    CrashArray: MirrorModel._do_crash,
    Checkpoint: MirrorModel._do_checkpoint,
    RemoteCheckpoint: MirrorModel._do_remote_checkpoint,
    PersistJournal: MirrorModel._do_persist_journal,
    StartResync: MirrorModel._do_start_resync,
    FinishResync: MirrorModel._do_finish_resync,
    StartRecovery: MirrorModel._do_start_recovery,
    RecoveryWrite: MirrorModel._do_recovery_write,
    SwapVolumes: MirrorModel._do_swap_volumes,
    FinishRecovery: MirrorModel._do_finish_recovery,
    SwitchHostLun: MirrorModel._do_switch_host_lun,
    CrashMidWrite: MirrorModel._do_crash_mid_write,
    CrashMidApply: MirrorModel._do_crash_mid_apply,
    CrashMidRemoteSwap: MirrorModel._do_crash_mid_remote_swap,
}

# The dispatch covers exactly the actions of spec.actions: an action added to the table without its handler
# (or a handler left for an action that is gone) fails at import, not in the middle of a run.
if {cls.__name__ for cls in _HANDLERS} != set(spec_actions.ACTION_NAMES):
    raise TypeError(f"MirrorModel's handlers {sorted(c.__name__ for c in _HANDLERS)} are not spec.actions' "
                    f"{sorted(spec_actions.ACTION_NAMES)}")
