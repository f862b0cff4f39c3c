"""k-induction over the Z3 encoding, with the step case split into proof obligations (issue 5).

k-induction proves a safety property P by proving the strengthened predicate

    Q = P & well_formed & the invariants spec.invariants.SUPPORT names for P

inductive. The base case is bounded model checking of Q (``checkers.symbolic.bmc.Unroller``). The step case asks
whether k consecutive Q-states followed by one transition can end outside Q. Asked as one formula (every
action instance in one transition relation, the negation of every conjunct of Q at once) it did not finish
in 25 minutes for ``mirror_consistent`` at the default bounds. So it is split, one *proof obligation* per
(action instance, conjunct of Q):

    Q(s_0) & T(s_0, s_1) & ... & Q(s_k-1) & guard_a(s_k-1, v) & not c(effect_a(s_k-1, v))

The transition relation is the disjunction of the instances and not-Q the disjunction of the negated
conjuncts, so the step case holds exactly when every obligation is unsat. Each obligation is small (one
action's effect, one conjunct, no selector If-chains), and they are independent, so a pool of worker
processes discharges them side by side. An obligation that fails names the action and the conjunct it
breaks, which is what the user needs to write the next strengthening invariant.

Raising k only adds constraints on s_k-1 (a longer prefix of Q-states leads to it), so an obligation unsat at
k stays unsat at k+1: a larger k re-checks only the obligations that failed.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.pool import Pool

import z3

from pitmirror.checkers.symbolic import solving
from pitmirror.checkers.symbolic.bmc import (
    DepthReport,
    Outcome,
    ReportFn,
    Steps,
    Substitution,
    Unroller,
    _b,
    _capacity_error,
    as_expr,
    decode,
    gave_up,
    substituter,
    well_formed,
)
from pitmirror.checkers.symbolic.symmetry import path_symmetry
from pitmirror.checkers.symbolic.terms import SV, Term, conj
from pitmirror.model.actions import Action
from pitmirror.model.config import Bounds
from pitmirror.spec.properties import Property


@dataclass(frozen=True)
class Obligation:
    """One proof obligation of the step case: taking ``action`` from a Q-state keeps ``conjunct`` true."""

    action: str
    conjunct: str

    def __str__(self) -> str:
        return f"{self.action} / {self.conjunct}"


@dataclass(frozen=True)
class Discharged:
    """The solver's answer to one obligation at one k: ``unsat`` (the obligation holds), ``sat`` (a
    counterexample to induction, its vectors and the (instance, parameter) of each transition), ``unknown``."""

    obligation: Obligation
    instance: int  # index of the action instance in the encoding
    k: int
    result: str
    seconds: float
    vectors: tuple[dict[str, int], ...] = ()
    choices: tuple[tuple[int, int], ...] = ()
    reason: str = ""
    #: the conjunct after the step is the very term it was before (the step writes nothing it reads): unsat
    #: without asking the solver, since Q assumes the conjunct before the step
    unchanged: bool = False


@dataclass(frozen=True)
class StepTask:
    """Everything a worker process needs to discharge one obligation (plain data: it crosses processes)."""

    bounds: Bounds
    value_bits: int | None
    prop: str
    support: tuple[str, ...]
    k: int
    instance: int
    conjunct: str
    timeout_ms: int = 0
    unbounded: bool = False
    #: the path slot the step takes, when symmetry lets slot 0 stand for every slot (``checkers.symbolic.symmetry``)
    slot: int | None = None


class StepProver:
    """The step-case formulas of one instance, built once per process and reused by every task."""

    def __init__(self, bounds: Bounds, value_bits: int | None = None, un: Unroller | None = None,
                 unbounded: bool = False) -> None:
        self.un = un if un is not None else Unroller(bounds, value_bits, unbounded)
        self._effects: dict[tuple[int, int], tuple[z3.ArithRef, Term, SV, Term]] = {}
        # a conjunct after one instance's step is the same term whichever property's Q it belongs to: built once
        self._goals: dict[tuple[int, int, str], z3.BoolRef] = {}
        self._before: dict[tuple[int, str], z3.BoolRef] = {}  # a conjunct on the state the step starts from
        # each conjunct is built once in Python over a generic vector, and renamed onto the state after each step
        # (a C-level substitution: building it anew per step in Python was a third of an obligation's time)
        self._x = self.un.lay.symbolic("goal")
        self._generic: dict[str, z3.BoolRef] = {}
        self._onto: dict[tuple[int, int], Substitution] = {}  # (k, instance): generic vector -> state after
        self._onto_before: dict[int, Substitution] = {}  # k: generic vector -> the state the step starts from

    def conjuncts(self, prop: str, support: tuple[str, ...]) -> dict[str, Callable[[SV], Term]]:
        """The conjuncts of Q, by name: the property, ``well_formed`` and the supporting invariants."""
        enc = self.un.enc
        invariants = {**enc.properties(), **enc.invariants()}  # a property may support another's proof
        out: dict[str, Callable[[SV], Term]] = {prop: enc.properties()[prop],
                                                "well_formed": lambda s: well_formed(enc, s)}
        out.update({n: invariants[n] for n in support})
        return out

    def q(self, prop: str, support: tuple[str, ...]) -> tuple[str, Callable[[SV], Term]]:
        """Q for the property, and the name it is cached under in the unroller."""
        parts = self.conjuncts(prop, support)
        return f"Q:{prop}:{','.join(support)}", lambda s: conj(*[f(s) for f in parts.values()])

    def obligations(self, prop: str, support: tuple[str, ...]) -> list[tuple[int, str]]:
        """(instance index, conjunct) of every obligation; instances whose guard is false are left out.
        Path deliveries come first: they are the slowest, and starting them first balances the pool."""
        enc = self.un.enc
        probe, v = self.un.lay.symbolic("probe"), z3.Int("v@probe")
        live = [i for i, inst in enumerate(enc.instances) if inst.guard(probe, v) is not False]
        live.sort(key=lambda i: enc.instances[i].param != "slot")
        return [(i, c) for i in live for c in self.conjuncts(prop, support)]

    def _effect(self, k: int, i: int) -> tuple[z3.ArithRef, Term, SV, Term]:
        """(parameter, guard, state after, capacity condition) of instance ``i`` taken from state ``k - 1``."""
        key = (k, i)
        if key not in self._effects:
            v = z3.Int(f"val@{k - 1}")
            inst = self.un.enc.instances[i]
            s = self.un.state(k - 1)
            g = inst.guard(s, v)
            eff, ok = inst.effect(s, v)
            self._effects[key] = (v, g, eff, ok)
        return self._effects[key]

    def _generic_conjunct(self, task: StepTask) -> z3.BoolRef:
        if task.conjunct not in self._generic:
            self._generic[task.conjunct] = _b(self.conjuncts(task.prop, task.support)[task.conjunct](self._x))
        return self._generic[task.conjunct]

    def _renaming(self, s: SV) -> Substitution:
        return substituter([(as_expr(self._x[n]), as_expr(s[n])) for n in self.un.lay.names])

    def _goal(self, task: StepTask) -> z3.BoolRef:
        """The task's conjunct on the state after its instance's step."""
        key = (task.k, task.instance, task.conjunct)
        if key not in self._goals:
            at = (task.k, task.instance)
            if at not in self._onto:
                self._onto[at] = self._renaming(self._effect(task.k, task.instance)[2])
            self._goals[key] = self._onto[at](self._generic_conjunct(task))
        return self._goals[key]

    def _before_step(self, task: StepTask) -> z3.BoolRef:
        """The task's conjunct on the state its step starts from (Q assumes it)."""
        key = (task.k, task.conjunct)
        if key not in self._before:
            if task.k not in self._onto_before:
                self._onto_before[task.k] = self._renaming(self.un.state(task.k - 1))
            self._before[key] = self._onto_before[task.k](self._generic_conjunct(task))
        return self._before[key]

    def discharge(self, task: StepTask) -> Discharged:
        """Ask the solver for a counterexample to one obligation at ``task.k``."""
        started = time.perf_counter()
        un, k = self.un, task.k
        ob = Obligation(un.enc.instances[task.instance].name, task.conjunct)
        goal = self._goal(task)
        if goal.eq(self._before_step(task)):
            # Z3 terms are hash-consed, so ``eq`` is structural equality: the conjunct reads only what the step
            # leaves as it was (nearly half of mirror_consistent's obligations), and Q assumes it before the step
            return Discharged(ob, task.instance, k, "unsat", time.perf_counter() - started, unchanged=True)
        qname, q = self.q(task.prop, task.support)
        solver = step_solver()
        if task.timeout_ms:
            solver.set("timeout", task.timeout_ms)
        for j in range(k):
            solver.add(un.prop(qname, j, q))
        for j in range(k - 1):
            solver.add(un.transition(j))
        v, g, eff, ok = self._effect(k, task.instance)
        if un.unbounded:
            # the proof system: every enabled step is taken, and that it fits the capacities is an obligation,
            # the ``well_formed`` conjunct (every length within its capacity) of the state after it
            solver.add(v >= 0, _b(g))
        else:
            # KNOWN GAP of the bounded system: the step case takes only steps that fit the Layout's capacities
            # (derived from the budgets, so not inductive). The base case reports a reachable step that does not
            # fit (CapacityError), BMC and the agreement test do too; ``--unbounded`` closes the gap.
            solver.add(v >= 0, _b(conj(g, ok)))
        if task.slot is not None:
            solver.add(v == task.slot)
        solver.add(z3.Not(goal))
        r = solving.check(solver)
        seconds = time.perf_counter() - started
        if r == z3.unsat:
            return Discharged(ob, task.instance, k, "unsat", seconds)
        if r != z3.sat:
            return Discharged(ob, task.instance, k, "unknown", seconds, reason=gave_up(solver))
        m = solver.model()
        vectors = [_vector(m, un.state(j).d) for j in range(k)] + [_vector(m, eff.d)]
        choices = [(_int(m, un.sel[j]), _int(m, un.val[j])) for j in range(k - 1)] + [(task.instance, _int(m, v))]
        return Discharged(ob, task.instance, k, "sat", seconds, tuple(vectors), tuple(choices))


#: The step case's solver: each obligation is one query on a fresh solver, so it need not be incremental, and
#: preprocessing pays. ``solve-eqs`` substitutes the state after the step by its effect terms and
#: ``elim-uncnstr`` drops what the conjunct does not constrain, before the SMT core with the older simplex
#: (``arith.solver=2``). On the 63 path-delivery obligations of swap's ``mirror_consistent`` (the slowest third of
#: the core proofs) this took 8 s of CPU where ``z3.Solver()`` asked with the conjunct as an assumption (its
#: incremental core, no preprocessing) took 15-20 s, and ``z3.Solver()`` with it asserted 38-44 s (one run of
#: each, interleaved, on the shared machine).
STEP_TACTIC = ("simplify", "propagate-values", "solve-eqs", "elim-uncnstr", "simplify")


def step_solver() -> z3.Solver:
    """A fresh solver for one proof obligation (``STEP_TACTIC``, then SMT with ``arith.solver=2``)."""
    return z3.Then(*STEP_TACTIC, z3.With("smt", **{"arith.solver": 2})).solver()


def _int(m: z3.ModelRef, t: Term) -> int:
    return t if isinstance(t, int) else m.eval(t, model_completion=True).as_long()


def _vector(m: z3.ModelRef, d: dict[str, Term]) -> dict[str, int]:
    return {n: _int(m, t) for n, t in d.items()}


# --- running obligations: in this process, or on a pool of worker processes --------------------------------

_PROVERS: dict[tuple[Bounds, int | None, bool], StepProver] = {}


def _discharge_in_worker(task: StepTask) -> Discharged:
    key = (task.bounds, task.value_bits, task.unbounded)
    if key not in _PROVERS:
        _PROVERS.clear()  # one instance at a time: the formulas of the last one are no longer needed
        _PROVERS[key] = StepProver(task.bounds, task.value_bits, unbounded=task.unbounded)
    return _PROVERS[key].discharge(task)


class HeldObligations:
    """The obligations a run has already discharged (unsat), so a later property does not ask them again.

    An obligation is the formula ``H(s_0 .. s_k-1) & T & guard_a & not c(effect_a)``, where the hypotheses H are
    the conjuncts of the proved property's Q. If it is unsat for hypotheses H' and k', it is unsat for every
    H containing H' and every k >= k' (more hypotheses, a longer prefix of Q-states: fewer models). The core
    properties share most of their obligations this way: journal_well_formed's Q (the property, ``well_formed``
    and the capacity invariants) is part of the other two, and ``well_formed`` after each step, the most
    expensive conjunct, is then asked once per kind instead of three times. Conjuncts are named by property or
    invariant name, one predicate each in an encoding; entries are per encoding (bounds, values, system)."""

    def __init__(self) -> None:
        self._held: dict[tuple[Bounds, int | None, bool, int, str], list[tuple[int, frozenset[str]]]] = {}

    @staticmethod
    def _key(task: StepTask) -> tuple[Bounds, int | None, bool, int, str]:
        return (task.bounds, task.value_bits, task.unbounded, task.instance, task.conjunct)

    @staticmethod
    def hypotheses(task: StepTask) -> frozenset[str]:
        """The names of the conjuncts of Q the task assumes on its first k states."""
        return frozenset((task.prop, "well_formed", *task.support))

    def covers(self, task: StepTask) -> bool:
        """Whether an obligation already discharged implies this one."""
        hyp = self.hypotheses(task)
        return any(k <= task.k and h <= hyp for k, h in self._held.get(self._key(task), ()))

    def add(self, task: StepTask) -> None:
        """Record that ``task``'s obligation was discharged (unsat)."""
        self._held.setdefault(self._key(task), []).append((task.k, self.hypotheses(task)))


class Discharger:
    """Discharges obligations with ``jobs`` worker processes (``jobs=1``: in this process, no pool).

    Workers are spawned, not forked: each builds its own Z3 context (so, as with any spawned pool, a script
    using ``jobs > 1`` needs the ``if __name__ == "__main__":`` guard; the CLI and the benches have it). One
    pool serves every property and recovery kind of a ``prove`` run; use it as a context manager, so the
    workers are shut down, and killed at once on an interrupt or error rather than left finishing a long
    solver call."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs
        self._pool: Pool | None = None
        self.held = HeldObligations()  # shared by every property and kind the discharger serves

    def __enter__(self) -> Discharger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.close(kill=exc_type is not None and not issubclass(exc_type, SystemExit))

    def close(self, kill: bool = False) -> None:
        """Shut the workers down; ``kill`` stops them in the middle of a solver call."""
        if self._pool is not None:
            if kill:
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None

    def run(self, tasks: list[StepTask], local: StepProver) -> Iterator[Discharged]:
        """The answers, in the order they complete."""
        if self.jobs <= 1 or len(tasks) <= 1:
            for t in tasks:
                yield local.discharge(t)
            return
        if self._pool is None:
            with solving.starting_workers():
                self._pool = mp.get_context("spawn").Pool(self.jobs, initializer=solving.ignore_ctrl_c_in_worker)
        yield from self._pool.imap_unordered(_discharge_in_worker, tasks)


# --- k-induction ---------------------------------------------------------------------------------------------

ObligationFn = Callable[[Discharged, int, int], None]  # (answer, done, total)


@dataclass
class StepSummary:
    """The step case at one k: the obligations that failed, and the slowest."""

    failed: list[Discharged] = field(default_factory=list)
    slowest: Discharged | None = None


def induction(un: Unroller, prop: Property, support: tuple[str, ...], max_k: int, report: ReportFn | None = None,
              timeout_ms: int = 0, discharger: Discharger | None = None,
              on_obligation: ObligationFn | None = None, symmetry: bool = True) -> Outcome:
    """k-induction of ``prop`` strengthened by the named invariants and well-formedness, k = 1 .. ``max_k``.

    ``proved``: Q (hence ``prop``) holds in every reachable state at these bounds. ``violated``: the base case
    found a reachable state breaking ``prop`` (with its trace). ``not proved``: some obligations still fail at
    ``max_k``; the outcome carries the first counterexample to induction (arbitrary, possibly unreachable
    states) and the note names every failing (action / conjunct). ``unknown``: the solver gave up.
    With ``symmetry``, the step case at k = 1 asks a path-slot instance's obligations at slot 0 alone where
    Z3 proves that slot 0 stands for every slot (``checkers.symbolic.symmetry``); the verdicts are the same.
    """
    started = time.perf_counter()
    prover = StepProver(un.enc.b, un.value_bits, un, un.unbounded)
    qname, q = prover.q(prop.name, support)
    pending = prover.obligations(prop.name, support)
    total = len(pending)
    own = discharger if discharger is not None else Discharger(1)
    base = z3.Solver()
    if timeout_ms:
        base.set("timeout", timeout_ms)
    base.add(un.init())
    last: StepSummary | None = None
    try:
        for k in range(1, max_k + 1):
            t0 = time.perf_counter()
            if k > 1:
                base.add(un.transition(k - 2))
            # Q broken in a reachable state, or a step enabled there that outgrows a capacity (the steps
            # before it were asked at the smaller k)
            rb = solving.check(base, z3.Or(z3.Not(un.prop(qname, k - 1, q)), un.overflow(k - 1)))
            if report is not None:
                report(DepthReport(prop.name, k - 1, f"base {rb}", time.perf_counter() - t0))
            if rb == z3.sat:
                model = base.model()
                if z3.is_true(model.eval(un.overflow(k - 1), model_completion=True)):
                    raise _capacity_error(un, model, k - 1)
                bounds, steps = decode(un, model, k - 1)
                if prop.predicate(steps[-1][1]):
                    return Outcome(prop, "unknown", k - 1, time.perf_counter() - started,
                                   note="a strengthening invariant fails on a reachable state: the invariant is wrong")
                return Outcome(prop, "violated", k - 1, time.perf_counter() - started, steps, bounds)
            if rb != z3.unsat:
                return Outcome(prop, "unknown", k, time.perf_counter() - started, note=f"base case: {rb}")
            t1 = time.perf_counter()
            every = [StepTask(un.enc.b, un.value_bits, prop.name, support, k, i, c, timeout_ms, un.unbounded)
                     for i, c in pending]
            # an obligation an earlier property of this run discharged with fewer hypotheses holds here too
            tasks = [t for t in every if not own.held.covers(t)]
            reused = len(every) - len(tasks)
            reduced = ""
            if symmetry and k == 1 and tasks:
                sym = path_symmetry(un, step_solver)
                parts = prover.conjuncts(prop.name, support)
                tasks = [replace(t, slot=0) if sym.reduces(t.instance, parts) else t for t in tasks]
                at_zero = sum(t.slot is not None for t in tasks)
                reduced = f", {at_zero} at path slot 0 by symmetry" if at_zero else ""
                if sym.failed:
                    reduced += f" (not for: {'; '.join(sym.failed)})"
            last = StepSummary()
            by_goal = {(t.instance, t.conjunct): t for t in tasks}
            unchanged = 0
            for n, d in enumerate(own.run(tasks, prover), reused + 1):
                unchanged += d.unchanged
                if d.result != "unsat":
                    last.failed.append(d)
                else:
                    own.held.add(by_goal[d.instance, d.obligation.conjunct])
                if last.slowest is None or d.seconds > last.slowest.seconds:
                    last.slowest = d
                if on_obligation is not None:
                    on_obligation(d, n, len(every))
            any_sat = any(d.result == "sat" for d in last.failed)
            verdict = "unsat" if not last.failed else ("sat" if any_sat else "unknown")
            if report is not None:
                slow = f", slowest {last.slowest.obligation} {last.slowest.seconds:.1f}s" if last.slowest else ""
                again = f" ({reused} discharged for an earlier property)" if reused else ""
                same = f", {unchanged} read nothing the step writes" if unchanged else ""
                report(DepthReport(prop.name, k, f"step {verdict}", time.perf_counter() - t1,
                                   note=f"{len(every) - len(last.failed)}/{len(every)} obligations hold{again}"
                                        f"{reduced}{same}{slow}"))
            if not last.failed:
                return Outcome(prop, "proved", k, time.perf_counter() - started,
                               note=f"{k}-inductive with {len(support)} strengthening invariant(s), "
                                    f"{total} obligations")
            pending = [(d.instance, d.obligation.conjunct) for d in last.failed]
    finally:
        if discharger is None:
            own.close()
    assert last is not None
    failing = ", ".join(str(d.obligation) for d in last.failed)
    # the CTI shown is the first obligation, in instance order, that breaks the property itself (else any
    # conjunct): the same on every run whatever order the workers answered in
    sat = sorted((d for d in last.failed if d.result == "sat"), key=lambda d: (d.obligation.conjunct != prop.name,
                                                                                 d.instance))
    last.failed.sort(key=lambda d: d.instance)
    if not sat:
        return Outcome(prop, "unknown", max_k, time.perf_counter() - started,
                       note=f"the solver gave up on {failing}: {last.failed[0].reason}")
    return Outcome(prop, "not proved", max_k, time.perf_counter() - started, cti_steps(un, sat[0]), un.enc.b,
                   note=f"not {max_k}-inductive: a counterexample to induction (possibly unreachable) takes "
                        f"{sat[0].obligation.action} and breaks {sat[0].obligation.conjunct}; failing obligations "
                        f"(action / conjunct): {failing}. Add a strengthening invariant that excludes the first "
                        "state")


def cti_steps(un: Unroller, d: Discharged) -> Steps:
    """The states of a counterexample to induction, decoded from its vectors (not re-executed: the first state
    need not be reachable), with the action each transition takes when it can be named."""
    out: Steps = []
    prev = None
    for vec, choice in zip(d.vectors, ((-1, 0), *d.choices), strict=True):
        st = un.lay.decode(vec)
        a: Action | None = None
        if prev is not None:
            try:
                a = un.enc.instances[choice[0]].decode(prev, choice[1])
            except (IndexError, StopIteration):
                a = None
        out.append((a, st))
        prev = st
    return out


__all__ = ["Discharged", "Discharger", "HeldObligations", "Obligation", "StepProver", "StepTask",
           "cti_steps", "induction"]
