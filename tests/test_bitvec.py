"""BMC's bit-vector queries (``checkers.symbolic.bitvec``) mean what the integer ones mean: the slot ranges hold on
every state the encoding reaches within the depth, the translation agrees with integer arithmetic within the
width and not below it, and BMC over bit-vectors gives the integer BMC's verdicts and depths."""

from __future__ import annotations

import itertools

import pytest
import z3

from pitmirror.checkers.symbolic import bitvec
from pitmirror.checkers.symbolic.bmc import Unroller, bmc, bmc_all
from pitmirror.checkers.symbolic.terms import SV
from pitmirror.model.config import Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import BY_NAME, SAFETY
from pitmirror.spec.state import RecoveryKind

ONE_BLOCK = Bounds(blocks=1, values=2, host_writes=2, concurrency=1, journal_capacity=2, crashes=1,
                   path_failures=0, recoveries=1)


def reachable_vectors(un: Unroller, depth: int) -> list[dict[str, int]]:
    """Every vector the unrolling's encoding reaches within ``depth`` steps, run concretely (the path in arrival
    order, as the solver's), each step's parameter over the domain the concrete engines enumerate."""
    enc = un.enc
    seen = {tuple(v[n] for n in enc.lay.names) for v in enc.init_vectors()}
    frontier = list(seen)
    for _ in range(depth):
        nxt = []
        for vec in frontier:
            for inst in enc.instances:
                for v in enc.params(inst):
                    s = SV(enc.lay, dict(zip(enc.lay.names, vec, strict=True)))
                    if inst.guard(s, v) is not True:
                        continue
                    t, ok = inst.effect(s.copy(), v)
                    key = tuple(int(t[n]) for n in enc.lay.names)
                    if ok is True and key not in seen:
                        seen.add(key)
                        nxt.append(key)
        frontier = nxt
    return [dict(zip(enc.lay.names, vec, strict=True)) for vec in seen]


@pytest.mark.parametrize("bounds", [ONE_BLOCK, ONE_BLOCK.with_(recovery_kind=RecoveryKind.SWAP),
                                    MUTANTS["checkpoint_not_redone"].exposed_in(ONE_BLOCK)],
                         ids=["writethrough", "swap", "checkpoint_not_redone"])
def test_the_ranges_hold_every_state_within_the_depth(bounds: Bounds) -> None:
    depth = 9
    un = Unroller(bounds, stutter=True)
    ranges = un.slot_ranges(depth)
    vectors = reachable_vectors(un, depth)
    assert len(vectors) > 1500, len(vectors)  # the search went somewhere
    outside = [(n, v[n], ranges[n]) for v in vectors for n in un.lay.names
               if not ranges[n][0] <= v[n] <= ranges[n][1]]
    assert not outside, outside[:5]
    # the ranges grow with the depth: a deeper query's width is right for every shallower one
    deeper = un.slot_ranges(depth + 2)
    assert all(deeper[n][0] <= ranges[n][0] and ranges[n][1] <= deeper[n][1] for n in un.lay.names)


def test_ranges_by_interval_arithmetic() -> None:
    a, b, c = z3.Int("a@x"), z3.Int("b@x"), z3.Int("c@x")
    sel = z3.Int("sel@x")
    init = [{"a": 0, "b": 0, "c": 1}, {"a": 0, "b": 5, "c": 1}]
    nxt = {"a": a - b, "b": b, "c": z3.If(sel == 0, -c, c + 2)}
    got = bitvec.ranges(init, nxt, {"sel@x": (0, 1)}, 1)
    assert got == {"a": (-5, 0), "b": (0, 5), "c": (-1, 3)}
    # each step widens from the last: c is -1 .. 3 after one step, -3 .. 5 after two
    assert bitvec.ranges(init, nxt, {"sel@x": (0, 1)}, 2)["c"] == (-3, 5)
    assert bitvec.ranges(init, {"a": a, "b": b, "c": c}, {}, 50) == {"a": (0, 0), "b": (0, 5), "c": (1, 1)}


def test_the_translation_agrees_with_integers_within_the_width_and_not_below() -> None:
    x, y, c = z3.Int("x"), z3.Int("y"), z3.Bool("c")
    # every operator the encoding's formulas use: +, -, unary -, If, the comparisons, =, distinct, and/or/not/=>
    formulas = [x + y - 3 <= y, -x < y + 1, z3.If(c, x - y, y + 2) >= 5, z3.Distinct(x, y, x + 1),
                z3.Implies(c, z3.Or(x == 2, z3.And(y > x, z3.Not(x == y))))]
    env = {"x": (-4, 6), "y": (0, 5)}
    bits = bitvec.width(formulas, env)
    assert bits == 5  # x - y reaches -9, y - 3 ... : the widest term is 9 in magnitude, 4 bits and a sign

    def disagreements(bits: int) -> list[tuple[int, int, bool, int]]:
        tr = bitvec.Translation(bits)
        translated = [tr(f) for f in formulas]
        out = []
        for xv, yv, cv in itertools.product(range(-4, 7), range(0, 6), (False, True)):
            for i, (f, g) in enumerate(zip(formulas, translated, strict=True)):
                iv = z3.simplify(z3.substitute(f, (x, z3.IntVal(xv)), (y, z3.IntVal(yv)), (c, z3.BoolVal(cv))))
                bv = z3.simplify(z3.substitute(g, (z3.BitVec("x", bits), z3.BitVecVal(xv, bits)),
                                               (z3.BitVec("y", bits), z3.BitVecVal(yv, bits)),
                                               (c, z3.BoolVal(cv))))
                if z3.is_true(iv) != z3.is_true(bv):
                    out.append((xv, yv, cv, i))
        return out

    assert disagreements(bits) == []
    assert disagreements(bits - 1)  # one bit narrower, some term wraps and a formula changes its value


def test_a_term_with_no_translation_is_a_clear_error() -> None:
    x = z3.Int("x")
    with pytest.raises(ValueError, match="has no bit-vector translation"):  # the operator, named by z3
        bitvec.Translation(8)(x * x > 2)
    with pytest.raises(ValueError, match="no range for y"):
        bitvec.width([x + z3.Int("y") > 2], {"x": (0, 1)})


@pytest.mark.parametrize("name", ["recovery_off_by_one", "remote_applies_in_arrival_order"])
def test_bitvector_bmc_gives_the_integer_verdicts(name: str) -> None:
    m = MUTANTS[name]
    b = m.exposed_in(ONE_BLOCK)
    got = {}
    for bitvectors in (True, False):
        un = Unroller(b, stutter=True)
        o = bmc(un, BY_NAME[m.breaks], un.enc.properties()[m.breaks], 7, strategy="down", bitvectors=bitvectors)
        got[bitvectors] = (o.verdict, o.depth)
    assert got[True] == got[False] == ("violated", 7)


def test_bitvector_bmc_of_the_correct_protocol_gives_the_integer_verdicts() -> None:
    got = {}
    for bitvectors in (True, False):
        un = Unroller(ONE_BLOCK.with_(recovery_kind=RecoveryKind.SWAP), stutter=True)
        outcomes = bmc_all(un, SAFETY, un.enc.properties(), 3, bitvectors=bitvectors)
        got[bitvectors] = {n: (o.verdict, o.depth) for n, o in outcomes.items()}
    assert got[True] == got[False]
    assert {v for v, _ in got[True].values()} == {"holds"}


def test_a_width_two_bits_narrower_loses_the_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The width is what makes the translation exact: two bits below the computed one, values wrap and the bug
    recovery_off_by_one shows in 7 steps is no longer found (so a width computed too small would be caught
    by the mutant tests, not pass silently)."""
    m = MUTANTS["recovery_off_by_one"]
    un = Unroller(m.exposed_in(ONE_BLOCK), stutter=True)
    computed = un.bit_width
    monkeypatch.setattr(un, "bit_width", lambda d, names: computed(d, names) - 2)
    o = bmc(un, BY_NAME[m.breaks], un.enc.properties()[m.breaks], 7, strategy="down")
    assert o.verdict == "holds"
