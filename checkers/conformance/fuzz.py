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
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.internal.conjecture import engine as _engine
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from pitmirror.checkers.conformance.lockstep import (
    ConformanceError,
    Lockstep,
    PropertyViolation,
    impl_view,
    safety_properties,
)
from pitmirror.checkers.traces.trace import Trace
from pitmirror.impl.blocks import value_of_block
from pitmirror.impl.errors import LbaOutOfRange, RecoveryInProgress, ScsiError, TargetOutOfWindow, UnknownMarker
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
from pitmirror.model.config import RANGES, Bounds
from pitmirror.spec.properties import Kind, Property
from pitmirror.spec.state import RecoveryKind, State, pending_host_writes, recovery_active

#: Defaults of ``pitmirror fuzz``: the correct protocol runs clean in a few seconds per recovery kind, and
#: every mutant is found with seed 0 (tests/test_fuzz.py).
DEFAULT_EXAMPLES = 150
DEFAULT_STEPS = 50
#: Seconds Hypothesis may spend shrinking a failure (its own cap is 300 s, too long at a terminal or in CI).
DEFAULT_SHRINK_SECONDS = 30
#: The bounds a fuzz run starts from. A run is a walk, not an exhaustive search, so its budgets are the
#: largest ``model.config.RANGES`` allows where that keeps a run busy: with ``check``'s default budgets
#: (3 host writes, 1 recovery) a 50-step run would idle after its first dozen steps.
FUZZ_BOUNDS = Bounds(blocks=2, values=3, host_writes=8, concurrency=2, journal_capacity=4, markers=2,
                     path_failures=2, crashes=2, message_faults=2, recoveries=2)
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
    shrink_seconds: int = DEFAULT_SHRINK_SECONDS
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


def _draw(data: st.DataObject, actions: Sequence[Action]) -> Action:
    """One of ``actions``, drawn by Hypothesis (so it shrinks towards the first, in the model's order)."""
    return data.draw(st.sampled_from([Pick(a) for a in actions]), label="step").action


def _kinds(enabled: Sequence[Action], *kinds: type[Action]) -> list[Action]:
    """The actions of these kinds (all of them when no kind is named)."""
    return [a for a in enabled if not kinds or isinstance(a, kinds)]


class ConformanceMachine(RuleBasedStateMachine):
    """impl against model, one rule per model action. Subclassed per run by ``machine_class`` with the
    run's ``bounds`` (every rule and both sides get the same mutant and recovery kind)."""

    bounds: ClassVar[Bounds] = Bounds()
    recorder: ClassVar[Recorder] = Recorder()
    check_enabled_sets: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self._run: Lockstep | None = None
        self._enabled: tuple[State, list[Action]] | None = None
        self.props, _ = safety_properties(self.bounds)
        self.failure: AssertionError | None = None
        self.observed = False  # the last rule was an observation or a bad request, not a protocol step
        type(self).recorder.last = self

    # --- helpers --------------------------------------------------------------------------------------

    @property
    def run(self) -> Lockstep:
        """The lockstep pair (made by the ``start`` initialize rule, which Hypothesis always runs first)."""
        assert self._run is not None, "the start rule has not run"
        return self._run

    def enabled(self, *kinds: type[Action]) -> list[Action]:
        """The model's enabled actions of these kinds. Cached per state: every rule's precondition asks."""
        if self._run is None:
            return []
        s = self._run.state
        if self._enabled is None or self._enabled[0] is not s:
            self._enabled = (s, self._run.enabled())
        return _kinds(self._enabled[1], *kinds)

    def take(self, data: st.DataObject | None, kind: type[Action]) -> None:
        """Take one enabled action of ``kind`` (drawn when there is a choice) on both sides."""
        choices = self.enabled(kind)
        a = choices[0] if data is None or len(choices) == 1 else _draw(data, choices)
        self.run.step(a)
        self.observed = False
        type(self).recorder.step()

    def may_observe(self) -> bool:
        """Precondition of the observations and bad requests: never two in a row while the protocol can
        move. They are always enabled, and Hypothesis's swarm testing (it switches rules off per example)
        otherwise lets them fill whole runs in states where the few enabled protocol rules are off."""
        return self._run is not None and (not self.observed or not self.enabled())

    def refused(self, request: Callable[[], object], expected: type[ScsiError], what: str) -> None:
        """A bad request: the impl must refuse it with ``expected`` (a typed SCSI error) and change
        nothing, the abstraction and the whole system snapshot compared before and after."""
        system = self.run.system
        view, snap = impl_view(system), system.snapshot()
        try:
            request()
        except ScsiError as e:
            if not isinstance(e, expected):
                raise AssertionError(f"{what}: the impl raised {type(e).__name__} ({e}), "
                                     f"expected {expected.__name__}") from None
        else:
            raise AssertionError(f"{what}: the impl accepted it, expected {expected.__name__}")
        if impl_view(system) != view or system.snapshot() != snap:
            raise AssertionError(f"{what}: refused, but the impl's state changed")
        self.observed = True
        type(self).recorder.step()

    def _fail(self, e: AssertionError) -> None:
        self.failure = e
        raise e

    # --- setup ----------------------------------------------------------------------------------------

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        """A fresh impl and the model's initial state, for one of the bounds' fence policies."""
        fences = self.bounds.fence_policies
        fence = fences[0] if len(fences) == 1 else data.draw(st.sampled_from(fences), label="fence_policy")
        self._run = Lockstep(self.bounds, fence)

    # --- host I/O -------------------------------------------------------------------------------------

    @precondition(lambda self: bool(self.enabled(HostWrite)))
    @rule(data=st.data())
    def host_write(self, data: st.DataObject) -> None:
        """HostWrite(lba, value): concurrent up to the bounds' concurrency."""
        self.take(data, HostWrite)

    @precondition(lambda self: bool(self.enabled(SetMarker)))
    @rule()
    def set_marker(self) -> None:
        """SetMarker(): a named consistency point."""
        self.take(None, SetMarker)

    @precondition(lambda self: self.may_observe())
    @rule(data=st.data(), lba=st.integers(0, RANGES["blocks"][1] - 1))
    def host_read(self, data: st.DataObject, lba: int) -> None:
        """A host READ returns the model's ``primary[lba]``; during a recovery it is refused (NOT READY)
        and changes nothing. (Two arguments on purpose: Hypothesis orders rules by their number of
        arguments and favours the first enabled ones, so an always-enabled observation must come after the
        protocol's steps or it crowds them out.)"""
        s, system = self.run.state, self.run.system
        lba %= self.bounds.blocks
        if s.recovery is not None:
            self.refused(lambda: system.read(lba), RecoveryInProgress, f"READ lba={lba} during a recovery")
            return
        got = value_of_block(system.read(lba))
        if got != s.primary[lba]:
            self._fail(ConformanceError(self.run.step_index, f"READ lba={lba}: impl {got} != model "
                                                             f"primary[{lba}]={s.primary[lba]}", ("primary",)))
        self.observed = True
        type(self).recorder.step()

    # --- the path and its faults ----------------------------------------------------------------------

    @precondition(lambda self: bool(self.enabled(Deliver)))
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        """Deliver(message): any message on the path may be next (reordering)."""
        self.take(data, Deliver)

    @precondition(lambda self: bool(self.enabled(LoseMessage)))
    @rule(data=st.data())
    def lose_message(self, data: st.DataObject) -> None:
        """LoseMessage(message): fault."""
        self.take(data, LoseMessage)

    @precondition(lambda self: bool(self.enabled(DuplicateMessage)))
    @rule(data=st.data())
    def duplicate_message(self, data: st.DataObject) -> None:
        """DuplicateMessage(message): fault."""
        self.take(data, DuplicateMessage)

    @precondition(lambda self: bool(self.enabled(FailPath)))
    @rule()
    def fail_path(self) -> None:
        """FailPath(): every message on the path is lost."""
        self.take(None, FailPath)

    @precondition(lambda self: bool(self.enabled(RepairPath)))
    @rule()
    def repair_path(self) -> None:
        """RepairPath()."""
        self.take(None, RepairPath)

    @precondition(lambda self: bool(self.enabled(MirrorTimeout)))
    @rule()
    def mirror_timeout(self) -> None:
        """MirrorTimeout(seq): A gives up on a lost write; the pair suspends per the fence policy."""
        self.take(None, MirrorTimeout)

    @precondition(lambda self: bool(self.enabled(SwapTimeout)))
    @rule()
    def swap_timeout(self) -> None:
        """SwapTimeout(): A gives up on R's half of a swap."""
        self.take(None, SwapTimeout)

    @precondition(lambda self: bool(self.enabled(CrashArray)))
    @rule(data=st.data())
    def crash_array(self, data: st.DataObject) -> None:
        """CrashArray(array): crash and restart of A's or R's controller."""
        self.take(data, CrashArray)

    # --- checkpoint, resync ---------------------------------------------------------------------------

    @precondition(lambda self: bool(self.enabled(Checkpoint)))
    @rule()
    def checkpoint(self) -> None:
        """Checkpoint(): A and R apply the oldest record to B and RB in lockstep."""
        self.take(None, Checkpoint)

    @precondition(lambda self: bool(self.enabled(RemoteCheckpoint)))
    @rule()
    def remote_checkpoint(self) -> None:
        """RemoteCheckpoint(): only the remote_checkpoints_alone mutant enables it."""
        self.take(None, RemoteCheckpoint)

    @precondition(lambda self: bool(self.enabled(PersistJournal)))
    @rule()
    def persist_journal(self) -> None:
        """PersistJournal(): only journal_not_persisted_before_ack enables it."""
        self.take(None, PersistJournal)

    @precondition(lambda self: bool(self.enabled(StartResync)))
    @rule()
    def start_resync(self) -> None:
        """StartResync(): SUSPENDED -> COPY."""
        self.take(None, StartResync)

    @precondition(lambda self: bool(self.enabled(FinishResync)))
    @rule()
    def finish_resync(self) -> None:
        """FinishResync(): COPY -> PAIR."""
        self.take(None, FinishResync)

    # --- recoveries -----------------------------------------------------------------------------------

    @precondition(lambda self: bool(self.enabled(StartRecovery)))
    @rule(data=st.data())
    def start_recovery(self, data: st.DataObject) -> None:
        """StartRecovery(target): the target drawn from the window; a target that is a marker's seq is
        sometimes named by the marker (the impl resolves names, the model speaks seqs)."""
        a = _draw(data, self.enabled(StartRecovery))
        assert isinstance(a, StartRecovery)
        names = [n for n, seq in sorted(self.run.system.markers.items()) if seq == a.target]
        by_name: bool = bool(names) and data.draw(st.booleans(), label="by marker name")
        if by_name:
            self.run.step(a, lambda: self.run.system.start_recovery(names[0], a.kind))
        else:
            self.run.step(a)
        self.observed = False
        type(self).recorder.step()

    @precondition(lambda self: bool(self.enabled(RecoveryWrite)))
    @rule(data=st.data())
    def recovery_write(self, data: st.DataObject) -> None:
        """RecoveryWrite(lba): write-through, one differing block through the mirror."""
        self.take(data, RecoveryWrite)

    @precondition(lambda self: bool(self.enabled(SwapVolumes)))
    @rule()
    def swap_volumes(self) -> None:
        """SwapVolumes(): A's half of a swap recovery."""
        self.take(None, SwapVolumes)

    @precondition(lambda self: bool(self.enabled(FinishRecovery)))
    @rule()
    def finish_recovery(self) -> None:
        """FinishRecovery(): host I/O resumes."""
        self.take(None, FinishRecovery)

    # --- liveness -------------------------------------------------------------------------------------

    @precondition(lambda self: self._run is not None
                  and (pending_host_writes(self._run.state) or recovery_active(self._run.state)))
    @rule()
    def drain(self) -> None:
        """Let the protocol settle, path up, no new faults: every host write must end and every recovery
        too (host_write_completes, recovery_completes)."""
        try:
            self.run.check_liveness(DRAIN_LIMIT)
        except (PropertyViolation, ConformanceError) as e:
            self._fail(e)
        self.observed = False
        type(self).recorder.step()

    # --- bad requests: a typed refusal, nothing changed -------------------------------------------------

    @precondition(lambda self: self.may_observe())
    @rule(data=st.data(), which=st.sampled_from(BAD_REQUESTS))
    def bad_request(self, data: st.DataObject, which: str) -> None:
        """A request the impl must refuse with its typed SCSI error, changing nothing (one rule for all of
        them, so they do not crowd the protocol's own steps out of a run):

        * WRITE or READ outside the volume: ILLEGAL REQUEST / LBA OUT OF RANGE;
        * RECOVER to a seq outside ``[base_seq, next_seq - 1]``: RECOVERY TARGET OUT OF WINDOW;
        * RECOVER to a marker name never set: UNKNOWN MARKER;
        * a host WRITE while a recovery freezes host I/O: NOT READY / RECOVERY IN PROGRESS.

        While a recovery runs, RECOVERY IN PROGRESS is the answer to any RECOVER (that check comes first).
        Two arguments, like ``host_read``, so this always-enabled rule sorts after the protocol's steps."""
        s, system, n = self.run.state, self.run.system, self.bounds.blocks
        kind = which
        if kind == "write_during_recovery" and (s.recovery is None or self.enabled(HostWrite)):
            kind = "write_lba"  # no recovery freezes host I/O now (swap_without_freeze lets writes in)
        recovering = s.recovery is not None
        if kind in ("write_lba", "read_lba"):
            lba = data.draw(st.sampled_from([-1, n, n + 5]), label="lba")
            if kind == "write_lba":
                self.refused(lambda: system.host_write(lba, 0), LbaOutOfRange, f"WRITE lba={lba}")
            else:
                self.refused(lambda: system.read(lba), LbaOutOfRange, f"READ lba={lba}")
        elif kind == "recovery_target":
            outside = [s.next_seq, s.next_seq + 3] + ([s.base_seq - 1] if s.base_seq > 0 else [])
            target = data.draw(st.sampled_from(outside), label="target")
            self.refused(lambda: system.start_recovery(target, self.bounds.recovery_kind),
                         RecoveryInProgress if recovering else TargetOutOfWindow, f"RECOVER to seq {target}")
        elif kind == "unknown_marker":
            self.refused(lambda: system.start_recovery("no-such-marker", self.bounds.recovery_kind),
                         RecoveryInProgress if recovering else UnknownMarker, "RECOVER to marker 'no-such-marker'")
        else:
            lba = data.draw(st.integers(0, n - 1), label="lba")
            self.refused(lambda: system.host_write(lba, 1), RecoveryInProgress,
                         f"WRITE lba={lba} during a recovery")

    # --- after every step -------------------------------------------------------------------------------

    @invariant()
    def conforms(self) -> None:
        """abstraction(impl) == model state, and the same actions enabled on both sides."""
        if self._run is None:
            return
        try:
            self._run.check_conforms()
            if self.check_enabled_sets:
                self._run.check_enabled()
        except ConformanceError as e:
            self._fail(e)

    @invariant()
    def safety(self) -> None:
        """Every safety property of the catalogue (trade-offs of this recovery kind excepted)."""
        if self._run is None:
            return
        try:
            self._run.check_safety(self.props)
        except PropertyViolation as e:
            self._fail(e)

    def teardown(self) -> None:
        """Count the example for the progress display."""
        type(self).recorder.example_done()


@contextlib.contextmanager
def shrink_time_limit(seconds: float) -> Iterator[None]:
    """Cap Hypothesis's shrinking time. Hypothesis has no setting for it, only the module constant
    ``MAX_SHRINKING_SECONDS`` of its engine, read when shrinking starts; it is set for this run and put
    back. (If a future Hypothesis drops the constant, the run simply shrinks for as long as it likes.)"""
    old = getattr(_engine, "MAX_SHRINKING_SECONDS", None)
    if old is None:
        yield
        return
    _engine.MAX_SHRINKING_SECONDS = int(seconds)
    try:
        yield
    finally:
        _engine.MAX_SHRINKING_SECONDS = old


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
    name = f"ConformanceMachine_{(config.bounds.mutant or 'correct')}_{config.bounds.recovery_kind.name.lower()}"
    cls = type(name, (ConformanceMachine,), {
        "bounds": config.bounds, "recorder": recorder, "check_enabled_sets": config.check_enabled,
    })
    return hypothesis_seed(config.seed)(cls)


def hypothesis_settings(config: FuzzConfig) -> settings:
    """Settings for a run outside pytest: no example database unless the config names a folder for one (a
    run is reproduced from its seed, and an example saved by an earlier run would change it), no
    deadline (the model's replays are slow on the first call), and every health check off (the machine's
    data draws are deliberate)."""
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

    def script(self) -> list[str]:
        """The shrunk run as a protocol script, one model action per line."""
        if self.trace is None:
            return []
        return [f"{i:>3}  {a!r}" for i, (a, _) in enumerate(self.trace.steps) if a is not None]


@dataclass
class FuzzResult:
    """One run's outcome."""

    config: FuzzConfig
    examples: int
    steps: int
    seconds: float
    excluded: list[tuple[Property, str]] = field(default_factory=list)
    failure: Failure | None = None

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
    return Trace("fuzz", bounds, prop, "violated", list(run.steps), note=note)


def fuzz(config: FuzzConfig, progress: Callable[[int, int], None] | None = None) -> FuzzResult:
    """Run the machine outside pytest. On a failure, the result holds Hypothesis's shrunk program (as it
    prints it) and the final shrunk run's model steps as a ``fuzz`` trace naming the violated property."""
    recorder = Recorder(progress=progress)
    cls = machine_class(config, recorder)
    _, excluded = safety_properties(config.bounds)
    lines: list[str] = []
    started = time.perf_counter()
    failure: Failure | None = None
    try:
        def report(text: object) -> None:
            lines.append(str(text))

        with with_reporter(report), shrink_time_limit(config.shrink_seconds), private_hypothesis_home():
            run_state_machine_as_test(cls, settings=hypothesis_settings(config))  # type: ignore[no-untyped-call,unused-ignore]
    except HypothesisException:
        raise  # a broken machine definition or a flaky run: a bug of the fuzzer, not a finding
    except Exception as e:  # PropertyViolation, ConformanceError, a bad request's check, or an impl crash
        machine = recorder.last  # the final run Hypothesis made of the shrunk example
        program = [*lines, *getattr(e, "__notes__", [])]
        if not isinstance(e, AssertionError):
            # the impl (or the model) raised something other than a typed refusal: shrunk like any failure
            step = machine._run.step_index if machine is not None and machine._run is not None else None
            failure = Failure("error", f"{type(e).__name__}: {e}", None, step, program, None)
        elif isinstance(e, PropertyViolation):
            note = f"found by pitmirror fuzz --seed {config.seed}: {e}"
            failure = Failure("violation", str(e), e.prop, e.step, program,
                              _trace_of(config, machine, e.prop, note), on=e.on)
        else:
            step = e.step if isinstance(e, ConformanceError) else None
            failure = Failure("divergence", str(e), None, step, program, None)
            if machine is not None and machine._run is not None:
                # a divergence names no property; when the impl's view violates one, the trace shows that
                broken = machine._run.violated(machine.props)
                if broken:
                    prop, on = broken[0]
                    failure.prop, failure.on = prop, on
                    failure.trace = _trace_of(config, machine, prop, f"impl diverges from the model: {e}")
    return FuzzResult(config, recorder.examples, recorder.steps, time.perf_counter() - started, excluded, failure)


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


__all__ = [
    "DEFAULT_EXAMPLES", "DEFAULT_SHRINK_SECONDS", "DEFAULT_STEPS", "FUZZ_BOUNDS", "ConformanceMachine",
    "Failure", "FuzzConfig", "FuzzResult", "fuzz", "machine_class", "scorecard_cell", "shrink_time_limit",
]
