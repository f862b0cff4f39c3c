"""The deterministic driver: it owns the path, hands inputs to the two controller cores, carries their
messages, answers the host, injects faults, and records every step as an ``Action`` in the model's words.

Step by step, the caller chooses each action: ``apply("HostWrite", lba=0, value=1)``, or the method named
after it (``host_write(0, 1)``), or ``apply(action)`` with an ``Action`` or a model action object.
``enabled_actions()`` lists what can be done now, in a fixed order. A step that is not enabled raises a
typed ``ScsiError`` and changes nothing (the event log included). Budgets (how many writes, faults,
recoveries) are the caller's business: ``enabled_actions`` lists every fault that is possible.

Randomly, ``run_random(steps, faults)`` picks among the enabled actions with a seeded RNG, so a run replays
exactly from its seed; ``events`` replayed with ``apply`` on a fresh system reproduce it.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pitmirror.impl.actions import ACTION_NAMES, Action, snake
from pitmirror.impl.array import StorageArray
from pitmirror.impl.blocks import BLOCK_SIZE, as_block, value_of_write
from pitmirror.impl.errors import (
    CommandSequenceError,
    ControllerReset,
    InvalidParameter,
    JournalRecordError,
    PathDown,
    ScsiError,
)
from pitmirror.impl.hardware import PowerLoss
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
from pitmirror.impl.path import Path
from pitmirror.impl.primary import ArrayAController
from pitmirror.impl.ready import HostRequest, InFlight, Ready, RequestStatus
from pitmirror.impl.record import sectors_for
from pitmirror.impl.remote import ArrayRController
from pitmirror.impl.states import FencePolicy, Origin, RecoveryKind, RemoteSwapStatus
from pitmirror.impl.tables import RecoveryEntry


def parse_recovery_kind(kind: Any) -> RecoveryKind:
    """``"writethrough"`` / ``"write-through"`` / ``"swap"`` or any enum member with that name."""
    if isinstance(kind, RecoveryKind):
        return kind
    name = getattr(kind, "name", kind)
    key = str(name).upper().replace("-", "").replace("_", "")
    if key not in RecoveryKind.__members__:
        raise InvalidParameter(f"RECOVER with method {kind!r}", "the method is 'writethrough' or 'swap'")
    return RecoveryKind[key]


def parse_fence_policy(name: Any) -> FencePolicy:
    """``"data"`` / ``"never"`` or a ``FencePolicy``."""
    if isinstance(name, FencePolicy):
        return name
    key = str(getattr(name, "name", name)).upper()
    if key not in FencePolicy.__members__:
        raise ValueError(f"unknown fence policy {name!r}; valid: data, never")
    return FencePolicy[key]


@functools.lru_cache(maxsize=4096)  # bounded: message arguments grow with the sequence numbers
def _action(name: str, /, **args: Any) -> Action:
    """``Action.make``, memoised: actions are frozen, and ``enabled_actions`` lists the same ones over and
    over."""
    return Action.make(name, **args)


def _lengths(blocks: int, write_blocks: int, lba: int) -> range:
    """The lengths of a host write from ``lba``: 1 .. ``write_blocks``, within the volume."""
    return range(1, min(write_blocks, blocks - lba) + 1)


@functools.cache
def _host_writes(blocks: int, values: int, write_blocks: int = 1) -> tuple[Action, ...]:
    """Every ``HostWrite`` of a volume of ``blocks`` blocks and ``values`` model values, of 1 ..
    ``write_blocks`` blocks, in order (a one-block write names no length)."""
    return tuple(Action.make("HostWrite", lba=lba, value=v, **({"length": n} if n != 1 else {}))
                 for lba in range(blocks) for v in range(values) for n in _lengths(blocks, write_blocks, lba))


@functools.cache
def _crashes_mid_write(blocks: int, values: int, write_blocks: int) -> tuple[Action, ...]:
    """Every ``CrashMidWrite``: a host write of two blocks or more, cut by a power loss at A."""
    return tuple(Action.make("CrashMidWrite", lba=lba, value=v, length=n) for lba in range(blocks)
                 for v in range(values) for n in _lengths(blocks, write_blocks, lba)[1:])


@dataclass(frozen=True)
class FaultPlan:
    """Relative weights of the faults (and of starting a recovery) in a random run."""

    loss: float = 0.3
    duplication: float = 0.3
    path_failure: float = 0.1
    crash: float = 0.05
    recovery: float = 0.2
    premature_timeout: float = 0.1  # a timeout while the message or its answer is late, not lost


#: Relative weight of each action kind in a random run (split evenly among the enabled instances).
_WEIGHTS: dict[str, float] = {
    "HostWrite": 3.0, "SetMarker": 0.3, "Deliver": 8.0, "RepairPath": 1.0, "MirrorTimeout": 1.0,
    "SwapTimeout": 1.0, "Checkpoint": 0.7, "RemoteCheckpoint": 0.3, "PersistJournal": 0.5,
    "StartResync": 1.0, "FinishResync": 1.0, "RecoveryWrite": 3.0, "SwapVolumes": 2.0, "FinishRecovery": 2.0,
    "SwitchHostLun": 2.0, "CrashMidWrite": 0.05, "CrashMidApply": 0.05,
    "CrashMidRemoteSwap": 0.05,
}


class Driver:
    """Two arrays, the path between them, and the step-by-step API over them."""

    def __init__(self, blocks: int = 8, journal_capacity: int = 16, fence_policy: str | FencePolicy = "never",
                 mutant: str | None = None, seed: int = 0, *, max_in_flight: int = 4,
                 recovery: str | RecoveryKind = "writethrough", values: int = 3, links: int = 2,
                 write_blocks: int = 1) -> None:
        for name, v, lo in (("blocks", blocks, 1), ("journal_capacity", journal_capacity, 1),
                            ("max_in_flight", max_in_flight, 1), ("values", values, 1), ("links", links, 1),
                            ("write_blocks", write_blocks, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        self.mutant = Mutant(mutant)
        self.fence = parse_fence_policy(fence_policy)
        self.recovery_kind = parse_recovery_kind(recovery)
        self.seed = seed
        self.blocks = blocks
        self.values = values
        self.write_blocks = write_blocks  # the most blocks one host write covers (one record, one message)
        self.rng = random.Random(seed)
        self.a = ArrayAController(StorageArray.main_site(blocks, journal_capacity, self.fence,
                                                         write_blocks=write_blocks), self.mutant, max_in_flight)
        self.r = ArrayRController(StorageArray.remote_site(blocks, journal_capacity, write_blocks=write_blocks),
                                  self.mutant)
        # each array's two data volumes (the model's Volume.V0 and V1): the LDEVs of P and B (S and RB) at start
        self.a_volumes = (self.a.array.shm.volume_map.ldev("primary"), self.a.array.shm.volume_map.ldev("base"))
        self.r_volumes = (self.r.array.shm.volume_map.ldev("remote"), self.r.array.shm.volume_map.ldev("replica_base"))
        self.path = Path(links)
        self.events: list[Action] = []
        self.requests: list[HostRequest] = []
        self.finished: list[RecoveryEntry] = []  # recoveries that ended, in order
        self.reported: list[ScsiError] = []  # problems the arrays reported without refusing a step

    # --- the step-by-step API -------------------------------------------------------------------------

    def apply(self, action: Any, /, **args: Any) -> Any:
        """Take one step: ``apply("HostWrite", lba=0, value=1)``, ``apply(Action(...))``, or a model action
        (any object with ``name`` and ``args()``). Returns what the step method returns."""
        if isinstance(action, Action):
            name, kwargs = action.name, {**action.kwargs(), **args}
        elif isinstance(action, str):
            name, kwargs = action, args
        elif isinstance(getattr(action, "name", None), str) and callable(getattr(action, "args", None)):
            name, kwargs = action.name, {**action.args(), **args}
        else:
            raise TypeError(f"not an action: {action!r}")
        if name not in ACTION_NAMES:
            raise ValueError(f"unknown action {name!r}; valid: {', '.join(ACTION_NAMES)}")
        return getattr(self, snake(name))(**kwargs)

    def host_write(self, lba: int, value: int | bytes, length: int = 1) -> HostRequest:
        """HostWrite(lba, value, length): the host writes ``length`` contiguous blocks from ``lba`` (up to
        ``write_blocks``), a model value in each or the blocks' bytes: one journal record, one MirrorWrite.
        Returns the request; it is acknowledged or failed by a later step (at once when the pair is
        suspended)."""
        data = self._data(lba, value, length)
        err = self.a.check_host_write(lba, data)
        if err is not None:
            raise err
        req = HostRequest(len(self.requests) + 1, lba, data)
        self._process(self.a.host_write(req))
        self.requests.append(req)
        self._record("HostWrite", lba=lba, **self._value_arg(data))
        return req

    def set_marker(self, name: str | None = None) -> str:
        """SetMarker(): a named consistency point (``m1``, ``m2``, ... unless ``name`` is given)."""
        name_given, (name, ready) = name, self.a.set_marker(name)
        self._process(ready)
        self._record("SetMarker", **({} if name_given is None else {"name": name}))
        return name

    def deliver(self, message: Any) -> None:
        """Deliver(message): the path hands one copy of ``message`` to its array."""
        msg = self._on_path(message, "DELIVER")
        self.path.take(msg)
        target = self.r if isinstance(msg, MirrorWrite | RecoverRequest | Checkpointed) else self.a
        self._process(target.receive(msg))
        self._record("Deliver", message=msg)

    def lose_message(self, message: Any) -> None:
        """LoseMessage(message): fault, one copy is lost."""
        msg = self._on_path(message, "LOSE")
        self.path.lose(msg)
        self._record("LoseMessage", message=msg)

    def duplicate_message(self, message: Any) -> None:
        """DuplicateMessage(message): fault, one more copy is on the path."""
        msg = self._on_path(message, "DUPLICATE")
        self.path.duplicate(msg)
        self._record("DuplicateMessage", message=msg)

    def fail_path(self) -> None:
        """FailPath(): every link goes down, what was on the path is lost."""
        if not self.path.up:
            raise CommandSequenceError("FAIL the path", "the path is already down")
        self.path.fail()
        self._record("FailPath")

    def repair_path(self) -> None:
        """RepairPath(): the links come back up."""
        if self.path.up:
            raise CommandSequenceError("REPAIR the path", "the path is up")
        self.path.repair()
        self._record("RepairPath")

    def lost_write(self) -> int | None:
        """The oldest write in flight of which nothing is left on the path or in R's reorder buffer: only a
        timeout can end it (one timeout resolves every write in flight)."""
        for e in self.a.in_flight:
            on_path = any(isinstance(m, MirrorWrite | MirrorAck) and m.seq == e.seq
                          for m in self.path.messages)
            if not on_path and all(m.seq != e.seq for m in self.r.buffer):
                return e.seq
        return None

    def timed_out_write(self) -> int | None:
        """The write whose timer fires: the oldest lost one, else the oldest in flight, whose message or ack is
        then merely late (a premature timeout: a fault the caller budgets, like a lost message)."""
        lost = self.lost_write()
        if lost is not None or not self.a.in_flight:
            return lost
        return self.a.in_flight[0].seq

    def premature_timeout(self, name: str) -> bool:
        """Whether ``MirrorTimeout`` or ``SwapTimeout`` fired now would be premature: what it gives up on
        is still on the path (or in R's reorder buffer), late rather than lost."""
        if name == "MirrorTimeout":
            return self.lost_write() is None
        r = self.a.jfmt.recovery
        return r is not None and any(isinstance(m, RecoverRequest | SwapDone) and m.recovery_id == r.recovery_id
                                     for m in self.path.messages)

    def _why_not_mirror_timeout(self, seq: int) -> ScsiError | None:
        request = f"TIME OUT write seq={seq}"
        if self.mutant("no_remote_timeout"):  # MUTANT: A never times out a lost write
            return CommandSequenceError(request, "A never times out a mirror write (no_remote_timeout)")
        if all(e.seq != seq for e in self.a.in_flight):
            return CommandSequenceError(request, "no such write is in flight")
        if self.timed_out_write() != seq:
            return CommandSequenceError(request, f"the timer of write seq={self.timed_out_write()} fires first "
                                                 "(the oldest lost write, else the oldest in flight)")
        return None

    def mirror_timeout(self, seq: int) -> None:
        """MirrorTimeout(seq): A gives up on write ``seq`` (lost, or late: see ``timed_out_write``); the pair
        suspends per the fence policy."""
        err = self._why_not_mirror_timeout(seq)
        if err is not None:
            raise err
        self._process(self.a.timeout(seq))
        self._record("MirrorTimeout", seq=seq)

    def _why_not_swap_timeout(self) -> ScsiError | None:
        request = "TIME OUT the swap answer"
        if self.mutant("no_remote_timeout"):  # MUTANT: A never times out a lost swap answer
            return CommandSequenceError(request, "A never times out a swap answer (no_remote_timeout)")
        r = self.a.jfmt.recovery
        if r is None or r.remote_status != RemoteSwapStatus.REQUESTED:
            return CommandSequenceError(request, "no swap answer is awaited")
        return None  # with the request or answer still on the path, the timeout is premature (it stays, late)

    def swap_timeout(self) -> None:
        """SwapTimeout(): A gives up on R's half of a swap (lost, or late: ``premature_timeout``); the pair
        suspends with every block dirty."""
        err = self._why_not_swap_timeout()
        if err is not None:
            raise err
        self._process(self.a.swap_timeout())
        self._record("SwapTimeout")

    def crash_array(self, array: str) -> None:
        """CrashArray(array): crash and restart of ``"A"``'s or ``"R"``'s controller (also the way back
        after a ``PowerLoss``)."""
        if array not in ("A", "R"):
            raise InvalidParameter(f"CRASH array {array!r}", "the arrays are 'A' and 'R'")
        if array == "A":
            self._restart_a()
        else:
            self._process(self.r.crash())
        self._record("CrashArray", array=array)

    def _restart_a(self) -> None:
        """A's controller restarts (after a crash or a power loss)."""
        # a checkpoint a power loss cut short is finished by the restart, A's half only: its Checkpointed was
        # never sent, and the pair suspends, so the resync redoes R's half
        self._process(self.a.crash())

    def crash_mid_write(self, lba: int, value: int | bytes, length: int) -> HostRequest:
        """CrashMidWrite(lba, value, length): the host writes ``length`` >= 2 blocks and A loses power after
        the record reached J and the first block reached P (the record's sectors, then one more sector write);
        nothing was sent to R, the host gets no answer (the request fails), and A restarts: its restart redoes
        the record from J, so P holds the whole write (docs/PROTOCOL.md, "Multi-block writes")."""
        data = self._data(lba, value, length)
        request = f"CRASH MID WRITE lba={lba} length={length}"
        if len(data) < 2 * BLOCK_SIZE:
            raise InvalidParameter(request, "a power loss inside a write needs a write of two blocks or more")
        err = self.a.check_host_write(lba, data)
        if err is not None:
            raise err
        req = HostRequest(len(self.requests) + 1, lba, data)
        self.a.power_fail_after(sectors_for(len(data)) + 1)  # the record's sectors, then P's first block
        ready = Ready()
        try:
            ready = self.a.host_write(req)  # only a mutant that skips the journal gets through whole
        except PowerLoss:
            pass
        finally:
            self.a.power_fail_after(None)
        # the power failed before step 3: whatever the write would have sent is lost with the controller
        ready.messages.clear()
        assert req.seq is not None  # the write took its seq before its first sector write
        cut = InFlight(req.seq, lba, data, Origin.HOST, request=req)
        if all(e.seq != req.seq for e in self.a.in_flight) and not req.done:
            self.a.fail_cut_write(ready, cut, ControllerReset(request, "array A lost power inside the write"))
        self._process(ready)
        self.requests.append(req)
        self._restart_a()
        self._record("CrashMidWrite", lba=lba, **{**self._value_arg(data), "length": length})
        return req

    def crash_mid_apply(self, message: Any) -> None:
        """CrashMidApply(message): the path delivers the multi-block MirrorWrite ``message``, the next write R
        applies, and R loses power after its record reached JR and its first block reached S, before the
        acknowledgement; R restarts and redoes the record from JR, so S holds the whole write."""
        msg = self._on_path(message, "CRASH MID APPLY")
        request = f"CRASH MID APPLY {msg!r}"
        if not self.path.up:
            raise PathDown(request, "the path is down")
        if not isinstance(msg, MirrorWrite) or msg.nblocks < 2:
            raise InvalidParameter(request, "a power loss inside an apply needs a MirrorWrite of two blocks or more")
        if msg.seq != self.r.applied_seq + 1:
            raise CommandSequenceError(request, f"R applies seq {self.r.applied_seq + 1} next, not {msg.seq}")
        self.path.take(msg)
        self.r.apply_until_power_loss(msg, sectors_for(len(msg.data)) + 1)  # JR's record, then S's first block
        self._process(self.r.crash())
        self._record("CrashMidApply", message=msg)

    def crash_mid_remote_swap(self, message: Any) -> None:
        """CrashMidRemoteSwap(message): the path delivers the RecoverRequest ``message``, which R acts on (its
        recovery id is above the last R settled); R writes its swap's intent record, starts rebuilding RB in
        place, and loses power after the rebuild's first record reached RB; R restarts, redoes the swap whole
        from the intent record and answers SwapDone."""
        msg = self._on_path(message, "CRASH MID REMOTE SWAP")
        request = f"CRASH MID REMOTE SWAP {msg!r}"
        if not self.path.up:
            raise PathDown(request, "the path is down")
        if not isinstance(msg, RecoverRequest):
            raise InvalidParameter(request, "a power loss inside R's swap needs a RecoverRequest")
        if msg.recovery_id <= self.r.jfmt.last_recovery_id:
            raise CommandSequenceError(request, f"R has settled recovery {self.r.jfmt.last_recovery_id}: a stale "
                                                "request does no swap work to cut")
        self.path.take(msg)
        try:
            cut = self.r.rebuild_first_record_sectors(msg.target)
        except JournalRecordError:
            cut = 0  # R reports the untrusted record when it acts on the request, before any swap work
        self._process(self.r.swap_until_power_loss(msg, cut))  # nothing is answered: the power failed
        self._process(self.r.crash())  # the restart redoes the swap and answers SwapDone
        self._record("CrashMidRemoteSwap", message=msg)

    def _why_not_checkpoint(self) -> ScsiError | None:
        err = self.a.check_checkpoint()
        if err is None and self.a.journal_free() > 0:
            # on demand: A checkpoints when J is full, as the block device does when a host write finds no room
            return CommandSequenceError("CHECKPOINT", "J has room: A checkpoints on demand, when J is full")
        if err is None and not self.path.up:
            return PathDown("CHECKPOINT", "R's half follows over the path")
        return err

    def checkpoint(self) -> int:
        """Checkpoint(): A's half (the oldest record into B, durably); its ``Checkpointed`` goes on the path,
        and R's half happens when the path delivers it. Returns the record's seq."""
        err = self._why_not_checkpoint()
        if err is not None:
            raise err
        seq, ready = self.a.checkpoint()
        self._process(ready)
        self._record("Checkpoint")
        return seq

    def remote_checkpoint(self) -> None:
        """RemoteCheckpoint(): R checkpoints RB on its own (only remote_checkpoints_alone enables it)."""
        if not self.mutant("remote_checkpoints_alone") or not self.r.log.entries:
            raise CommandSequenceError("CHECKPOINT R alone", "R checkpoints only in lockstep with A")
        self._process(self.r.checkpoint())
        self._record("RemoteCheckpoint")

    def persist_journal(self) -> None:
        """PersistJournal(): a cached record reaches J (only journal_not_persisted_before_ack caches)."""
        self._process(self.a.persist_journal())
        self._record("PersistJournal")

    def _why_not_resync(self, finish: bool) -> ScsiError | None:
        err = self.a.check_finish_resync() if finish else self.a.check_start_resync()
        if err is None and not self.path.up:
            return PathDown(f"{'FINISH' if finish else 'START'} RESYNC of the pair", "the path is down")
        if err is None and finish and Resynced(self.a.pair.resync_id) in self.path.messages:
            return CommandSequenceError("FINISH RESYNC of the pair", f"R's answer to resync {self.a.pair.resync_id} "
                                        "is on the path: the copy is sent again only when it is lost")
        return err

    def start_resync(self) -> None:
        """StartResync(): SUSPENDED -> COPY."""
        err = self._why_not_resync(finish=False)
        if err is not None:
            raise err
        self._process(self.a.start_resync())
        self._record("StartResync")

    def finish_resync(self) -> None:
        """FinishResync(): A's copy crosses (the dirty blocks, the base blocks and journal records R lacks),
        R commits it, takes every recovery A started as settled and answers ``Resynced``; A stays in COPY
        until that answer is delivered (``deliver``)."""
        err = self._why_not_resync(finish=True)
        if err is not None:
            raise err
        batch = self.a.resync_source()
        base_blocks, shipped, ready = self.r.apply_resync(batch)
        self.path.transfer("ResyncBlock", len(batch.blocks), data_blocks=len(batch.blocks))
        self.path.transfer("ResyncBaseBlock", base_blocks, data_blocks=base_blocks)
        self.path.transfer("ResyncRecord", len(shipped), data_blocks=sum(not r.is_marker for r in shipped))
        self._process(ready)
        self._record("FinishResync")

    def start_recovery(self, target: int | str, kind: Any = None) -> int:
        """StartRecovery(target, kind): ``target`` a seq or a marker name, ``kind`` writethrough/swap
        (default: the system's). Returns the target seq."""
        k = self.recovery_kind if kind is None else parse_recovery_kind(kind)
        err = self.a.recovery.check_start(target, k)
        if err is not None:
            raise err
        seq = self.a.recovery.resolve(target)
        self._process(self.a.recovery.start(seq, k))
        self._record("StartRecovery", target=seq, kind=k)
        return seq

    def recovery_write(self, lba: int) -> None:
        """RecoveryWrite(lba): write-through, one block where P differs from replay(B, J, T)."""
        self._process(self.a.recovery.write(lba))
        self._record("RecoveryWrite", lba=lba)

    def swap_volumes(self) -> None:
        """SwapVolumes(): A builds image(T) in the spare LDEV and makes it the primary."""
        self._process(self.a.recovery.swap())
        self._record("SwapVolumes")

    def switch_host_lun(self) -> None:
        """SwitchHostLun(): the second half of A's swap, the host's LUN moves to the swapped-in P."""
        self._process(self.a.recovery.switch_lun())
        self._record("SwitchHostLun")

    def finish_recovery(self) -> RecoveryEntry:
        """FinishRecovery(): host I/O resumes. Returns the recovery that ended."""
        entry, ready = self.a.recovery.finish()
        self._process(ready)
        self.finished.append(entry)
        self._record("FinishRecovery")
        return entry

    # --- what is enabled ------------------------------------------------------------------------------

    def enabled_actions(self, without: Collection[str] = ()) -> list[Action]:
        """Every action that can be taken now, in a fixed order (``ACTION_NAMES`` order; within a name,
        ascending arguments and path order). Host writes range over ``values``. ``without``: names left
        out, for a caller that would drop them anyway (a checker whose budget for them is spent); asking
        whether a recovery may start costs an image(T) per target, so that is then not asked."""
        out: list[Action] = []
        mk = _action  # the same few actions recur in every state: each made once
        probe = self.a.host_io_refusal("probe") is None
        if probe:
            out += _host_writes(self.blocks, self.values, self.write_blocks)
            out.append(mk("SetMarker"))
        distinct = self.path.distinct()
        out += [mk("Deliver", message=m) for m in distinct]
        out += [mk("LoseMessage", message=m) for m in distinct]
        out += [mk("DuplicateMessage", message=m) for m in distinct]
        out.append(mk("FailPath") if self.path.up else mk("RepairPath"))
        timed_out = self.timed_out_write()
        if timed_out is not None and self._why_not_mirror_timeout(timed_out) is None:
            out.append(mk("MirrorTimeout", seq=timed_out))
        if self._why_not_swap_timeout() is None:
            out.append(mk("SwapTimeout"))
        out += [mk("CrashArray", array="A"), mk("CrashArray", array="R")]
        if self._why_not_checkpoint() is None:
            out.append(mk("Checkpoint"))
        if self.mutant("remote_checkpoints_alone") and self.r.log.entries:
            out.append(mk("RemoteCheckpoint"))
        if self.a.journal_cache:
            out.append(mk("PersistJournal"))
        if self._why_not_resync(finish=False) is None:
            out.append(mk("StartResync"))
        if self._why_not_resync(finish=True) is None:
            out.append(mk("FinishResync"))
        eng = self.a.recovery
        if eng.entry is None:
            if "StartRecovery" not in without:
                out += [mk("StartRecovery", target=t, kind=self.recovery_kind)
                        for t in eng.startable(self.recovery_kind)]
        else:
            out += [mk("RecoveryWrite", lba=lba)
                    for lba in range(self.blocks) if eng.check_write(lba) is None]
            if eng.check_swap() is None:
                out.append(mk("SwapVolumes"))
            if eng.check_finish() is None:
                out.append(mk("FinishRecovery"))
            if eng.check_switch_lun() is None:
                out.append(mk("SwitchHostLun"))
        if self.write_blocks > 1:
            # a power loss inside a multi-block write: at A, of a host write it could take now (left out with
            # host writes: it is one); at R, of the MirrorWrite it applies next
            if probe and "HostWrite" not in without:
                out += _crashes_mid_write(self.blocks, self.values, self.write_blocks)
            if self.path.up:
                out += [mk("CrashMidApply", message=m) for m in distinct if isinstance(m, MirrorWrite)
                        and m.nblocks > 1 and m.seq == self.r.applied_seq + 1]
        if self.path.up:  # a power loss inside R's swap, on a RecoverRequest R would act on
            out += [mk("CrashMidRemoteSwap", message=m) for m in distinct if isinstance(m, RecoverRequest)
                    and m.recovery_id > self.r.jfmt.last_recovery_id]
        return [a for a in out if a.name not in without] if without else out

    # --- random runs ----------------------------------------------------------------------------------

    def step_random(self, faults: FaultPlan | None = None) -> Action:
        """Take one enabled action chosen by the seeded RNG, weighted by kind."""
        plan = faults or FaultPlan()
        weights = dict(_WEIGHTS, LoseMessage=plan.loss, DuplicateMessage=plan.duplication,
                       FailPath=plan.path_failure, CrashArray=plan.crash, StartRecovery=plan.recovery)
        actions = self.enabled_actions()
        count: dict[str, int] = {}
        for act in actions:
            count[act.name] = count.get(act.name, 0) + 1
        w = [weights.get(act.name, 0.0) / count[act.name] for act in actions]
        for i, act in enumerate(actions):  # a timeout while the message is only late is a fault of its own
            if act.name in ("MirrorTimeout", "SwapTimeout") and self.premature_timeout(act.name):
                w[i] = plan.premature_timeout
        if not any(w):
            w = [1.0] * len(actions)
        choice = self.rng.choices(actions, w)[0]
        self.apply(choice)
        return choice

    def run_random(self, steps: int, faults: FaultPlan | None = None) -> list[Action]:
        """``steps`` random steps; returns them (they are also appended to ``events``)."""
        return [self.step_random(faults) for _ in range(steps)]

    # --- internals ------------------------------------------------------------------------------------

    def _process(self, ready: Ready) -> None:
        """Act on a Ready. Its ``persisted`` part is durable already, so only now do its messages go on
        the path and its answers go to the host."""
        for msg in ready.messages:
            self.path.send(msg)
        for req in ready.acked:
            req.status = RequestStatus.ACKED
        for req, err in ready.failed:
            req.status, req.error = RequestStatus.FAILED, err
        self.reported += ready.errors

    def _record(self, action: str, **args: Any) -> None:
        self.events.append(Action(action, tuple(args.items())))

    def _data(self, lba: int, value: Any, length: Any) -> bytes:
        """A write's data: ``length`` blocks of the model ``value``, or the bytes given (whole blocks; a
        ``length`` of 1, the default, takes bytes of any number of blocks as they are)."""
        request = f"WRITE lba={lba} length={length} to {self.a.label('primary')}"
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise InvalidParameter(request, f"a write's length is a number of blocks >= 1, got {length!r}")
        if isinstance(value, bytes | bytearray) and len(value) != BLOCK_SIZE:
            if length not in (1, len(value) // BLOCK_SIZE):
                raise InvalidParameter(request, f"{len(value)} bytes are not {length} blocks of {BLOCK_SIZE}")
            return bytes(value)  # the front end checks they are whole blocks, within the volume
        try:
            return as_block(value) * length
        except ValueError as e:
            raise InvalidParameter(request, str(e)) from None

    @staticmethod
    def _value_arg(data: bytes) -> dict[str, Any]:
        """A write's data in the trace: its model value (and its length, when more than one block), or its
        bytes (host text)."""
        n = len(data) // BLOCK_SIZE
        value = value_of_write(data)
        if value is None:
            return {"data": data}
        return {"value": value} if n == 1 else {"value": value, "length": n}

    def _on_path(self, spec: Any, verb: str) -> Message:
        try:
            msg = self.path.find(spec)
        except (TypeError, ValueError):
            raise InvalidParameter(f"{verb} {spec!r}", "not a message") from None
        if msg is None:
            raise CommandSequenceError(f"{verb} {spec!r}", "no such message is on the path")
        return msg

    def snapshot(self) -> tuple[Any, ...]:
        """Everything a step could change, for before/after comparisons."""
        a, r = self.a, self.r
        return (
            a.array.drive_images(), r.array.drive_images(), a.array.shm.snapshot(), r.array.shm.snapshot(),
            [(e.seq, e.lba, e.data, e.origin, e.host_acked, e.request and e.request.tag) for e in a.in_flight],
            list(a.journal_cache), list(r.buffer), list(self.path.messages),
            self.path.up, self.path.stats.copy(), list(self.events),
            [(q.tag, q.status) for q in self.requests], self.rng.getstate(),
        )
