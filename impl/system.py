"""The scripting API over the driver: write and read as the host, set markers, recover to a marker by
either method, resynchronize, inspect volumes and tables. Each call runs the protocol (deliveries, and
timeouts when nothing else can happen) until its request is answered. See ``impl/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pitmirror.impl.abstraction import abstract_state
from pitmirror.impl.actions import Action
from pitmirror.impl.driver import Driver, parse_recovery_kind
from pitmirror.impl.errors import RecoveryInProgress, RecoveryStalled, ScsiError
from pitmirror.impl.path import PathStats
from pitmirror.impl.ready import HostRequest, RequestStatus
from pitmirror.impl.record import JournalRecord
from pitmirror.impl.states import JournalingState, PairState, RecoveryKind


@dataclass
class RecoveryReport:
    """How a recovery ran: its target, how many blocks differed, what crossed the path, its steps."""

    method: RecoveryKind
    target: int
    to: int | str
    blocks_differing: int
    crossed: PathStats
    steps: list[Action] = field(default_factory=list)
    left_pair: bool = False

    def __str__(self) -> str:
        how = "write-through" if self.method == RecoveryKind.WRITETHROUGH else "swap"
        return (f"{how} recovery to {self.to!r} (seq {self.target}): {self.blocks_differing} blocks "
                f"differed; crossed the path: {self.crossed.summary()}; {len(self.steps)} steps"
                + ("; the pair left PAIR" if self.left_pair else ""))


class MirroredSystem(Driver):
    """Array A with P, J and B; array R with S, JR and RB; the path between them. See ``Driver`` for the
    step-by-step API and the constructor's arguments."""

    # --- host I/O -------------------------------------------------------------------------------------

    def write(self, lba: int, data: int | bytes) -> HostRequest:
        """Host WRITE: issue it and run the protocol until it is acknowledged. Raises the refusal, or the
        failure (fence ``data`` with the path down). Only ``no_remote_timeout`` can leave it pending."""
        req = self.host_write(lba, data)
        if not req.done:
            self.stabilize()
        if req.status is RequestStatus.FAILED:
            assert req.error is not None
            raise req.error
        return req

    def read(self, lba: int) -> bytes:
        """Host READ of P through LUN 0 (refused while a recovery freezes host I/O)."""
        err = self.a.array.front_end.check_host_io("READ", lba)
        if err is not None:
            raise err
        r = self.a.jfmt.recovery
        if r is not None:
            raise RecoveryInProgress(f"READ lba={lba} from {self.a.label('primary')}",
                                     f"a recovery to seq {r.target} freezes host I/O")
        return self.a.array.read_lun(0, lba)  # through the host-LUN map

    def read_remote(self, lba: int) -> bytes:
        """Block ``lba`` of S, as a disaster-recovery host at R would read it."""
        return self.r.array.read("remote", lba)

    # --- running the protocol -------------------------------------------------------------------------

    def stabilize(self, max_steps: int = 100_000) -> int:
        """Deliver everything on the path (in seeded random order) and fire timeouts when nothing else
        can happen, until the path is quiet. Returns the steps taken."""
        steps = 0
        while steps < max_steps:
            if self.path.up and self.path.messages:
                self.deliver(self.rng.choice(self.path.distinct()))
            else:
                lost = self.lost_write()
                if lost is not None and self._why_not_mirror_timeout(lost) is None:
                    self.mirror_timeout(lost)
                elif self._why_not_swap_timeout() is None:
                    self.swap_timeout()
                else:
                    break
            steps += 1
        return steps

    def resync(self) -> None:
        """Bring a suspended pair back to PAIR: StartResync, FinishResync, and the delivery of R's answer."""
        self.stabilize()
        if self.a.pair.pair_state == PairState.SUSPENDED:
            self.start_resync()
        if self.a.pair.pair_state == PairState.COPY:
            self.finish_resync()
            self.stabilize()  # R's answer ends COPY

    def recover(self, to: int | str, method: Any = None, max_steps: int = 100_000) -> RecoveryReport:
        """Recover P (and S) to ``to``, a seq or a marker name, by ``method`` (``"writethrough"`` or
        ``"swap"``; default the system's), running the protocol to completion through the driver. A
        suspended pair is resynchronized first (recovery needs PAIR) and after, if a fault suspended it."""
        kind = self.recovery_kind if method is None else parse_recovery_kind(method)
        err = self.a.recovery.check_target(to, kind)  # a bad request is refused before anything runs
        if err is not None:
            raise err
        self.stabilize()
        if self.a.jfmt.recovery is None and self.a.pair.pair_state != PairState.PAIR:
            self.resync()
        err = self.a.recovery.check_start(to, kind)
        if err is not None:
            raise err
        target = self.a.recovery.resolve(to)
        image = self.a.recovery.image(target)
        differing = sum(1 for p, v in zip(self.a.primary(), image, strict=True) if p != v)
        before, first = self.path.stats.copy(), len(self.events)
        self.start_recovery(to, kind)
        left_pair = self.resume_recovery(max_steps)
        return RecoveryReport(kind, target, to, differing, self.path.stats.since(before),
                              self.events[first:], left_pair)

    def resume_recovery(self, max_steps: int = 100_000) -> bool:
        """Run the recovery in progress (after a crash, say) to its end, then resynchronize if a fault
        suspended the pair and the path is up. Returns whether the pair left PAIR on the way;
        ``RecoveryStalled`` when no step can make progress (the path stays down)."""
        left_pair, steps = self.a.pair.pair_state != PairState.PAIR, 0
        while self.a.jfmt.recovery is not None:
            if steps >= max_steps or not self._progress():
                r = self.a.jfmt.recovery
                raise RecoveryStalled(f"RECOVER {self.a.label('primary')} to seq {r.target}",
                                      f"no step makes progress (path {'up' if self.path.up else 'down'}, "
                                      f"pair_state={self.a.pair.pair_state.name})")
            left_pair |= self.a.pair.pair_state != PairState.PAIR
            steps += 1
        if self.a.pair.pair_state != PairState.PAIR and self.path.up:
            self.resync()
        return left_pair

    def _progress(self) -> bool:
        """Take the step that best moves the running recovery on; False when none can."""
        eng = self.a.recovery
        if eng.check_finish() is None:
            self.finish_recovery()
            return True
        for lba in range(self.blocks):
            if eng.check_write(lba) is None:
                self.recovery_write(lba)
                return True
        if eng.check_swap() is None:
            self.swap_volumes()
            return True
        if eng.check_switch_lun() is None:
            self.switch_host_lun()
            return True
        if self.path.up and self.path.messages:
            self.deliver(self.rng.choice(self.path.distinct()))
            return True
        lost = self.lost_write()
        if lost is not None and self._why_not_mirror_timeout(lost) is None:
            self.mirror_timeout(lost)
            return True
        for why_not, step in ((self._why_not_swap_timeout(), self.swap_timeout),
                              (self._why_not_resync(finish=False), self.start_resync),
                              (self._why_not_resync(finish=True), self.finish_resync)):
            if why_not is None:
                step()
                return True
        return False

    # --- inspection -----------------------------------------------------------------------------------

    def primary_blocks(self) -> list[bytes]:
        """P, every block."""
        return self.a.primary()

    def remote_blocks(self) -> list[bytes]:
        """S, every block."""
        return self.r.remote()

    def base_blocks(self) -> list[bytes]:
        """B, every block."""
        return self.a.base()

    def replica_base_blocks(self) -> list[bytes]:
        """RB, every block."""
        return self.r.replica_base()

    def image(self, target: int | str) -> list[bytes]:
        """A's replay(B, J, target): the image a recovery to ``target`` restores."""
        return self.a.recovery.image(self.a.recovery.resolve(target))

    def journal_records(self) -> list[JournalRecord]:
        """J's records (verified), oldest first."""
        return self.a.journal.records()

    def remote_journal_records(self) -> list[JournalRecord]:
        """JR's records (verified), oldest first."""
        return self.r.journal.records()

    @property
    def markers(self) -> dict[str, int]:
        """Marker name -> seq, for the markers still in the window."""
        return dict(self.a.log.markers)

    @property
    def pair_state(self) -> PairState:
        """The pair table's state."""
        return self.a.pair.pair_state

    @property
    def journaling_state(self) -> JournalingState:
        """The journal function management table's state."""
        return self.a.jfmt.journaling_state

    @property
    def window(self) -> range:
        """The recoverable window ``[base_seq, next_seq - 1]``."""
        return self.a.jfmt.window()

    def abstract_state(self) -> dict[str, Any]:
        """The state in the model's terms (``spec.state.State``'s non-ghost fields)."""
        return abstract_state(self)

    def audit(self) -> list[ScsiError]:
        """Scrub both journals: every record that cannot be trusted (nothing is changed)."""
        return [*self.a.journal.audit(), *self.r.journal.audit()]
