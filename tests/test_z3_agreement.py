"""The Z3 encoding agrees with the model and the spec on every transition and every property (issue 5).

This is what keeps ``checkers/z3_encoding.py`` (a hand transcription of ``model/protocol.py`` and
``spec/properties.py``) from drifting: every reachable state at small bounds, both recovery kinds, every
mutant (mutants change transitions). Concretely on every state; through the solver on a sample.
"""

from __future__ import annotations

import pytest

from helpers.z3_agree import agree_concrete, agree_solver, check_state, predicates, reachable, sample
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.state import RecoveryKind

KINDS = (RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP)
#: Bounds where every mutant shows its bug in a few steps (one block keeps the state space and formulas small).
MUTANT_BOUNDS = Bounds(blocks=1, values=2, host_writes=2, concurrency=1, journal_capacity=2, crashes=1,
                       path_failures=0, recoveries=1)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_every_transition_agrees_small_prefix(kind: RecoveryKind) -> None:
    n, problems = agree_concrete(PRESETS["small"].with_(recovery_kind=kind), max_states=1200)
    assert n == 1200
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_transition_agrees_under_each_mutant(name: str) -> None:
    b = MUTANTS[name].exposed_in(MUTANT_BOUNDS)
    n, problems = agree_concrete(b, max_states=500)
    assert n > 10
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_solver_agrees_on_sampled_states(kind: RecoveryKind) -> None:
    b = PRESETS["small"].with_(recovery_kind=kind)
    states = sample(reachable(b, 3000), 12)
    problems = agree_solver(b, states)
    assert not problems, "\n".join(problems)


def test_a_drifted_encoding_is_named_by_state_action_and_field() -> None:
    # the encoding of a different protocol step (checkpoint dropping the record) against the correct model
    b = PRESETS["small"]
    enc = Encoding(b.with_(mutant="checkpoint_drops_record"))
    enc.model = Encoding(b).model
    preds = predicates(enc)
    problems = [p for s in reachable(b, 600) for p in check_state(enc, s, preds)]
    assert problems
    first = problems[0]
    assert "Checkpoint" in first and "base." in first and "State(" in first


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_every_transition_agrees_small_preset_in_full(kind: RecoveryKind) -> None:
    n, problems = agree_concrete(PRESETS["small"].with_(recovery_kind=kind))
    assert n > 8000
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_transition_agrees_under_each_mutant_small_preset(name: str) -> None:
    b = PRESETS["small"].with_(mutant=name, recovery_kind=MUTANTS[name].recovery_kind)
    _n, problems = agree_concrete(b)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_solver_agrees_on_more_states(kind: RecoveryKind) -> None:
    b = PRESETS["small"].with_(recovery_kind=kind)
    problems = agree_solver(b, sample(reachable(b), 150))
    assert not problems, "\n".join(problems)
