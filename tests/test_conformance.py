"""Conformance of impl to model: the abstraction function, the lockstep runner, the drain, and every
counterexample trace of the explicit checker replayed on the impl."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from pitmirror.checkers.conformance.lockstep import (
    COMPARED_FIELDS,
    ConformanceError,
    ImplViewer,
    Lockstep,
    PropertyViolation,
    conforms,
    differences,
    impl_state,
    impl_view,
    model_view,
    replay_on_impl,
    safety_properties,
)
from pitmirror.checkers.explicit.runner import CheckJob, run_job
from pitmirror.checkers.traces import trace as tr
from pitmirror.impl import ScsiError
from pitmirror.model.actions import (
    CrashMidApply,
    CrashMidRemoteSwap,
    CrashMidWrite,
    FailPath,
    HostWrite,
    RepairPath,
    StartRecovery,
)
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.actions import BY_NAME as BY_NAME_ACTION
from pitmirror.spec.properties import BY_NAME, PROPERTIES, Kind
from pitmirror.spec.state import FencePolicy, RecoveryKind

SAFETY_AND_LIVENESS = tuple(p.name for p in PROPERTIES if p.kind is not Kind.SOMETIMES)
FUZZ_LIKE = Bounds(blocks=2, values=3, host_writes=6, concurrency=2, journal_capacity=3, markers=1,
                   path_failures=1, crashes=1, message_faults=1, recoveries=2)


def walk(bounds: Bounds, seed: int, steps: int = 40, check_safety: bool = False) -> Lockstep:
    """A seeded random walk in lockstep, checking conformance (and the enabled sets) after every step."""
    rng = random.Random(seed)
    run = Lockstep(bounds, rng.choice(bounds.fence_policies))
    run.check_conforms()
    props, _ = safety_properties(bounds)
    for _ in range(steps):
        enabled = run.enabled()
        if not enabled:
            break
        run.step(rng.choice(enabled))
        run.check_conforms()
        run.check_enabled()
        if check_safety:
            run.check_safety(props)
    return run


def test_the_views_have_every_non_ghost_non_budget_field_and_agree_initially() -> None:
    assert "history" not in COMPARED_FIELDS and "crashes" not in COMPARED_FIELDS
    for fence in FencePolicy:
        run = Lockstep(Bounds(), fence)
        assert set(impl_view(run.system)) == set(COMPARED_FIELDS) == set(model_view(run.state))
        run.check_conforms()
        run.check_enabled()


@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_the_incremental_viewer_equals_the_abstraction_after_every_step(kind: RecoveryKind) -> None:
    """``ImplViewer`` (what the lockstep compares) re-reads only the blocks and records written since its
    last read; ``impl_view`` reads everything. They agree after every step of random walks that write,
    checkpoint, recover (swap remaps volumes), crash and resync."""
    taken: set[str] = set()
    for seed in range(8):
        rng = random.Random(seed)
        run = Lockstep(FUZZ_LIKE.with_(recovery_kind=kind), rng.choice(FUZZ_LIKE.fence_policies))
        viewer = ImplViewer(run.system)
        for _ in range(60):
            assert viewer.view() == impl_view(run.system)
            enabled = run.enabled()
            if not enabled:
                break
            a = rng.choice(enabled)
            run.step(a)
            taken.add(a.name)
    assert {"Checkpoint", "StartRecovery", "FinishRecovery", "CrashArray", "FinishResync"} <= taken


@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_the_fast_equality_test_agrees_with_the_named_differences(kind: RecoveryKind) -> None:
    """``conforms`` (what ``check_conforms`` asks first, without building ``model_view``) is true exactly
    when ``differences`` names no field: on the views of random walks, and on each with one field changed
    (every compared field in turn, the recovery entry and the reorder buffer included); never true when a
    field is missing and ``differences`` names one."""
    for seed in range(4):
        rng = random.Random(seed)
        run = Lockstep(FUZZ_LIKE.with_(recovery_kind=kind), rng.choice(FUZZ_LIKE.fence_policies))
        for _ in range(40):
            view, model = impl_view(run.system), model_view(run.state)
            assert conforms(view, run.state) and not differences(view, model)
            for f in COMPARED_FIELDS:
                wrong = {**view, f: ("not", "this")}
                assert not conforms(wrong, run.state) and set(differences(wrong, model)) == {f}
                missing = {k: v for k, v in view.items() if k != f}  # false at worst: then differences decides
                assert not conforms(missing, run.state) or not differences(missing, model)
            enabled = run.enabled()
            if not enabled:
                break
            run.step(rng.choice(enabled))


def test_an_untrusted_journal_record_is_named_not_a_crash_of_the_checker() -> None:
    """Under a bug that allocates the next record over the tail of the previous one, the impl's journal view
    leaves the torn record out and the divergence says why (the full abstraction would raise instead). The
    model has the bug too (its journal log table places the records alike, so ``journal_locations`` agree;
    ``journal_records_at_their_locations`` is what catches it there), but has no sectors to tear."""
    run = Lockstep(Bounds(journal_capacity=3, mutant="journal_location_ignores_header"), FencePolicy.NEVER)
    run.step(HostWrite(0, 1))
    run.check_conforms()
    run.step(HostWrite(1, 1))
    with pytest.raises(ConformanceError) as e:
        run.check_conforms()
    assert e.value.fields == ("journal",) and "untrusted: J (LDEV 0x02) seq 1" in str(e.value)
    with pytest.raises(ScsiError):
        impl_view(run.system)


def test_a_difference_names_the_field() -> None:
    run = Lockstep(Bounds(), FencePolicy.NEVER)
    run.step(HostWrite(0, 1))
    run.state = run.state._replace(primary=(0, 0))  # the model "forgot" the write
    with pytest.raises(ConformanceError) as e:
        run.check_conforms()
    assert e.value.fields == ("primary",)
    assert "primary: impl (1, 0) != model (0, 0)" in str(e.value)


def test_the_impl_state_is_judged_by_the_same_predicates() -> None:
    """The impl's view grafted onto the model's ghost is the model state itself when they conform."""
    for seed in range(5):
        run = walk(FUZZ_LIKE.with_(recovery_kind=RecoveryKind.SWAP if seed % 2 else RecoveryKind.WRITETHROUGH),
                   seed)
        assert impl_state(run.system, run.state) == run.state


@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_correct_protocol_random_walks_conform_and_hold(kind: RecoveryKind) -> None:
    for seed in range(15):
        walk(FUZZ_LIKE.with_(recovery_kind=kind), seed, check_safety=True)


#: Mutants whose wrong step reaches sectors the model does not have: the journal log table (which the model has
#: too) places a record over a live one, and in the impl that record's bytes are overwritten.
TEARS_SECTORS = {"journal_location_ignores_header"}


@pytest.mark.parametrize("name", list(MUTANTS))
def test_impl_and_model_agree_under_every_mutant(name: str) -> None:
    """The mutant breaks a property, not conformance: both sides run the same wrong step. A mutant of
    ``TEARS_SECTORS`` conforms until the impl's ring overwrites a live record; the divergence is then that torn
    record alone (``journal``, named untrusted), and the model already violates the mutant's property."""
    m = MUTANTS[name]
    # a torn write needs multi-block writes (its ``needs``)
    bounds = FUZZ_LIKE.with_(mutant=name, recovery_kind=m.recovery_kind,
                             write_blocks=dict(m.needs).get("write_blocks", 1))
    torn = 0
    for seed in range(6):
        if name not in TEARS_SECTORS:
            walk(bounds, seed)
            continue
        rng = random.Random(seed)
        run = Lockstep(bounds, rng.choice(bounds.fence_policies))
        for _ in range(40):
            enabled = run.enabled()
            if not enabled:
                break
            run.step(rng.choice(enabled))
            try:
                run.check_conforms()
            except ConformanceError as e:
                assert e.fields == ("journal",) and "untrusted: J" in str(e), e
                assert not BY_NAME[m.breaks].predicate(run.state)
                torn += 1
                break
            run.check_enabled()
    assert torn or name not in TEARS_SECTORS


def test_drain_ends_a_write_lost_with_the_path_and_catches_the_stuck_one() -> None:
    for mutant, stuck in ((None, False), ("no_remote_timeout", True)):
        run = Lockstep(Bounds(mutant=mutant), FencePolicy.NEVER)
        for a in (HostWrite(0, 1), FailPath(), RepairPath()):
            run.step(a)
        if stuck:
            with pytest.raises(PropertyViolation) as e:
                run.check_liveness()
            assert e.value.prop.name == "host_write_completes"
        else:
            run.check_liveness()
            assert [type(a).__name__ for a, _ in run.steps[4:]] == ["MirrorTimeout", "StartResync", "FinishResync",
                                                                  "Deliver"]


def _mutant_bounds(name: str) -> Bounds:
    m = MUTANTS[name]
    base = PRESETS["small"] if BY_NAME[m.breaks].kind is Kind.EVENTUALLY else PRESETS["default"]
    # a torn write needs multi-block writes (its ``needs``); every other mutant shows at these bounds as they are
    return base.with_(mutant=name, recovery_kind=m.recovery_kind,
                      write_blocks=max(base.write_blocks, dict(m.needs).get("write_blocks", 1)))


@pytest.mark.claims(1, 5, 6, 7, 10, 13, 14, 15)
@pytest.mark.parametrize("name", list(MUTANTS))
def test_every_check_trace_replays_on_the_impl_to_the_same_property(name: str) -> None:
    m = MUTANTS[name]
    outcome = run_job(CheckJob(_mutant_bounds(name), SAFETY_AND_LIVENESS, stop_when_violated=(m.breaks,)))
    doc = outcome.traces[m.breaks].to_dict()
    report = replay_on_impl(doc)
    assert report.diverged_at is None, report.divergence
    assert m.breaks in report.violated_at
    assert report.violated_at[m.breaks] == len(doc["steps"]) - 1
    assert report.liveness_checked == (BY_NAME[m.breaks].kind is Kind.EVENTUALLY)


def test_a_correct_trace_replays_clean_on_the_impl() -> None:
    outcome = run_job(CheckJob(PRESETS["small"], ("checkpoint_reachable", "resync_reachable", "recovery_reachable")))
    assert outcome.traces
    for t in outcome.traces.values():
        report = replay_on_impl(t.to_dict())
        assert report.clean, (report.divergence, report.violated_at)
        assert report.steps_replayed == len(t.steps)


def test_a_trace_the_impl_cannot_follow_is_reported_at_its_step() -> None:
    outcome = run_job(CheckJob(PRESETS["small"], ("checkpoint_reachable",)))
    doc = outcome.traces["checkpoint_reachable"].to_dict()
    doc["steps"].insert(1, {**doc["steps"][1], "action": "RepairPath", "args": {}})  # the path is up
    for i, step in enumerate(doc["steps"]):
        step["index"] = i
    report = replay_on_impl(doc)
    assert report.diverged_at == 1 and "not enabled" in report.divergence


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    # the entry point's way in (``python -m pitmirror.checkers.cli.main`` would run the module as __main__)
    return subprocess.run([sys.executable, "-c", "from pitmirror.checkers.cli.main import main; main()", *args],
                          capture_output=True, text=True, timeout=300)


def test_trace_replay_reports_model_and_impl(tmp_path: Path) -> None:
    outcome = run_job(CheckJob(_mutant_bounds("remote_checkpoints_alone"), ("bases_agree",),
                               stop_when_violated=("bases_agree",)))
    bad = tmp_path / "bad.json"
    outcome.traces["bases_agree"].write(bad)
    r = _cli("trace", "replay", str(bad))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "model: bases_agree violated at step 3" in r.stdout
    assert "impl: bases_agree violated at step 3" in r.stdout
    good = tmp_path / "good.json"
    run_job(CheckJob(PRESETS["small"], ("checkpoint_reachable",))).traces["checkpoint_reachable"].write(good)
    r = _cli("trace", "replay", str(good))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "impl: " in r.stdout and "impl == model after every step" in r.stdout
    assert json.loads(good.read_text())["source"] == "explicit"


def test_replay_on_impl_rejects_a_foreign_fence() -> None:
    doc = run_job(CheckJob(PRESETS["small"], ("checkpoint_reachable",))).traces["checkpoint_reachable"].to_dict()
    doc["steps"][0]["state"]["fence_policy"] = "SOMETIMES"
    with pytest.raises(tr.TraceError):
        replay_on_impl(doc)


@pytest.mark.claims(8, 22)
@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_multi_block_writes_conform_with_power_loss_inside_them(kind: RecoveryKind) -> None:
    """With two-block writes the walks take them, and power losses inside them at A and at R (taken often when
    enabled, or a uniform walk would seldom meet the one MirrorWrite R applies next): the impl conforms
    (enabled sets included) and every safety property holds on both sides."""
    bounds = FUZZ_LIKE.with_(recovery_kind=kind, write_blocks=2, crashes=2)
    props, _ = safety_properties(bounds)
    seen: set[str] = set()
    for seed in range(15):
        rng = random.Random(seed)
        run = Lockstep(bounds, rng.choice(bounds.fence_policies))
        for _ in range(40):
            enabled = run.enabled()
            if not enabled:
                break
            mid = [a for a in enabled if isinstance(a, CrashMidApply)] or \
                [a for a in enabled if isinstance(a, CrashMidWrite) and rng.random() < 0.2]
            a = rng.choice(mid if mid and rng.random() < 0.5 else enabled)
            seen.add(type(a).__name__)
            run.step(a)
            run.check_conforms()
            run.check_enabled()
            run.check_safety(props)
    assert {"HostWrite", "CrashMidWrite", "CrashMidApply"} <= seen, seen


@pytest.mark.claims(14, 28)
@pytest.mark.parametrize("mutant", [None, "remote_swap_not_redone"])
def test_a_power_loss_mid_swap_at_r_conforms(mutant: str | None) -> None:
    """Swap walks that cut R's swap whenever they can (two-block records and a marker in JR, so the rebuild's
    first record is of either length or a marker): the impl conforms after every step, enabled sets included,
    correct or under the mutant; the correct protocol keeps every safety property, the mutant breaks
    bases_agree on both sides."""
    bounds = FUZZ_LIKE.with_(recovery_kind=RecoveryKind.SWAP, write_blocks=2, crashes=2, mutant=mutant)
    props, _ = safety_properties(bounds)
    cuts = caught = 0
    for seed in range(12):
        rng = random.Random(seed)
        run = Lockstep(bounds, rng.choice(bounds.fence_policies))
        for _ in range(40):
            enabled = run.enabled()
            if not enabled:
                break
            # cut every swap; start one once J holds history (to its newest record, so the rebuild has work);
            # otherwise mostly the protocol's own steps, a fault now and then
            mid = [a for a in enabled if isinstance(a, CrashMidRemoteSwap)]
            late = [a for a in enabled if isinstance(a, StartRecovery) and a.target >= 2]
            calm = [a for a in enabled if not BY_NAME_ACTION[a.name].fault and not isinstance(a, StartRecovery)]
            a = mid[0] if mid else late[-1] if late else rng.choice(calm if calm and rng.random() < 0.9 else enabled)
            cuts += bool(mid)
            run.step(a)
            run.check_conforms()
            run.check_enabled()
            if mutant is None:
                run.check_safety(props)
            elif run.violated([BY_NAME["bases_agree"]]):
                caught += 1
                break
    assert cuts >= 3, cuts
    assert (caught > 0) is (mutant is not None)
