"""One path slot for all: the symmetry that lets the step case deliver from slot 0 only (docs/PROOFS.md).

The path is a multiset (``Encoding.canonical_path``): which slot holds a message says nothing about the
protocol. An action instance with a slot parameter (``Deliver[...]``, ``LoseMessage``, ``DuplicateMessage``,
``CrashMidApply``, ``CrashMidRemoteSwap``) is one formula over a symbolic slot ``v``, and its step-case
obligation ``Q(s) & guard(s, v) & not c(effect(s, v))`` selects slot ``v`` through If-chains over every slot.
Those obligations were over three quarters of the proofs' solver time. Asked at ``v = 0`` alone, each is about
a tenth of the cost, and it stands for every slot when two side conditions hold:

* **S1, Q is blind to the order of the path.** For each conjunct ``c`` of Q and each adjacent transposition
  ``sigma_i`` of path slots ``i, i+1`` with both valid (``i + 1 < len``): ``c(s) == c(sigma_i s)`` for every
  vector ``s``. Adjacent transpositions of valid slots generate every permutation of the valid slots, so
  ``c`` is then invariant under all of them.
* **S2, the instance treats every slot alike.** Its guard holds only for a valid slot (``0 <= v < len``), and
  for each slot ``j`` in ``1 .. cap-1`` and every vector ``s`` with ``j < len``: ``guard(s, j) == guard(tau_j s,
  0)`` (``tau_j`` swaps slots 0 and ``j``), the same for the capacity condition, and when the guard holds,
  ``effect(tau_j s, 0)`` is ``pi effect(s, j)`` for a named permutation ``pi`` that moves valid slots of the
  state after only. (Removing slot ``j`` of ``s`` shifts the slots after it; removing slot 0 of ``tau_j s``
  leaves ``s``'s slot-0 message at ``j - 1``: ``pi`` rotates slots ``0 .. j-1``. Duplicating appends the same
  message either way: ``pi = tau_j``.)

Then a counterexample at slot ``j`` from ``s`` is one at slot 0 from ``tau_j s`` and conversely: ``Q(tau_j s) ==
Q(s)`` (S1), the guards agree (S2), and ``c(effect(tau_j s, 0)) == c(pi effect(s, j)) == c(effect(s, j))`` (S2,
then S1 on the state after). A slot at or past ``len`` has a false guard, and ``len <= cap`` is part of
``well_formed``, always a conjunct of Q. So the obligation at slot 0 is unsat exactly when it is unsat at every
slot, and a counterexample found at slot 0 is a counterexample to induction like any other.

The side conditions are not assumed: ``PathSymmetry`` asks Z3 for them once per encoding (a few seconds, most
of it building terms), and the induction reduces an obligation only where both are proved. An encoding that
reads the path's order (a mutant, a conjunct written carelessly) fails S1 or S2 and keeps every slot. Only the
step case at k = 1 is reduced: at larger k the states before the step need a transition relation that is
itself symmetric, which is not asked here.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence

import z3

from pitmirror.checkers.symbolic import solving
from pitmirror.checkers.symbolic.bmc import Unroller, as_expr, substituter
from pitmirror.checkers.symbolic.terms import SV, Term

#: seconds Z3 may take over one side condition; a side condition it cannot decide keeps every slot
SIDE_CONDITION_TIMEOUT_MS = 30_000


def permute_path(s: SV, perm: Sequence[int]) -> SV:
    """``s`` with path slot ``i`` holding what slot ``perm[i]`` held (every other field as is)."""
    keys = s.lay.slot_keys["path"]
    d = dict(s.d)
    for new, old in zip(keys, (keys[p] for p in perm), strict=True):
        for kn, ko in zip(new, old, strict=True):
            d[kn] = s.d[ko]
    return SV(s.lay, d)


def swap(cap: int, i: int, j: int) -> list[int]:
    """The transposition of slots ``i`` and ``j``."""
    p = list(range(cap))
    p[i], p[j] = p[j], p[i]
    return p


def rotate_front(cap: int, j: int) -> list[int]:
    """Slots ``0 .. j-2`` take the next slot's message and slot ``j-1`` takes slot 0's (the order removing slot
    0 of ``tau_j s`` leaves, against removing slot ``j`` of ``s``)."""
    return [i + 1 if i < j - 1 else 0 if i == j - 1 else i for i in range(cap)]


class PathSymmetry:
    """S1 and S2 (the module's docstring) for the encoding of one ``Unroller``, each asked of Z3 once and kept."""

    def __init__(self, un: Unroller, solver: Callable[[], z3.Solver] = z3.Solver,
                 timeout_ms: int = SIDE_CONDITION_TIMEOUT_MS) -> None:
        self.un = un
        self.solver = solver  # the induction passes its step solver: its preprocessing makes S2 6x faster
        self.timeout_ms = timeout_ms
        self.x = un.lay.symbolic("sym")
        self.v = z3.Int("v@sym")
        self.cap = len(un.lay.slot_keys["path"])
        self._invariant: dict[str, bool] = {}
        self._equivariant: dict[int, bool] = {}
        self.failed: list[str] = []  # side conditions Z3 did not prove, for the report

    def _valid(self, f: z3.BoolRef) -> bool:
        s = self.solver()
        s.set("timeout", self.timeout_ms)
        s.add(z3.Not(f))
        return bool(solving.check(s) == z3.unsat)

    def _pairs(self, perm: Sequence[int], v: int | None = None) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        keys = self.un.lay.slot_keys["path"]
        pairs = [(as_expr(self.x[kn]), as_expr(self.x[ko])) for i, p in enumerate(perm) if i != p
                 for kn, ko in zip(keys[i], keys[p], strict=True)]
        return pairs + ([(self.v, z3.IntVal(v))] if v is not None else [])

    def invariant(self, name: str, fn: Callable[[SV], Term]) -> bool:
        """S1 for conjunct ``name``: its truth does not depend on the order of the valid path slots."""
        if name not in self._invariant:
            c = as_expr(fn(self.x))
            n = self.x.length("path")
            ok = True
            for i in range(self.cap - 1):
                other = z3.substitute(c, *self._pairs(swap(self.cap, i, i + 1)))
                if not z3.simplify(c).eq(z3.simplify(other)) and not self._valid(z3.Implies(n > i + 1, c == other)):
                    ok = False
                    self.failed.append(f"{name} reads the path's order (slots {i}, {i + 1})")
                    break
            self._invariant[name] = ok
        return self._invariant[name]

    def equivariant(self, index: int) -> bool:
        """S2 for action instance ``index``: slot 0 of ``tau_j s`` is slot ``j`` of ``s``, for every ``j``."""
        if index not in self._equivariant:
            self._equivariant[index] = self._equivariant_now(index)
        return self._equivariant[index]

    def _equivariant_now(self, index: int) -> bool:
        inst = self.un.enc.instances[index]
        if inst.param != "slot":
            return False
        x, n = self.x, self.x.length("path")
        guard = as_expr(inst.guard(x, self.v))
        eff, fits = inst.effect(x, self.v)
        terms = {k: as_expr(t) for k, t in eff.d.items()}
        fits_e = as_expr(fits)
        post_len = as_expr(eff.length("path"))
        # only a valid slot can be taken (and Q's well_formed bounds the length by the capacity): the slots
        # 0 .. cap-1 below are then every slot there is
        if not self._valid(z3.Implies(guard, z3.And(self.v >= 0, self.v < n))):
            self.failed.append(f"{inst.name} can take a slot past the path's length")
            return False
        # a field of the state after that reads neither the slot nor the path is the same term for every j:
        # renaming the path and the slot leaves it as it is
        keys = [k for ks in self.un.lay.slot_keys["path"] for k in ks]
        fresh = substituter([(as_expr(x[k]), z3.Int(f"{k}@fresh")) for k in keys] + [(self.v, z3.Int("v@fresh"))])
        path_keys = set(keys)
        moving = [k for k, t in terms.items() if k in path_keys or not fresh(t).eq(t)]
        for j in range(1, self.cap):
            at_j = substituter(self._pairs(list(range(self.cap)), j))
            at_0 = substituter(self._pairs(swap(self.cap, 0, j), 0))
            g_j, g_0 = at_j(guard), at_0(guard)
            ok_j, ok_0 = at_j(fits_e), at_0(fits_e)
            after_j = SV(eff.lay, {k: at_j(terms[k]) for k in moving})
            after_0 = {k: at_0(terms[k]) for k in moving}
            len_j = at_j(post_len)
            proved = False
            for perm in (rotate_front(self.cap, j), swap(self.cap, 0, j)):
                moved = max((i for i, p in enumerate(perm) if i != p), default=-1)
                mine = permute_path(after_j, perm).d
                # most fields are the same term either way (hash-consed: ``eq`` is a pointer test); simplify
                # what selects the slot, and leave to the solver only what still differs
                differ = [k for k in moving if not (mine[k].eq(after_0[k])
                                                    or z3.simplify(mine[k]).eq(z3.simplify(after_0[k])))]
                same = z3.And(*[mine[k] == after_0[k] for k in differ]) if differ else z3.BoolVal(True)
                if self._valid(z3.Implies(n > j, z3.And(g_j == g_0, ok_j == ok_0,
                                                         z3.Implies(g_j, z3.And(same, len_j > moved))))):
                    proved = True
                    break
            if not proved:
                self.failed.append(f"{inst.name} does not treat path slots 0 and {j} alike")
                return False
        return True

    def reduces(self, index: int, conjuncts: dict[str, Callable[[SV], Term]]) -> bool:
        """Whether instance ``index``'s obligations under a Q of these conjuncts may be asked at slot 0 alone."""
        return ("well_formed" in conjuncts and self.un.enc.instances[index].param == "slot"
                and self.equivariant(index) and all(self.invariant(n, f) for n, f in conjuncts.items()))


_BY_UNROLLER: weakref.WeakKeyDictionary[Unroller, PathSymmetry] = weakref.WeakKeyDictionary()


def path_symmetry(un: Unroller, solver: Callable[[], z3.Solver] = z3.Solver) -> PathSymmetry:
    """The side conditions of ``un``'s encoding, shared by every property proved on it."""
    if un not in _BY_UNROLLER:
        _BY_UNROLLER[un] = PathSymmetry(un, solver)
    return _BY_UNROLLER[un]


__all__ = ["PathSymmetry", "path_symmetry", "permute_path", "rotate_front", "swap"]
