"""Stateful fuzzing, the runner: ``fuzz(config)`` runs the conformance machine
(``checkers.conformance.machine``) outside pytest (``run_state_machine_as_test``) for a seed and a budget,
and on a failure returns Hypothesis's shrunk program and the model's (action, state) steps of that shrunk
run as a trace. Shrinking is bounded by a count (``shrink_budget``), not a clock, so a seed gives the same
run on every machine. ``scorecard_cell`` and ``impl_only_cell`` are the scorecard's fuzz cells.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import HypothesisException
from hypothesis.internal.conjecture import engine as _engine
from hypothesis.internal.conjecture import providers as _providers
from hypothesis.reporting import with_reporter
from hypothesis.stateful import run_state_machine_as_test

from pitmirror.checkers.conformance.lockstep import (
    ConformanceError,
    Lockstep,
    PropertyViolation,
    power_cut_write,
    safety_properties,
)
from pitmirror.checkers.conformance.machine import ConformanceMachine, Recorder
from pitmirror.checkers.conformance.strategy import BATCH
from pitmirror.checkers.traces.trace import Trace
from pitmirror.impl.mutants import IMPL_ONLY_MUTANTS, IMPL_ONLY_RECOVERY
from pitmirror.model.actions import Action, HostWrite
from pitmirror.model.config import Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import Kind, Property
from pitmirror.spec.state import FencePolicy, RecoveryKind

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


#: Allocations of container objects between two young-generation collections during a run (CPython's default
#: is 700). A fuzz step allocates thousands of short-lived tuples and dicts, and with the default a collection
#: ran every few steps, each scanning the young objects and, every hundred, the run's memo of model states
#: (``ConformanceMachine.facts``): about a twentieth of a run's time.
GC_YOUNG_THRESHOLD = 50_000


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often for this run: what was allocated before it (modules, Hypothesis's own
    tables) is frozen out of every collection, and the young generation is collected after
    ``GC_YOUNG_THRESHOLD`` allocations rather than 700. Only when the collector runs changes, never what a
    run draws or checks (nothing of the fuzzer depends on when memory is freed); both are put back after."""
    old = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.unfreeze()


@contextlib.contextmanager
def no_local_constants() -> Iterator[None]:
    """Keep the constants of the caller's loaded modules out of this run's draws. Hypothesis (6.131 on)
    draws an integer, now and then, from a pool of literals it collects from every "local" module in
    ``sys.modules`` (anything outside site-packages: pitmirror itself, the tests, a user's script), so a
    seed gave a different run depending on what the process had imported: seed 0 found
    ``remote_writes_ahead_of_gap`` in 316 steps after importing the fuzzer alone and in 2,508 once
    ``checkers.cli.main`` was imported too (as ``pitmirror fuzz`` does). With the pool empty for the run,
    the draws depend on the seed and Hypothesis's own global constants only. Its collector and cache are
    module globals with no setting; both are set for this run and put back (if a future Hypothesis
    renames them, this does nothing and the test of a seed across processes says so)."""
    get = getattr(_providers, "_get_local_constants", None)
    cache = getattr(_providers, "CONSTANTS_CACHE", None)
    constants = getattr(_providers, "Constants", None)
    if get is None or cache is None or constants is None:
        yield
        return
    empty = constants()
    setattr(_providers, "_get_local_constants", lambda: empty)  # noqa: B010 (a module global, no setting)
    cache.cache.clear()  # pools cached from an earlier run with the local constants in them
    try:
        yield
    finally:
        setattr(_providers, "_get_local_constants", get)  # noqa: B010
        cache.cache.clear()


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
        "impl_mutant": config.impl_mutant, "facts": {},
        "checked": set(), "max_steps": config.steps,
    })
    return hypothesis_seed(config.seed)(cls)


def hypothesis_settings(config: FuzzConfig) -> settings:
    """Settings for a run outside pytest: deterministic for the seed (no example database unless the config
    names a folder for one, since a run is reproduced from its seed and a saved example would change it; no
    deadline; every health check off, the machine's draws are deliberate; the shrink phase bounded by
    ``shrink_budget``, not by time)."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if config.shrink else [])
    database = None if config.database is None else DirectoryBasedExampleDatabase(config.database)
    rules = 1 + -(-config.steps // BATCH)  # the start rule, then batches of steps: ``steps`` in all
    return settings(max_examples=config.examples, stateful_step_count=rules, database=database, deadline=None,
                    derandomize=False, suppress_health_check=list(HealthCheck), report_multiple_bugs=False,
                    print_blob=False, phases=phases)


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

        with with_reporter(report), shrink_budget(config.shrinks, config.shrink_seconds), \
                private_hypothesis_home(), no_local_constants(), fewer_collections():
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


def mutant_fuzz_bounds(mutant: str | None) -> Bounds:
    """The fuzzer's bounds for a run with this seeded bug (``None``: the correct protocol): ``FUZZ_BOUNDS``
    raised to what the mutant needs to show (``Mutant.needs``: a torn-write mutant needs multi-block writes),
    on the mutant's recovery kind. The scorecard's cell and bench/bench_fuzz.py's catch rate both run these."""
    if mutant is None:
        return FUZZ_BOUNDS
    return MUTANTS[mutant].exposed_in(FUZZ_BOUNDS)


def scorecard_cell(mutant: str | None, bounds: Bounds) -> dict[str, Any]:
    """The scorecard's fuzz column: seed 0 at the default budget, on the fuzzer's own bounds
    (``FUZZ_BOUNDS``: a longer run than the explicit checker's bounds, which it would exhaust in a dozen
    steps) with the row's mutant and recovery kind; the correct protocol is fuzzed with both kinds."""
    kinds = [bounds.recovery_kind] if mutant is not None else list(RecoveryKind)
    started = time.perf_counter()
    steps = 0
    excluded: list[str] = []
    for kind in kinds:
        result = fuzz(FuzzConfig(mutant_fuzz_bounds(mutant).with_(recovery_kind=kind)))
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
    "DEFAULT_EXAMPLES", "DEFAULT_SHRINKS", "DEFAULT_STEPS", "FUZZ_BOUNDS", "IMPL_ONLY_MUTANTS", "ConformanceMachine",
    "Failure", "FuzzConfig", "FuzzResult", "FuzzTrace", "fuzz", "impl_only_cell", "machine_class", "mutant_fuzz_bounds",
    "scorecard_cell",
    "shrink_budget",
]
