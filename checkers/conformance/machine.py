"""The conformance machine: Hypothesis drives the reference implementation and the model in lockstep.

Theory of operation (Hypothesis's ``DatabaseComparison`` shape, with one weighted rule): ``start`` makes a
fresh impl and the model's initial state (``checkers.conformance.lockstep.Lockstep``) and draws the
example's swarm (which optional kinds of step it leaves out). The one rule, ``steps``, draws a batch of
numbers (``BATCH``, so that Hypothesis's cost per rule is paid once per batch); each picks a kind of step
among those with an enabled instance in the MODEL (``checkers.conformance.strategy``: weights by phase) and
then the instance, so every step is one the protocol allows. The step goes to both sides. After every step
(not only after every batch) ``check`` asks:

* conformance: abstraction(impl) == the model state (non-ghost, non-budget fields, differing fields named),
  and the impl enables exactly the model's actions (budgets applied);
* safety: every ``Kind.ALWAYS`` property of ``spec.properties`` holds on the model's state (the impl's is
  then the same state), except the documented trade-off of the recovery kind (``EXPECTED_TRADE_OFFS``:
  ``remote_is_point_in_time`` under write-through).

Some kinds are the machine's own: a host read must return the model's ``primary[lba]``; a bad request (an
out-of-range LBA, a recovery target outside the window, a host write during a recovery, an unknown marker)
must raise the impl's typed SCSI error and change nothing; ``Drain`` lets the protocol settle with the path
up (the liveness check: a host write or a recovery still pending afterwards is stuck forever); ``PowerCut``
cuts a host write between its journal commit and its P write.
"""

from __future__ import annotations

import functools
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from hypothesis import note
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule

from pitmirror.checkers.conformance.lockstep import (
    ConformanceError,
    Lockstep,
    PropertyViolation,
    StateFacts,
    power_cut_write,
    safety_properties,
)
from pitmirror.checkers.conformance.strategy import BATCH, CHOICES, KINDS, SWARM, WHEEL, StepKind, phase, spread
from pitmirror.impl.blocks import value_of_block
from pitmirror.impl.errors import LbaOutOfRange, RecoveryInProgress, ScsiError, TargetOutOfWindow, UnknownMarker
from pitmirror.impl.system import MirroredSystem
from pitmirror.model.actions import Action, CrashArray, HostWrite, StartRecovery
from pitmirror.model.config import Bounds
from pitmirror.spec.state import FencePolicy, PairState, State, pending_host_writes, recovery_active

#: The bad requests of the ``bad_request`` rule.
BAD_REQUESTS = ("write_lba", "read_lba", "recovery_target", "unknown_marker", "write_during_recovery")
#: At most this many steps per drain; the correct protocol settles in far fewer at any bound in RANGES.
DRAIN_LIMIT = 200
#: The key of a state's property verdicts among its ``StateFacts.derived`` (the step menus are keyed by swarm)
_VERDICTS = "verdicts"


class Menu(NamedTuple):
    """What a step may be in one model state, for one example's swarm (``ConformanceMachine.offered``):
    worked out once per state and swarm, since states recur across a run's examples."""

    offered: dict[StepKind, list[Action]]  # the kinds offered now (KINDS order), with their instances
    direct: dict[StepKind, list[Action]]  # the model action kinds a drawn number takes at once: on, enabled
    weights: dict[str, int]  # the phase's weights
    wheel: tuple[int, ...]  # the phase's wheel
    total: int  # the offered kinds' total weight


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


def _final() -> bool:
    """Whether this is Hypothesis's final run of a failing example (the one it reports): steps are noted
    in the protocol's words only then."""
    return bool(current_build_context().is_final)


def _fingerprint(system: MirroredSystem) -> tuple[bytes, object]:
    """Everything a step could change (``Driver.snapshot``'s parts), as bytes: pickling is several times
    cheaper than the snapshot's deep copy, and equal state pickles equal. The drives are compared by their
    write counts: a refused request must not write a sector (reads change nothing). The random generator's
    state is kept as the tuple it is (pickling its 625 words was a third of the cost)."""
    a, r = system.a, system.r
    return pickle.dumps((
        [d.writes for d in (*a.array.drives, *r.array.drives)], a.array.shm, r.array.shm,
        [(e.seq, e.lba, e.data, e.origin, e.host_acked, e.request and e.request.tag) for e in a.in_flight],
        a.journal_cache, r.buffer, system.path.messages, system.path.up, system.path.stats, len(system.events),
        [(q.tag, q.status) for q in system.requests],
    )), system.rng.getstate()


#: The swarm's draws (``start``): one strategy object for every example, since Hypothesis validates and
#: labels a strategy object the first time it draws from it (a fresh one per example cost a few percent).
_SWARM_DRAW = st.lists(st.integers(0, 3), min_size=len(SWARM), max_size=len(SWARM))


@functools.cache
def _fence_draw(fences: tuple[FencePolicy, ...]) -> st.SearchStrategy[FencePolicy]:
    """The fence policy's draw (``start``), one strategy object per tuple of policies (as ``_SWARM_DRAW``)."""
    return st.sampled_from(fences)


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
    #: model state -> what it alone decides (``Lockstep.facts``: enabled actions, the step menu per swarm,
    #: the checked properties it violates), shared by the run's examples, whose states recur (shared
    #: beginnings). One run, one bounds: ``machine_class`` gives each run its own.
    facts: ClassVar[dict[State, StateFacts]] = {}
    #: the runs already checked, step by step (``prefix``): Hypothesis's examples share their beginnings
    checked: ClassVar[set[int]] = set()
    #: the step numbers an example uses at most (the run's ``steps``; the last batch is cut to fit)
    max_steps: ClassVar[int] = 50

    def __init__(self) -> None:
        super().__init__()
        self._run: Lockstep | None = None
        self.props, _ = safety_properties(self.bounds)
        self.failure: AssertionError | None = None
        self.observed = False  # the last step was an observation or a bad request: nothing changed
        self.off: frozenset[str] = frozenset()  # the kinds swarm testing switched off for this example
        self.cuts: list[int] = []  # the steps that were host writes cut by a power loss
        self.prefix = 0  # this example so far, as a hash chain over its fence, swarm and step numbers
        self.numbers = 0  # step numbers this example has used (a 0, no step, counts too)
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
        return list(self._menu().offered.items())

    def _menu(self) -> Menu:
        """This state's ``Menu`` for this example's swarm: a function of the two (and of the run's bounds),
        so made once per run for each (the states recur across examples)."""
        derived = self.run.state_facts().derived
        menu = derived.get(self.off)
        if menu is None:
            menu = derived[self.off] = self._make_menu()
        return menu

    def _make_menu(self) -> Menu:
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
        offered = dict(on or out)
        weights, wheel = phase(s)
        # a drawn action kind is taken at once when it has instances and the swarm left it on
        direct = {k: acts for k, acts in out if k.action is not None and k.name not in self.off}
        return Menu(offered, direct, weights, wheel, sum(weights[k.name] for k in offered))

    def take(self, a: Action) -> None:
        """Take one enabled model action on both sides."""
        self.run.step(a)
        self.observed = False
        type(self).recorder.step()

    def refused(self, request: Callable[[], object], expected: type[ScsiError], what: str) -> None:
        """A bad request: the impl must refuse it with ``expected`` (a typed SCSI error) and change
        nothing: the whole system's fingerprint (``_fingerprint``) compared before and after. (That covers
        the abstraction too: every field of it is read from the tables, lists and drives fingerprinted, and
        a drive's content changes only with its write count.)"""
        system = self.run.system
        snap = _fingerprint(system)
        try:
            request()
        except ScsiError as e:
            if not isinstance(e, expected):
                raise AssertionError(f"{what}: the impl raised {type(e).__name__} ({e}), "
                                     f"expected {expected.__name__}") from None
        else:
            raise AssertionError(f"{what}: the impl accepted it, expected {expected.__name__}")
        if _fingerprint(system) != snap:
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
        fence = fences[0] if len(fences) == 1 else data.draw(_fence_draw(tuple(fences)), label="fence_policy")
        draws = data.draw(_SWARM_DRAW, label="swarm")
        self.off = frozenset(k for (k, at), d in zip(SWARM.items(), draws, strict=True) if d >= at)
        self._run = Lockstep(self.bounds, fence, impl_mutant=self.impl_mutant, facts=type(self).facts)
        self.prefix = hash((int(fence), *draws))  # ints only: the same chain in every process
        self.check()  # the initial states agree

    # --- the one rule ---------------------------------------------------------------------------------

    @rule(choices=st.lists(st.integers(0, CHOICES), min_size=BATCH, max_size=BATCH))
    def steps(self, choices: list[int]) -> None:
        """``BATCH`` steps, each from one drawn number, checked after each (``check``). Hypothesis's own cost
        per rule (choosing the rule, its spans, the invariants' loop) is paid once per batch; a number of
        0 is no step at all, so shrinking deletes a step of a batch by setting its number to 0 (and whole
        batches by deleting the rule).

        A step is not checked again when this run already checked the same example up to it (the same
        fence, swarm and step numbers: ``prefix``): the impl (seeded) and the model are deterministic, so
        both are in the very states that passed then, and every check is a function of those states.
        Hypothesis's examples share their beginnings (mutations of earlier examples, shrinking): about
        two steps in five are such repeats. ``prefix`` is a 64-bit hash chain of ints; a collision, which
        would skip one step's checks, has odds of about (steps in the run)^2 / 2^64."""
        final, checked = _final(), type(self).checked
        left = self.max_steps - self.numbers
        self.numbers += len(choices)
        for choice in choices[:left]:
            if choice:
                self.step(choice - 1, final)
                self.prefix = hash((self.prefix, choice))
                if self.prefix not in checked:
                    self.check()
                    checked.add(self.prefix)  # only once the checks passed

    def step(self, choice: int, final: bool = False) -> None:
        """One step from one number, scattered (``spread``): its remainder by ``WHEEL`` picks the kind on the
        phase's wheel, the rest picks the instance and any argument of the machine's own rules. Every part
        shrinks towards 0:
        the first kind offered (``KINDS``' order: what lets the protocol settle), the first instance in the
        model's order. In Hypothesis's ``final`` run, ``note`` prints the step in the protocol's words in
        the reproduction of a failure."""
        menu = self._menu()
        choice = spread(choice)
        k, rest = KINDS[menu.wheel[choice % WHEEL]], choice // WHEEL
        acts = menu.direct.get(k)
        if acts is None:
            offered, weights = menu.offered, menu.weights
            if k not in offered:  # the rest of the number picks among the offered kinds by weight
                r, rest = rest % menu.total, rest // menu.total
                for k in offered:
                    r -= weights[k.name]
                    if r < 0:
                        break
            acts = offered[k]
        if k.name == "PowerCut":
            self.power_cut(acts[rest % len(acts)], final)
            return
        if k.action is None:
            {"HostRead": self.host_read, "BadRequest": self.bad_request, "Drain": self.drain}[k.name](rest)
            return
        a = acts[rest % len(acts)]
        if isinstance(a, StartRecovery):
            self.start_recovery(a, rest // len(acts))
        else:
            self.take(a)
        if final:
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

    def power_cut(self, a: Action, final: bool = False) -> None:
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
        if final:
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
        if kind == "write_during_recovery" and (s.recovery is None or self.enabled(HostWrite)
                                                or not self.run.model.within_budget(s, HostWrite)):
            # no recovery freezes host I/O now (swap_without_freeze lets writes in); or the model refuses a
            # host write for its budget, which the impl does not have (under swap_without_freeze it accepts)
            kind = "write_lba"
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

    def check(self) -> None:
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
        derived = run.state_facts().derived
        broken = derived.get(_VERDICTS)
        if broken is None:
            broken = derived[_VERDICTS] = [p for p in self.props if not p.predicate(run.state)]
        if broken:
            self._fail(PropertyViolation(broken[0], run.step_index, "model"))

    def teardown(self) -> None:
        """Count the example for the progress display."""
        type(self).recorder.example_done()


__all__ = ["BAD_REQUESTS", "DRAIN_LIMIT", "ConformanceMachine", "Menu", "Recorder"]
