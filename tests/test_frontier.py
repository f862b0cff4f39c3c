"""The frontier engine against the object engine: identical state counts, verdicts and shortest-trace lengths,
traces that replay on the model, symmetry on arrays that is the model's symmetry, and the vector forms of the
liveness and reachability predicates that are the catalogue's."""

from __future__ import annotations

import os
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_helpers import run_cli

from helpers.bounds import FOLD_BOUNDS
from helpers.z3_agree import reachable
from pitmirror.checkers.explicit.checker import ExplicitChecker, Verdict
from pitmirror.checkers.explicit.runner import CheckJob, trace_of
from pitmirror.checkers.frontier import compiled, engine
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.checkers.frontier.predicates import OTHER_PREDICATES, host_write_pending, vector_predicates
from pitmirror.checkers.frontier.rows import collision_probability, fingerprints, pack, padded_width, unpack
from pitmirror.checkers.frontier.symmetry import RENAMED_FIELDS, RowSymmetry
from pitmirror.checkers.frontier.visited import HashVisited, SortedVisited
from pitmirror.checkers.symbolic.encoding import Encoding, Inst
from pitmirror.checkers.symbolic.terms import SV, CapacityError, Layout, Term
from pitmirror.checkers.traces import trace as tr
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.model.symmetry import FIELD_TRANSFORMS, apply_perm, fold_resync_ids, symmetry_group
from pitmirror.spec.properties import BY_NAME, PROPERTIES, Kind, not_applicable
from pitmirror.spec.state import MessageKind, RecoveryKind, State

SAFETY_AND_LIVENESS = [p for p in PROPERTIES if p.kind is not Kind.SOMETIMES]


def _summary(r: object) -> dict[str, tuple[Verdict, int]]:
    return {n: (d.verdict, len(d.path)) for n, d in r.discoveries.items()}  # type: ignore[attr-defined]


#: bounds whose kernel compiles in about a second, for the tests that must compile a kernel of their own
TINY = Bounds(blocks=1, host_writes=2, concurrency=1, journal_capacity=1, path_failures=1, crashes=0)
needs_cc = pytest.mark.skipif(compiled.compiler() is None, reason="no C compiler for the compiled kernel")
KERNELS = ["numpy", pytest.param("c", marks=needs_cc)]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("symmetry", [False, True])
@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_same_states_verdicts_and_trace_lengths_as_the_object_engine(kind: RecoveryKind, symmetry: bool,
                                                                     kernel: str) -> None:
    model = MirrorModel(PRESETS["small"].with_(recovery_kind=kind))
    checker = FrontierChecker(model, PROPERTIES, symmetry=symmetry, kernel=kernel)
    ours = checker.run()
    assert (checker.kernel is not None) is (kernel == "c")
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
    one = FrontierChecker(model, PROPERTIES, kernel="numpy").run()
    two = FrontierChecker(model, PROPERTIES, jobs=2, kernel="numpy").run()
    monkeypatch.setattr(engine, "_CHUNK", 300)  # and, in one process, expand each frontier in slices
    sliced = FrontierChecker(model, PROPERTIES, kernel="numpy").run()
    for other in (two, sliced):
        assert (other.states, other.transitions, other.depth) == (one.states, one.transitions, one.depth)
        assert _summary(other) == _summary(one)
    assert two.discoveries["host_write_completes"].verdict is Verdict.VIOLATED


@needs_cc
def test_worker_threads_of_the_compiled_kernel_find_the_same_states(monkeypatch: pytest.MonkeyPatch) -> None:
    # with a liveness violation, and every liveness edge compared: those to a level's new states and those to
    # states of earlier levels, which each part of the kernel's frontier drops from its candidates
    model = MirrorModel(PRESETS["small"].with_(mutant="no_remote_timeout", recovery_kind=RecoveryKind.SWAP))
    edges: list[set[tuple[int, int]]] = []  # the liveness edges of each run, as (source id, target id)
    liveness = FrontierChecker._liveness

    def keep_edges(self: FrontierChecker, p: Any, pending: np.ndarray, src: np.ndarray, dst: np.ndarray) -> Any:
        edges.append(set(zip(src.tolist(), dst.tolist(), strict=True)))
        return liveness(self, p, pending, src, dst)

    monkeypatch.setattr(FrontierChecker, "_liveness", keep_edges)
    monkeypatch.setattr(engine, "_MIN_SPLIT", 1)  # split every frontier, however small
    monkeypatch.setattr(engine, "_CHUNK", 300)  # and in slices
    # the numpy path split the same way (worker processes) numbers the states as the kernel's threads do
    one = FrontierChecker(model, PROPERTIES, kernel="numpy", jobs=2).run()
    checker = FrontierChecker(model, PROPERTIES, kernel="c", jobs=2)
    two = checker.run()
    pool = checker._pool()  # what the run split its frontiers over
    assert isinstance(pool, engine.ThreadPoolExecutor)
    pool.shutdown()
    assert (two.states, two.transitions, two.depth) == (one.states, one.transitions, one.depth)
    assert _summary(two) == _summary(one)
    assert two.discoveries["host_write_completes"].verdict is Verdict.VIOLATED
    assert edges[0] == edges[-1]
    assert sum(dst < src for src, dst in edges[0]) > 100  # edges back to states found before: they are compared


def _mutant_bounds(name: str) -> Bounds:
    m = MUTANTS[name]
    base = PRESETS["small"] if BY_NAME[m.breaks].kind is Kind.EVENTUALLY else PRESETS["default"]
    # a torn write needs multi-block writes (its ``needs``); every other mutant shows at these bounds as they are
    return base.with_(mutant=name, recovery_kind=m.recovery_kind,
                      write_blocks=max(base.write_blocks, dict(m.needs).get("write_blocks", 1)))


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


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_transition_that_outgrows_the_vector_ends_the_search_not_pruned(kernel: str) -> None:
    checker = FrontierChecker(MirrorModel(PRESETS["small"]), PROPERTIES, kernel=kernel)
    i, inst = next((i, x) for i, x in enumerate(checker.enc.instances) if x.name.startswith("HostWrite"))

    def overflowing(s: SV, v: Term) -> tuple[SV, Term]:
        t, _ = inst.effect(s, v)
        return t, s["next_seq"] < 0  # as if the journal had no slot left (written so the kernel traces it)

    checker.enc.instances[i] = Inst(inst.name, inst.guard, overflowing, inst.decode, inst.param)
    r = checker.run()
    # pruned, the search would go on without host writes and end "exhausted"; it stops at the first one
    assert not r.complete and r.depth == 0
    assert "stopped at depth 1: HostWrite" in r.stop_reason and "outgrows" in r.stop_reason
    assert r.states == len(MirrorModel(PRESETS["small"]).init_states())
    assert all(d.verdict is Verdict.UNKNOWN for d in r.discoveries.values() if d.prop.kind is not Kind.SOMETIMES)


def test_a_space_that_outgrows_the_vector_keeps_its_violations_as_a_partial_verdict() -> None:
    """checkpoint_during_recovery's space has no end: the search stops where a recovery write grows the history
    past the vector, every state before it checked, its shortest violation found and replayable."""
    b = PRESETS["small"].with_(mutant="checkpoint_during_recovery")
    r = FrontierChecker(MirrorModel(b), [p for p in PROPERTIES if p.kind is Kind.ALWAYS]).run()
    assert not r.complete
    assert re.search(r"RecoveryWrite\(lba=\d\) grows history to \d+ entries \(capacity \d+\)", r.stop_reason)
    d = r.discoveries["recovery_correct"]
    assert d.verdict is Verdict.VIOLATED
    theirs = ExplicitChecker(MirrorModel(b), [BY_NAME["recovery_correct"]],
                             stop_when_violated=("recovery_correct",)).run()
    assert len(d.path) == len(theirs.discoveries["recovery_correct"].path)
    assert any(x.verdict is Verdict.UNKNOWN for x in r.discoveries.values())  # "holds" is not claimed


def test_a_capacity_overflow_comes_back_whole_from_a_worker_process() -> None:
    e = pickle.loads(pickle.dumps(engine.Outgrown("RecoveryWrite(lba=0) grows history", "State(...)")))
    assert isinstance(e, CapacityError)
    assert (e.what, e.state) == ("RecoveryWrite(lba=0) grows history", "State(...)")


@pytest.mark.parametrize(("args", "code"), [((), 1), (("--property", "journal_well_formed"), 3)])
def test_check_ends_a_space_that_outgrows_the_vector_as_a_partial_verdict(
        args: tuple[str, ...], code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    """A violation found before the cut-off is exit 1; a property neither violated nor exhausted, 3."""
    got, out, err = run_cli(monkeypatch, capsys, "check", "--mutant", "checkpoint_during_recovery", "--preset",
                            "small", "--recovery", "writethrough", "--quiet", "--out", str(tmp_path), *args)
    assert got == code, out + err
    assert "partial verdict: stopped at depth" in " ".join(out.split()) and "internal error" not in err


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




def test_folding_a_vector_is_folding_its_state() -> None:
    bounds = FOLD_BOUNDS.with_(blocks=2, message_faults=1)  # a stale answer beside the current one
    lay = Layout(bounds)
    sym = RowSymmetry(lay, bounds.values)
    states = [s for seed in range(20) for s in _walk(bounds, 300, seed=seed)]
    # the fold has work: a counter above 1 with a stale answer and the current one on the path
    assert any(s.resync_id > 1 and sum(m.kind == MessageKind.RESYNCED for m in s.path) > 1 for s in states)
    rows = _rows(lay, states)
    sym.fold(rows)
    assert np.array_equal(rows, _rows(lay, [fold_resync_ids(s) for s in states]))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_the_resync_counter_folds_as_in_the_object_engine(kind: RecoveryKind, kernel: str) -> None:
    model = MirrorModel(FOLD_BOUNDS.with_(recovery_kind=kind))
    ours = FrontierChecker(model, PROPERTIES, kernel=kernel).run()
    theirs = ExplicitChecker(model, PROPERTIES).run()
    assert (ours.states, ours.transitions, ours.depth) == (theirs.states, theirs.transitions, theirs.depth)
    assert _summary(ours) == _summary(theirs)


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


# --- the compiled kernel: the same arrays as the numpy path, level by level ------------------------------

def _levels(checker: FrontierChecker, depth: int) -> list[np.ndarray]:
    """The first ``depth`` breadth-first frontiers (packed, canonical, distinct), by the numpy path."""
    packed = np.unique(checker.initial(), axis=0)
    out = [packed]
    for _ in range(depth):
        succ = checker.successors(unpack(packed, len(checker.lay.names)), packed)[0]
        packed = np.unique(checker.sym.canonical(succ), axis=0)
        out.append(packed)
    return out


def _compare_with_numpy(bounds: Bounds, depth: int, kernel: compiled.Kernel | None = None,
                        events_hit: set[str] | None = None) -> set[int]:
    """Compare the kernel's successors (rows, sources, instances, parameters, in order), the first step of
    every witness's event, predicates, canonical forms and fingerprints with the numpy path's on the first
    frontiers; the pairs the kernel found enabled (and, into ``events_hit``, the events either path hit)."""
    numpy_path = FrontierChecker(MirrorModel(bounds), PROPERTIES, kernel="numpy")
    kernel = kernel or compiled.compile_encoding(numpy_path.enc, numpy_path.preds, events=numpy_path.events)
    assert kernel is not None
    kernel.use_symmetry(numpy_path.sym, padded_width(len(numpy_path.lay.names)))
    enabled: set[int] = set()
    for packed in _levels(numpy_path, depth):
        f = unpack(packed, len(numpy_path.lay.names))
        want_hits: dict[str, tuple[int, int, int]] = {}
        got_hits: dict[str, tuple[int, int, int]] = {}
        want = numpy_path.successors(f, packed, want_hits)
        *got, bad = kernel.successors(packed, got_hits)
        assert bad == -1
        for x, y in zip(want, got, strict=True):
            assert np.array_equal(x, y)
        assert got_hits == want_hits
        if events_hit is not None:
            events_hit |= want_hits.keys() | got_hits.keys()
        enabled |= {int(a) * 1000 + int(v) for a, v in zip(got[2], got[3], strict=True)}
        values = kernel.predicates(packed)
        for name in numpy_path.preds:
            assert np.array_equal(values[name], numpy_path.evaluate(name, f)), name
        assert np.array_equal(kernel.canonical(want[0]), numpy_path.sym.canonical(want[0]))
        assert np.array_equal(kernel.fingerprints(want[0]), fingerprints(want[0]))
    return enabled


@needs_cc
@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_the_compiled_kernel_computes_what_the_numpy_path_computes(kind: RecoveryKind) -> None:
    events: set[str] = set()
    enabled = _compare_with_numpy(PRESETS["small"].with_(recovery_kind=kind), depth=8, events_hit=events)
    assert len(enabled) > 10
    assert events, "no witness's event was compared"


@needs_cc
def test_the_kernel_comparison_sees_a_dropped_write(tmp_path: Path) -> None:
    # the comparison above can fail: a kernel whose HostWrite forgets to write P differs from the numpy path
    bounds = TINY
    enc = Encoding(bounds)
    te = compiled.trace(enc, vector_predicates(enc))
    primary = enc.lay.names.index("primary.0")
    for p in te.pairs:
        p.writes.pop(primary, None)
    library = tmp_path / "broken.so"
    compiled.build(compiled.c_source(te), library, str(compiled.compiler()))
    broken = compiled.Kernel(library, [(p.inst, p.param) for p in te.pairs], list(te.predicates), cached=False)
    with pytest.raises(AssertionError):
        _compare_with_numpy(bounds, depth=3, kernel=broken)


@needs_cc
def test_the_kernel_comparison_sees_a_kernel_without_events(tmp_path: Path) -> None:
    # a kernel that evaluates no witness's event (as before the events were compiled into it) finds no first
    # step where the numpy path finds a checkpoint's: R's half, the Deliver of Checkpointed, at depth 4 of these
    # bounds (a write, its MirrorWrite and MirrorAck delivered, A's half once J is full)
    numpy_path = FrontierChecker(MirrorModel(TINY), PROPERTIES, kernel="numpy")
    te = compiled.trace(numpy_path.enc, numpy_path.preds, numpy_path.events)
    assert any(p.events for p in te.pairs)
    for p in te.pairs:
        p.events.clear()
    library = tmp_path / "no_events.so"
    compiled.build(compiled.c_source(te), library, str(compiled.compiler()))
    broken = compiled.Kernel(library, [(p.inst, p.param) for p in te.pairs], list(te.predicates), cached=False,
                             events=te.events)
    with pytest.raises(AssertionError, match="checkpoint_reachable"):
        _compare_with_numpy(TINY, depth=6, kernel=broken)


def test_the_kernel_cache_keeps_the_recently_used_and_drops_the_rest(tmp_path: Path) -> None:
    now = 1_000_000_000.0
    day = 86400.0

    def library(name: str, age_days: float) -> Path:
        lib = tmp_path / f"{name}.so"
        lib.write_bytes(b"\0")
        lib.with_suffix(".json").write_text("{}")
        os.utime(lib, (now - age_days * day, now - age_days * day))
        return lib

    fresh = [library(f"fresh{i}", i / 10) for i in range(5)]  # fresh0 the most recently used
    old = library("old", compiled.KEEP_DAYS + 1)
    in_use = library("in_use", compiled.KEEP_DAYS + 5)  # old, but the run has just loaded it
    killed = tmp_path / "tmpbuild"
    killed.mkdir()
    orphans = [tmp_path / "gone.json", tmp_path / "fresh0.json.4242"]  # a sidecar alone, a killed run's temp file
    for f in [*orphans, tmp_path / "building.json.77"]:
        f.write_text("{}")
    for f in (killed, *orphans):
        os.utime(f, (now - 2 * 3600, now - 2 * 3600))
    os.utime(tmp_path / "building.json.77", (now - 60, now - 60))  # a run writing its sidecar just now
    removed = compiled.prune_cache(tmp_path, keep=(in_use,), keep_newest=3, now=now)
    assert set(removed) == {old, fresh[3], fresh[4]}
    for lib in removed:
        assert not lib.exists() and not lib.with_suffix(".json").exists()
    for lib in (*fresh[:3], in_use):
        assert lib.exists() and lib.with_suffix(".json").exists()
    assert not killed.exists() and not any(f.exists() for f in orphans)
    assert (tmp_path / "building.json.77").exists()
    assert compiled.prune_cache(tmp_path, keep=(in_use,), keep_newest=3, now=now) == []


@needs_cc
def test_a_kernel_loaded_from_the_cache_counts_as_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    checker = FrontierChecker(MirrorModel(TINY), PROPERTIES, kernel="c")
    checker.load_kernel(build=True)
    assert checker.kernel is not None
    library = checker.kernel.library
    os.utime(library, (1.0, 1.0))  # as if last used in 1970: pruned, unless loading it marks it used
    again = FrontierChecker(MirrorModel(TINY), PROPERTIES, kernel="c")
    again.load_kernel(build=False)
    assert again.kernel is not None and again.kernel.cached
    assert compiled.prune_cache(library.parent, now=library.stat().st_mtime) == []


@pytest.mark.slow
@needs_cc
@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_the_kernel_agrees_on_every_instance_with_markers_message_faults_and_concurrency(kind: RecoveryKind) -> None:
    bounds = Bounds(host_writes=2, markers=1, message_faults=1, recovery_kind=kind)
    enabled = _compare_with_numpy(bounds, depth=9)
    enc = Encoding(bounds)

    def shape(name: str) -> str:  # StartRecovery's targets past the writes and marker are never enabled
        return "StartRecovery" if name.startswith("StartRecovery") else name

    names = {shape(enc.instances[key // 1000].name) for key in enabled}
    assert names == {shape(i.name) for i in enc.instances}, "some action instance was never compared"


@needs_cc
@pytest.mark.parametrize("mutant", [None, "reuse_sequence_number"])
def test_compiled_canonical_forms_and_fingerprints_are_the_numpy_ones(mutant: str | None) -> None:
    bounds = Bounds(values=3, markers=1, message_faults=1, mutant=mutant)
    lay = Layout(bounds)
    sym = RowSymmetry(lay, bounds.values)
    rows = _rows(lay, _walk(bounds, 300, seed=5) + reachable(bounds, max_states=1000))
    runtime = compiled.Runtime(compiled.runtime_library())
    runtime.use_symmetry(sym, rows.shape[1])
    assert np.array_equal(runtime.canonical(rows), sym.canonical(rows))
    assert np.array_equal(runtime.fingerprints(rows), fingerprints(rows))
    # and the comparison can fail: without re-sorting the multisets, some canonical form differs
    if mutant == "reuse_sequence_number":
        unsorted = RowSymmetry(lay, bounds.values)
        unsorted._sorts = []
        runtime.use_symmetry(unsorted, rows.shape[1])
        assert not np.array_equal(runtime.canonical(rows), sym.canonical(rows))


@needs_cc
def test_auto_compiles_only_once_a_run_is_big_then_takes_the_cache(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    model = MirrorModel(TINY)
    small = FrontierChecker(model, PROPERTIES)
    first = small.run()
    assert small.kernel is None and "no compiled kernel" in small.kernel_note
    monkeypatch.setattr(engine, "AUTO_COMPILE_AT", 10)  # as if this run were a big one
    big = FrontierChecker(model, PROPERTIES)
    second = big.run()
    assert big.kernel is not None and not big.kernel.cached and "compiled" in big.kernel_note
    again = FrontierChecker(model, PROPERTIES)
    third = again.run()
    assert again.kernel is not None and again.kernel.cached and "cache" in again.kernel_note
    for r in (second, third):
        assert (r.states, r.transitions, r.depth) == (first.states, first.transitions, first.depth)
        assert _summary(r) == _summary(first)


@pytest.mark.slow
@needs_cc
@pytest.mark.parametrize("name", list(MUTANTS))
def test_every_mutant_caught_by_the_compiled_kernel_like_the_object_engine(name: str) -> None:
    m = MUTANTS[name]
    model = MirrorModel(_mutant_bounds(name))
    ours = FrontierChecker(model, SAFETY_AND_LIVENESS, stop_when_violated=(m.breaks,), kernel="c").run()
    theirs = ExplicitChecker(model, SAFETY_AND_LIVENESS, stop_when_violated=(m.breaks,)).run()
    d = ours.discoveries[m.breaks]
    assert d.verdict is Verdict.VIOLATED, f"{name} not caught"
    assert len(d.path) == len(theirs.discoveries[m.breaks].path)


@needs_cc
@pytest.mark.parametrize("limit", [None, 1500])
def test_the_hash_visited_set_adds_like_the_sorted_one(limit: int | None) -> None:
    # levels of keys with repeats within a level and across levels, some cut off by the limit
    rnd = np.random.default_rng(7)
    runtime = compiled.Runtime(compiled.runtime_library())
    start = rnd.integers(0, 2**63, size=10, dtype=np.uint64)
    ids = np.arange(10, dtype=np.int32)
    table, ordered = HashVisited(runtime, start, ids), SortedVisited(start, ids)
    count, seen = 10, start
    for _ in range(6):
        keys = np.concatenate([rnd.integers(0, 2**63, size=400, dtype=np.uint64), rnd.choice(seen, size=300)])
        keys = keys[rnd.permutation(keys.size)]
        got_new, got_ids = table.add(keys, count, limit, True)
        want_new, want_ids = ordered.add(keys, count, limit, True)
        assert np.array_equal(got_new, want_new) and np.array_equal(got_ids, want_ids)
        count += want_new.size
        seen = np.concatenate([seen, keys[want_new]])
    assert table.size == count == (limit or count)
    assert limit is None or (got_ids == -1).any()


def test_kernel_c_without_a_compiler_is_a_usage_error(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setattr(compiled, "compiler", lambda: None)
    code, out, err = run_cli(monkeypatch, capsys, "check", "--preset", "small", "--kernel", "c", "--quiet",
                             "--out", str(tmp_path))
    assert code == 2 and "--kernel c" in err and "Traceback" not in err + out
    # auto runs on numpy instead, saying so
    code, out, _ = run_cli(monkeypatch, capsys, "check", "--preset", "small", "--recovery", "swap", "--quiet",
                           "--out", str(tmp_path))
    assert code == 0 and "numpy" in out


@needs_cc
@pytest.mark.parametrize("kind", [RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP], ids=lambda k: k.name.lower())
def test_the_compiled_kernel_finds_every_witness_event_the_numpy_path_finds(kind: RecoveryKind) -> None:
    # the kernel computes the events beside each successor, and must give the numpy path's first steps;
    # a premature timeout, so that the late delivery after a timeout applies too (a marker recovery does not)
    bounds = PRESETS["small"].with_(recovery_kind=kind, premature_timeouts=1)
    witnesses = [p for p in PROPERTIES if p.event is not None and not not_applicable(p, bounds)]
    assert "late_delivery_reachable" in {p.name for p in witnesses}
    assert witnesses
    numpy_path = FrontierChecker(MirrorModel(bounds), witnesses, kernel="numpy").run()
    kernel_path = FrontierChecker(MirrorModel(bounds), witnesses, kernel="c").run()
    assert _summary(kernel_path) == _summary(numpy_path)
    assert all(d.verdict is Verdict.REACHED for d in kernel_path.discoveries.values()), _summary(kernel_path)


def test_ctrl_c_during_a_kernel_calls_argument_conversion_stays_an_interrupt() -> None:
    # ctypes reports an exception raised while it converts an argument as ArgumentError, with nothing chained:
    # a Ctrl-C landing there ended `check --jobs 2` as an internal error (exit 70) instead of a partial verdict
    import ctypes

    class Interrupted:
        @classmethod
        def from_param(cls, value: object) -> object:
            raise KeyboardInterrupt

    class Refused:
        @classmethod
        def from_param(cls, value: object) -> object:
            raise TypeError("not an array")

    libc = ctypes.CDLL(None)
    with pytest.raises(KeyboardInterrupt):
        compiled._c_function(libc, "abs", [Interrupted], ctypes.c_int)(1)
    with pytest.raises(ctypes.ArgumentError):  # any other conversion error stays what it was
        compiled._c_function(libc, "labs", [Refused], ctypes.c_long)(1)
    assert compiled._c_function(libc, "abs", [ctypes.c_int], ctypes.c_int)(-3) == 3
