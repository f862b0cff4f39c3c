"""The frontier engine against the object engine: identical state counts, verdicts and shortest-trace lengths,
traces that replay on the model, symmetry on arrays that is the model's symmetry, and the vector forms of the
liveness and reachability predicates that are the catalogue's."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from cli_helpers import run_cli

from helpers.z3_agree import reachable
from pitmirror.checkers.explicit.checker import ExplicitChecker, Verdict
from pitmirror.checkers.explicit.runner import CheckJob, trace_of
from pitmirror.checkers.frontier import engine
from pitmirror.checkers.frontier.engine import FrontierChecker, collision_probability, pack
from pitmirror.checkers.frontier.predicates import OTHER_PREDICATES, host_write_pending
from pitmirror.checkers.frontier.symmetry import RENAMED_FIELDS, RowSymmetry
from pitmirror.checkers.symbolic.encoding import Encoding, Inst
from pitmirror.checkers.symbolic.terms import SV, CapacityError, Layout, Term
from pitmirror.checkers.traces import trace as tr
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.model.symmetry import FIELD_TRANSFORMS, apply_perm, symmetry_group
from pitmirror.spec.properties import BY_NAME, PROPERTIES, Kind
from pitmirror.spec.state import RecoveryKind, State

SAFETY_AND_LIVENESS = [p for p in PROPERTIES if p.kind is not Kind.SOMETIMES]


def _summary(r: object) -> dict[str, tuple[Verdict, int]]:
    return {n: (d.verdict, len(d.path)) for n, d in r.discoveries.items()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("symmetry", [False, True])
@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_same_states_verdicts_and_trace_lengths_as_the_object_engine(kind: RecoveryKind, symmetry: bool) -> None:
    model = MirrorModel(PRESETS["small"].with_(recovery_kind=kind))
    ours = FrontierChecker(model, PROPERTIES, symmetry=symmetry).run()
    theirs = ExplicitChecker(model, PROPERTIES, symmetry=symmetry).run()
    assert ours.complete and theirs.complete
    assert (ours.states, ours.transitions, ours.depth) == (theirs.states, theirs.transitions, theirs.depth)
    assert _summary(ours) == _summary(theirs)


def test_exact_mode_keeps_the_same_states() -> None:
    model = MirrorModel(PRESETS["small"])
    hashed = FrontierChecker(model, PROPERTIES).run()
    exact_checker = FrontierChecker(model, PROPERTIES, exact=True)
    exact = exact_checker.run()
    assert (exact.states, exact.transitions) == (hashed.states, hashed.transitions)
    assert _summary(exact) == _summary(hashed)
    assert exact_checker.stats.collision_probability == 0.0
    assert 0 < collision_probability(hashed.states) < 1e-9


def test_worker_processes_and_slices_find_the_same_states(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_MIN_SPLIT", 1)  # split every frontier, however small
    model = MirrorModel(PRESETS["small"].with_(mutant="no_remote_timeout"))  # a liveness violation too
    one = FrontierChecker(model, PROPERTIES).run()
    two = FrontierChecker(model, PROPERTIES, jobs=2).run()
    monkeypatch.setattr(engine, "_CHUNK", 300)  # and, in one process, expand each frontier in slices
    sliced = FrontierChecker(model, PROPERTIES).run()
    for other in (two, sliced):
        assert (other.states, other.transitions, other.depth) == (one.states, one.transitions, one.depth)
        assert _summary(other) == _summary(one)
    assert two.discoveries["host_write_completes"].verdict is Verdict.VIOLATED


def _mutant_bounds(name: str) -> Bounds:
    m = MUTANTS[name]
    base = PRESETS["small"] if BY_NAME[m.breaks].kind is Kind.EVENTUALLY else PRESETS["default"]
    return base.with_(mutant=name, recovery_kind=m.recovery_kind)


@pytest.mark.parametrize("name", list(MUTANTS))
def test_every_mutant_caught_like_the_object_engine_with_a_replayable_shortest_trace(name: str) -> None:
    m = MUTANTS[name]
    model = MirrorModel(_mutant_bounds(name))
    ours = FrontierChecker(model, SAFETY_AND_LIVENESS, stop_when_violated=(m.breaks,)).run()
    theirs = ExplicitChecker(model, SAFETY_AND_LIVENESS, stop_when_violated=(m.breaks,)).run()
    d = ours.discoveries[m.breaks]
    assert d.verdict is Verdict.VIOLATED, f"{name} not caught"
    assert len(d.path) == len(theirs.discoveries[m.breaks].path)
    doc = trace_of(CheckJob(model.bounds, (m.breaks,)), d).to_dict()
    report = tr.replay_on_model(doc)
    assert report.diverged_at is None, report.divergence
    if BY_NAME[m.breaks].kind is Kind.ALWAYS:
        assert report.violated_at[m.breaks] == len(doc["steps"]) - 1


def test_a_transition_that_outgrows_the_vector_is_an_error_not_pruned() -> None:
    checker = FrontierChecker(MirrorModel(PRESETS["small"]), PROPERTIES)
    i, inst = next((i, x) for i, x in enumerate(checker.enc.instances) if x.name.startswith("HostWrite"))

    def overflowing(s: SV, v: Term) -> tuple[SV, Term]:
        t, _ = inst.effect(s, v)
        return t, np.zeros(len(s["next_seq"]), dtype=bool)  # as if the journal had no slot left

    checker.enc.instances[i] = Inst(inst.name, inst.guard, overflowing, inst.decode, inst.param)
    with pytest.raises(CapacityError, match="HostWrite"):
        checker.run()


def _walk(bounds: Bounds, steps: int, seed: int) -> list[State]:
    model, rnd = MirrorModel(bounds), random.Random(seed)
    s = model.init_states()[0]
    out = []
    for _ in range(steps):
        acts = model.actions(s)
        s = model.next_state(s, rnd.choice(acts)) if acts else model.init_states()[0]
        out.append(s)
    return out


def _rows(lay: Layout, states: list[State]) -> np.ndarray:
    """The packed vectors of states, one row each."""
    encoded = [lay.encode(s) for s in states]
    return pack(np.array([[d[k] for d in encoded] for k in lay.names], dtype=np.int8))


# reuse_sequence_number lets two mirror writes share a seq: the one case where renaming reorders the path
@pytest.mark.parametrize(("kind", "mutant"), [(RecoveryKind.WRITETHROUGH, None), (RecoveryKind.SWAP, None),
                                              (RecoveryKind.WRITETHROUGH, "reuse_sequence_number")])
def test_renaming_a_vector_is_renaming_its_state(kind: RecoveryKind, mutant: str | None) -> None:
    bounds = Bounds(values=3, markers=1, message_faults=1, recovery_kind=kind, mutant=mutant)
    lay = Layout(bounds)
    sym = RowSymmetry(lay, bounds.values)
    states = _walk(bounds, 300, seed=5) + reachable(bounds, max_states=1000)
    frontier = _rows(lay, states)
    for perm in symmetry_group(bounds.blocks, bounds.values):
        renamed = _rows(lay, [apply_perm(s, perm) for s in states])
        assert np.array_equal(sym.apply(frontier, perm), renamed), perm
        # the canonical form is one vector per orbit: every renaming of a state has the same one
        assert np.array_equal(sym.canonical(renamed), sym.canonical(frontier))


def test_the_frontier_renames_every_field_the_model_renames() -> None:
    assert set(FIELD_TRANSFORMS) == RENAMED_FIELDS


def test_the_renaming_test_sees_an_unsorted_multiset() -> None:
    # the comparison above can fail: skip the re-sort of the path and R's buffer and some state differs
    bounds = Bounds(values=3, message_faults=1, mutant="reuse_sequence_number")
    lay = Layout(bounds)

    class Unsorted(RowSymmetry):
        def _sort(self, g: np.ndarray, q: str) -> None:
            return None

    states = reachable(bounds, max_states=1000)
    frontier = _rows(lay, states)
    perm = symmetry_group(bounds.blocks, bounds.values)[-1]
    want = _rows(lay, [apply_perm(s, perm) for s in states])
    assert not np.array_equal(Unsorted(lay, bounds.values).apply(frontier, perm), want)


@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_vector_predicates_agree_with_the_catalogue(kind: RecoveryKind) -> None:
    bounds = PRESETS["small"].with_(recovery_kind=kind)
    lay = Encoding(bounds).lay
    seen = {name: set() for name in OTHER_PREDICATES}
    for s in reachable(bounds):
        cs = lay.concrete(s)
        for name, pred in OTHER_PREDICATES.items():
            want = BY_NAME[name].predicate(s)
            assert pred(cs) is want, f"{name} disagrees on {s!r}"
            seen[name].add(want)
    assert all(v == {True, False} for v in seen.values()), seen  # both answers were compared


def test_the_predicate_test_sees_a_wrong_pending_predicate() -> None:
    bounds = PRESETS["small"]
    lay = Encoding(bounds).lay

    def wrong(s: SV) -> Term:  # forgets that an acknowledged write is no longer pending
        return s.length("in_flight") > 0

    states = reachable(bounds)
    assert all(host_write_pending(lay.concrete(s)) is BY_NAME["host_write_completes"].predicate(s) for s in states)
    assert any(wrong(lay.concrete(s)) is not BY_NAME["host_write_completes"].predicate(s) for s in states)


def test_check_command_runs_either_engine_with_the_same_counts(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str],
                                                               tmp_path: object) -> None:
    common = ("check", "--preset", "small", "--recovery", "swap", "--quiet", "--out", str(tmp_path))
    code_f, out_f, _ = run_cli(monkeypatch, capsys, *common, "--exact")
    code_o, out_o, _ = run_cli(monkeypatch, capsys, *common, "--engine", "object")
    assert code_f == code_o == 0
    counts = re.compile(r"([\d,]+) states, ([\d,]+) transitions, depth (\d+)")
    assert counts.findall(out_f) == counts.findall(out_o) != []
    assert "collision probability" not in out_f  # --exact keeps whole states
