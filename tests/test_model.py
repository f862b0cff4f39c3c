"""The model itself: initial states, deterministic enabled actions, pinned state counts, symmetry."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from helpers.bounds import FOLD_BOUNDS
from pitmirror.checkers.explicit.checker import ExplicitChecker, Verdict
from pitmirror.model import actions as actions_module
from pitmirror.model.config import PRESETS, Bounds, BoundsError
from pitmirror.model.protocol import MirrorModel
from pitmirror.model.symmetry import Canonicalizer, apply_perm, fold_resync_ids, symmetry_group
from pitmirror.spec import state as state_module
from pitmirror.spec.interface import event_of
from pitmirror.spec.invariants import INVARIANTS
from pitmirror.spec.properties import PROPERTIES, SAFETY
from pitmirror.spec.state import FencePolicy, MessageKind, PairState, RecoveryKind, Resynced, State


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
            assert canon(s) == min(apply_perm(fold_resync_ids(s), p) for p in group)


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


# --- folding A's resync counter (model.symmetry.fold_resync_ids) -----------------------------------------



def _unfolded(b: Bounds) -> Canonicalizer:
    """The renamings alone, without the fold."""
    c = Canonicalizer(b.blocks, b.values)
    c.fold = False
    return c


def _all_reachable(model: MirrorModel) -> list[State]:
    """Every reachable state, no reduction of any kind."""
    seen = set(model.init_states())
    todo = list(seen)
    while todo:
        s = todo.pop()
        for a in model.actions(s):
            t = model.next_state(s, a)
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return list(seen)


def _fold_gaps(bounds: Bounds, fold: Callable[[State], State]) -> list[str]:
    """Where ``s`` and ``fold(s)`` differ in a verdict or in their futures: every property, event and
    invariant agrees on the two, and their successors agree once folded (so ``s ~ fold(s)`` is a
    bisimulation that keeps every verdict). Over every reachable state the fold changes."""
    model = MirrorModel(bounds)
    gaps: list[str] = []
    events = [(p.name, ev) for p in PROPERTIES if (ev := event_of(p)) is not None]
    predicates = [(p.name, p.predicate) for p in PROPERTIES if event_of(p) is None]
    predicates += [(inv.__name__, inv) for inv in INVARIANTS]

    def futures(s: State) -> set[tuple[State, tuple[bool, ...]]]:
        out = set()
        for a in model.actions(s):
            t = model.next_state(s, a)
            out.add((fold(t), tuple(ev(s, a, t) for _, ev in events)))
        return out

    for s in _all_reachable(model):
        f = fold(s)
        if f == s:
            continue
        gaps += [f"{name} at {s}" for name, pred in predicates if pred(s) != pred(f)]
        if futures(s) != futures(f):
            gaps.append(f"successors of {s}")
    return gaps


@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_folding_the_resync_counter_keeps_every_verdict_and_future(kind: RecoveryKind) -> None:
    bounds = FOLD_BOUNDS.with_(recovery_kind=kind)
    assert _fold_gaps(bounds, fold_resync_ids) == []
    # and the comparison can fail: a fold that takes every answer for the current one lets a stale answer end
    # a resync, and so changes some state's successors
    def lenient(s: State) -> State:
        if s.resync_id <= 1:
            return s
        path = tuple(sorted(m._replace(a=1) if m.kind == MessageKind.RESYNCED else m for m in s.path))
        return s._replace(resync_id=1, path=path)

    assert any(g.startswith("successors") for g in _fold_gaps(bounds, lenient))


@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_folding_the_resync_counter_merges_states_and_keeps_verdicts(kind: RecoveryKind) -> None:
    model = MirrorModel(FOLD_BOUNDS.with_(recovery_kind=kind))
    folded = ExplicitChecker(model, PROPERTIES).run()
    unfolded = ExplicitChecker(model, PROPERTIES, canonicalizer=_unfolded(model.bounds)).run()
    assert folded.states < unfolded.states
    for name, d in folded.discoveries.items():
        assert (d.verdict, len(d.path)) == (unfolded.discoveries[name].verdict,
                                            len(unfolded.discoveries[name].path)), name


def test_fold_of_a_state() -> None:
    s = MirrorModel(FOLD_BOUNDS).init_states()[0]
    s = s._replace(resync_id=3, path=(Resynced(2), Resynced(3)))
    assert fold_resync_ids(s) == s._replace(resync_id=1, path=(Resynced(0), Resynced(1)))
    assert fold_resync_ids(fold_resync_ids(s)) == fold_resync_ids(s)
    assert fold_resync_ids(s._replace(resync_id=1, path=(Resynced(1),))).resync_id == 1
