"""The model itself: initial states, deterministic enabled actions, pinned state counts, symmetry."""

from __future__ import annotations

import random

import pytest

from pitmirror.checkers.explicit.checker import ExplicitChecker, Verdict
from pitmirror.model import actions as actions_module
from pitmirror.model.config import PRESETS, Bounds, BoundsError
from pitmirror.model.protocol import MirrorModel
from pitmirror.model.symmetry import Canonicalizer, apply_perm, symmetry_group
from pitmirror.spec import state as state_module
from pitmirror.spec.properties import SAFETY
from pitmirror.spec.state import FencePolicy, PairState, RecoveryKind


def test_initial_states_one_per_fence_policy() -> None:
    inits = MirrorModel(Bounds()).init_states()
    assert [s.fence_policy for s in inits] == [FencePolicy.NEVER, FencePolicy.DATA]
    for s in inits:
        assert s.pair_state == PairState.PAIR and s.primary == s.remote == s.base == (0, 0)
        assert s.journal == () and s.next_seq == 1


def test_action_reprs_are_valid_python_and_order_is_fixed() -> None:
    model = MirrorModel(Bounds())
    namespace = {**vars(actions_module), **vars(state_module)}
    s = model.init_states()[0]
    rnd = random.Random(7)
    for _ in range(300):
        acts = model.actions(s)
        assert acts == model.actions(s)  # same order every time
        for a in acts:
            assert eval(repr(a), namespace) == a  # our own reprs, in a test
        if not acts:
            break
        s = model.next_state(s, rnd.choice(acts))


# stateright pins the number of unique states per example: a change to the model that changes the state
# space must change these numbers on purpose.
@pytest.mark.parametrize(("kind", "symmetry", "states", "transitions", "depth"), [
    (RecoveryKind.WRITETHROUGH, True, 5949, 9216, 24),  # a checkpoint's Checkpointed on the path, RB behind B;
    # a resync's Resynced on the path, R committed and A still in COPY
    (RecoveryKind.WRITETHROUGH, False, 11872, 18332, 24),
    (RecoveryKind.SWAP, True, 8658, 16334, 18),  # SwitchHostLun, the swap's second half, and a crash between the halves
    (RecoveryKind.SWAP, False, 16182, 30614, 18),
])
def test_pinned_state_counts_small(kind: RecoveryKind, symmetry: bool, states: int, transitions: int,
                                   depth: int) -> None:
    r = ExplicitChecker(MirrorModel(PRESETS["small"].with_(recovery_kind=kind)), SAFETY, symmetry=symmetry).run()
    assert (r.states, r.transitions, r.depth) == (states, transitions, depth)


@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_symmetry_reduction_keeps_every_verdict(kind: RecoveryKind) -> None:
    bounds = PRESETS["small"].with_(recovery_kind=kind, values=3)
    with_sym = ExplicitChecker(MirrorModel(bounds), SAFETY, symmetry=True).run()
    without = ExplicitChecker(MirrorModel(bounds), SAFETY, symmetry=False).run()
    assert with_sym.states < without.states
    for name in with_sym.discoveries:
        a, b = with_sym.discoveries[name], without.discoveries[name]
        assert a.verdict == b.verdict, name
        assert len(a.path) == len(b.path), name  # still shortest


def test_canonical_form_is_the_least_renaming() -> None:
    rnd = random.Random(3)
    for kind in RecoveryKind:
        model = MirrorModel(Bounds(values=3, recovery_kind=kind, message_faults=1))
        canon, group = Canonicalizer(2, 3), symmetry_group(2, 3)
        s = model.init_states()[0]
        for _ in range(1500):
            acts = model.actions(s)
            s = model.next_state(s, rnd.choice(acts)) if acts else model.init_states()[0]
            assert canon(s) == min(apply_perm(s, p) for p in group)


@pytest.mark.parametrize("bad", [dict(blocks=0), dict(blocks=9), dict(values=1), dict(host_writes=-1),
                                 dict(concurrency=True), dict(mutant="no_such_bug"), dict(fence_policies=())])
def test_bad_bounds_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(BoundsError):
        Bounds(**bad)  # type: ignore[arg-type]


def test_recovery_target_outside_window_is_not_enabled() -> None:
    model = MirrorModel(Bounds())
    s = model.init_states()[0]
    targets = [a.target for a in model.actions(s) if type(a).__name__ == "StartRecovery"]
    assert targets == [0]  # the window [base_seq, next_seq - 1] is [0, 0] at the start
    assert Verdict.HOLDS.value == "holds"
