"""Z3 bounded model checking over the model (issue 5); k-induction builds on it in ``checkers.symbolic.induction``.

The transition relation is built from ``checkers.symbolic.encoding`` (kept in step with ``model/protocol.py`` by
``tests/test_z3_agreement.py``): per step ``k`` a vector of integer constants, an instance selector
``sel@k`` and a value parameter ``val@k``; ``T(s_k, s_k+1)`` says the selected instance's guard holds and
every slot of ``s_k+1`` is that instance's effect. A satisfying model therefore names the action of every
step; ``decode`` turns it into concrete actions and re-executes them on ``MirrorModel``, so a z3 trace is a
model trace like any other (``checkers.traces.trace.replay_on_model`` accepts it).

BMC goes depth by depth (``bmc_all``) for every property asked at once: "some property fails at depth d"
asked once (then, only if so, which), so each property's first violation is a shortest one. Each depth is
one query to a solver that first folds every state into the actions chosen (``solve-eqs``); that measured
faster than one incremental solver across depths (see ``bmc_all``, which keeps the incremental way as an
option). ``bmc`` is the same loop for one property. A caller that already expects a violation around some depth (the
tests know the explicit checker's shortest trace) can ask ``bmc(..., first_depth=d)``: one query for a
violation within d steps, which skips the unsat checks below d; see ``bmc``.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from pitmirror.checkers.symbolic.encoding import BUDGET_COUNTERS, Encoding
from pitmirror.checkers.symbolic.terms import (
    ENTRY_TOP,
    LENGTH_SLOT,
    RECOVERY_ENTRIES,
    RECOVERY_TOP,
    SCALAR_TOP,
    SV,
    VOLUMES,
    CapacityError,
    Layout,
    Term,
    all_of,
    conj,
    disj,
    implies,
    same,
)
from pitmirror.model.actions import Action
from pitmirror.model.config import RANGES, Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.fields import BY_NAME as FIELD
from pitmirror.spec.fields import CONSTANT_FIELDS, Content
from pitmirror.spec.properties import Property
from pitmirror.spec.state import MARKER, MessageKind, RecoveryKind, State

Steps = list[tuple[Action | None, State]]


def _b(t: Term) -> z3.BoolRef:
    return z3.BoolVal(t) if isinstance(t, bool) else t


class Unroller:
    """The initial condition and transition formulas of one bounded instance, built once, step by step."""

    def __init__(self, bounds: Bounds, value_bits: int | None = None, unbounded: bool = False) -> None:
        self.value_bits = value_bits
        self.unbounded = unbounded
        self.enc = Encoding(bounds, value_bits, unbounded=unbounded)
        self.lay: Layout = self.enc.lay
        self.states: list[SV] = []
        self.sel: list[z3.ArithRef] = []
        self.val: list[z3.ArithRef] = []
        self.trans: list[z3.BoolRef] = []  # trans[k]: s_k -> s_k+1
        self._props: dict[tuple[str, int], z3.BoolRef] = {}
        self._generic_props: dict[str, z3.BoolRef] = {}
        self._generic: z3.BoolRef | None = None
        self._generic_overflow: z3.BoolRef | None = None
        self.overflows: list[z3.BoolRef] = []  # overflows[k]: transition k outgrows a capacity of the vector
        self._xy = (self.lay.symbolic("x"), self.lay.symbolic("y"))
        self._sv = (z3.Int("sel@x"), z3.Int("val@x"))

    def state(self, k: int) -> SV:
        """The symbolic vector of step ``k`` (created on demand)."""
        while len(self.states) <= k:
            self.states.append(self.lay.symbolic(str(len(self.states))))
        return self.states[k]

    def init(self) -> z3.BoolRef:
        """Step 0 is one of the model's initial states.

        Written as one equation per slot on which every initial state agrees, and a disjunction over the
        few slots on which they differ (the fence policy), not as a disjunction of whole vectors: the same
        set of states, but top-level equations let ``solve-eqs`` substitute the constants through every
        step, and the SMT core propagate them. The disjunction of whole vectors hid them, and was most of
        BMC's time: recovery_off_by_one at one block went from 17.8 to 1.5 CPU-s with this alone (issue 15,
        bench/bench_prove.py)."""
        s = self.state(0)
        vecs = self.enc.init_vectors()
        fixed = [n for n in self.lay.names if len({v[n] for v in vecs}) == 1]
        differ = [n for n in self.lay.names if len({v[n] for v in vecs}) > 1]
        parts = [s[n] == vecs[0][n] for n in fixed]
        if differ:
            parts.append(z3.Or(*[z3.And(*[s[n] == v[n] for n in differ]) for v in vecs]))
        return z3.And(*parts)

    def transition(self, k: int) -> z3.BoolRef:
        """``T(s_k, s_k+1)``, cached: the generic relation built once, renamed to steps k, k+1 (Z3's
        ``substitute`` is far cheaper than building the terms again in Python)."""
        if self._generic is None:
            self._generic = self._build()
        while len(self.trans) <= k:
            i = len(self.trans)
            s, t = self.state(i), self.state(i + 1)
            sel, val = z3.Int(f"sel@{i}"), z3.Int(f"val@{i}")
            self.sel.append(sel)
            self.val.append(val)
            x, y = self._xy
            pairs = [(x[n], s[n]) for n in self.lay.names] + [(y[n], t[n]) for n in self.lay.names]
            pairs += [(self._sv[0], sel), (self._sv[1], val)]
            self.trans.append(z3.substitute(self._generic, *pairs))
            assert self._generic_overflow is not None
            self.overflows.append(z3.substitute(self._generic_overflow, *pairs))
        return self.trans[k]

    def overflow(self, k: int) -> z3.BoolRef:
        """Transition ``k`` is an enabled action whose successor does not fit the vector (a capacity of the
        ``Layout`` too small). ``T`` does not exclude such a step, so every engine asks this too and
        reports it (``CapacityError``) instead of exploring a truncated successor or missing it."""
        self.transition(k)
        return self.overflows[k]

    def _build(self) -> z3.BoolRef:
        s, t = self._xy
        sel, val = self._sv
        insts = self.enc.instances
        parts: list[z3.BoolRef] = [sel >= 0, sel < len(insts), val >= 0]
        effects: list[SV | None] = []
        overflow: list[z3.BoolRef] = []
        for i, inst in enumerate(insts):
            g = inst.guard(s, val)
            if g is False:
                parts.append(sel != i)
                effects.append(None)
                continue
            eff, ok = inst.effect(s, val)
            # the guard alone enables the step: a successor that does not fit is asked for separately
            # (``overflow``) and reported, never pruned by conjoining the capacity condition here
            parts.append(z3.Implies(sel == i, _b(g)))
            if ok is not True:
                overflow.append(z3.And(sel == i, _b(g), z3.Not(_b(ok))))
            effects.append(eff)
        self._generic_overflow = z3.Or(*overflow) if overflow else z3.BoolVal(False)
        for name in self.lay.names:
            terms = [(i, e.d[name]) for i, e in enumerate(effects) if e is not None]
            # the most common effect term is the default; only the others need a case in the If chain
            groups: dict[Any, list[int]] = {}
            reps: dict[Any, Term] = {}
            for i, term in terms:
                key = ("i", term) if isinstance(term, int) else ("z", term.get_id())
                groups.setdefault(key, []).append(i)
                reps[key] = term
            default_key = max(groups, key=lambda kk: len(groups[kk]))
            expr: Term = reps[default_key]
            for key, idx in groups.items():
                if key == default_key:
                    continue
                cond = z3.Or(*[sel == i for i in idx]) if len(idx) > 1 else sel == idx[0]
                expr = z3.If(cond, reps[key], expr)
            parts.append(t[name] == expr)
        return z3.And(*parts)

    def prop(self, name: str, k: int, fn: Callable[[SV], Term]) -> z3.BoolRef:
        """A property (or any predicate over the vector) at step ``k``, cached (built once, renamed)."""
        key = (name, k)
        if key not in self._props:
            if name not in self._generic_props:
                self._generic_props[name] = _b(fn(self._xy[0]))
            x, s = self._xy[0], self.state(k)
            self._props[key] = z3.substitute(self._generic_props[name], *[(x[n], s[n]) for n in self.lay.names])
        return self._props[key]

    def well_formed(self, k: int) -> z3.BoolRef:
        """The vector of step ``k`` is the vector of some ``State`` (used by the induction step)."""
        return _b(well_formed(self.enc, self.state(k)))


def well_formed(enc: Encoding, s: SV) -> Term:
    """Structural facts every encoded state has: ranges of flags and enums, lengths within capacity, unused
    slots and absent optional fields zero, records' lba a block or MARKER, values in the domain. Induction
    proves them with the property (they are a conjunct of Q), not assumes them: from an arbitrary state some
    need an invariant to be preserved (FinishResync sets R's applied seq to ``next_seq - 1``, which is only
    non-negative because ``counters_ordered`` holds).
    (Journal order is not here: ``journal_well_formed`` implies it, and is a strengthening invariant of the
    properties whose encoding folds the journal in order.)"""
    lay = enc.lay
    out: list[Term] = []

    def rng(x: Term, lo: int, hi: int) -> None:
        out.append(conj(x >= lo, x <= hi))

    # every domain comes from State's annotations (terms.SCALAR_TOP and friends): a field added to the state
    # gets its range here without an edit
    def domain(x: Term, hi: int | None) -> None:
        if hi is None:
            out.append(x >= 0)
        else:
            rng(x, 0, hi)

    for f, hi in SCALAR_TOP.items():
        domain(s[f], hi)
    for f in VOLUMES:
        for x in s.vol(f):
            if FIELD[f].content.holds_values:
                out.append(lay.value_ok(x))
            else:
                rng(x, 0, 1)  # a bitmap
    for q, cap in lay.caps.items():
        n = s.length(q)
        rng(n, 0, cap)
        for i, slot in enumerate(s.slots(q)):
            out.append(implies(n <= i, all_of(x == 0 for x in slot)))
            if lay.multi and FIELD[q].content in LENGTH_SLOT:  # the length slot (last): a write of 1 ..
                # write_blocks blocks within the volume (a journal location has none)
                w = slot[-1]
                if q == "path":
                    mw = conj(i < n, slot[0] == 0)
                    out.append(implies(mw, disj(conj(slot[2] == MARKER, w == 1),
                                                conj(slot[2] >= 0, w >= 1, w <= lay.bounds.write_blocks,
                                                     slot[2] + w <= lay.nb))))
                    out.append(implies(conj(i < n, slot[0] != 0), w == 0))
                else:
                    out.append(implies(i < n, disj(conj(slot[1] == MARKER, w == 1),
                                                   conj(slot[1] >= 0, w >= 1, w <= lay.bounds.write_blocks,
                                                        slot[1] + w <= lay.nb))))
            if q == "path":
                # RecoverRequest / SwapDone only in swap recovery, Checkpointed and Resynced (one number each) in
                # both: a range and two exclusions, not a disjunction per slot (which made write-through's step
                # case 5x slower)
                ck = int(MessageKind.CHECKPOINTED)
                out.append(implies(i < n, conj(slot[0] >= 0, slot[0] <= int(max(MessageKind)))))
                if enc.kind != RecoveryKind.SWAP:
                    out.append(implies(i < n, conj(slot[0] != int(MessageKind.RECOVER_REQUEST),
                                                   slot[0] != int(MessageKind.SWAP_DONE))))
                out.append(implies(conj(i < n, slot[0] >= ck), slot[2] == 0))
                out.append(implies(conj(i < n, slot[0] == 0), conj(slot[2] >= MARKER, slot[2] < lay.nb,
                                                                   lay.value_ok(slot[3]))))
                out.append(implies(conj(i < n, slot[0] != 0), slot[3] == 0))
                continue
            if FIELD[q].content is Content.LOCATIONS:
                out.append(implies(i < n, slot[0] >= 0))  # a sector; the property bounds it by the ring
                continue
            # every entry but a message starts (seq, lba, value); what follows is a flag or an enum
            out.append(implies(i < n, conj(slot[1] >= MARKER, slot[1] < lay.nb, lay.value_ok(slot[2]),
                                           slot[0] >= 0)))
            tops = ENTRY_TOP[FIELD[q].content]
            out.extend(implies(i < n, conj(slot[j] >= 0, slot[j] <= tops[j]))
                       for j in range(3, len(slot)) if tops[j] is not None)
    for r in RECOVERY_ENTRIES:
        present = s[f"{r}.present"]
        rng(present, 0, 1)
        keys = [k for k in lay.names if k.startswith(f"{r}.") and k != f"{r}.present"]
        out.append(implies(present == 0, all_of(s[k] == 0 for k in keys)))
        out.append(implies(present == 1, s[f"{r}.kind"] == enc.kind))
        for f, hi in RECOVERY_TOP.items():
            if f != "kind":  # pinned to the run's kind above
                domain(s[f"{r}.{f}"], hi)
        out.extend(lay.value_ok(x) for x in s.vol(f"{r}.target_image") + s.vol(f"{r}.start_image"))
    # a constant of the configuration keeps its initial value (every initial state has the same): no step
    # changes it, which this conjunct, proved like the rest, makes an obligation
    init = enc.init_vectors()[0]
    out.extend(s[f] == init[f] for f in CONSTANT_FIELDS)
    rng(s["retired_image.present"], 0, 1)
    out.append(implies(s["retired_image.present"] == 0, all_of(x == 0 for x in s.vol("retired_image"))))
    out.extend(lay.value_ok(x) for x in s.vol("retired_image"))
    return all_of(out)


# --- decoding a model into a concrete trace ----------------------------------------------------------------


class DecodeError(AssertionError):
    """A solver model does not re-execute on ``MirrorModel``: the encoding and the model disagree."""


def decode(un: Unroller, model: z3.ModelRef, depth: int) -> tuple[Bounds, Steps]:
    """The concrete execution a solver model describes, re-executed on ``MirrorModel``.

    With a widened value domain the written values are renamed, in order of first use, to 1, 2, ... (0 stays
    0: it is what every volume starts with). Values are interchangeable (``model.symmetry``), so the renamed
    execution violates the same property; it replays at ``values = distinct + 1`` when that is within the
    model's bounds (at most 3 distinct non-zero values), else ``DecodeError``.
    """
    enc = un.enc
    bounds = enc.b
    vec0 = {n: model.eval(un.state(0)[n], model_completion=True).as_long() for n in un.lay.names}
    insts = enc.instances
    chosen = []
    for k in range(depth):
        i = model.eval(un.sel[k], model_completion=True).as_long()
        v = model.eval(un.val[k], model_completion=True).as_long()
        chosen.append((insts[i], v))
    if un.unbounded:  # the proof system has no budgets: replay with the model's largest ones
        bounds = bounds.with_(**{k: RANGES[k][1] for k in BUDGET_COUNTERS})
    if un.lay.vmax > bounds.values or un.unbounded:
        rename: dict[int, int] = {0: 0}
        for inst, v in chosen:
            if inst.param == "value" and v not in rename:
                rename[v] = len(rename)
        if len(rename) > 4:
            raise DecodeError(f"the counterexample writes {len(rename) - 1} distinct non-zero values; "
                              "the model replays at most 3")
        bounds = bounds.with_(values=max(bounds.values, len(rename)))
        chosen = [(inst, rename[v] if inst.param == "value" else v) for inst, v in chosen]
    mm = MirrorModel(bounds)
    fence = vec0["fence_policy"]
    cur = next(s for s in mm.init_states() if int(s.fence_policy) == fence)
    steps: Steps = [(None, cur)]
    for k, (inst, v) in enumerate(chosen):
        a = inst.decode(cur, v)
        if a not in mm.actions(cur):
            raise DecodeError(f"step {k + 1}: {a!r} ({inst.name}) is not enabled in the model")
        cur = mm.next_state(cur, a)
        steps.append((a, cur))
    return bounds, steps


# --- bounded model checking --------------------------------------------------------------------------------


@dataclass
class DepthReport:
    """One solver call: property, depth, verdict at that depth and seconds."""

    prop: str
    depth: int
    result: str  # "unsat" (no violation at this depth), "sat", "unknown"
    seconds: float
    note: str = ""


@dataclass
class Outcome:
    """The verdict for one property: ``holds`` (up to depth), ``violated``, ``proved``, ``not proved``,
    ``unknown``; a trace for a violation or a counterexample to induction."""

    prop: Property
    verdict: str
    depth: int
    seconds: float
    steps: Steps = field(default_factory=list)
    bounds: Bounds | None = None
    note: str = ""


ReportFn = Callable[[DepthReport], None]


def bmc(un: Unroller, prop: Property, sym: Callable[[SV], Term], max_depth: int,
        report: ReportFn | None = None, timeout_ms: int = 0, first_depth: int = 0) -> Outcome:
    """Incremental BMC of ``prop`` up to ``max_depth`` transitions; the first violation is a shortest one.

    With ``first_depth`` d > 0, one query first asks for a run of exactly d steps that violates ``prop`` at
    any step 0..d (see ``_within``); if there is one, the run is cut at its first violating step and
    returned: a violation within d steps, *not necessarily a shortest one*. If there is none, that does not
    yet mean no violation within d steps (a violating run may stop, with no action enabled, before step
    d), so the incremental search then runs from depth 0 as without the option, skipping only the check
    at depth d itself, and whatever it finds is again a shortest violation. A violation is therefore never
    missed; the option only pays off when there is one to find within d steps. If that one query gives up
    (``timeout_ms``), the outcome is ``unknown``.
    """
    if not 0 <= first_depth <= max_depth:
        raise ValueError(f"first_depth={first_depth} is not within 0..max_depth={max_depth}")
    started = time.perf_counter()
    if first_depth > 0:
        o = _within(un, prop, sym, first_depth, report, timeout_ms, started)
        if o is not None:
            return o
    return bmc_all(un, [prop], {prop.name: sym}, max_depth, report, timeout_ms,
                   skip_depth=first_depth or None, started=started)[prop.name]


def bmc_all(un: Unroller, props: Sequence[Property], syms: Mapping[str, Callable[[SV], Term]], max_depth: int,
            report: ReportFn | None = None, timeout_ms: int = 0, skip_depth: int | None = None,
            started: float | None = None, incremental: bool = False) -> dict[str, Outcome]:
    """BMC of several properties at once, depth by depth up to ``max_depth`` transitions: an outcome per name.

    At each depth one query asks whether *some* property still unviolated fails there; only when one does
    is each of them asked alone, to say which. Every property is so checked at every depth in increasing
    order until it fails, and each violation found is a shortest one for its property.

    Each depth gets its own solver (``WITHIN_TACTIC``: ``solve-eqs`` substitutes every state vector by its
    defining terms over the initial constants and the actions chosen, so what is left is a search over the
    actions alone). That is not incremental, and it is still the faster: with the initial condition written
    as equations (``Unroller.init``), the per-depth solver took 10 CPU-s where one incremental solver took 22
    for replay_out_of_order's ten depths, and 2.9 against 4.7 for rebuild_from_primary's nine (an incremental
    ``z3.Solver()`` does not run ``solve-eqs``, so it keeps every vector and its equations). Asserting the
    properties that held at shallower depths, as lemmas, did not help the per-depth solver (13.5 s against 10).

    ``incremental=True`` is the other way, kept to measure it against (bench/bench_prove.py): one
    ``z3.Solver()`` for every depth, step k's transition added once, each depth's query an assumption, and
    a property that held at depth d asserted at step d (it excludes no run and prunes deeper queries).
    ``skip_depth`` leaves out the queries at that depth (``bmc``'s ``first_depth``: its one query already
    answered it).
    """
    started = time.perf_counter() if started is None else started

    def fresh() -> Any:
        s = z3.Solver() if incremental else z3.Then(*WITHIN_TACTIC).solver()
        if timeout_ms:
            s.set("timeout", timeout_ms)
        s.add(un.init())
        return s

    solver = fresh()
    pending = list(props)
    outcomes: dict[str, Outcome] = {}
    for d in range(max_depth + 1):
        if not pending:
            break
        t0 = time.perf_counter()
        if incremental and d > 0:
            solver.add(un.transition(d - 1))
        elif not incremental and d != skip_depth:
            # a new solver for this depth: the whole prefix, which solve-eqs then folds into the actions
            solver = fresh()
            solver.add(*[un.transition(k) for k in range(d)])
        if d == skip_depth:
            continue  # the query of ``_within`` found no violation (nor overflow) at exactly this depth
        bads = {p.name: z3.Not(un.prop(p.name, d, syms[p.name])) for p in pending}
        label = pending[0].name if len(pending) == 1 else f"any of {len(pending)} properties"
        # one query for all: some property broken at d, or the step into d outgrowing a capacity (an overflow
        # at an earlier step was excluded at its own depth, and stays excluded)
        over = un.overflow(d - 1) if d > 0 else None
        r = solver.check(z3.Or(*bads.values(), *([over] if over is not None else [])))
        if report is not None:
            report(DepthReport(label, d, str(r), time.perf_counter() - t0))
        if r == z3.unknown:
            note = f"solver gave up at depth {d}: {gave_up(solver)}"
            for p in pending:
                outcomes[p.name] = Outcome(p, "unknown", d, time.perf_counter() - started, note=note)
            return outcomes
        held: list[Property] = []
        if r == z3.unsat:
            held = pending
        else:
            model = solver.model()
            if over is not None and z3.is_true(model.eval(over, model_completion=True)):
                raise _capacity_error(un, model, d - 1)
            for p in pending:
                if z3.is_true(model.eval(bads[p.name], model_completion=True)):
                    outcomes[p.name] = _violated(un, p, model, d, started)
                    continue
                t1 = time.perf_counter()
                rp = solver.check(bads[p.name])
                if report is not None:
                    report(DepthReport(p.name, d, str(rp), time.perf_counter() - t1))
                if rp == z3.sat:
                    outcomes[p.name] = _violated(un, p, solver.model(), d, started)
                elif rp == z3.unsat:
                    held.append(p)
                else:
                    outcomes[p.name] = Outcome(p, "unknown", d, time.perf_counter() - started,
                                               note=f"solver gave up at depth {d}: {gave_up(solver)}")
            # the query found a violation, so it said nothing of an overflow at this depth: ask that alone
            if over is not None:
                ro = solver.check(over)
                if ro == z3.sat:
                    raise _capacity_error(un, solver.model(), d - 1)
        if incremental:
            for p in held:
                solver.add(z3.Not(bads[p.name]))
        pending = held
    for p in pending:
        outcomes[p.name] = Outcome(p, "holds", max_depth, time.perf_counter() - started)
    return outcomes


#: What Z3 says when its own Ctrl-C handler (installed during every query) cancelled the query.
INTERRUPTED_REASONS = frozenset({"canceled", "interrupted from keyboard"})


def gave_up(solver: Any) -> str:
    """Why ``solver`` answered unknown. A Ctrl-C during a query reaches Z3's handler, not Python's: Z3 cancels
    that one query and swallows the interrupt. In the main process it was meant for the whole run, so it is
    raised again as ``KeyboardInterrupt`` (a worker process leaves that to its parent, which got the same
    signal)."""
    reason = str(solver.reason_unknown())
    if reason in INTERRUPTED_REASONS and mp.parent_process() is None:
        raise KeyboardInterrupt
    return reason


#: The solver of ``_within``: ``solve-eqs`` substitutes every state vector by its defining equations (each
#: slot of s_k+1 is a term over s_k, the selector and the value), leaving a search over the actions alone.
#: On the one deep query of each deep mutant at one block this was about twice as fast as ``z3.Solver()``
#: (which keeps the vectors; ``simplify`` alone before ``smt`` was far slower); though not incremental, it
#: is also the depth-by-depth search's solver (``bmc_all``). Guarding the transitions (to let a run stop
#: early) keeps ``solve-eqs`` from substituting and made the query ten times slower: hence the fallback in
#: ``bmc``. Bit-blasting was tried on top (``lia2pb``, ``pb2bv``, ``bit-blast``, ``sat``; every slot is a
#: small bounded integer): ``pb2bv`` rejects the if-then-else terms the effects are made of, even after
#: ``elim-term-ite``, and the ``QF_FD`` solver answers unknown from depth 2 on.
WITHIN_TACTIC = ("simplify", "propagate-values", "solve-eqs", "smt")


def _within(un: Unroller, prop: Property, sym: Callable[[SV], Term], depth: int, report: ReportFn | None,
            timeout_ms: int, started: float) -> Outcome | None:
    """One query: a run of exactly ``depth`` steps with ``prop`` false at some step 0..depth. The outcome
    for a violation (cut at the model's first violating step) or for a solver that gave up; ``None`` for
    unsat (no such run, which does not exclude shorter runs that cannot be extended to ``depth`` steps)."""
    t0 = time.perf_counter()
    solver = z3.Then(*WITHIN_TACTIC).solver()
    if timeout_ms:
        solver.set("timeout", timeout_ms)
    solver.add(un.init())
    for k in range(depth):
        solver.add(un.transition(k))
    bads = [z3.Not(un.prop(prop.name, j, sym)) for j in range(depth + 1)]
    overs = [un.overflow(k) for k in range(depth)]
    solver.add(z3.Or(*bads, *overs))
    r = solver.check()
    if report is not None:
        report(DepthReport(prop.name, depth, str(r), time.perf_counter() - t0, note=f"steps 0..{depth} in one query"))
    if r == z3.sat:
        model = solver.model()

        def holds(f: z3.BoolRef) -> bool:
            return bool(z3.is_true(model.eval(f, model_completion=True)))

        first = next((j for j, bad in enumerate(bads) if holds(bad)), depth + 1)
        over = next((k for k, o in enumerate(overs) if holds(o)), depth)
        if over < first:  # the step into state over + 1 outgrew the vector: what follows it is not the model's
            raise _capacity_error(un, model, over)
        return _violated(un, prop, model, first, started)
    if r == z3.unsat:
        return None
    return Outcome(prop, "unknown", depth, time.perf_counter() - started,
                   note=f"solver gave up on steps 0..{depth}: {gave_up(solver)}")


def _capacity_error(un: Unroller, model: z3.ModelRef, k: int) -> CapacityError:
    """The error for a model whose transition ``k`` outgrows a capacity: which action, which sequences."""
    inst = un.enc.instances[model.eval(un.sel[k], model_completion=True).as_long()]
    after = un.state(k + 1)
    full = [q for q, cap in un.lay.caps.items()
            if model.eval(after.length(q), model_completion=True).as_long() > cap]
    return CapacityError(f"{inst.name} at step {k + 1} outgrows the capacity of {', '.join(full) or 'a sequence'} "
                         f"at these bounds ({', '.join(f'{q}={un.lay.caps[q]}' for q in full)}): the Layout's "
                         "capacities are too small, so no verdict is given")


def _violated(un: Unroller, prop: Property, model: z3.ModelRef, depth: int, started: float) -> Outcome:
    """The outcome for a model violating ``prop`` at step ``depth``, checked on the model itself."""
    bounds, steps = decode(un, model, depth)
    # the decoded execution must violate the property on the model itself, not just in Z3
    if prop.predicate(steps[-1][1]):
        raise DecodeError(f"z3 found a violation of {prop.name} at depth {depth} that the model does not show")
    return Outcome(prop, "violated", depth, time.perf_counter() - started, steps, bounds)


__all__ = [
    "CapacityError",
    "DecodeError",
    "DepthReport",
    "Outcome",
    "Unroller",
    "bmc",
    "bmc_all",
    "decode",
    "gave_up",
    "same",
    "well_formed",
]


#: The scorecard's z3 column: one block keeps the formulas small and every safety mutant still shows its
#: bug (bench/bench_prove.py compares these with the explicit checker's shortest traces).
SCORECARD_BOUNDS = Bounds(blocks=1, values=2, host_writes=2, concurrency=1, journal_capacity=2, crashes=1,
                          path_failures=0, recoveries=1)
SCORECARD_DEPTH = 12  # deeper than every mutant's shortest counterexample at these bounds (at most 10)
CORRECT_DEPTH = 4


def scorecard_cell(mutant: str | None, bounds: Bounds) -> dict[str, Any]:
    """The scorecard's z3 column: BMC of the property the mutant breaks at ``SCORECARD_BOUNDS``; for the
    correct protocol, BMC of every safety property to ``CORRECT_DEPTH`` for both recovery kinds."""
    from pitmirror.model.mutants import MUTANTS
    from pitmirror.spec.properties import BY_NAME, SAFETY, Kind, trade_off
    from pitmirror.spec.state import RecoveryKind

    started = time.perf_counter()
    if mutant is not None:
        m = MUTANTS[mutant]
        prop = BY_NAME[m.breaks]
        if prop.kind is not Kind.ALWAYS:
            return {"verdict": "missed", "note": f"{m.breaks} is a liveness property; bounded model checking "
                                                 "of safety properties cannot show a run that never ends"}
        b = m.exposed_in(SCORECARD_BOUNDS)
        un = Unroller(b)
        o = bmc(un, prop, un.enc.properties()[prop.name], SCORECARD_DEPTH)
        where = "one block" if b.blocks == 1 else f"{b.blocks} blocks, {b.concurrency} writes in flight"
        if o.verdict == "violated":
            return {"verdict": "caught", "property": prop.name, "steps": o.depth,
                    "seconds": time.perf_counter() - started, "note": f"{where}, BMC"}
        return {"verdict": "missed", "seconds": time.perf_counter() - started,
                "note": f"BMC {o.verdict} to depth {o.depth} at {where} {o.note}".strip()}
    notes = []
    for kind in RecoveryKind:
        un = Unroller(SCORECARD_BOUNDS.with_(recovery_kind=kind))
        outcomes = bmc_all(un, SAFETY, un.enc.properties(), CORRECT_DEPTH)
        for p in SAFETY:
            o = outcomes[p.name]
            if o.verdict == "violated" and trade_off(p.name, kind, o.steps[-1][1]) is None:
                return {"verdict": "false alarm", "property": p.name, "steps": o.depth,
                        "seconds": time.perf_counter() - started}
            if o.verdict == "violated":
                notes.append(f"{p.name} under {kind.name.lower()} (expected trade-off)")
    note = f"every safety property holds to depth {CORRECT_DEPTH}, both kinds, one block"
    return {"verdict": "expected trade-off" if notes else "holds", "property": None,
            "seconds": time.perf_counter() - started, "note": note + ("; " + ", ".join(notes) if notes else "")}
