"""Z3 bounded model checking finds every seeded bug as the explicit checker does, no longer, and the
correct protocol shows nothing but the expected trade-off (issue 5's done-when).

``no_remote_timeout`` is left out: it breaks a liveness property (a host write never completes), which BMC
of safety properties cannot show.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import z3

from pitmirror.checkers.explicit.checker import ExplicitChecker, Verdict
from pitmirror.checkers.symbolic.bmc import CapacityError, DepthReport, Unroller, bmc, bmc_all, decode
from pitmirror.checkers.symbolic.terms import Layout
from pitmirror.checkers.traces import trace as tr
from pitmirror.model.config import Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, SAFETY
from pitmirror.spec.state import FencePolicy, RecoveryKind

#: One block keeps the formulas small; every mutant still shows its bug there (see bench/bench_prove.py) but
#: the few that need more (``Mutant.needs``: a mixed image of S needs two blocks and two writes in flight).
MUTANT_BOUNDS = Bounds(blocks=1, values=2, host_writes=2, concurrency=1, journal_capacity=2, crashes=1,
                       path_failures=0, recoveries=1)
SAFETY_MUTANTS = sorted(n for n, m in MUTANTS.items() if BY_NAME[m.breaks] in SAFETY)


def explicit_shortest(b: Bounds, prop: str) -> int:
    """Length of the explicit checker's shortest counterexample for ``prop`` at ``b``."""
    r = ExplicitChecker(MirrorModel(b), SAFETY, stop_when_violated=(prop,)).run()
    d = r.discoveries[prop]
    assert d.verdict is Verdict.VIOLATED
    return len(d.path) - 1


def prove_mutant(name: str) -> None:
    m = MUTANTS[name]
    b = m.exposed_in(MUTANT_BOUNDS)
    want = explicit_shortest(b, m.breaks)
    un = Unroller(b, stutter=True)
    reports: list[DepthReport] = []
    o = bmc(un, BY_NAME[m.breaks], un.enc.properties()[m.breaks], want, reports.append, strategy="down")
    assert o.verdict == "violated", (name, o.verdict, o.note)
    # from the known length down: a violation within it, then none within one step fewer (or none to ask)
    assert [(r.depth, r.result) for r in reports] == [(want, "sat")] + ([(want - 1, "unsat")] if want else [])
    assert o.depth == len(o.steps) - 1 == want  # a shortest violation, as the breadth-first search's
    # the trace is a model trace like any other: it replays, and the property fails at its last step
    doc = tr.Trace("z3", o.bounds or b, o.prop, "violated", o.steps).to_dict()
    report = tr.replay_on_model(json.loads(json.dumps(doc)))
    assert report.diverged_at is None, report.divergence
    assert report.violated_at.get(m.breaks) == len(o.steps) - 1


def test_no_remote_timeout_is_the_only_liveness_mutant() -> None:
    assert set(MUTANTS) - set(SAFETY_MUTANTS) == {"no_remote_timeout"}


@pytest.mark.parametrize("name", SAFETY_MUTANTS)
def test_bmc_finds_each_mutant_as_short_as_explicit(name: str) -> None:
    prove_mutant(name)


#: skip_journal breaks journal_well_formed at step 1 (a write with no record); with one write, no crash,
#: no recovery and no path failure, every run stops after at most 3 steps (write, mirror write, ack).
STOPS_AT_3 = Bounds(blocks=1, values=2, host_writes=1, concurrency=1, journal_capacity=1, crashes=0,
                    path_failures=0, recoveries=0, fence_policies=(FencePolicy.NEVER,), mutant="skip_journal")


def test_a_stutter_step_shows_a_violation_no_run_of_that_length_has() -> None:
    # no run of STOPS_AT_3 has 4 steps, so without stutter steps no query at depth 4 shows anything; with
    # them, the one query "bad at step 4" is a violation within 4 steps, and the search below it finds the
    # shortest (1 step: a write with no record)
    plain = Unroller(STOPS_AT_3)
    solver = z3.Solver()
    solver.add(plain.init(), *[plain.transition(k) for k in range(4)])
    assert solver.check() == z3.unsat
    un = Unroller(STOPS_AT_3, stutter=True)
    prop = BY_NAME["journal_well_formed"]
    reports: list[DepthReport] = []
    o = bmc(un, prop, un.enc.properties()[prop.name], 4, reports.append, strategy="down")
    assert (o.verdict, o.depth, len(o.steps) - 1) == ("violated", 1, 1)
    assert [(r.depth, r.result) for r in reports] == [(4, "sat"), (0, "unsat")]  # nothing at 1..3 to ask
    assert all(a is not None for a, _ in o.steps[1:])  # decode dropped the stutter steps
    report = tr.replay_on_model(tr.Trace("z3", STOPS_AT_3, prop, "violated", o.steps).to_dict())
    assert report.diverged_at is None and report.violated_at.get(prop.name) == 1


def test_a_run_that_stops_early_ends_in_the_state_bad_at_the_last_step() -> None:
    # without the stutter-first order or with a stutter step that changed a slot, the state at step 4 would
    # not be the run's last: every satisfying model must end, after its stutters, in a real run of <= 3 steps
    un = Unroller(STOPS_AT_3, stutter=True)
    solver = z3.Then("simplify", "propagate-values", "solve-eqs", "smt").solver()
    solver.add(*un.run(4))
    assert solver.check() == z3.sat
    model = solver.model()
    lead = un.leading_stutters(model, 4)
    sels = [model.eval(un.sel[k], model_completion=True).as_long() for k in range(4)]
    assert lead >= 1 and sels[:lead] == [un.stutter_sel] * lead and un.stutter_sel not in sels[lead:]
    _, steps = decode(un, model, 4)
    assert len(steps) - 1 == 4 - lead
    for name in un.lay.names:  # step 0 and every stutter after it are the same initial vector
        assert len({model.eval(un.state(k)[name], model_completion=True).as_long() for k in range(lead + 1)}) == 1


@pytest.mark.parametrize("strategy", ["up", "down"])
def test_holds_to_depth_d_is_one_query_from_the_top(strategy: str) -> None:
    # every safety property of the correct protocol holds within 3 steps: asked from the top, one unsat query
    # decides all of them; asked depth by depth, one per depth
    b = MUTANT_BOUNDS.with_(recovery_kind=RecoveryKind.SWAP)
    un = Unroller(b, stutter=True)
    reports: list[DepthReport] = []
    events: list[tuple[str, int]] = []  # each query announced before it is put, answered after

    def heard(r: DepthReport) -> None:
        reports.append(r)
        events.append(("answered", r.depth))

    outcomes = bmc_all(un, SAFETY, un.enc.properties(), 3, heard, strategy=strategy,
                       asking=lambda label, d: events.append(("asking", d)))
    assert {o.verdict for o in outcomes.values()} == {"holds"} and {o.depth for o in outcomes.values()} == {3}
    depths = [3] if strategy == "down" else [0, 1, 2, 3]
    assert [(r.depth, r.result, r.prop) for r in reports] == [(d, "unsat", f"any of {len(SAFETY)} properties")
                                                              for d in depths]
    assert events == [e for d in depths for e in (("asking", d), ("answered", d))]


def test_bmc_needs_stutter_steps_and_a_known_strategy() -> None:
    prop = BY_NAME["journal_well_formed"]
    plain = Unroller(STOPS_AT_3)
    with pytest.raises(ValueError, match="stutter"):
        bmc(plain, prop, plain.enc.properties()[prop.name], 2)
    un = Unroller(STOPS_AT_3, stutter=True)
    with pytest.raises(ValueError, match="strategy"):
        bmc(un, prop, un.enc.properties()[prop.name], 2, strategy="sideways")


@pytest.mark.parametrize("strategy", ["up", "down"])
def test_bmc_all_gives_each_property_its_own_shortest_violation(strategy: str) -> None:
    # skip_journal breaks four properties, two at step 1 and two at step 2: the one query for all of them
    # must find each at its own first depth, as BMC of that property alone does, and the rest hold
    b = MUTANT_BOUNDS.with_(mutant="skip_journal", recovery_kind=RecoveryKind.WRITETHROUGH)
    un = Unroller(b, stutter=True)
    sym = un.enc.properties()
    reports: list[DepthReport] = []
    together = bmc_all(un, SAFETY, sym, 3, reports.append, strategy=strategy)
    alone = {p.name: bmc(un, p, sym[p.name], 3) for p in SAFETY}
    assert {n: (o.verdict, o.depth) for n, o in together.items()} == {n: (o.verdict, o.depth) for n, o in alone.items()}
    assert {n for n, o in together.items() if o.verdict == "violated"} == {
        "journal_well_formed", "replay_is_point_in_time", "ack_durable", "bases_agree"}
    assert {together[n].depth for n in ("ack_durable", "bases_agree")} == {2}
    for o in together.values():
        if o.verdict == "violated":
            report = tr.replay_on_model(tr.Trace("z3", o.bounds or b, o.prop, "violated", o.steps).to_dict())
            assert report.diverged_at is None and report.violated_at.get(o.prop.name) == o.depth
    # one query for all of them: from depth 0 up until one fails, or first at the full depth
    first = [(0, "unsat"), (1, "sat")] if strategy == "up" else [(3, "sat")]
    assert [(r.depth, r.result) for r in reports[:len(first)]] == first
    assert reports[0].prop == f"any of {len(SAFETY)} properties"


@pytest.mark.parametrize("kind", [RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP], ids=lambda k: k.name.lower())
def test_correct_protocol_violates_nothing_but_the_trade_off(kind: RecoveryKind) -> None:
    b = MUTANT_BOUNDS.with_(recovery_kind=kind)
    un = Unroller(b, stutter=True)
    sym = un.enc.properties()
    for p in SAFETY:
        o = bmc(un, p, sym[p.name], 4)
        if (p.name, kind) in EXPECTED_TRADE_OFFS:
            assert o.verdict in ("violated", "holds")  # the trade-off needs a recovery: maybe deeper than 4
        else:
            assert o.verdict == "holds", (p.name, o.steps)


def test_values_bits_32_finds_a_bug_and_replays_renamed(tmp_path: Path) -> None:
    # 2^32 values per block at the default block count: the violation is found symbolically, then its values
    # are renamed to 1, 2, ... so the model (values <= 4) replays it
    b = Bounds(mutant="ack_before_remote")
    un = Unroller(b, value_bits=32, stutter=True)
    o = bmc(un, BY_NAME["ack_durable"], un.enc.properties()["ack_durable"], 2)
    assert o.verdict == "violated" and o.bounds is not None and o.bounds.values <= 4
    doc = tr.Trace("z3", o.bounds, o.prop, "violated", o.steps).to_dict()
    assert "ack_durable" in tr.replay_on_model(doc).violated_at


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pitmirror", *args], capture_output=True, text=True, timeout=300)


def test_cli_prove_exit_codes_and_trace(tmp_path: Path) -> None:
    r = run("prove", "--preset", "small", "--blocks", "1", "--mutant", "skip_journal", "--recovery",
            "writethrough", "--depth", "2", "--property", "journal_well_formed", "--out", str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"queries over \d+-bit vectors: no term can wrap within 2 steps", r.stdout), r.stdout
    trace = tmp_path / "z3-skip_journal-writethrough-journal_well_formed.json"
    assert trace.exists() and json.loads(trace.read_text())["source"] == "z3"
    replay = run("trace", "replay", str(trace))
    assert "journal_well_formed violated at step 1" in replay.stdout
    ok = run("prove", "--preset", "small", "--blocks", "1", "--recovery", "swap", "--depth", "2", "--property",
             "mirror_consistent", "--quiet", "--out", str(tmp_path))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "holds to depth 2" in ok.stdout


@pytest.mark.parametrize("args", [("--property", "nope"), ("--mutant", "nope"), ("--blocks", "9"),
                                  ("--property", "recovery_completes")])
def test_cli_prove_usage_errors_are_one_line(args: tuple[str, ...]) -> None:
    r = run("prove", *args)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _in_flight_for_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Size the in-flight table for one write although the bounds allow two in flight (a hand-derived
    capacity gone wrong)."""
    real = Layout.capacities

    def smaller(self: Layout, b: Bounds) -> dict[str, int]:
        caps = real(self, b)
        caps["in_flight"] = 1
        return caps

    monkeypatch.setattr(Layout, "capacities", smaller)


def test_a_too_small_capacity_is_reported_not_pruned(monkeypatch: pytest.MonkeyPatch) -> None:
    """remote_writes_ahead_of_gap needs two writes in flight (3 steps). With room for one, conjoining the
    capacity condition to the guard used to drop the second HostWrite and BMC said 'holds'; now the step
    that does not fit is an error naming the action and the sequence."""
    m = MUTANTS["remote_writes_ahead_of_gap"]
    b = m.exposed_in(MUTANT_BOUNDS)
    _in_flight_for_one(monkeypatch)
    un = Unroller(b, stutter=True)
    assert un.lay.caps["in_flight"] == 1
    for strategy in ("up", "down"):
        with pytest.raises(CapacityError, match=r"HostWrite\[\d\] at step [23] outgrows the capacity of in_flight"):
            bmc(un, BY_NAME[m.breaks], un.enc.properties()[m.breaks], 3, strategy=strategy)


def test_cli_prove_reports_a_too_small_capacity(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from cli_helpers import run_cli

    _in_flight_for_one(monkeypatch)
    code, out, err = run_cli(monkeypatch, capsys, "prove", "--preset", "small", "--concurrency", "2", "--recovery",
                             "writethrough", "--depth", "3", "--property", "mirror_consistent", "--quiet")
    assert code == 70, out + err
    assert "no verdict for mirror_consistent" in out and "in_flight" in out and "holds" not in out
