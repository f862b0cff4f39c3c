"""Z3's Spacer on the proof system (``checkers.symbolic.spacer``): the Horn clauses are the encoding's initial
states and steps, so Spacer proves a fact one step keeps, refutes one a single step breaks, and prints the
invariant it found in field names. (On the properties themselves it times out: ``bench/bench_spacer.py``,
docs/PROOFS.md.)"""

from __future__ import annotations

from pitmirror.checkers.symbolic.spacer import spacer
from pitmirror.model.config import Bounds

ONE = Bounds(blocks=1, concurrency=1, journal_capacity=2)


def test_spacer_proves_a_fact_every_step_keeps() -> None:
    # every step keeps next_seq from falling (a write raises it, nothing lowers it): inductive alone
    r = spacer(ONE, lambda s: s["next_seq"] >= 1, 120_000, "next_seq >= 1", structural=False)
    assert r.verdict == "proved", r.reason
    assert "next_seq" in r.invariant and "Var(" not in r.invariant and "@" not in r.invariant


def test_spacer_refutes_what_one_write_breaks() -> None:
    # the initial state has next_seq == 1; one host write makes it 2: a counterexample from Init, so the
    # clauses include the initial states and the write's step (without either, this would be "proved")
    r = spacer(ONE, lambda s: s["next_seq"] <= 1, 120_000, "next_seq <= 1", structural=False)
    assert r.verdict == "refuted", r.reason
    # and a recovery step (StartRecovery counts one): the clauses hold every action, not only the write
    assert spacer(ONE, lambda s: s["recoveries_started"] <= 0, 120_000, "x", structural=False).verdict == "refuted"
