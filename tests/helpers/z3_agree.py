"""The agreement check that keeps ``pitmirror.checkers.symbolic.encoding`` from drifting from ``model/`` and ``spec/``.

Two ways, same encoding code:

* ``agree_concrete``: breadth-first over every reachable state of ``MirrorModel(bounds)``; for each state
  and each action instance (and each value of the HostWrite parameter) the encoding is run on Python ints.
  The enabled instances, decoded to actions, must be exactly ``model.actions(s)``; the effect of each must
  be the vector of ``model.next_state(s, a)`` and fit the capacities; every property and invariant must
  agree with its Python predicate.
* ``agree_solver``: for sampled states the encoding is built over Z3 constants once, and the solver checks
  ``encoding(s) & guard_a`` is unsat for every instance the model does not enable, and that
  ``encoding(s) & T_a(s, s')`` has exactly one solution, ``encoding(next_state(s, a))``, for every one it does;
  and that each symbolic property evaluates to the predicate's verdict.

Every mismatch is reported as one line naming the state, the action and the differing slot.

Both path orders of ``Encoding`` are compared (``canonical_path``): sorted, as the explicit engines keep it, and
in arrival order, as the solver engines do. In arrival order each state is compared as it is and with its path
reversed (so no step or predicate may depend on where a message sits), and successors are compared as
multisets (the path sorted on both sides).

Coverage (issue 13): a run records in a ``Coverage`` every action instance whose guard and effect it compared
on a state that enables it, every property it compared, and, under a mutant, whether the mutant's branch was
taken (on some compared state the mutant model enables other actions, or reaches another successor, than the
correct model). The tests fail when an instance, a mutant branch or a property was never compared, so an
agreement that holds only because the sampled states never exercise a step is not taken for one.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from pitmirror.checkers.symbolic.encoding import Encoding, Inst
from pitmirror.checkers.symbolic.terms import SV, CapacityError, Term
from pitmirror.model.actions import Action
from pitmirror.model.config import Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.invariants import INVARIANTS
from pitmirror.spec.properties import SAFETY
from pitmirror.spec.state import State


@dataclass
class Coverage:
    """What an agreement run compared: instances fired, mutant branches taken, properties compared."""

    fired: set[str] = field(default_factory=set)
    branches: set[str] = field(default_factory=set)
    properties: set[str] = field(default_factory=set)
    states: int = 0

    def update(self, other: Coverage) -> None:
        """Add another run's coverage to this one."""
        self.fired |= other.fired
        self.branches |= other.branches
        self.properties |= other.properties
        self.states += other.states


def expected_instances(enc: Encoding) -> set[str]:
    """The instances a run at ``enc``'s bounds can fire: every one, but ``StartRecovery[t]`` for targets no
    recovery can have (a target is a sequence number already taken, and before the last recovery at most the
    host writes, the markers and the earlier recoveries' writes have taken one; the encoding builds the
    instances up to the largest sequence number of all)."""
    b = enc.b
    last_target = b.host_writes + b.markers + (b.recoveries - 1) * (b.blocks + 1)
    return {i.name for i in enc.instances
            if not (i.name.startswith("StartRecovery[") and int(i.name[14:-1]) > last_target)}


def predicates(enc: Encoding) -> list[tuple[str, Callable[[State], bool], Callable[[SV], Term]]]:
    """(name, Python predicate, symbolic predicate) for every safety property and strengthening invariant."""
    sym = enc.properties()
    inv = enc.invariants()
    out = [(p.name, p.predicate, sym[p.name]) for p in SAFETY]
    out += [(f.__name__, f, inv[f.__name__]) for f in INVARIANTS]
    return out


def reachable(bounds: Bounds, max_states: int | None = None) -> list[State]:
    """Every reachable state of the model (breadth-first, no symmetry reduction), up to ``max_states``."""
    m = MirrorModel(bounds)
    seen = set(m.init_states())
    order = list(m.init_states())
    i = 0
    while i < len(order) and (max_states is None or len(order) < max_states):
        s = order[i]
        i += 1
        for a in m.actions(s):
            t = m.next_state(s, a)
            if t not in seen:
                seen.add(t)
                order.append(t)
    return order if max_states is None else order[:max_states]


def sample_reachable(bounds: Bounds, max_states: int, per_depth: int, seed: int = 0, search: int = 20_000
                     ) -> list[State]:
    """Reachable states, breadth-first but at most ``per_depth`` of each depth, up to ``max_states``: deep
    steps (recoveries, resyncs, timeouts) are reached at a small cost. Each layer keeps first a state for
    every action not yet enabled in a kept state (rare steps are not sampled away), then a seeded sample."""
    m = MirrorModel(bounds)
    rng = random.Random(seed)
    seen = set(m.init_states())
    layer = list(m.init_states())
    out: list[State] = []
    enabled_seen: set[str] = set()
    while layer and len(out) < max_states:
        if len(layer) > per_depth:
            keep: list[State] = []
            for s in layer:
                new = {_instance_key(a) for a in m.actions(s)} - enabled_seen
                if new and len(keep) < per_depth:
                    keep.append(s)
                    enabled_seen |= new
            rest = [s for s in layer if s not in set(keep)]
            layer = keep + rng.sample(rest, per_depth - len(keep))
        for s in layer:
            enabled_seen |= {_instance_key(a) for a in m.actions(s)}
        out += layer
        nxt = []
        for s in layer:
            for a in m.actions(s):
                t = m.next_state(s, a)
                if t not in seen:
                    seen.add(t)
                    nxt.append(t)
        layer = nxt
    out = out[:max_states]
    # and a state for every action a breadth-first search of ``search`` states enables that none of these
    # does, and under a mutant the first state where its branch is taken (the sample above follows few
    # paths; a rare step must not be missed by bad luck)
    reference = MirrorModel(bounds.with_(mutant=None)) if bounds.mutant is not None else None
    for s in reachable(bounds, search):
        new = {_instance_key(a) for a in m.actions(s)} - enabled_seen
        if new:
            out.append(s)
            enabled_seen |= new
        if reference is not None and _branch_taken(m, reference, s):
            out.append(s)
            reference = None
    return out


def _instance_key(a: Action) -> str:
    """An action without its data value (an encoding instance: ``HostWrite[0]``, ``Deliver[MirrorAck]``)."""
    parts = [str(v["kind"] if f == "message" else v) for f, v in a.args().items() if f != "value"]
    return f"{a.name}[{','.join(parts)}]"


def _branch_taken(model: MirrorModel, reference: MirrorModel, s: State) -> bool:
    """The mutant's step differs from the correct one here: other actions enabled, or another successor."""
    mine, theirs = model.actions(s), reference.actions(s)
    if mine != theirs:
        return True
    return any(model.next_state(s, a) != reference.next_state(s, a) for a in mine)


def with_path_reversed(s: State) -> State:
    """``s`` with its path in reverse order: the same multiset, where no sorted insert could have put it."""
    return s._replace(path=tuple(reversed(s.path)))


def sorted_path(s: State) -> State:
    """``s`` with its path sorted: the model's canonical form of the multiset."""
    return s._replace(path=tuple(sorted(s.path)))


def check_state(enc: Encoding, s: State, preds: list[tuple[str, Callable[[State], bool], Callable[[SV], Term]]],
                cov: Coverage | None = None, reference: MirrorModel | None = None) -> list[str]:
    """The mismatches between encoding and model on one state, run concretely (recorded in ``cov``; with a
    ``reference`` model of the correct protocol, whether the mutant's branch is taken here). With an encoding
    whose path is in arrival order the successors are compared with their paths sorted."""
    problems: list[str] = []
    lay, m = enc.lay, enc.model
    try:
        cs = lay.concrete(s)
    except CapacityError as e:
        return [f"state does not fit: {e}"]
    if cov is not None:
        cov.states += 1
        if reference is not None and enc.mut is not None and _branch_taken(m, reference, s):
            cov.branches.add(enc.mut)
    for name, pred, sym in preds:
        got = sym(cs)
        if cov is not None:
            cov.properties.add(name)
        if got is not pred(s):
            problems.append(f"property {name}: encoding says {got}, predicate says {pred(s)} in {s!r}")
    enabled: dict[Action, tuple[str, SV, Term]] = {}
    for inst in enc.instances:
        for v in enc.params(inst):
            g = inst.guard(cs, v)
            if not isinstance(g, bool):
                problems.append(f"guard of {inst.name} is not concrete ({g}) in {s!r}")
                continue
            if g:
                a = inst.decode(s, v)
                t, ok = inst.effect(cs, v)
                enabled[a] = (inst.name, t, ok)
    actions = m.actions(s)
    for a in set(enabled) - set(actions):
        problems.append(f"{enabled[a][0]} ({a!r}) is enabled in the encoding, not in the model, in {s!r}")
    for a in actions:
        if a not in enabled:
            problems.append(f"{a!r} is enabled in the model, not in the encoding, in {s!r}")
            continue
        name, t, ok = enabled[a]
        if cov is not None:
            cov.fired.add(name)
        if ok is not True:
            problems.append(f"{name} ({a!r}) overflows a capacity from {s!r}")
            continue
        try:
            after = m.next_state(s, a)
            want = lay.encode(after if enc.canonical_path else sorted_path(after))
        except CapacityError as e:
            problems.append(f"{a!r} leads out of the vector: {e}")
            continue
        got = t.d if enc.canonical_path else lay.encode(sorted_path(lay.decode(t.d)))
        diff = [k for k in lay.names if want[k] != got[k]]
        if diff:
            detail = ", ".join(f"{k}: model {want[k]} encoding {got[k]}" for k in diff[:4])
            problems.append(f"{name} ({a!r}) differs in {detail} from {s!r}")
    return problems


def agree_concrete(bounds: Bounds, max_states: int | None = None, limit: int = 5, cov: Coverage | None = None,
                   states: list[State] | None = None, canonical_path: bool = True) -> tuple[int, list[str]]:
    """Run ``check_state`` on every reachable state (or on ``states``); returns (states checked, first
    ``limit`` problems), and records what it compared in ``cov``. With ``canonical_path=False`` the encoding
    keeps the path in arrival order and each state is compared as it is and with its path reversed."""
    enc = Encoding(bounds, canonical_path=canonical_path)
    preds = predicates(enc)
    reference = MirrorModel(bounds.with_(mutant=None)) if bounds.mutant is not None else None
    problems: list[str] = []
    if states is None:
        states = reachable(bounds, max_states)
    for s in states:
        problems += check_state(enc, s, preds, cov, reference)
        if not canonical_path and len(set(s.path)) > 1:
            problems += check_state(enc, with_path_reversed(s), preds, cov, reference)
        if len(problems) >= limit:
            break
    return len(states), problems[:limit]


def agree_solver(bounds: Bounds, states: list[State], limit: int = 5, canonical_path: bool = True) -> list[str]:
    """The solver-level check on the given states (see the module docstring). With ``canonical_path=False``
    each state is asked with its path reversed, and the one successor the solver allows must be the concrete
    run's, whose path sorted is the model's successor."""
    enc = Encoding(bounds, canonical_path=canonical_path)
    lay = enc.lay
    x = lay.symbolic("s")
    val = z3.Int("v")
    built = []
    for inst in enc.instances:
        g = inst.guard(x, val)
        t, ok = inst.effect(x, val)
        built.append((inst, z3.And(_b(g), _b(ok)), t))
    preds = [(name, pred, _b(sym(x))) for name, pred, sym in predicates(enc)]
    solver = z3.Solver()
    problems: list[str] = []
    for s in states if canonical_path else map(with_path_reversed, states):
        vec = lay.encode(s)
        solver.push()
        solver.add(*[x[k] == vec[k] for k in lay.names])
        for name, pred, f in preds:
            if (solver.check(z3.Not(f) if pred(s) else f) if False else _holds(solver, f)) is not pred(s):
                problems.append(f"property {name}: solver disagrees with the predicate ({pred(s)}) on {s!r}")
        actions = set(enc.model.actions(s))
        for inst, guard, t in built:
            for v in enc.params(inst):
                solver.push()
                solver.add(val == v)
                sat = solver.check(guard) == z3.sat
                a = inst.decode(s, v) if sat else None
                if sat and a not in actions:
                    problems.append(f"{inst.name}: solver enables {a!r}, the model does not, in {s!r}")
                elif sat and a is not None:
                    want = lay.encode(enc.model.next_state(s, a))
                    if not canonical_path:
                        got = {k: int(x) for k, x in inst.effect(lay.concrete(s), v)[0].d.items()}
                        if sorted_path(lay.decode(got)) != sorted_path(lay.decode(want)):
                            problems.append(f"{inst.name} ({a!r}): the concrete run differs from the model "
                                            f"from {s!r}")
                        want = got
                    solver.add(guard)
                    other = z3.Or(*[t.d[k] != want[k] for k in lay.names if not _const_eq(t.d[k], want[k])])
                    if solver.check(other) != z3.unsat:
                        mdl = solver.model()
                        diff = [k for k in lay.names if mdl.eval(t.d[k], model_completion=True).as_long() != want[k]]
                        problems.append(f"{inst.name} ({a!r}): another successor is possible, differing in "
                                        f"{', '.join(diff[:4])}, from {s!r}")
                solver.pop()
        for a in actions:
            if not any(_solver_enables(solver, enc, inst, guard, val, s, a) for inst, guard, _t in built):
                problems.append(f"{a!r} is enabled in the model, unsat in the solver, in {s!r}")
        solver.pop()
        if len(problems) >= limit:
            break
    return problems[:limit]


def _b(t: Term) -> z3.BoolRef:
    return z3.BoolVal(t) if isinstance(t, bool) else t


def _const_eq(t: Term, want: int) -> bool:
    return isinstance(t, int) and t == want


def _holds(solver: z3.Solver, f: z3.BoolRef) -> bool:
    """Under the asserted concrete state, ``f`` is forced true (its negation is unsat)."""
    return bool(solver.check(z3.Not(f)) == z3.unsat)


def _solver_enables(solver: z3.Solver, enc: Encoding, inst: Inst, guard: z3.BoolRef, val: z3.ArithRef, s: State,
                    a: Action) -> bool:
    for v in enc.params(inst):
        if inst.decode(s, v) == a if _decodable(inst, s, v) else False:
            solver.push()
            solver.add(val == v)
            ok = solver.check(guard) == z3.sat
            solver.pop()
            if ok:
                return True
    return False


def _decodable(inst: Inst, s: State, v: int) -> bool:
    try:
        inst.decode(s, v)
        return True
    except (IndexError, StopIteration):
        return False


def sample(states: list[State], n: int, seed: int = 5) -> list[State]:
    """A reproducible sample of ``n`` states (always including the first, an initial state)."""
    if len(states) <= n:
        return states
    rng = random.Random(seed)
    return [states[0], *rng.sample(states[1:], n - 1)]
