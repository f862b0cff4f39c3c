"""One path slot for all (checkers.symbolic.symmetry, docs/PROOFS.md "One path slot for all"): the side conditions
hold on the proof system's encoding, they refuse a conjunct or an action that reads the path's order, and asking
a path-slot instance's obligations at slot 0 alone gives the verdicts and the failing obligations that every
slot gives. Also the shortcut for a conjunct the step leaves as it was (``Discharged.unchanged``): the solver
agrees with each such obligation."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import z3

from pitmirror.checkers.symbolic.bmc import Unroller
from pitmirror.checkers.symbolic.encoding import Encoding, Inst
from pitmirror.checkers.symbolic.induction import Discharger, StepProver, StepTask, induction
from pitmirror.checkers.symbolic.spec_terms import MW
from pitmirror.checkers.symbolic.symmetry import PathSymmetry, permute_path, rotate_front, swap
from pitmirror.checkers.symbolic.terms import SV, Term, conj, implies
from pitmirror.model.config import Bounds
from pitmirror.spec.invariants import support
from pitmirror.spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, SAFETY
from pitmirror.spec.state import RecoveryKind

KINDS = [RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP]
PROOF = Bounds(blocks=1, concurrency=1, journal_capacity=2)


def test_the_permutations_are_the_ones_named() -> None:
    assert swap(4, 0, 2) == [2, 1, 0, 3]
    # removing slot 3 of [a b c d e] leaves [a b c e]; removing slot 0 of tau_3's [d b c a e] leaves [b c a e]:
    # the second is the first with slots 0 .. 2 rotated
    assert rotate_front(5, 3) == [1, 2, 0, 3, 4]
    assert rotate_front(5, 1) == list(range(5))
    un = Unroller(PROOF, unbounded=True)
    s = un.state(0)
    t = permute_path(s, swap(len(s.slots("path")), 0, 1))
    assert t.slots("path")[0] == s.slots("path")[1] and t.slots("path")[1] == s.slots("path")[0]
    assert all(t[n] is s[n] for n in un.lay.names if not n.startswith("path."))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_the_proof_system_meets_both_side_conditions(kind: RecoveryKind) -> None:
    # at prove's defaults (two blocks, concurrency 2): every path-slot action treats every slot alike, and every
    # conjunct of every property's Q is blind to the path's order
    un = Unroller(Bounds(recovery_kind=kind), unbounded=True)
    sym = PathSymmetry(un)
    slot_actions = [i for i, inst in enumerate(un.enc.instances) if inst.param == "slot"]
    assert {un.enc.instances[i].name for i in slot_actions} >= {"Deliver[MIRROR_WRITE]", "LoseMessage",
                                                                  "DuplicateMessage"}
    assert all(sym.equivariant(i) for i in slot_actions), sym.failed
    prover = StepProver(un.enc.b, None, un, True)
    for p in SAFETY:
        if (p.name, kind) in EXPECTED_TRADE_OFFS:
            continue
        for name, fn in prover.conjuncts(p.name, support(p.name, kind)).items():
            assert sym.invariant(name, fn), sym.failed
    assert not sym.failed


def _slot(s: SV, i: int, field: int) -> Term:
    return s.slots("path")[i][field]


@pytest.mark.parametrize(("name", "conjunct"), [
    # reads slot 0 alone
    ("first_is_no_write", lambda s: _slot(s, 0, 0) != MW),
    # symmetric under reversing a path of three (what the agreement tests compare), not under every permutation
    ("ends_agree", lambda s: implies(s.length("path") == 3, _slot(s, 0, 0) == _slot(s, 2, 0))),
])
def test_a_conjunct_that_reads_the_paths_order_is_refused(name: str, conjunct: Callable[[SV], Term]) -> None:
    un = Unroller(PROOF, unbounded=True)
    sym = PathSymmetry(un)
    assert not sym.invariant(name, conjunct)
    assert any(f.startswith(name) for f in sym.failed)
    deliver = next(i for i, inst in enumerate(un.enc.instances) if inst.name == "Deliver[MIRROR_WRITE]")
    parts = StepProver(un.enc.b, None, un, True).conjuncts("mirror_consistent", support("mirror_consistent",
                                                                                      PROOF.recovery_kind))
    assert sym.reduces(deliver, parts)
    assert not sym.reduces(deliver, {**parts, name: conjunct})


def _reads_slot_number(enc: Encoding) -> Inst:
    def guard(s: SV, v: Term) -> Term:
        return conj(v >= 0, v < s.length("path"))

    def effect(s: SV, v: Term) -> tuple[SV, Term]:
        t = s.copy()
        t["message_faults"] = v  # which slot it was shows in the state after
        return t, True

    return Inst("ReadsSlotNumber", guard, effect, lambda st, v: None, param="slot")


def _removes_the_wrong_slot(enc: Encoding) -> Inst:
    def guard(s: SV, v: Term) -> Term:
        return conj(v >= 0, v < s.length("path"))

    def effect(s: SV, v: Term) -> tuple[SV, Term]:
        t = s.copy()
        enc.path_remove(t, 0)  # slot 0, whichever message the slot names
        return t, True

    return Inst("RemovesSlotZero", guard, effect, lambda st, v: None, param="slot")


def _takes_any_slot(enc: Encoding) -> Inst:
    def guard(s: SV, v: Term) -> Term:
        return v >= 0  # no upper bound: a slot past the path's length would be taken

    return Inst("TakesAnySlot", guard, lambda s, v: (s.copy(), True), lambda st, v: None, param="slot")


@pytest.mark.parametrize(("make", "why"), [(_reads_slot_number, "slots 0 and 1 alike"),
                                           (_removes_the_wrong_slot, "slots 0 and 1 alike"),
                                           (_takes_any_slot, "past the path's length")],
                         ids=["reads-slot", "wrong-slot", "any-slot"])
def test_an_action_that_does_not_treat_slots_alike_is_refused(make: Callable[[Encoding], Inst], why: str) -> None:
    un = Unroller(PROOF, unbounded=True)
    un.enc.instances.append(make(un.enc))
    sym = PathSymmetry(un)
    assert not sym.equivariant(len(un.enc.instances) - 1)
    assert sym.failed and why in sym.failed[0]


def _prove(b: Bounds, name: str, symmetry: bool) -> tuple[str, str]:
    notes: list[str] = []
    with Discharger(2) as discharger:
        o = induction(Unroller(b, unbounded=True), BY_NAME[name], support(name, b.recovery_kind), 1,
                      report=lambda r: notes.append(r.note), discharger=discharger, symmetry=symmetry)
    return o.verdict, o.note + " | " + " | ".join(notes)


def _failing(note: str) -> set[str]:
    return set(note.split("failing obligations (action / conjunct): ")[1].split(". Add")[0].split(", "))


@pytest.mark.parametrize(("mutant", "action"), [("remote_applies_in_arrival_order", "Deliver[MIRROR_WRITE]"),
                                                ("resync_accepts_stale_answer", "Deliver[RESYNCED]")])
def test_slot_zero_fails_the_obligations_every_slot_fails(mutant: str, action: str) -> None:
    # mutants of a path delivery (both break mirror_consistent): the obligations that fail are the same whether
    # slot 0 stands for all or not
    b = PROOF.with_(mutant=mutant)
    with_sym, without = _prove(b, "mirror_consistent", True), _prove(b, "mirror_consistent", False)
    assert with_sym[0] == without[0] == "not proved"
    assert "at path slot 0 by symmetry" in with_sym[1] and "at path slot 0" not in without[1]
    assert _failing(with_sym[1]) == _failing(without[1])
    assert any(ob.startswith(action) for ob in _failing(with_sym[1]))


def test_an_unchanged_conjunct_is_one_the_solver_discharges() -> None:
    b = PROOF.with_(recovery_kind=RecoveryKind.SWAP)
    un = Unroller(b, unbounded=True)
    prover = StepProver(b, None, un, True)
    name = "mirror_consistent"
    sup = support(name, b.recovery_kind)
    tasks = [StepTask(b, None, name, sup, 1, i, c, 0, True) for i, c in prover.obligations(name, sup)]
    unchanged = [t for t in tasks if prover.discharge(t).unchanged]
    assert len(unchanged) > len(tasks) // 4
    # the same obligations asked of the solver: a prover that never sees the conjunct before the step as its own
    asked = StepProver(b, None, un, True)
    asked._before_step = lambda task: z3.BoolVal(False)
    answers = [asked.discharge(t) for t in unchanged]
    assert all(d.result == "unsat" and not d.unchanged for d in answers)
