"""The Z3 encoding agrees with the model and the spec on every transition and every property (issue 5).

This is what keeps ``checkers/symbolic/encoding.py`` (a hand transcription of ``model/protocol.py`` and
``spec/properties.py``) from drifting: reachable states at small bounds, both recovery kinds, every mutant
(mutants change transitions). Concretely on every state; through the solver on a sample. The tests also
assert coverage: every action instance fired, every mutant's branch taken, every property compared.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from helpers.z3_agree import (
    Coverage,
    agree_concrete,
    agree_solver,
    check_state,
    expected_instances,
    predicates,
    reachable,
    sample,
    sample_reachable,
    with_path_reversed,
)
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.terms import SV, Term
from pitmirror.model.actions import Deliver, MirrorTimeout, SwapTimeout
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.actions import ACTIONS
from pitmirror.spec.properties import SAFETY
from pitmirror.spec.state import MessageKind, RecoveryKind, State

KINDS = (RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP)
#: Bounds where every mutant shows its bug in a few steps (one block keeps the state space and formulas small).
MUTANT_BOUNDS = Bounds(blocks=1, values=2, host_writes=2, concurrency=1, journal_capacity=2, crashes=1,
                       path_failures=0, recoveries=1)


#: The two orders of the encoding's path (``Encoding.canonical_path``): sorted, the explicit engines' form, and
#: arrival order, the solver engines' (compared on each state with its path reversed, successors as multisets).
PATH_ORDERS = pytest.mark.parametrize("canonical_path", [True, False], ids=["sorted_path", "arrival_path"])


@PATH_ORDERS
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_every_transition_agrees_small_prefix(kind: RecoveryKind, canonical_path: bool) -> None:
    n, problems = agree_concrete(PRESETS["small"].with_(recovery_kind=kind), max_states=1200,
                                 canonical_path=canonical_path)
    assert n == 1200
    assert not problems, "\n".join(problems)


#: The coverage matrix (issue 13): a marker, a message fault (LoseMessage, DuplicateMessage), a crash and two
#: writes in flight. One host write keeps every recovery target reachable within the sample.
COVERAGE_BOUNDS = PRESETS["small"].with_(concurrency=2, markers=1, message_faults=1, crashes=1, host_writes=1)
#: Instances only a mutant enables (its extra step).
MUTANT_ONLY = {a.added_by: a.name for a in ACTIONS if a.added_by is not None}


@PATH_ORDERS
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_transition_agrees_under_each_mutant(name: str, canonical_path: bool) -> None:
    """The mutant's branch is compared, not just states where it makes no difference."""
    b = MUTANTS[name].exposed_in(MUTANT_BOUNDS)
    cov = Coverage()
    # under checkpoint_during_recovery a recovery may never end (each checkpoint past T changes the image it
    # restores, so it writes the block again): its sequence numbers outgrow any layout, so only its first levels
    # are sampled (its bug shows within them)
    # six states a depth (those enabling an action not yet seen first) reach as deep as twelve did, at half the
    # states compared
    most = 60 if name == "checkpoint_during_recovery" else 150
    n, problems = agree_concrete(b, cov=cov, states=sample_reachable(b, most, 6, search=3000),
                                 canonical_path=canonical_path)
    assert n > 10
    assert not problems, "\n".join(problems)
    assert name in cov.branches, f"{name}: no compared state takes the mutant's branch"
    if name in MUTANT_ONLY:
        assert MUTANT_ONLY[name] in cov.fired


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_every_instance_and_property_is_compared(kind: RecoveryKind) -> None:
    """On the coverage matrix every action instance fires (its guard and effect compared on a state that
    enables it) and every property and invariant is compared."""
    b = COVERAGE_BOUNDS.with_(recovery_kind=kind)
    cov = Coverage()
    _n, problems = agree_concrete(b, cov=cov, states=sample_reachable(b, 120, 6))
    assert not problems, "\n".join(problems)
    enc = Encoding(b)
    assert not expected_instances(enc) - cov.fired, f"never compared: {sorted(expected_instances(enc) - cov.fired)}"
    assert set(enc.properties()) == {p.name for p in SAFETY}
    assert cov.properties == {name for name, _, _ in predicates(enc)}


def _late_branches(model: MirrorModel, s: State) -> set[str]:
    """Which of the late-message branches ``s`` offers: a timeout firing while its message is late (premature),
    or the delivery of a message R has already passed (a late write after a resync, a settled request)."""
    out = set()
    for a in model.actions(s):
        if isinstance(a, MirrorTimeout) and not model._lost(s, a.seq):
            out.add("premature MirrorTimeout")
        if isinstance(a, SwapTimeout) and model._swap_answer_late(s):
            out.add("premature SwapTimeout")
        if (isinstance(a, Deliver) and a.message.kind == MessageKind.MIRROR_WRITE
                and a.message.a <= s.remote_applied_seq):
            out.add("late MirrorWrite")
        if (isinstance(a, Deliver) and a.message.kind == MessageKind.RECOVER_REQUEST
                and a.message.a <= s.remote_recovery_id):
            out.add("late RecoverRequest")
    return out


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_premature_timeouts_and_late_deliveries_are_compared(kind: RecoveryKind) -> None:
    """The premature-timeout branch of both timeouts and the late deliveries it leads to are compared (the
    coverage matrix has no premature timeout in its budget): 20 states of each, breadth-first."""
    b = PRESETS["small"].with_(recovery_kind=kind, premature_timeouts=1)
    model = MirrorModel(b)
    picked: dict[str, list[State]] = {}
    for s in reachable(b, 12_000):
        for branch in _late_branches(model, s):
            if len(picked.setdefault(branch, [])) < 20:
                picked[branch].append(s)
    want = {"premature MirrorTimeout", "late MirrorWrite"}
    if kind == RecoveryKind.SWAP:
        want |= {"premature SwapTimeout", "late RecoverRequest"}
    assert want <= set(picked), f"never reached: {sorted(want - set(picked))}"
    cov = Coverage()
    _n, problems = agree_concrete(b, cov=cov, states=[s for ss in picked.values() for s in ss])
    assert not problems, "\n".join(problems)
    assert {"MirrorTimeout", "Deliver[MIRROR_WRITE]"} <= cov.fired


def test_coverage_fails_when_an_instance_is_never_fired() -> None:
    """The coverage check can fail: on a prefix too short to reach a recovery, RecoveryWrite never fires."""
    b = COVERAGE_BOUNDS
    cov = Coverage()
    agree_concrete(b, cov=cov, states=reachable(b, 40))
    missing = expected_instances(Encoding(b)) - cov.fired
    assert {"RecoveryWrite[0]", "RecoveryWrite[1]"} <= missing
    cov = Coverage()
    agree_concrete(MUTANTS["remote_writes_ahead_of_gap"].exposed_in(MUTANT_BOUNDS), cov=cov,
                   states=reachable(MUTANTS["remote_writes_ahead_of_gap"].exposed_in(MUTANT_BOUNDS), 3))
    assert not cov.branches  # three states: no mirrored write has arrived ahead of a gap yet


@PATH_ORDERS
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_solver_agrees_on_sampled_states(kind: RecoveryKind, canonical_path: bool) -> None:
    b = PRESETS["small"].with_(recovery_kind=kind)
    states = sample(reachable(b, 3000), 12)
    problems = agree_solver(b, states, canonical_path=canonical_path)
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
@PATH_ORDERS
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_every_transition_agrees_small_preset_in_full(kind: RecoveryKind, canonical_path: bool) -> None:
    n, problems = agree_concrete(PRESETS["small"].with_(recovery_kind=kind), canonical_path=canonical_path)
    assert n > 8000
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
@pytest.mark.parametrize("host_writes", [1, 2])
def test_every_instance_is_compared_on_a_fuller_matrix(kind: RecoveryKind, host_writes: int) -> None:
    b = COVERAGE_BOUNDS.with_(recovery_kind=kind, host_writes=host_writes)
    cov = Coverage()
    states = list(dict.fromkeys(s for seed in range(3) for s in sample_reachable(b, 400, 12, seed, 60_000)))
    _n, problems = agree_concrete(b, cov=cov, states=states)
    assert not problems, "\n".join(problems)
    missing = expected_instances(Encoding(b)) - cov.fired
    assert not missing, f"never compared: {sorted(missing)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_transition_agrees_under_each_mutant_small_preset(name: str) -> None:
    b = PRESETS["small"].with_(mutant=name, recovery_kind=MUTANTS[name].recovery_kind)
    # checkpoint_during_recovery's space has no end (see test_every_transition_agrees_under_each_mutant): its
    # first breadth-first levels only, its bug showing within them
    most = 3_000 if name == "checkpoint_during_recovery" else None
    _n, problems = agree_concrete(b, max_states=most)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
@PATH_ORDERS
def test_solver_agrees_on_more_states(kind: RecoveryKind, canonical_path: bool) -> None:
    b = PRESETS["small"].with_(recovery_kind=kind)
    problems = agree_solver(b, sample(reachable(b), 150), canonical_path=canonical_path)
    assert not problems, "\n".join(problems)


def test_arrival_order_comparison_sees_the_paths_order() -> None:
    """A term form that reads where a message sits on the path (here: "the path is sorted", beside a Python
    predicate that, like every real one, sees only the multiset) agrees on the model's sorted paths and is
    caught once the states are compared with their paths reversed, as the arrival-order checks do."""
    b = PRESETS["small"]
    states = [s for s in reachable(b, 3000) if len(set(s.path)) > 1][:20]
    assert states

    def sym_sorted(s: SV) -> Term:
        ms, n = s.slots("path"), s.length("path")
        return all(not i + 1 < n or tuple(ms[i]) <= tuple(ms[i + 1]) for i in range(len(ms) - 1))

    def multiset_only(s: State) -> bool:
        return True

    preds: list[tuple[str, Callable[[State], bool], Callable[[SV], Term]]] = [
        ("path_sorted", multiset_only, sym_sorted)]
    enc = Encoding(b, canonical_path=False)
    assert not [p for s in states for p in check_state(enc, s, preds)]
    assert [p for s in states for p in check_state(enc, with_path_reversed(s), preds)]
