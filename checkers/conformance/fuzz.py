"""Stateful fuzzing: Hypothesis drives the reference implementation and the model in lockstep.

Theory of operation (Hypothesis's ``DatabaseComparison`` shape): ``ConformanceMachine`` has one rule per
model action. Each rule's precondition asks the MODEL whether an action of that kind is enabled, and the
rule draws one of the model's enabled actions of that kind (``data.draw(sampled_from(...))``), so Hypothesis
filters instead of discarding runs and every step is one the protocol allows. The step goes to both sides
(``checkers.conformance.lockstep.Lockstep``). Two invariants run after every step:

* ``conforms``: abstraction(impl) == the model state (non-ghost, non-budget fields, differing fields named),
  and the impl enables exactly the model's actions (budgets applied);
* ``safety``: every ``Kind.ALWAYS`` property of ``spec.properties`` holds, judged by the same predicate on the
  model's state and on the impl's (``conformance.impl_state``), except the documented trade-off of the
  recovery kind (``EXPECTED_TRADE_OFFS``: ``remote_is_point_in_time`` under write-through).

Further rules are observations and bad requests: a host read must return the model's ``primary[lba]``; an
out-of-range LBA, a recovery target outside the window, a host write during a recovery, an unknown marker
must each raise the impl's typed SCSI error and change nothing. ``drain`` lets the protocol settle with the
path up (the liveness check: a host write or a recovery still pending afterwards is stuck forever).

``fuzz(config)`` runs the machine outside pytest (``run_state_machine_as_test``), and on a failure returns
Hypothesis's shrunk program and the model's (action, state) steps of that shrunk run as a trace.
"""

from __future__ import annotations

import contextlib
import functools
import pickle
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis import HealthCheck, Phase, note, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.control import current_build_context
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.internal.conjecture import engine as _engine
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from pitmirror.checkers.conformance.lockstep import (
    ConformanceError,
    Lockstep,
    PropertyViolation,
    impl_view,
    power_cut_write,
    safety_properties,
)
from pitmirror.checkers.traces.trace import Trace
from pitmirror.impl.blocks import value_of_block
from pitmirror.impl.errors import LbaOutOfRange, RecoveryInProgress, ScsiError, TargetOutOfWindow, UnknownMarker
from pitmirror.impl.mutants import IMPL_ONLY_MUTANTS, IMPL_ONLY_RECOVERY
from pitmirror.impl.system import MirroredSystem
from pitmirror.model.actions import (
    Action,
    Checkpoint,
    CrashArray,
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
)
from pitmirror.model.config import Bounds
from pitmirror.spec.properties import Kind, Property
from pitmirror.spec.state import (
    FencePolicy,
    PairState,
    RecoveryKind,
    State,
    pending_host_writes,
    recovery_active,
)

#: Defaults of ``pitmirror fuzz``: the correct protocol runs clean in a few seconds per recovery kind, and
#: every mutant is found with seed 0 (tests/test_fuzz.py).
DEFAULT_EXAMPLES = 150
DEFAULT_STEPS = 50
#: Successful shrinks Hypothesis may make of a failure (its engine's ``MAX_SHRINKS``): a step budget, not a
#: clock, so a seed shrinks to the same trace on every machine and under any load. Failed attempts are
#: bounded by the shrinker's own stall rule (it stops after a run of attempts that all fail).
DEFAULT_SHRINKS = 100
#: The bounds a fuzz run starts from. A run is a walk, not an exhaustive search, so its budgets are the
#: largest ``model.config.RANGES`` allows where that keeps a run busy: with ``check``'s default budgets
#: (3 host writes, 1 recovery) a 50-step run would idle after its first dozen steps.
FUZZ_BOUNDS = Bounds(blocks=2, values=3, host_writes=8, concurrency=2, journal_capacity=4, markers=2,
                     path_failures=2, crashes=2, message_faults=2, premature_timeouts=2, recoveries=2)
#: The bad requests of the ``bad_request`` rule.
BAD_REQUESTS = ("write_lba", "read_lba", "recovery_target", "unknown_marker", "write_during_recovery")
#: At most this many steps per drain; the correct protocol settles in far fewer at any bound in RANGES.
DRAIN_LIMIT = 200


@dataclass(frozen=True)
class FuzzConfig:
    """One fuzz run: the bounds (recovery kind and mutant included), the budget and the seed."""

    bounds: Bounds
    examples: int = DEFAULT_EXAMPLES
    steps: int = DEFAULT_STEPS
    seed: int = 0
    check_enabled: bool = True  # also require the impl's enabled actions to equal the model's
    shrink: bool = True
    shrinks: int = DEFAULT_SHRINKS  # the shrink budget, in successful shrinks
    shrink_seconds: int | None = None  # an optional wall-clock cap (off: a clock would make runs differ)
    impl_mutant: str | None = None  # a bug of the impl alone (impl.mutants.IMPL_ONLY_MUTANTS), model correct
    database: str | None = None  # a folder for Hypothesis's example database; None: none (a seed is a run)


@dataclass
class Recorder:
    """Shared by every machine of one run: counts for the progress display, and the latest machine (after
    a failure, the one that ran Hypothesis's final, shrunk example)."""

    progress: Callable[[int, int], None] | None = None  # (examples done, steps done)
    examples: int = 0
    steps: int = 0
    last: ConformanceMachine | None = None
    _shown: float = 0.0

    def step(self) -> None:
        """One rule ran."""
        self.steps += 1
        now = time.perf_counter()
        if self.progress is not None and now - self._shown > 0.1:  # repaint at most ten times a second
            self._shown = now
            self.progress(self.examples, self.steps)

    def example_done(self) -> None:
        """One example (a whole generated run) finished."""
        self.examples += 1
        if self.progress is not None:
            self.progress(self.examples, self.steps)


class Pick:
    """A drawn model action, printed in the protocol's words in Hypothesis's reproduction
    (``Draw 2 (step): HostWrite(lba=0, value=1)``; the dataclass itself would print its class variables)."""

    __slots__ = ("action",)

    def __init__(self, action: Action) -> None:
        self.action = action

    def __repr__(self) -> str:
        return repr(self.action)


class StepKind:
    """A kind of step the machine can take: a model action's class, or one of the machine's own rules
    (``HostRead``, ``BadRequest``, ``Drain``). Printed by name in Hypothesis's reproduction."""

    __slots__ = ("action", "name")

    def __init__(self, name: str, action: type[Action] | None = None) -> None:
        self.name, self.action = name, action

    def __repr__(self) -> str:
        return self.name


def _k(action: type[Action]) -> StepKind:
    return StepKind(action.__name__, action)


#: Every kind of step, in the order a drawn kind shrinks towards (first: the simplest). Only a kind with an
#: enabled instance is offered; its chance is its weight (``ConformanceMachine.weight``). First come the
#: steps that let what is pending settle (deliver, finish a recovery or a resync, repair, time out), then
#: the protocol's own moves, then new faults and the machine's rules: a failing run whose every choice has
#: shrunk to 0 lets the protocol settle whenever it can, and starts something new only when it cannot.
KINDS: tuple[StepKind, ...] = (
    _k(Deliver), _k(RecoveryWrite), _k(SwapVolumes), _k(FinishRecovery), _k(RepairPath), _k(MirrorTimeout),
    _k(SwapTimeout), _k(StartResync), _k(FinishResync), _k(PersistJournal), _k(Checkpoint), _k(HostWrite),
    _k(StartRecovery), _k(SetMarker), _k(RemoteCheckpoint), _k(FailPath), _k(LoseMessage),
    _k(DuplicateMessage), _k(CrashArray), StepKind("HostRead"), StepKind("BadRequest"), StepKind("Drain"),
    StepKind("PowerCut"),
)
BY_KIND: dict[str, StepKind] = {k.name: k for k in KINDS}
#: Base weights: the protocol's own moves are frequent; a started recovery is driven on to its end (its
#: steps weigh most), and what settles a fault (repair, timeouts, resync) is likely once it is possible.
BASE_WEIGHTS: dict[str, int] = {
    "HostWrite": 4, "Deliver": 6, "Checkpoint": 2, "StartRecovery": 1, "RecoveryWrite": 8, "SwapVolumes": 8,
    "FinishRecovery": 8, "SetMarker": 1, "FailPath": 1, "RepairPath": 4, "LoseMessage": 1, "DuplicateMessage": 1,
    "MirrorTimeout": 4, "SwapTimeout": 4, "CrashArray": 1, "StartResync": 4, "FinishResync": 4,
    "RemoteCheckpoint": 2, "PersistJournal": 2, "HostRead": 1, "BadRequest": 1, "Drain": 1, "PowerCut": 6,
}
#: Once the journal holds two records there is history to recover to and to checkpoint: these weigh more.
HISTORY_WEIGHTS: dict[str, int] = {
    "StartRecovery": 6, "Checkpoint": 4, "SetMarker": 2, "FailPath": 2, "LoseMessage": 2, "DuplicateMessage": 2,
    "CrashArray": 2, "RemoteCheckpoint": 3,
}
#: While a recovery runs: drive it to its end, and try what must not happen meanwhile (a checkpoint that
#: passes the target, a host write into a swap, a crash or a path failure in the middle).
RECOVERY_WEIGHTS: dict[str, int] = {
    **HISTORY_WEIGHTS, "Checkpoint": 8, "HostWrite": 8, "CrashArray": 2, "FailPath": 2,
}
#: Suspended with the path up and no recovery running: resynchronize promptly, as an array does, so that a
#: message left late on the path by a premature timeout is often still there when the pair is back in PAIR.
RESYNC_WEIGHTS: dict[str, int] = {"StartResync": 12, "FinishResync": 12}
#: Slots of the wheel a step's number turns: each kind owns a run of slots in ``KINDS`` order, as many as
#: its weight's share. A number picks a slot; when that kind is offered now it is taken, so a number keeps
#: its meaning (a kind) wherever it lands in a run and Hypothesis can delete the steps before it while
#: shrinking. When it is not offered, the rest of the number picks among the offered kinds by weight.
WHEEL = 1 << 10


def _wheel(weights: dict[str, int]) -> tuple[int, ...]:
    """slot -> index in ``KINDS``."""
    total = sum(weights.get(k.name, BASE_WEIGHTS[k.name]) for k in KINDS)
    bounds, acc = [], 0
    for k in KINDS:
        acc += weights.get(k.name, BASE_WEIGHTS[k.name])
        bounds.append(acc * WHEEL / total)
    return tuple(next(i for i, b in enumerate(bounds) if slot < b) for slot in range(WHEEL))


#: (weights, wheel) of each phase: no history yet, history in the journal, a recovery running, a resync due.
PHASES = tuple((w, _wheel(w)) for w in (BASE_WEIGHTS, {**BASE_WEIGHTS, **HISTORY_WEIGHTS},
                                          {**BASE_WEIGHTS, **RECOVERY_WEIGHTS},
                                          {**BASE_WEIGHTS, **HISTORY_WEIGHTS, **RESYNC_WEIGHTS}))

#: Swarm testing: each example switches each of these off (drawn by the ``start`` rule), so some runs are
#: fault-free, some never checkpoint, some never read, ... Checkpoints and recoveries are off in a quarter
#: of the examples, the rest in half. The kinds not listed (host writes, delivery, and every step that
#: settles a fault or finishes a recovery) are always on, so a run never starts what it cannot end.
SWARM: dict[str, int] = {
    "Checkpoint": 3, "StartRecovery": 3, "SetMarker": 2, "FailPath": 2, "LoseMessage": 2, "DuplicateMessage": 2,
    "CrashArray": 2, "RemoteCheckpoint": 2, "HostRead": 2, "BadRequest": 2, "Drain": 2, "PowerCut": 3,
}  # name -> off when the example's draw in 0..3 is at least this

#: The range of the number each step draws: enough for the total weight times the most instances of a
#: kind times a rule's own arguments, with room to spare so that the remainders are close to uniform.
CHOICES = 1 << 24


def _final() -> bool:
    """Whether this is Hypothesis's final run of a failing example (the one it reports): steps are noted
    in the protocol's words only then."""
    return bool(current_build_context().is_final)


def _fingerprint(system: MirroredSystem) -> bytes:
    """Everything a step could change (``Driver.snapshot``'s parts), as bytes: pickling is several times
    cheaper than the snapshot's deep copy, and equal state pickles equal. The drives are compared by their
    write counts: a refused request must not write a sector (reads change nothing)."""
    a, r = system.a, system.r
    return pickle.dumps((
        [d.writes for d in (*a.array.drives, *r.array.drives)], a.array.shm, r.array.shm,
        [(e.seq, e.lba, e.data, e.origin, e.host_acked, e.request and e.request.tag) for e in a.in_flight],
        a.journal_cache, r.buffer, system.path.messages, system.path.up, system.path.stats, len(system.events),
        [(q.tag, q.status) for q in system.requests], system.rng.getstate(),
    ))


def _kinds(enabled: Sequence[Action], *kinds: type[Action]) -> list[Action]:
    """The actions of these kinds (all of them when no kind is named)."""
    return [a for a in enabled if not kinds or isinstance(a, kinds)]


class ConformanceMachine(RuleBasedStateMachine):
    """impl against model. Subclassed per run by ``machine_class`` with the run's ``bounds`` (every step and
    both sides get the same mutant and recovery kind), or with ``impl_mutant``, a bug of the impl alone.

    One rule, ``step``, draws the kind of step (weighted, among the kinds with an enabled instance and
    switched on for this example) and then the instance: Hypothesis's own rule choice would evaluate every
    rule's precondition at every step and weighs every enabled rule the same, which buries the deep
    sequences (a few writes, then a recovery driven to its end with a checkpoint or a host write in the
    middle) under uniform noise."""

    bounds: ClassVar[Bounds] = Bounds()
    recorder: ClassVar[Recorder] = Recorder()
    check_enabled_sets: ClassVar[bool] = True
    impl_mutant: ClassVar[str | None] = None
    #: model state -> the checked properties it violates (states recur across examples: shared prefixes)
    verdicts: ClassVar[dict[State, list[Property]]] = {}

    def __init__(self) -> None:
        super().__init__()
        self._run: Lockstep | None = None
        self.props, _ = safety_properties(self.bounds)
        self.failure: AssertionError | None = None
        self.observed = False  # the last step was an observation or a bad request: nothing changed
        self.off: frozenset[str] = frozenset()  # the kinds swarm testing switched off for this example
        self.cuts: list[int] = []  # the steps that were host writes cut by a power loss
        type(self).recorder.last = self

    # --- helpers --------------------------------------------------------------------------------------

    @property
    def run(self) -> Lockstep:
        """The lockstep pair (made by the ``start`` initialize rule, which Hypothesis always runs first)."""
        assert self._run is not None, "the start rule has not run"
        return self._run

    def enabled(self, *kinds: type[Action]) -> list[Action]:
        """The model's enabled actions of these kinds (the lockstep caches them per state)."""
        if self._run is None:
            return []
        return _kinds(self._run.enabled(), *kinds)

    def offered(self) -> list[tuple[StepKind, list[Action]]]:
        """The kinds that can be taken now, with their enabled instances (none for the machine's own
        rules), swarm-switched kinds left out unless nothing else is possible."""
        s, enabled = self.run.state, self.run.enabled()
        by_class: dict[type[Action], list[Action]] = {}
        for a in enabled:
            by_class.setdefault(type(a), []).append(a)
        out: list[tuple[StepKind, list[Action]]] = []
        for k in KINDS:
            if k.action is not None:
                if k.action in by_class:
                    out.append((k, by_class[k.action]))
            elif k.name == "PowerCut":
                cut = self.power_cuts()
                if cut:
                    out.append((k, cut))
            elif k.name != "Drain" or pending_host_writes(s) or recovery_active(s):
                out.append((k, []))
        on = [(k, acts) for k, acts in out if k.name not in self.off]
        return on or out

    def take(self, a: Action) -> None:
        """Take one enabled model action on both sides."""
        self.run.step(a)
        self.observed = False
        type(self).recorder.step()

    def refused(self, request: Callable[[], object], expected: type[ScsiError], what: str) -> None:
        """A bad request: the impl must refuse it with ``expected`` (a typed SCSI error) and change
        nothing, the abstraction and the whole system snapshot compared before and after."""
        system = self.run.system
        view, snap = impl_view(system), _fingerprint(system)
        try:
            request()
        except ScsiError as e:
            if not isinstance(e, expected):
                raise AssertionError(f"{what}: the impl raised {type(e).__name__} ({e}), "
                                     f"expected {expected.__name__}") from None
        else:
            raise AssertionError(f"{what}: the impl accepted it, expected {expected.__name__}")
        if impl_view(system) != view or _fingerprint(system) != snap:
            raise AssertionError(f"{what}: refused, but the impl's state changed")
        self.observed = True
        type(self).recorder.step()

    def _fail(self, e: AssertionError) -> None:
        self.failure = e
        raise e

    # --- setup ----------------------------------------------------------------------------------------

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        """A fresh impl and the model's initial state, for one of the bounds' fence policies; and the swarm:
        which optional kinds of step this example leaves out (each drawn, so it shrinks to "all on")."""
        fences = self.bounds.fence_policies
        fence = fences[0] if len(fences) == 1 else data.draw(st.sampled_from(fences), label="fence_policy")
        draws = data.draw(st.lists(st.integers(0, 3), min_size=len(SWARM), max_size=len(SWARM)), label="swarm")
        self.off = frozenset(k for (k, at), d in zip(SWARM.items(), draws, strict=True) if d >= at)
        self._run = Lockstep(self.bounds, fence, impl_mutant=self.impl_mutant)

    # --- the one rule ---------------------------------------------------------------------------------

    @rule(choice=st.integers(0, CHOICES - 1))
    def step(self, choice: int) -> None:
        """One step, from one drawn number (one draw per step: Hypothesis's per-draw cost is most of a step
        otherwise): its remainder by the total weight picks the kind, the rest picks the instance and any
        argument of the machine's own rules. Every part shrinks towards 0: the first kind offered (a host
        write), the first instance in the model's order. ``note`` prints the step in the protocol's words
        in the reproduction of a failure."""
        s = self.run.state
        offered = dict(self.offered())
        weights, wheel = PHASES[2 if s.recovery is not None else 3 if s.pair_state != PairState.PAIR and s.path_up
                                else 1 if len(s.journal) >= 2 else 0]
        k, rest = KINDS[wheel[choice % WHEEL]], choice // WHEEL
        if k not in offered:
            total = sum(weights[o.name] for o in offered)
            r, rest = rest % total, rest // total
            for k in offered:
                r -= weights[k.name]
                if r < 0:
                    break
        acts = offered[k]
        if k.name == "PowerCut":
            self.power_cut(acts[rest % len(acts)])
            return
        if k.action is None:
            {"HostRead": self.host_read, "BadRequest": self.bad_request, "Drain": self.drain}[k.name](rest)
            return
        a = acts[rest % len(acts)]
        if isinstance(a, StartRecovery):
            self.start_recovery(a, rest // len(acts))
        else:
            self.take(a)
        if _final():
            note(f"step {self.run.step_index}: {a!r}")

    def start_recovery(self, a: StartRecovery, rest: int) -> None:
        """StartRecovery(target): a target that is a marker's seq is named by the marker when ``rest`` is
        odd (the impl resolves names, the model speaks seqs)."""
        names = [n for n, seq in sorted(self.run.system.markers.items()) if seq == a.target]
        if names and rest % 2:
            self.run.step(a, lambda: self.run.system.start_recovery(names[0], a.kind))
        else:
            self.run.step(a)
        self.observed = False
        type(self).recorder.step()

    def power_cuts(self) -> list[Action]:
        """The host writes a power loss may cut between their journal commit and their P write, where that
        run is the model's ``HostWrite`` then ``CrashArray("A")``: nothing of the write reaches the path
        (the pair is suspended with fence ``never``, or in PAIR with the path down), so after the restart's
        redo the impl must be where the model is. Only for the correct model (a model mutant may change
        what a write or a crash does)."""
        run = self.run
        s = run.state
        if self.bounds.mutant is not None or s.crashes >= self.bounds.crashes or s.journal_cache:
            return []
        quiet = (s.pair_state == PairState.SUSPENDED and s.fence_policy == FencePolicy.NEVER) or \
            (s.pair_state == PairState.PAIR and not s.path_up)
        return self.enabled(HostWrite) if quiet else []

    def power_cut(self, a: Action) -> None:
        """PowerCut: the power fails after the write's journal record is on J (its sectors written and the
        log table committed) and before P is written; A restarts (``CrashArray("A")``), and its redo must
        write P. Two model steps, checked together after the second (in between, the impl is mid-write)."""
        assert isinstance(a, HostWrite)
        system = self.run.system
        self.run.step(a, lambda: power_cut_write(system, a))
        self.cuts.append(self.run.step_index)
        self.run.step(CrashArray("A"))
        self.observed = False
        type(self).recorder.step()
        if _final():
            note(f"step {self.run.step_index - 1}: {a!r} cut by a power loss before P is written")
            note(f"step {self.run.step_index}: {CrashArray('A')!r}")

    def host_read(self, rest: int) -> None:
        """A host READ returns the model's ``primary[lba]``; during a recovery it is refused (NOT READY)
        and changes nothing."""
        s, system = self.run.state, self.run.system
        lba = rest % self.bounds.blocks
        if s.recovery is not None:
            self.refused(lambda: system.read(lba), RecoveryInProgress, f"READ lba={lba} during a recovery")
            return
        got = value_of_block(system.read(lba))
        if got != s.primary[lba]:
            self._fail(ConformanceError(self.run.step_index, f"READ lba={lba}: impl {got} != model "
                                                             f"primary[{lba}]={s.primary[lba]}", ("primary",)))
        self.observed = True
        type(self).recorder.step()

    def drain(self, rest: int) -> None:
        """Let the protocol settle, path up, no new faults: every host write must end and every recovery
        too (host_write_completes, recovery_completes)."""
        try:
            self.run.check_liveness(DRAIN_LIMIT)
        except (PropertyViolation, ConformanceError) as e:
            self._fail(e)
        self.observed = False
        type(self).recorder.step()

    def bad_request(self, rest: int) -> None:
        """A request the impl must refuse with its typed SCSI error, changing nothing:

        * WRITE or READ outside the volume: ILLEGAL REQUEST / LBA OUT OF RANGE;
        * RECOVER to a seq outside ``[base_seq, next_seq - 1]``: RECOVERY TARGET OUT OF WINDOW;
        * RECOVER to a marker name never set: UNKNOWN MARKER;
        * a host WRITE while a recovery freezes host I/O: NOT READY / RECOVERY IN PROGRESS.

        While a recovery runs, RECOVERY IN PROGRESS is the answer to any RECOVER (that check comes first)."""
        s, system, n = self.run.state, self.run.system, self.bounds.blocks
        kind, rest = BAD_REQUESTS[rest % len(BAD_REQUESTS)], rest // len(BAD_REQUESTS)
        if kind == "write_during_recovery" and (s.recovery is None or self.enabled(HostWrite)):
            kind = "write_lba"  # no recovery freezes host I/O now (swap_without_freeze lets writes in)
        recovering = s.recovery is not None
        if kind in ("write_lba", "read_lba"):
            lba = (-1, n, n + 5)[rest % 3]
            if kind == "write_lba":
                self.refused(lambda: system.host_write(lba, 0), LbaOutOfRange, f"WRITE lba={lba}")
            else:
                self.refused(lambda: system.read(lba), LbaOutOfRange, f"READ lba={lba}")
        elif kind == "recovery_target":
            outside = [s.next_seq, s.next_seq + 3] + ([s.base_seq - 1] if s.base_seq > 0 else [])
            target = outside[rest % len(outside)]
            self.refused(lambda: system.start_recovery(target, self.bounds.recovery_kind),
                         RecoveryInProgress if recovering else TargetOutOfWindow, f"RECOVER to seq {target}")
        elif kind == "unknown_marker":
            self.refused(lambda: system.start_recovery("no-such-marker", self.bounds.recovery_kind),
                         RecoveryInProgress if recovering else UnknownMarker, "RECOVER to marker 'no-such-marker'")
        else:
            lba = rest % n
            self.refused(lambda: system.host_write(lba, 1), RecoveryInProgress,
                         f"WRITE lba={lba} during a recovery")

    # --- after every step -------------------------------------------------------------------------------

    @invariant()
    def conforms_and_safe(self) -> None:
        """abstraction(impl) == model state, the same actions enabled on both sides, then every safety
        property of the catalogue (trade-offs of this recovery kind excepted). Skipped after an observation
        or a refused request, which changed nothing (``refused`` checks that); a property's verdict on a
        model state is computed once per run, and not again on the impl's state when it conforms (it is
        then the same state)."""
        run = self._run
        if run is None or self.observed:
            return
        try:
            run.check_conforms()
            if self.check_enabled_sets:
                run.check_enabled()
        except ConformanceError as e:
            self._fail(e)
        verdicts = type(self).verdicts
        broken = verdicts.get(run.state)
        if broken is None:
            if len(verdicts) > 200_000:
                verdicts.clear()
            broken = verdicts[run.state] = [p for p in self.props if not p.predicate(run.state)]
        if broken:
            self._fail(PropertyViolation(broken[0], run.step_index, "model"))

    def teardown(self) -> None:
        """Count the example for the progress display."""
        type(self).recorder.example_done()


@contextlib.contextmanager
def shrink_budget(shrinks: int, seconds: float | None = None) -> Iterator[None]:
    """Bound Hypothesis's shrinking by a count: at most ``shrinks`` successful shrinks (its engine's module
    constant ``MAX_SHRINKS``), and no clock unless ``seconds`` is given (``MAX_SHRINKING_SECONDS``, which
    is otherwise set out of reach so that the search, not the machine's speed, decides where shrinking
    ends). Hypothesis has settings for neither; both constants are set for this run and put back. (If a
    future Hypothesis drops one, that limit falls back to Hypothesis's own.)"""
    names = {"MAX_SHRINKS": max(1, shrinks), "MAX_SHRINKING_SECONDS": 10**9 if seconds is None else int(seconds)}
    old = {n: getattr(_engine, n) for n in names if hasattr(_engine, n)}
    for n in old:
        setattr(_engine, n, names[n])
    try:
        yield
    finally:
        for n, v in old.items():
            setattr(_engine, n, v)


@contextlib.contextmanager
def private_hypothesis_home() -> Iterator[None]:
    """Give Hypothesis a throw-away home for this run. Even without an example database it writes caches
    (``.hypothesis/constants/``) into the working directory, and a run must write nothing there but what
    its options name."""
    with tempfile.TemporaryDirectory(prefix="pitmirror-hypothesis-") as home:
        set_hypothesis_home_dir(home)
        try:
            yield
        finally:
            set_hypothesis_home_dir(None)  # back to Hypothesis's own default (its environment variable or cwd)


def machine_class(config: FuzzConfig, recorder: Recorder) -> type[ConformanceMachine]:
    """A ``ConformanceMachine`` for these bounds; the seed is attached the way ``@hypothesis.seed`` does."""
    who = config.impl_mutant or config.bounds.mutant or "correct"
    name = f"ConformanceMachine_{who}_{config.bounds.recovery_kind.name.lower()}"
    cls = type(name, (ConformanceMachine,), {
        "bounds": config.bounds, "recorder": recorder, "check_enabled_sets": config.check_enabled,
        "impl_mutant": config.impl_mutant, "verdicts": {},
    })
    return hypothesis_seed(config.seed)(cls)


def hypothesis_settings(config: FuzzConfig) -> settings:
    """Settings for a run outside pytest: deterministic for the seed (no example database unless the config
    names a folder for one, since a run is reproduced from its seed and a saved example would change it; no
    deadline; every health check off, the machine's draws are deliberate; the shrink phase bounded by
    ``shrink_budget``, not by time)."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if config.shrink else [])
    database = None if config.database is None else DirectoryBasedExampleDatabase(config.database)
    return settings(max_examples=config.examples, stateful_step_count=config.steps, database=database,
                    deadline=None, derandomize=False, suppress_health_check=list(HealthCheck),
                    report_multiple_bugs=False, print_blob=False, phases=phases)


@dataclass
class Failure:
    """What a failing run found: the property (or the divergence), Hypothesis's shrunk program, and the
    shrunk run's model steps as a trace (``None`` for a divergence that violates no property)."""

    kind: str  # "violation" (a property), "divergence" (impl != model, or a wrong refusal), "error" (impl raised)
    message: str
    prop: Property | None
    step: int | None
    program: list[str]
    trace: Trace | None
    on: str = "model"
    fields: tuple[str, ...] = ()  # a divergence: the fields where impl and model first differ
    actions: list[Action] = field(default_factory=list)  # the shrunk run's model actions, in order
    fence: FencePolicy | None = None  # the shrunk run's fence policy
    bounds: Bounds | None = None
    impl_mutant: str | None = None
    power_cuts: list[int] = field(default_factory=list)  # steps that were host writes cut by a power loss

    def replay(self, with_impl_mutant: bool = True) -> ConformanceError | None:
        """Run ``actions`` again on a fresh impl (with the run's impl-only mutant, unless told not to) and
        the model, comparing after every step: the divergence found, or ``None`` if the impl conforms."""
        assert self.fence is not None and self.bounds is not None
        run = Lockstep(self.bounds, self.fence, impl_mutant=self.impl_mutant if with_impl_mutant else None)
        try:
            run.check_conforms()
            for i, a in enumerate(self.actions, start=1):
                if i in self.power_cuts and isinstance(a, HostWrite):
                    run.step(a, functools.partial(power_cut_write, run.system, a))
                    continue  # mid-write until the restart, the next step
                run.step(a)
                run.check_conforms()
        except ConformanceError as e:
            return e
        return None

    def script(self) -> list[str]:
        """The shrunk run as a protocol script, one model action per line."""
        return [f"{i:>3}  {a!r}" + ("  (cut by a power loss before P is written)" if i in self.power_cuts else "")
                for i, a in enumerate(self.actions, start=1)]


@dataclass
class FuzzTrace(Trace):
    """A fuzz trace that also records an impl-only mutant and the divergence it causes (extra top-level keys
    of the trace document, which ``replay_on_impl`` reads: the model's steps are the correct protocol's)."""

    impl_mutant: str | None = None
    divergence: dict[str, Any] | None = None
    power_cuts: list[int] = field(default_factory=list)  # steps that were host writes cut by a power loss

    def to_dict(self) -> dict[str, Any]:
        """The trace format's document, with ``impl_mutant``, ``divergence`` and ``power_cuts`` when set."""
        doc = super().to_dict()
        if self.power_cuts:
            doc["power_cuts"] = list(self.power_cuts)
        if self.impl_mutant is not None:
            doc["impl_mutant"] = self.impl_mutant
        if self.divergence is not None:
            doc["divergence"] = self.divergence
        return doc


@dataclass
class FuzzResult:
    """One run's outcome."""

    config: FuzzConfig
    examples: int
    steps: int
    seconds: float
    excluded: list[tuple[Property, str]] = field(default_factory=list)
    failure: Failure | None = None
    cpu_seconds: float = 0.0  # this process's CPU time: the rate on one core, whatever else runs

    @property
    def steps_per_cpu_second(self) -> float:
        """Fuzz steps per CPU-second of this process."""
        return self.steps / max(self.cpu_seconds, 1e-9)

    @property
    def clean(self) -> bool:
        """No property violated and no divergence."""
        return self.failure is None

    @property
    def steps_per_second(self) -> float:
        """Fuzz steps (rules run, shrinking included) per second."""
        return self.steps / max(self.seconds, 1e-9)


def _trace_of(config: FuzzConfig, machine: ConformanceMachine | None, prop: Property, note: str) -> Trace | None:
    if machine is None or machine._run is None:
        return None
    run = machine._run
    bounds = config.bounds
    if prop.kind is Kind.EVENTUALLY:
        # The drain judged "stuck without a new fault"; the model's trap check counts a crash of A (which
        # fails the write) as a way out. Tightening the fault budgets to those the run used makes the
        # model's question the drain's, and the run still replays (it used no more than that).
        s = run.state
        bounds = bounds.with_(crashes=s.crashes, path_failures=s.path_failures, message_faults=s.message_faults)
    return FuzzTrace("fuzz", bounds, prop, "violated", list(run.steps), note=note, impl_mutant=config.impl_mutant,
                     power_cuts=list(machine.cuts))


def fuzz(config: FuzzConfig, progress: Callable[[int, int], None] | None = None) -> FuzzResult:
    """Run the machine outside pytest. On a failure, the result holds Hypothesis's shrunk program (as it
    prints it) and the final shrunk run's model steps as a ``fuzz`` trace naming the violated property."""
    recorder = Recorder(progress=progress)
    cls = machine_class(config, recorder)
    _, excluded = safety_properties(config.bounds)
    lines: list[str] = []
    started, cpu_started = time.perf_counter(), time.process_time()
    failure: Failure | None = None
    try:
        def report(text: object) -> None:
            lines.append(str(text))

        with with_reporter(report), shrink_budget(config.shrinks, config.shrink_seconds), private_hypothesis_home():
            run_state_machine_as_test(cls, settings=hypothesis_settings(config))  # type: ignore[no-untyped-call,unused-ignore]
    except HypothesisException:
        raise  # a broken machine definition or a flaky run: a bug of the fuzzer, not a finding
    except Exception as e:  # PropertyViolation, ConformanceError, a bad request's check, or an impl crash
        machine = recorder.last  # the final run Hypothesis made of the shrunk example
        program = [*lines, *getattr(e, "__notes__", [])]
        actions = [] if machine is None or machine._run is None else \
            [a for a, _ in machine._run.steps if a is not None]
        fence = None if machine is None or machine._run is None else machine._run.fence
        where: dict[str, Any] = {"actions": actions, "fence": fence, "bounds": config.bounds,
                                 "impl_mutant": config.impl_mutant,
                                 "power_cuts": [] if machine is None else list(machine.cuts)}
        if not isinstance(e, AssertionError):
            # the impl (or the model) raised something other than a typed refusal: shrunk like any failure
            step = machine._run.step_index if machine is not None and machine._run is not None else None
            failure = Failure("error", f"{type(e).__name__}: {e}", None, step, program, None, **where)
        elif isinstance(e, PropertyViolation):
            note = f"found by pitmirror fuzz --seed {config.seed}: {e}"
            failure = Failure("violation", str(e), e.prop, e.step, program,
                              _trace_of(config, machine, e.prop, note), on=e.on, **where)
        else:
            step = e.step if isinstance(e, ConformanceError) else None
            fields = e.fields if isinstance(e, ConformanceError) else ()
            failure = Failure("divergence", str(e), None, step, program, None, fields=fields, **where)
            if machine is not None and machine._run is not None:
                # a divergence names no property; when the impl's view violates one, the trace shows that
                broken = machine._run.violated(machine.props)
                if broken:
                    prop, on = broken[0]
                    failure.prop, failure.on = prop, on
                    failure.trace = _trace_of(config, machine, prop, f"impl diverges from the model: {e}")
                    if isinstance(failure.trace, FuzzTrace):
                        failure.trace.divergence = {"step": step, "fields": list(fields)}
    return FuzzResult(config, recorder.examples, recorder.steps, time.perf_counter() - started, excluded, failure,
                      cpu_seconds=time.process_time() - cpu_started)


def scorecard_cell(mutant: str | None, bounds: Bounds) -> dict[str, Any]:
    """The scorecard's fuzz column: seed 0 at the default budget, on the fuzzer's own bounds
    (``FUZZ_BOUNDS``: a longer run than the explicit checker's bounds, which it would exhaust in a dozen
    steps) with the row's mutant and recovery kind; the correct protocol is fuzzed with both kinds."""
    kinds = [bounds.recovery_kind] if mutant is not None else list(RecoveryKind)
    started = time.perf_counter()
    steps = 0
    excluded: list[str] = []
    for kind in kinds:
        result = fuzz(FuzzConfig(FUZZ_BOUNDS.with_(mutant=mutant, recovery_kind=kind)))
        steps += result.steps
        excluded += [p.name for p, _ in result.excluded]
        f = result.failure
        if f is not None:
            trace_steps = None if f.trace is None else len(f.trace.steps) - 1
            what = f.prop.name if f.prop is not None else f"{f.kind}: {f.message}"
            verdict = "caught" if mutant is not None else "false alarm"
            return {"verdict": verdict, "property": what, "steps": trace_steps,
                    "seconds": time.perf_counter() - started,
                    "note": f"{result.steps} fuzz steps to find it, shrunk to {trace_steps} model steps"}
    seconds = time.perf_counter() - started
    if mutant is not None:
        return {"verdict": "missed", "seconds": seconds,
                "note": f"seed 0, {steps} steps at the default budget found no violation"}
    note = f"{steps} steps clean" + (f"; not checked for write-through: {', '.join(sorted(set(excluded)))} "
                                      "(expected trade-off)" if excluded else "")
    return {"verdict": "holds", "seconds": seconds, "note": note}


def impl_only_cell(name: str, seed: int = 0) -> dict[str, Any]:
    """A scorecard cell for a bug of the impl alone (``impl.mutants.IMPL_ONLY_MUTANTS``): fuzz at the
    default budget with the model correct, shrinking by the default count (so the cell is the same on
    every machine). Caught means conformance found the impl departing from the model; ``property`` names
    the first divergent fields (``conformance: journal``), ``steps`` the shrunk run's length. The fields are
    those of ``scorecard_cell``'s mapping (``checkers.reports.scorecard.Cell``)."""
    if name not in IMPL_ONLY_MUTANTS:
        raise KeyError(f"unknown impl-only mutant {name!r}; valid: {', '.join(IMPL_ONLY_MUTANTS)}")
    kind = RecoveryKind[IMPL_ONLY_RECOVERY.get(name, "writethrough").upper()]
    started = time.perf_counter()
    result = fuzz(FuzzConfig(FUZZ_BOUNDS.with_(recovery_kind=kind), seed=seed, impl_mutant=name))
    seconds = time.perf_counter() - started
    f = result.failure
    if f is None:
        return {"verdict": "missed", "seconds": seconds,
                "note": f"seed {seed}, {result.steps} steps at the default budget: the impl conformed throughout"}
    if f.kind != "divergence":
        return {"verdict": "missed", "seconds": seconds,
                "note": f"seed {seed}: not a divergence but {f.kind}: {f.message}"}
    return {"verdict": "caught", "property": f"conformance: {', '.join(f.fields)}", "steps": len(f.actions),
            "seconds": seconds, "note": f"{result.steps} fuzz steps to find and shrink it; impl != model "
                                        f"first at step {f.step} ({', '.join(f.fields)})"}


__all__ = [
    "DEFAULT_EXAMPLES", "DEFAULT_SHRINKS", "DEFAULT_STEPS", "FUZZ_BOUNDS", "ConformanceMachine", "Failure",
    "FuzzConfig", "FuzzResult", "FuzzTrace", "fuzz", "impl_only_cell", "machine_class", "scorecard_cell",
    "shrink_budget",
]
