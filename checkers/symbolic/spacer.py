"""Proofs by Z3's Spacer (constrained Horn clauses) on the proof system (issue 15).

The same claim ``prove --infer`` and ``prove --induction`` make, asked of a different engine: is there an
invariant ``Inv`` over the state vector with

    Init(x)                              => Inv(x)
    Inv(x) & guard_a(x, v) & y = eff_a(x, v) => Inv(y)        (one clause per action instance a)
    Inv(x)                               => P(x) & well_formed(x)

where ``Init``, the guards and the effects are the one transition relation of ``checkers.symbolic.encoding``
(``Encoding(bounds, unbounded=True, canonical_path=False)``, the proof system of docs/PROOFS.md: its steps
already include the bounded channel), and ``well_formed`` is ``bmc.well_formed`` (every length within its
capacity: a step that outgrows one is a failure, as in the step case of ``prove --induction``). Spacer searches
for ``Inv`` itself (property-directed reachability over linear integer arithmetic); nothing of
``spec.invariants`` is given.

Its answer is one of: ``proved`` (it found ``Inv``, printed in field names), ``refuted`` (a run from an initial
state reaches a state breaking ``P`` or a capacity: on the proof system, so a violation of the model or a
capacity too small), or ``unknown`` (the time limit, or Spacer gave up). Only ``proved`` is a proof.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import z3

from pitmirror.checkers.symbolic import solving
from pitmirror.checkers.symbolic.bmc import _b, well_formed
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.terms import SV, Term
from pitmirror.model.config import Bounds

Pred = Callable[[SV], Term]


@dataclass
class SpacerResult:
    """What Spacer answered for one property: the verdict, its time, and the invariant it found, if any."""

    prop: str
    verdict: str  # "proved" | "refuted" | "unknown"
    seconds: float
    reason: str = ""  # why unknown (Z3's reason: "timeout", "canceled", ...)
    invariant: str = ""  # the invariant found, in field names (proved only)
    invariant_size: int = 0  # its number of top-level conjuncts


def horn_clauses(enc: Encoding, prop: str | Pred, structural: bool = True
                 ) -> tuple[list[z3.BoolRef], z3.FuncDeclRef]:
    """The clauses of the module docstring, over ``enc``'s vector, and the relation ``Inv``. ``prop`` is a
    property's name or a predicate over a vector; without ``structural``, ``Inv`` need not imply
    ``well_formed`` (only for asking Spacer smaller questions: no capacity is then proved)."""
    pred = enc.properties()[prop] if isinstance(prop, str) else prop
    lay = enc.lay
    names = list(lay.names)
    inv = z3.Function("Inv", *[z3.IntSort()] * len(names), z3.BoolSort())
    x, y = lay.symbolic("x"), lay.symbolic("y")
    v = z3.Int("v@x")
    xs, ys = [x[n] for n in names], [y[n] for n in names]
    init = z3.Or(*[z3.And(*[x[n] == val for n, val in vec.items()]) for vec in enc.init_vectors()])
    clauses = [z3.ForAll(xs, z3.Implies(init, inv(*xs)))]
    for inst in enc.instances:
        g = inst.guard(x, v)
        if g is False:
            continue
        eff, _ok = inst.effect(x, v)  # the capacity condition is ``well_formed``'s business, as in the induction
        body = z3.And(inv(*xs), v >= 0, _b(g), *[ys[i] == eff[n] for i, n in enumerate(names)])
        clauses.append(z3.ForAll([*xs, *ys, v], z3.Implies(body, inv(*ys))))
    bad = z3.Not(z3.And(_b(pred(x)), _b(well_formed(enc, x)) if structural else True))
    clauses.append(z3.ForAll(xs, z3.Implies(z3.And(inv(*xs), bad), False)))
    return clauses, inv


def spacer(bounds: Bounds, prop: str | Pred, timeout_ms: int, name: str = "", structural: bool = True
           ) -> SpacerResult:
    """Ask Spacer for an invariant proving ``prop`` (a property's name, or a predicate called ``name``) on the
    proof system of ``bounds``, within ``timeout_ms``."""
    label = prop if isinstance(prop, str) else name
    enc = Encoding(bounds, unbounded=True, canonical_path=False)
    started = time.perf_counter()
    clauses, inv = horn_clauses(enc, prop, structural)
    solver = z3.SolverFor("HORN")
    solver.set("timeout", timeout_ms)
    solver.add(*clauses)
    r = solving.check(solver)
    seconds = time.perf_counter() - started
    if r == z3.sat:  # a model of the clauses: an interpretation of Inv, the invariant
        x = enc.lay.symbolic("x")
        interp = solver.model()[inv]
        # Spacer's answer is a function interpretation over bound variables, Var(i) the i-th argument
        found = z3.simplify(z3.substitute_vars(interp.else_value(), *[x[n] for n in enc.lay.names])
                            if isinstance(interp, z3.FuncInterp) else interp)
        parts = found.children() if z3.is_and(found) else [found]
        text = "\n".join(" ".join(str(p).replace("@x", "").split()) for p in parts)
        return SpacerResult(label, "proved", seconds, invariant=text, invariant_size=len(parts))
    if r == z3.unsat:
        return SpacerResult(label, "refuted", seconds)
    return SpacerResult(label, "unknown", seconds, reason=solver.reason_unknown())


__all__ = ["SpacerResult", "horn_clauses", "spacer"]
