"""The explicit checker: the correct protocol holds, every mutant is caught with a shortest, replayable trace."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from pitmirror.checkers.explicit.checker import INTERRUPTED, CheckResult, ExplicitChecker, Verdict
from pitmirror.checkers.explicit.runner import CheckJob, JobOutcome, run_job, run_jobs
from pitmirror.checkers.traces import trace as tr
from pitmirror.model.actions import (
    Action,
    Checkpoint,
    Deliver,
    FailPath,
    FinishRecovery,
    FinishResync,
    HostWrite,
    MirrorTimeout,
    RecoveryWrite,
    RepairPath,
    StartRecovery,
    StartResync,
)
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import (
    BY_NAME,
    EXPECTED_TRADE_OFFS,
    PROPERTIES,
    SAFETY,
    TRADE_OFF_WINDOWS,
    Kind,
    not_applicable,
    trade_off,
)
from pitmirror.spec.state import RecoveryKind, Resynced, State, image

SAFETY_AND_LIVENESS = tuple(p.name for p in PROPERTIES if p.kind is not Kind.SOMETIMES)


@pytest.mark.claims(1, 5, 6, 7, 10, 13, 14, 15)
@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_correct_protocol_violates_nothing_but_the_documented_trade_off(kind: RecoveryKind) -> None:
    bounds = PRESETS["small"].with_(recovery_kind=kind)
    r = ExplicitChecker(MirrorModel(bounds), PROPERTIES).run()
    assert r.complete
    violated = {d.prop.name for d in r.violated()}
    expected = {name for (name, k) in EXPECTED_TRADE_OFFS if k == kind}
    assert violated == expected
    for d in r.discoveries.values():
        if d.prop.kind is Kind.SOMETIMES:
            # a witness the bounds exclude by construction (another kind's, a marker with no markers) is not
            # reached; every other one is, or the bounds are vacuous for it
            want = Verdict.NOT_REACHED if not_applicable(d.prop, bounds) else Verdict.REACHED
            assert d.verdict is want, f"{d.prop.name} {d.verdict.value}"


def test_write_through_trade_off_has_a_shortest_trace() -> None:
    r = ExplicitChecker(MirrorModel(Bounds(recovery_kind=RecoveryKind.WRITETHROUGH)),
                        [BY_NAME["remote_is_point_in_time"]],
                        stop_when_violated=("remote_is_point_in_time",)).run()
    d = r.discoveries["remote_is_point_in_time"]
    assert d.verdict is Verdict.VIOLATED
    assert [a.name for a, _ in d.path[1:] if a is not None][-2:] == ["RecoveryWrite", "Deliver"]


def test_the_trade_off_label_stays_inside_its_window() -> None:
    """Issue 18: the write-through trade-off's counterexample ends inside its window, so it is labelled; a
    slip at R that mixes S outside any recovery violates remote_is_point_in_time too, and is not."""
    prop, window = "remote_is_point_in_time", TRADE_OFF_WINDOWS["remote_is_point_in_time"]
    wt = RecoveryKind.WRITETHROUGH
    correct = ExplicitChecker(MirrorModel(PRESETS["small"].with_(recovery_kind=wt)), [BY_NAME[prop]],
                              stop_when_violated=(prop,)).run().discoveries[prop]
    last = correct.path[-1][1]
    assert last.recovery is not None and BY_NAME[window].predicate(last)
    assert trade_off(prop, wt, last) == EXPECTED_TRADE_OFFS[(prop, wt)]
    slip = MUTANTS["remote_writes_ahead_of_gap"]
    found = ExplicitChecker(MirrorModel(slip.exposed_in(PRESETS["small"])), [BY_NAME[prop]],
                            stop_when_violated=(prop,)).run().discoveries[prop]
    last = found.path[-1][1]
    assert found.verdict is Verdict.VIOLATED and last.recovery is None
    assert trade_off(prop, wt, last) is None and not BY_NAME[window].predicate(last)


def test_a_faulted_write_through_recovery_leaves_s_mixed_until_the_resync() -> None:
    """Why the window outlives the recovery: a fault can end a write-through recovery with S mixed, and only
    the resync makes S a point in time again. The window property holds there (the ghost
    ``recovery_awaiting_resync`` remembers the two images); remote_is_point_in_time does not."""
    m = MirrorModel(PRESETS["small"])
    window = BY_NAME[TRADE_OFF_WINDOWS["remote_is_point_in_time"]]
    s = m.init_states()[0]
    # recover to seq 0 after two writes: the first recovery write reaches R, the path fails under the second
    steps = [HostWrite(0, 1), None, None, HostWrite(1, 1), None, None, StartRecovery(0, RecoveryKind.WRITETHROUGH),
             RecoveryWrite(0), None, FailPath(), RecoveryWrite(1), MirrorTimeout(3), FinishRecovery()]
    for a in steps:
        if a is None:  # deliver what is on the path (one message at a time here)
            a = next(x for x in m.actions(s) if isinstance(x, Deliver))
        assert a in m.actions(s), (a, s)
        s = m.next_state(s, a)
    assert s.recovery is None and s.remote == (0, 1) and s.primary == (0, 0)
    assert s.recovery_awaiting_resync is not None
    assert not BY_NAME["remote_is_point_in_time"].predicate(s) and window.predicate(s)
    for a in (RepairPath(), StartResync(), FinishResync(), Deliver(Resynced(1))):
        s = m.next_state(s, a)
    assert s.recovery_awaiting_resync is None and s.remote == s.primary and window.predicate(s)


def _mutant_bounds(name: str) -> Bounds:
    m = MUTANTS[name]
    # liveness needs the whole graph: the small preset keeps that quick
    base = PRESETS["small"] if BY_NAME[m.breaks].kind is Kind.EVENTUALLY else PRESETS["default"]
    # a torn write needs multi-block writes (its ``needs``); every other mutant shows at these bounds as they are
    return base.with_(mutant=name, recovery_kind=m.recovery_kind,
                      write_blocks=max(base.write_blocks, dict(m.needs).get("write_blocks", 1)))


@pytest.mark.claims(1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 24, 25, 26, 27, 28)
@pytest.mark.parametrize("name", list(MUTANTS))
def test_every_mutant_is_caught_with_a_replayable_shortest_trace(name: str, tmp_path: object) -> None:
    m = MUTANTS[name]
    job = CheckJob(_mutant_bounds(name), SAFETY_AND_LIVENESS, stop_when_violated=(m.breaks,))
    outcome = run_job(job)
    d = outcome.result.discoveries[m.breaks]
    assert d.verdict is Verdict.VIOLATED, f"{name} not caught"
    doc = outcome.traces[m.breaks].to_dict()
    report = tr.replay_on_model(doc)
    assert report.diverged_at is None, report.divergence
    if BY_NAME[m.breaks].kind is Kind.ALWAYS:
        # shortest: the violation appears at the last step and at no earlier one
        assert report.violated_at[m.breaks] == len(doc["steps"]) - 1


@functools.cache
def _correct_run(bounds: Bounds) -> CheckResult[State, Action]:
    """Every safety property of the correct protocol at ``bounds``, explored once: the 23 safety mutants' bounds
    are three bounds without the mutant."""
    return ExplicitChecker(MirrorModel(bounds), SAFETY).run()


@pytest.mark.parametrize("name", [n for n, m in MUTANTS.items() if BY_NAME[m.breaks].kind is Kind.ALWAYS])
def test_the_same_checks_pass_without_the_mutant(name: str) -> None:
    """The property a mutant breaks holds on the correct protocol at the same bounds (no test that
    cannot fail: the mutant run above and this run differ only in the seeded bug)."""
    bounds = _mutant_bounds(name).with_(mutant=None)
    small = bounds.with_(**{k: getattr(PRESETS["small"], k) for k in ("host_writes", "concurrency", "crashes")})
    r = _correct_run(small)
    prop = MUTANTS[name].breaks
    expected = (prop, bounds.recovery_kind) in EXPECTED_TRADE_OFFS
    assert (r.discoveries[prop].verdict is Verdict.VIOLATED) == expected


def test_max_states_gives_a_partial_verdict() -> None:
    r = ExplicitChecker(MirrorModel(Bounds()), PROPERTIES, max_states=500).run()
    assert not r.complete and "max-states" in r.stop_reason
    assert all(d.verdict is not Verdict.HOLDS for d in r.discoveries.values())


class WithoutCheckpoints(MirrorModel):
    """A variant of the protocol (module level, so a job using it would pickle): A never checkpoints."""

    def actions(self, s: State) -> list[Action]:
        return [a for a in super().actions(s) if not isinstance(a, Checkpoint)]


def test_run_job_checks_the_model_its_factory_builds() -> None:
    job = CheckJob(PRESETS["small"], ("checkpoint_reachable",))
    assert run_job(job).result.discoveries["checkpoint_reachable"].verdict is Verdict.REACHED
    variant = run_job(job, model_factory=WithoutCheckpoints).result
    assert variant.complete and variant.discoveries["checkpoint_reachable"].verdict is Verdict.NOT_REACHED


@pytest.mark.claims(1, 2, 15, 16)
def test_primary_is_latest_image_catches_a_reused_sequence_number() -> None:
    """Issue 14 item 8: with next_seq moving only when a write completes, the newest write on P is not in
    image(next_seq - 1) right after it is applied; the correct protocol holds it everywhere (the test above)."""
    prop = BY_NAME["primary_is_latest_image"]
    r = ExplicitChecker(MirrorModel(Bounds(mutant="reuse_sequence_number")), [prop],
                        stop_when_violated=(prop.name,)).run()
    d = r.discoveries[prop.name]
    assert d.verdict is Verdict.VIOLATED and len(d.path) == 2
    s = d.path[-1][1]
    assert s.recovery is None and s.primary != image(s, s.next_seq - 1)
    assert "expected P = image(0)" in prop.explanation(s)


def _interrupted_after_the_search(job: CheckJob, progress: Any = None) -> JobOutcome:
    """A job whose Ctrl-C lands after its search, where the checker no longer turns it into a verdict."""
    raise KeyboardInterrupt


@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_after_a_jobs_search_is_an_interrupted_job_not_an_escape(workers: int) -> None:
    # in a worker process the interrupt came back as the job's exception and ended the scorecard without its
    # partial card; one outcome per job still, each interrupted, every verdict unknown
    jobs = [CheckJob(PRESETS["small"].with_(recovery_kind=k), ("mirror_consistent",), label=k.name.lower())
            for k in RecoveryKind]
    outcomes = run_jobs(jobs, workers=workers, run=_interrupted_after_the_search)
    assert [o.job for o in outcomes] == jobs
    assert all(o.result.stop_reason == INTERRUPTED and not o.result.complete for o in outcomes)
    assert all(d.verdict is Verdict.UNKNOWN for o in outcomes for d in o.result.discoveries.values())
