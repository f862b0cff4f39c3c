"""Z3 bounded model checking over the model (issue 5); k-induction builds on it in ``checkers.symbolic.induction``.

The transition relation is built from ``checkers.symbolic.encoding`` (kept in step with ``model/protocol.py`` by
``tests/test_z3_agreement.py``): per step ``k`` a vector of integer constants, an instance selector
``sel@k`` and a value parameter ``val@k``; ``T(s_k, s_k+1)`` says the selected instance's guard holds and
every slot of ``s_k+1`` is that instance's effect. A satisfying model therefore names the action of every
step; ``decode`` turns it into concrete actions and re-executes them on ``MirrorModel``, so a z3 trace is a
model trace like any other (``checkers.traces.trace.replay_on_model`` accepts it).

BMC (``bmc_all``, ``bmc`` for one property) unrolls with stutter steps (``Unroller(stutter=True)``), so one
query "some property fails at step d" asks for a violation within d steps, of every property asked at once.
Its answer holds for every shallower depth; the search asks depths in an order (``up``: 0, 1, 2, ...;
``down``: the full depth first, then below the violation found) until each property has a violation one
step longer than a depth with none (a shortest violation) or none within the full depth. Each query is one
solver that first folds every state into the actions chosen (``solve-eqs``), over bit-vectors of a width at
which no term wraps (``BitVecQueries``, ``checkers.symbolic.bitvec``): bit-blasted to Z3's SAT solver, 2 to 9
times faster than the same query over integers from 9 steps on (docs/PROOFS.md, "Bit-vectors").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3

from pitmirror.checkers.symbolic import bitvec, solving
from pitmirror.checkers.symbolic.encoding import Encoding, Inst
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
from pitmirror.spec.actions import BUDGET_COUNTERS
from pitmirror.spec.fields import BY_NAME as FIELD
from pitmirror.spec.fields import CONSTANT_FIELDS, Content
from pitmirror.spec.properties import Property
from pitmirror.spec.state import MARKER, Message, MessageKind, RecoveryKind, State

Steps = list[tuple[Action | None, State]]


def _b(t: Term) -> z3.BoolRef:
    return z3.BoolVal(t) if isinstance(t, bool) else t


def as_expr(t: Term) -> z3.ExprRef:
    """A term as a Z3 expression (the term layer keeps constants as Python ints and bools)."""
    if isinstance(t, bool):
        return z3.BoolVal(t)
    if isinstance(t, int):
        return z3.IntVal(t)
    return t


Substitution = Callable[[z3.ExprRef], z3.ExprRef]


def substituter(pairs: Sequence[tuple[z3.ExprRef, z3.ExprRef]]) -> Substitution:
    """``z3.substitute`` with the pairs checked and marshalled once, for a renaming applied to many terms
    (``z3.substitute`` checks the sorts of every pair on each call: most of the time of thousands of calls)."""
    n = len(pairs)
    src, dst = (z3.Ast * n)(), (z3.Ast * n)()
    for i, (a, b) in enumerate(pairs):
        src[i], dst[i] = a.as_ast(), b.as_ast()
    to_ref = z3.z3._to_expr_ref

    def sub(t: z3.ExprRef, keep: object = pairs) -> z3.ExprRef:  # ``keep``: the arrays point into the pairs
        return to_ref(z3.Z3_substitute(t.ctx.ref(), t.as_ast(), n, src, dst), t.ctx)

    return sub


class Unroller:
    """The initial condition and transition formulas of one bounded instance, built once, step by step.

    ``stutter=True`` (BMC only) adds one more selector value, ``stutter_sel``: no step, every slot unchanged,
    always enabled, never an overflow. A run of d steps then stands for every run of at most d real steps,
    also one that stops early because no action is enabled, so "bad at step d" alone asks for a violation
    within d steps. Induction and Houdini keep the relation without it (a stutter step would only repeat a
    state). ``decode`` drops stutter steps."""

    def __init__(self, bounds: Bounds, value_bits: int | None = None, unbounded: bool = False,
                 stutter: bool = False) -> None:
        self.value_bits = value_bits
        self.unbounded = unbounded
        self.stutter = stutter
        # the path in arrival order: nothing here deduplicates states (``Encoding.canonical_path``)
        self.enc = Encoding(bounds, value_bits, unbounded=unbounded, canonical_path=False)
        #: with ``stutter``, the selector value meaning "no step": every slot unchanged, always enabled
        self.stutter_sel: int | None = len(self.enc.instances) if stutter else None
        self.lay: Layout = self.enc.lay
        self.states: list[SV] = []
        self.sel: list[z3.ArithRef] = []
        self.val: list[z3.ArithRef] = []
        self.trans: list[z3.BoolRef] = []  # trans[k]: s_k -> s_k+1
        self._props: dict[tuple[str, int], z3.BoolRef] = {}
        self._generic_props: dict[str, z3.BoolRef] = {}
        self._renamings: list[Substitution] = []  # by step: x renamed to that step's vector (``prop``)
        self._generic: z3.BoolRef | None = None
        self._generic_overflow: z3.BoolRef | None = None
        self._next_terms: dict[str, z3.ArithRef] = {}  # each slot of s_k+1 as a term over s_k (``_build``)
        self._ranges: dict[int, dict[str, tuple[int, int]]] = {}  # by depth (``bit_width``)
        #: the generic formulas (over x, y, sel@x, val@x) read once for ranging and translating (``bit_width``,
        #: ``BitVecQueries``); nothing over a step's vector goes in here
        self.nodes = bitvec.Nodes()
        self.overflows: list[z3.BoolRef] = []  # overflows[k]: transition k outgrows a capacity of the vector
        self._xy = (self.lay.symbolic("x"), self.lay.symbolic("y"))
        self._sv = (z3.Int("sel@x"), z3.Int("val@x"))

    def state(self, k: int) -> SV:
        """The symbolic vector of step ``k`` (created on demand)."""
        while len(self.states) <= k:
            self.states.append(self.lay.symbolic(str(len(self.states))))
        return self.states[k]

    def init(self, s: Mapping[str, z3.ExprRef] | None = None) -> z3.BoolRef:
        """Step 0 is one of the model's initial states.

        Written as one equation per slot on which every initial state agrees, and a disjunction over the
        few slots on which they differ (the fence policy), not as a disjunction of whole vectors: the same
        set of states, but top-level equations let ``solve-eqs`` substitute the constants through every
        step, and the SMT core propagate them. The disjunction of whole vectors hid them, and was most of
        BMC's time: recovery_off_by_one at one block went from 17.8 to 1.5 CPU-s with this alone (issue 15,
        bench/bench_prove.py). ``s``: the slots of step 0 by name (default this unrolling's), such as the
        bit-vector ones of ``BitVecQueries``."""
        s = s if s is not None else self.state(0).d
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
        generic = self.generic()
        while len(self.trans) <= k:
            i = len(self.trans)
            s, t = self.state(i), self.state(i + 1)
            sel, val = self.step_params(i)
            x, y = self._xy
            pairs = [(x[n], s[n]) for n in self.lay.names] + [(y[n], t[n]) for n in self.lay.names]
            pairs += [(self._sv[0], sel), (self._sv[1], val)]
            sub = substituter(pairs)
            self.trans.append(sub(generic))
            self.overflows.append(sub(self.generic_overflow()))
        return self.trans[k]

    def step_params(self, k: int) -> tuple[z3.ArithRef, z3.ArithRef]:
        """The selector and parameter of step ``k`` (created on demand)."""
        while len(self.sel) <= k:
            self.sel.append(z3.Int(f"sel@{len(self.sel)}"))
            self.val.append(z3.Int(f"val@{len(self.val)}"))
        return self.sel[k], self.val[k]

    def overflow(self, k: int) -> z3.BoolRef:
        """Transition ``k`` is an enabled action whose successor does not fit the vector (a capacity of the
        ``Layout`` too small). ``T`` does not exclude such a step, so every engine asks this too and
        reports it (``CapacityError``) instead of exploring a truncated successor or missing it."""
        self.transition(k)
        return self.overflows[k]

    def run(self, d: int) -> list[z3.BoolRef]:
        """The formulas of a run of ``d`` steps from an initial state. With stutter steps, every stutter
        comes before every real step: the same runs of at most ``d`` real steps, each written once (without
        this order, the one run of r real steps had C(d, r) placements and the queries took about twice as
        long); and a run whose first overflow is at real step r <= d overflows at step ``d - 1``, the one
        step ``bmc_all`` asks about."""
        out = [self.init(), *[self.transition(k) for k in range(d)]]
        if self.stutter_sel is not None:
            out += [z3.Implies(self.sel[k] == self.stutter_sel, self.sel[k - 1] == self.stutter_sel)
                    for k in range(1, d)]
        return out

    def leading_stutters(self, model: z3.ModelRef, d: int) -> int:
        """How many of the first ``d`` steps of ``model`` are stutter steps (they come first: ``run``)."""
        if self.stutter_sel is None:
            return 0
        return next((k for k in range(d) if model.eval(self.sel[k], model_completion=True).as_long()
                     != self.stutter_sel), d)

    def _build(self) -> z3.BoolRef:
        s, t = self._xy
        sel, val = self._sv
        insts = self.enc.instances
        n_sel = len(insts) + (1 if self.stutter else 0)
        parts: list[z3.BoolRef] = [sel >= 0, sel < n_sel, val >= 0]
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
            if self.stutter_sel is not None:
                # the stutter step keeps the slot: one more member of the group whose term is the slot itself
                # (most often the default already, so the stutter adds no case to the If chain)
                terms.append((self.stutter_sel, s[name]))
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
            self._next_terms[name] = as_expr(expr)
            parts.append(t[name] == expr)
        return z3.And(*parts)

    def generic_domain(self) -> z3.BoolRef:
        """The generic step's parameter (``val@x``) within the domain the concrete engines enumerate for the
        instance selected (``Encoding.params``). The relation leaves it unbounded above (induction's
        unbounded recovery target needs that); BMC's bit-vector queries ask it at every step, so the
        parameter has a range (``bit_width``) and the runs are exactly the model's."""
        sel, val = self._sv
        sizes = self._param_sizes()
        return z3.And(val < max(sizes), *[z3.Implies(sel == i, val < n) for i, n in enumerate(sizes) if n < max(sizes)])

    def _param_sizes(self) -> list[int]:
        """How many parameter values each instance has in a concrete run (``Encoding.params``)."""
        return [len(self.enc.params(inst)) for inst in self.enc.instances]

    def bit_width(self, d: int, names: Sequence[tuple[str, Callable[[SV], Term]]]) -> int:
        """The bit-vector width at which the formulas of a BMC query within ``d`` steps (the run, the
        parameters' domains, the properties ``names`` and the overflow) mean what they mean over integers:
        every slot of every state within ``d`` steps of an initial state bounded by intervals, and every
        integer term over them fitting signed (``checkers.symbolic.bitvec``). Also right for any depth
        below ``d`` (the ranges only grow with it)."""
        params = self._param_ranges()
        env = {**params, **{f"{n}@{v}": r for n, r in self.slot_ranges(d).items() for v in "xy"}}
        formulas = [self.generic(), self.generic_overflow(), self.generic_domain()]
        formulas += [self.generic_prop(name, fn) for name, fn in names]
        # the other formulas of a query are within these: the initial states' constants (where the ranges
        # start) and the stutters' order (a selector value)
        return bitvec.width(formulas, env, self.nodes)

    def slot_ranges(self, d: int) -> dict[str, tuple[int, int]]:
        """An interval per slot holding its value in every state within ``d`` steps of an initial state
        (``bitvec.ranges``), cached by depth."""
        if d not in self._ranges:
            self.generic()  # builds the next-state terms
            self._ranges[d] = bitvec.ranges(self.enc.init_vectors(), self._next_terms, self._param_ranges(), d,
                                            self.nodes)
        return self._ranges[d]

    def _param_ranges(self) -> dict[str, tuple[int, int]]:
        n_sel = len(self.enc.instances) + (1 if self.stutter else 0)
        return {"sel@x": (0, n_sel - 1), "val@x": (0, max(self._param_sizes()) - 1)}

    def generic(self) -> z3.BoolRef:
        """``T(x, y)`` over the generic vectors ``x``, ``y`` (``sel@x``, ``val@x``), built once."""
        if self._generic is None:
            self._generic = self._build()
        return self._generic

    def generic_overflow(self) -> z3.BoolRef:
        """The overflow condition of ``T(x, y)`` (``overflow``) over the generic vectors."""
        self.generic()
        assert self._generic_overflow is not None
        return self._generic_overflow

    def _renaming(self, k: int) -> Substitution:
        """The generic vector ``x`` renamed to step ``k``'s."""
        while len(self._renamings) <= k:
            x, s = self._xy[0], self.state(len(self._renamings))
            self._renamings.append(substituter([(x[n], s[n]) for n in self.lay.names]))
        return self._renamings[k]

    def generic_prop(self, name: str, fn: Callable[[SV], Term]) -> z3.BoolRef:
        """A property over the generic vector ``x``, built once."""
        if name not in self._generic_props:
            self._generic_props[name] = _b(fn(self._xy[0]))
        return self._generic_props[name]

    def prop(self, name: str, k: int, fn: Callable[[SV], Term]) -> z3.BoolRef:
        """A property (or any predicate over the vector) at step ``k``, cached (built once, renamed)."""
        key = (name, k)
        if key not in self._props:
            self._props[key] = self._renaming(k)(self.generic_prop(name, fn))
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



class BitVecQueries:
    """BMC's queries over bit-vectors of one width (``Unroller.bit_width``): the unrolling's generic formulas
    translated once (``checkers.symbolic.bitvec``) and renamed to each step, as ``Unroller`` does over
    integers. A model of a query is read back as a model of the integer formulas (``int_model``), so
    decoding and the checks on a counterexample are the integer ones."""

    def __init__(self, un: Unroller, bits: int) -> None:
        self.un = un
        self.bits = bits
        self.tr = bitvec.Translation(bits, un.nodes)
        self._trans = self.tr(un.generic())
        self._overflow = self.tr(un.generic_overflow())
        self._domain = self.tr(un.generic_domain())
        self._props: dict[str, z3.BoolRef] = {}
        self._steps: list[tuple[z3.BoolRef, z3.BoolRef, z3.BoolRef]] = []  # transition, overflow, domain
        self._states: dict[int | str, list[z3.BitVecRef]] = {}

    def _state(self, k: int | str) -> list[z3.BitVecRef]:
        if k not in self._states:
            self._states[k] = [z3.BitVec(f"{n}@{k}", self.bits) for n in self.un.lay.names]
        return self._states[k]

    def _params(self, k: int | str) -> list[z3.BitVecRef]:
        return [z3.BitVec(f"sel@{k}", self.bits), z3.BitVec(f"val@{k}", self.bits)]

    def _step(self, k: int) -> tuple[z3.BoolRef, z3.BoolRef, z3.BoolRef]:
        while len(self._steps) <= k:
            i = len(self._steps)
            src = self._state("x") + self._state("y") + self._params("x")
            dst = self._state(i) + self._state(i + 1) + self._params(i)
            sub = substituter(list(zip(src, dst, strict=True)))
            self._steps.append((sub(self._trans), sub(self._overflow), sub(self._domain)))
        return self._steps[k]

    def query(self, d: int, props: Sequence[tuple[str, Callable[[SV], Term]]]) -> list[z3.BoolRef]:
        """A run of ``d`` steps from an initial state, each step's parameter in its domain, that ends in a
        state violating one of ``props`` or outgrows a capacity at its last step (``bmc_all``)."""
        un = self.un
        out = [un.init(dict(zip(un.lay.names, self._state(0), strict=True)))]
        for k in range(d):
            trans, _, domain = self._step(k)
            out += [trans, domain]
        if un.stutter_sel is not None:  # every stutter before every real step (``Unroller.run``)
            sels = [self._params(k)[0] for k in range(d)]
            out += [z3.Implies(sels[k] == un.stutter_sel, sels[k - 1] == un.stutter_sel) for k in range(1, d)]
        sub = substituter(list(zip(self._state("x"), self._state(d), strict=True)))
        bad = [z3.Not(sub(self._prop(name, fn))) for name, fn in props]
        out.append(z3.Or(*bad, *([self._step(d - 1)[1]] if d else [])))
        return out

    def _prop(self, name: str, fn: Callable[[SV], Term]) -> z3.BoolRef:
        if name not in self._props:
            self._props[name] = self.tr(self.un.generic_prop(name, fn))
        return self._props[name]

    def int_model(self, model: z3.ModelRef, d: int) -> z3.ModelRef:
        """The integer model of the run of ``d`` steps a bit-vector ``model`` shows: every slot of states 0 ..
        ``d`` and the selector and parameter of steps 0 .. ``d`` - 1, with the same values (signed)."""
        un = self.un
        pairs = [(un.state(k)[n], bv) for k in range(d + 1)
                 for n, bv in zip(un.lay.names, self._state(k), strict=True)]
        pairs += [(iv, bv) for k in range(d) for iv, bv in zip(un.step_params(k), self._params(k), strict=True)]
        s = z3.Solver()
        s.add(*[iv == model.eval(bv, model_completion=True).as_signed_long() for iv, bv in pairs])
        if solving.check(s) != z3.sat:  # equations of distinct constants: always satisfiable
            raise DecodeError("no integer model for a bit-vector model")
        return s.model()


# --- decoding a model into a concrete trace ----------------------------------------------------------------


class DecodeError(AssertionError):
    """A solver model does not re-execute on ``MirrorModel``: the encoding and the model disagree."""


def decode(un: Unroller, model: z3.ModelRef, depth: int) -> tuple[Bounds, Steps]:
    """The concrete execution a solver model describes up to state ``depth`` of the unrolling, re-executed on
    ``MirrorModel``; stutter steps are dropped (so it may have fewer than ``depth`` steps).

    With a widened value domain the written values are renamed, in order of first use, to 1, 2, ... (0 stays
    0: it is what every volume starts with). Values are interchangeable (``model.symmetry``), so the renamed
    execution violates the same property; it replays at ``values = distinct + 1`` when that is within the
    model's bounds (at most 3 distinct non-zero values), else ``DecodeError``.
    """
    enc = un.enc
    bounds = enc.b
    vec0 = {n: model.eval(un.state(0)[n], model_completion=True).as_long() for n in un.lay.names}
    insts = enc.instances
    chosen: list[tuple[Inst, int | Message]] = []
    for k in range(depth):
        i = model.eval(un.sel[k], model_completion=True).as_long()
        if i == un.stutter_sel:
            continue  # no step: the run goes on from the same state
        v = model.eval(un.val[k], model_completion=True).as_long()
        if insts[i].param == "slot":
            # the solver's path is in arrival order, the model's sorted: name the message, not the slot
            st = un.lay.decode({n: model.eval(un.state(k)[n], model_completion=True).as_long()
                                for n in un.lay.names})
            chosen.append((insts[i], st.path[v]))
        else:
            chosen.append((insts[i], v))
    if un.unbounded:  # the proof system has no budgets: replay with the model's largest ones
        bounds = bounds.with_(**{k: RANGES[k][1] for k in BUDGET_COUNTERS})
    if un.lay.vmax > bounds.values or un.unbounded:
        rename: dict[int, int] = {0: 0}
        for inst, v in chosen:
            if inst.param == "value" and isinstance(v, int) and v not in rename:
                rename[v] = len(rename)
        if len(rename) > 4:
            raise DecodeError(f"the counterexample writes {len(rename) - 1} distinct non-zero values; "
                              "the model replays at most 3")
        bounds = bounds.with_(values=max(bounds.values, len(rename)))
        chosen = [(inst, _renamed(v, rename, inst.param)) for inst, v in chosen]
    mm = MirrorModel(bounds)
    fence = vec0["fence_policy"]
    cur = next(s for s in mm.init_states() if int(s.fence_policy) == fence)
    steps: Steps = [(None, cur)]
    for k, (inst, v) in enumerate(chosen):
        if isinstance(v, Message):  # a slot of the solver's path: the same message on the model's
            if v not in cur.path:
                raise DecodeError(f"step {k + 1}: {v!r} ({inst.name}) is not on the model's path")
            v = cur.path.index(v)
        a = inst.decode(cur, v)
        if a not in mm.actions(cur):
            raise DecodeError(f"step {k + 1}: {a!r} ({inst.name}) is not enabled in the model")
        cur = mm.next_state(cur, a)
        steps.append((a, cur))
    return bounds, steps


def _renamed(v: int | Message, rename: dict[int, int], param: str) -> int | Message:
    """A step's parameter with written values renamed: a host write's value, or the value a delivered, lost
    or duplicated mirror write carries."""
    if isinstance(v, Message):
        return v._replace(c=rename.get(v.c, v.c)) if v.kind == MessageKind.MIRROR_WRITE else v
    return rename[v] if param == "value" else v


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


#: How ``bmc_all`` picks the depth of its next query (``STRATEGIES``).
Strategy = str
STRATEGIES = ("up", "down")


@dataclass
class _Search:
    """What the queries so far showed of one property: ``clear`` the largest depth d with no violation
    within d steps (-1: none asked yet), ``best`` the shortest violating run a model showed (its real
    length, and the model with the state index where it first fails)."""

    prop: Property
    clear: int = -1
    best: tuple[int, z3.ModelRef, int] | None = None

    def decided(self, max_depth: int) -> bool:
        """A shortest violation is known (none within one step fewer), or none within ``max_depth``."""
        if self.best is not None:
            return self.best[0] == self.clear + 1
        return self.clear >= max_depth

    def target(self, strategy: Strategy, max_depth: int) -> int:
        """The depth this property's next query should have."""
        if strategy == "up":
            return self.clear + 1
        # down: the full depth, then one step below the shortest violation shown, until none is found
        return max_depth if self.best is None else self.best[0] - 1


def bmc(un: Unroller, prop: Property, sym: Callable[[SV], Term], max_depth: int,
        report: ReportFn | None = None, timeout_ms: int = 0, strategy: Strategy = "up",
        bitvectors: bool = True) -> Outcome:
    """BMC of ``prop`` up to ``max_depth`` steps; a violation reported is a shortest one (``bmc_all``)."""
    return bmc_all(un, [prop], {prop.name: sym}, max_depth, report, timeout_ms, strategy, bitvectors)[prop.name]


def bmc_all(un: Unroller, props: Sequence[Property], syms: Mapping[str, Callable[[SV], Term]], max_depth: int,
            report: ReportFn | None = None, timeout_ms: int = 0, strategy: Strategy = "up",
            bitvectors: bool = True, asking: Callable[[str, int], None] | None = None,
            waiting: Callable[[], None] | None = None) -> dict[str, Outcome]:
    """BMC of several properties at once up to ``max_depth`` steps: an outcome per name, each violation a
    shortest one for its property. ``report`` hears of each query's answer, ``asking`` of each query as it is
    put (what it asks about, and within how many steps), so progress can say what a long query is, and
    ``waiting`` every so often while it runs (``solving.check``).

    ``un`` must have stutter steps (``Unroller(stutter=True)``): a run of d steps is then any run of at most
    d real steps, padded in front with stutters (``Unroller.run``), so one query "some property in S fails
    at step d, or the step into d outgrows a capacity" asks about every run within d steps. Its answer
    holds for every shallower depth too: unsat at d clears 0..d for every property of S; a sat model shows
    a run whose real length up to its first bad state bounds that property's shortest violation. A
    property is decided when its shortest known violation is one step longer than its cleared depth, or
    when it is cleared to ``max_depth`` ("holds": a single unsat query when all hold at ``max_depth``).

    Which depth to ask next (``strategy``): ``up`` asks 0, 1, 2, ... (the first sat is the shortest): the
    order when the depth of a violation is not known. ``down`` asks ``max_depth`` first, then one step
    below the shortest violation shown until a query finds none: when every property holds that is one
    query, and when ``max_depth`` is the shortest violation's length (the tests know the breadth-first
    search's) it is two, the fewest that can show a shortest violation. Both give the same outcomes; they
    differ in time (bench/bench_prove.py, docs/PROOFS.md): ``down`` from a depth well above the shortest
    violation pays for sat queries deeper than it, which can cost far more than every unsat query below it
    (remote_writes_ahead_of_gap, 3 steps: 179 CPU-s for the one query within 12 steps). A ladder 1, 2, 4, 8,
    ... then down was tried and not kept (checkpoint_during_recovery within 12 steps: 29 CPU-s against 14
    for ``up``, the sat query at 12 alone 19). Each query gets its own solver: over bit-vectors
    (``BITVEC_TACTIC``, one width for every query, from the ranges within ``max_depth`` steps), or with
    ``bitvectors=False`` over integers (``WITHIN_TACTIC``); the answers are the same.

    A model that shows a step outgrowing a capacity of the ``Layout`` raises ``CapacityError`` (what
    follows such a step is not the model's), and every unsat answer excludes such a step within its depth:
    so "holds to d" also says no capacity was outgrown within d steps, and a reported violation's run
    never passed through a truncated state.
    """
    if not un.stutter:
        raise ValueError("bmc needs an Unroller with stutter steps (Unroller(..., stutter=True))")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
    started = time.perf_counter()
    search = {p.name: _Search(p) for p in props}
    # one width for every query: the ranges within max_depth steps hold every shallower state too
    bv = BitVecQueries(un, un.bit_width(max_depth, [(p.name, syms[p.name]) for p in props])) if bitvectors else None
    outcomes: dict[str, Outcome] = {}

    def settle() -> list[_Search]:
        """Record the outcome of every property just decided; the ones still open."""
        for s in search.values():
            if s.prop.name in outcomes or not s.decided(max_depth):
                continue
            if s.best is None:
                outcomes[s.prop.name] = Outcome(s.prop, "holds", max_depth, time.perf_counter() - started)
            else:
                outcomes[s.prop.name] = _violated(un, s.prop, s.best[1], s.best[2], started)
        return [s for s in search.values() if s.prop.name not in outcomes]

    while open_ := settle():
        d = min(s.target(strategy, max_depth) for s in open_)
        asked = [s for s in open_ if s.clear < d and (s.best is None or d < s.best[0])]
        label = asked[0].prop.name if len(asked) == 1 else f"any of {len(asked)} properties"
        if asking is not None:
            asking(label, d)
        t0 = time.perf_counter()
        if bv is not None:
            solver = z3.Then(*BITVEC_TACTIC).solver()
            query = bv.query(d, [(s.prop.name, syms[s.prop.name]) for s in asked])
        else:
            solver = z3.Then(*WITHIN_TACTIC).solver()
            bads = [z3.Not(un.prop(s.prop.name, d, syms[s.prop.name])) for s in asked]
            query = [*un.run(d), z3.Or(*bads, *([un.overflow(d - 1)] if d > 0 else []))]
        if timeout_ms:
            solver.set("timeout", timeout_ms)
        solver.add(*query)
        r = solving.check(solver, waiting=waiting)
        if r == z3.unknown:
            if report is not None:
                report(DepthReport(label, d, "unknown", time.perf_counter() - t0, note=f"within {d} steps"))
            note = f"solver gave up within {d} steps: {gave_up(solver)}"
            for s in open_:
                outcomes[s.prop.name] = Outcome(s.prop, "unknown", d, time.perf_counter() - started, note=note)
            break
        if r == z3.unsat:
            for s in asked:
                s.clear = d
            if report is not None:
                report(DepthReport(label, d, "unsat", time.perf_counter() - t0, note=f"none within {d} steps"))
            continue
        model = bv.int_model(solver.model(), d) if bv is not None else solver.model()
        lead = un.leading_stutters(model, d)
        over = next((k for k in range(d) if z3.is_true(model.eval(un.overflow(k), model_completion=True))), None)
        if over is not None:
            raise _capacity_error(un, model, over)
        shown = []
        for s in open_:  # a model may show any open property failing, asked or not
            first = next((j for j in range(d + 1) if z3.is_false(
                model.eval(un.prop(s.prop.name, j, syms[s.prop.name]), model_completion=True))), None)
            if first is None:
                continue
            real = max(0, first - lead)
            if s.best is None or real < s.best[0]:
                s.best = (real, model, first)
                shown.append(f"{s.prop.name} at step {real}")
        if report is not None:
            report(DepthReport(label, d, "sat", time.perf_counter() - t0,
                               note=f"within {d} steps: {', '.join(shown)}"))
    return outcomes


def gave_up(solver: Any) -> str:
    """Why ``solver`` answered unknown: a timeout or another limit. Never Ctrl-C: ``solving.check`` raises it
    in the main process, and workers ignore it (their parent stops them)."""
    return str(solver.reason_unknown())


#: The solver of every BMC query: ``solve-eqs`` substitutes every state vector by its defining equations (each
#: slot of s_k+1 is a term over s_k, the selector and the value), leaving a search over the actions alone.
#: On the deep queries of the deep mutants at one block this was about twice as fast as ``z3.Solver()``
#: (which keeps the vectors; ``simplify`` alone before ``smt`` was far slower), and faster than one
#: incremental solver across depths (whose core does not run ``solve-eqs``). Guarding the transitions (to let
#: a run stop early) keeps ``solve-eqs`` from substituting and made the query ten times slower; the stutter
#: step (``Unroller(stutter=True)``) lets a run stop early with every slot still a defined term. Bit-blasting
#: was tried on top (``lia2pb``, ``pb2bv``, ``bit-blast``, ``sat``; every slot is a small bounded integer):
#: ``pb2bv`` rejects the if-then-else terms the effects are made of, even after ``elim-term-ite``, and the
#: ``QF_FD`` solver answers unknown from depth 2 on. What works is translating the query to bit-vectors before
#: any of it (``BITVEC_TACTIC``); this is the integer form, ``bmc_all(bitvectors=False)``.
WITHIN_TACTIC = ("simplify", "propagate-values", "solve-eqs", "smt")
#: The solver of every BMC query over bit-vectors (the default): the same preprocessing, then bit-blasting and
#: Z3's SAT solver.
BITVEC_TACTIC = bitvec.TACTIC


def _capacity_error(un: Unroller, model: z3.ModelRef, k: int) -> CapacityError:
    """The error for a model whose transition ``k`` outgrows a capacity: which action, which sequences."""
    inst = un.enc.instances[model.eval(un.sel[k], model_completion=True).as_long()]
    after = un.state(k + 1)
    full = [q for q, cap in un.lay.caps.items()
            if model.eval(after.length(q), model_completion=True).as_long() > cap]
    step = k + 1 - un.leading_stutters(model, k)  # the real step: stutters in front are no steps
    return CapacityError(f"{inst.name} at step {step} outgrows the capacity of {', '.join(full) or 'a sequence'} "
                         f"at these bounds ({', '.join(f'{q}={un.lay.caps[q]}' for q in full)}): the Layout's "
                         "capacities are too small, so no verdict is given")


def _violated(un: Unroller, prop: Property, model: z3.ModelRef, index: int, started: float) -> Outcome:
    """The outcome for a model violating ``prop`` at state ``index`` of its unrolling (stutter steps
    dropped, so its depth is the run's real length), checked on the model itself."""
    bounds, steps = decode(un, model, index)
    depth = len(steps) - 1
    # the decoded execution must violate the property on the model itself, not just in Z3
    if prop.predicate(steps[-1][1]):
        raise DecodeError(f"z3 found a violation of {prop.name} at depth {depth} that the model does not show")
    return Outcome(prop, "violated", depth, time.perf_counter() - started, steps, bounds)


__all__ = [
    "STRATEGIES",
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
        un = Unroller(b, stutter=True)
        o = bmc(un, prop, un.enc.properties()[prop.name], SCORECARD_DEPTH)
        where = "one block" if b.blocks == 1 else f"{b.blocks} blocks, {b.concurrency} writes in flight"
        if o.verdict == "violated":
            return {"verdict": "caught", "property": prop.name, "steps": o.depth,
                    "seconds": time.perf_counter() - started, "note": f"{where}, BMC"}
        return {"verdict": "missed", "seconds": time.perf_counter() - started,
                "note": f"BMC {o.verdict} to depth {o.depth} at {where} {o.note}".strip()}
    notes = []
    for kind in RecoveryKind:
        un = Unroller(SCORECARD_BOUNDS.with_(recovery_kind=kind), stutter=True)
        outcomes = bmc_all(un, SAFETY, un.enc.properties(), CORRECT_DEPTH, strategy="down")
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
