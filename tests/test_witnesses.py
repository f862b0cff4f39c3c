"""The 'sometimes' witnesses are events: each trace ends with the step it names, both engines find it at the
same shortest length, the vector form of every event is the catalogue's, and a witness the bounds never
reach fails `check` unless --allow-unreached."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_cli

from helpers.z3_agree import reachable
from pitmirror.checkers.explicit.checker import ExplicitChecker, Verdict
from pitmirror.checkers.explicit.runner import CheckJob, trace_of
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.checkers.frontier.predicates import EVENT_PREDICATES, late_write_received, resync_completed
from pitmirror.checkers.symbolic.terms import SV, Layout, Term
from pitmirror.checkers.traces import trace as tr
from pitmirror.model.actions import Checkpoint, Deliver, SwapVolumes
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, REACHABILITY, not_applicable
from pitmirror.spec.state import MessageKind, RecoveryKind

#: small bounds where every witness but the late delivery applies to its recovery kind (a marker, so a recovery
#: can target it; one host write, so that a recovery can change P)
BOUNDS = PRESETS["small"].with_(markers=1, host_writes=1)
#: the late delivery after a timeout needs a premature timeout, which makes BOUNDS four times larger; without
#: the marker it is smaller than BOUNDS
LATE = PRESETS["small"].with_(host_writes=1, premature_timeouts=1)
#: BOUNDS with multi-block host writes: every entry of the vector carries a length slot (a marker's record too)
MULTI = BOUNDS.with_(write_blocks=2)


def bounds_of(name: str) -> Bounds:
    """The bounds a witness is tested at: BOUNDS, or LATE for the witnesses BOUNDS excludes."""
    return LATE if not_applicable(BY_NAME[name], BOUNDS) and not not_applicable(BY_NAME[name], LATE) else BOUNDS


CASES = [(p.name, k) for p in REACHABILITY for k in RecoveryKind
         if not not_applicable(p, bounds_of(p.name).with_(recovery_kind=k))]


def test_every_witness_is_an_event_with_its_vector_form() -> None:
    assert all(p.event is not None for p in REACHABILITY)
    assert set(EVENT_PREDICATES) == {p.name for p in REACHABILITY}
    assert {k for _, k in CASES} == set(RecoveryKind) and {n for n, _ in CASES} == set(EVENT_PREDICATES)


@pytest.fixture(scope="module")
def runs() -> dict[tuple[Bounds, RecoveryKind], tuple[object, object]]:
    out = {}
    for b in (BOUNDS, LATE):
        props = [p for p in REACHABILITY if bounds_of(p.name) == b]
        for k in RecoveryKind:
            model = MirrorModel(b.with_(recovery_kind=k))
            out[b, k] = (ExplicitChecker(model, props).run(), FrontierChecker(model, props).run())
    return out


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_each_witness_trace_ends_with_its_event(
        name: str, kind: RecoveryKind, runs: dict[tuple[Bounds, RecoveryKind], tuple[object, object]]) -> None:
    prop = BY_NAME[name]
    assert prop.event is not None
    lengths = set()
    for result in runs[bounds_of(name), kind]:
        d = result.discoveries[name]  # type: ignore[attr-defined]
        assert d.verdict is Verdict.REACHED, f"{name} not reached ({kind.name})"
        (_, pre), (action, post) = d.path[-2], d.path[-1]
        assert action is not None and action.name == prop.event.action
        assert prop.event(pre, action, post)
        # no earlier step of the trace is the event: the trace is the shortest way to it
        earlier = zip(d.path[:-2], d.path[1:-1], strict=True)
        assert not any(a is not None and prop.event(s, a, t) for (_, s), (a, t) in earlier)
        lengths.add(len(d.path))
        report = tr.replay_on_model(trace_of(CheckJob(bounds_of(name).with_(recovery_kind=kind), (name,)),
                                             d).to_dict())
        assert report.diverged_at is None
    assert len(lengths) == 1, f"the engines disagree on the shortest {name} trace"


@pytest.mark.parametrize("at", [BOUNDS, LATE, MULTI], ids=["bounds", "late", "multi-block"])
@pytest.mark.parametrize("kind", list(RecoveryKind))
def test_vector_events_agree_with_the_catalogue_on_every_step(kind: RecoveryKind, at: Bounds) -> None:
    # steps of every action, not only the event's own: the engines ask only the event's action, but the
    # predicate over (before, after) must be the catalogue's everywhere, and both answers must occur
    bounds = at.with_(recovery_kind=kind)
    model, lay = MirrorModel(bounds), Layout(bounds)
    events = {p.name: p.event for p in REACHABILITY
              if (at == MULTI or bounds_of(p.name) == at) and not not_applicable(p, bounds) and p.event is not None}
    seen: dict[str, set[bool]] = {n: set() for n in events}
    for i, s in enumerate(reachable(bounds)):
        cs = lay.concrete(s)
        for a in model.actions(s):
            t = model.next_state(s, a)
            mine = [n for n, ev in events.items() if ev.action == a.name]
            if not mine and i % 8:
                continue  # every step of an event's action; the other steps from every eighth state (CI time)
            ct = lay.concrete(t)
            for name, ev in events.items():
                want = ev.holds(s, t)
                assert EVENT_PREDICATES[name](cs, ct) is want, f"{name} disagrees on {a!r} from {s!r}"
                seen[name].add(want)
    assert all(v == {True, False} for v in seen.values()), seen


def test_the_event_test_sees_a_wrong_event() -> None:
    bounds = BOUNDS.with_(recovery_kind=RecoveryKind.SWAP)
    model, lay = MirrorModel(bounds), Layout(bounds)

    def wrong(pre: SV, post: SV) -> Term:  # forgets that the swap must have timed out
        return resync_completed(pre, post)

    ev = BY_NAME["swap_timeout_resynced"].event
    assert ev is not None
    steps = [(s, a, model.next_state(s, a)) for s in reachable(bounds) for a in model.actions(s)
             if a.name == ev.action]
    assert any(wrong(lay.concrete(s), lay.concrete(t)) is not ev(s, a, t) for s, a, t in steps)


def test_a_late_delivery_needs_a_timeout_not_a_crash() -> None:
    """A's crash also ends its writes without R's answer; the event is the timeout's alone. At bounds with a
    crash and no premature timeout (one write in flight at a time, no message fault: no timeout can leave a
    write on the path) the event never happens, though a version that forgets the crash would see one, and a
    version that forgets A's in-flight table sees an ordinary delivery."""
    bounds = PRESETS["small"].with_(host_writes=1, crashes=1)
    model, lay = MirrorModel(bounds), Layout(bounds)
    ev = BY_NAME["late_delivery_reachable"].event
    assert ev is not None and not_applicable(BY_NAME["late_delivery_reachable"], bounds)

    def with_slot(sv: SV, slot: str, value: int) -> SV:
        out = sv.copy()
        out[slot] = value
        return out

    def forgets_the_crash(pre: SV, post: SV) -> Term:
        return late_write_received(with_slot(pre, "crashes", 0), post)

    def forgets_in_flight(pre: SV, post: SV) -> Term:
        return late_write_received(with_slot(pre, "in_flight.len", 0), post)

    steps = [(s, a, model.next_state(s, a)) for s in reachable(bounds) for a in model.actions(s)
             if a.name == ev.action]
    assert steps and not any(ev(s, a, t) for s, a, t in steps)
    assert not any(late_write_received(lay.concrete(s), lay.concrete(t)) for s, _, t in steps)
    for wrong in (forgets_the_crash, forgets_in_flight):
        assert any(wrong(lay.concrete(s), lay.concrete(t)) for s, _, t in steps), wrong.__name__


_S = PRESETS["small"]


GRID = [_S, _S.with_(concurrency=2, journal_capacity=1), _S.with_(concurrency=2, host_writes=1),
        _S.with_(path_failures=0, message_faults=1), _S.with_(journal_capacity=1), _S.with_(blocks=1)]


@pytest.mark.parametrize("bounds", GRID, ids=lambda b: f"c{b.concurrency}j{b.journal_capacity}h{b.host_writes}"
                         f"b{b.blocks}f{b.path_failures}m{b.message_faults}")
def test_a_late_delivery_is_reached_exactly_where_the_bounds_allow_it(bounds: Bounds) -> None:
    # without a premature timeout, only a lost write beside a late one leaves a write on the path past its
    # timeout: reached where ``late_delivery_excluded_by`` says it applies, and nowhere else
    late = BY_NAME["late_delivery_reachable"]
    for kind in RecoveryKind:
        b = bounds.with_(recovery_kind=kind)
        got = FrontierChecker(MirrorModel(b), [late], kernel="numpy").run().discoveries[late.name].verdict
        assert (got is Verdict.REACHED) == (not not_applicable(late, b)), (kind, got, not_applicable(late, b))


def test_a_state_change_alone_is_no_event() -> None:
    """Under swap, SwapVolumes advances base_seq and R's half of the swap advances RB's (what the old
    checkpoint_reachable accepted): neither is a checkpoint both arrays committed, and neither is A's half of a
    checkpoint alone; R's half of one, bringing RB to B, is."""
    model = MirrorModel(BOUNDS.with_(recovery_kind=RecoveryKind.SWAP))
    ev = BY_NAME["checkpoint_reachable"].event
    assert ev is not None
    swaps = remote_swaps = halves = both = 0
    for s in reachable(model.bounds, max_states=6000):
        for a in model.actions(s):
            t = model.next_state(s, a)
            if isinstance(a, SwapVolumes) and t.base_seq > s.base_seq:
                swaps += 1
                assert not ev(s, a, t)
            if isinstance(a, Deliver) and a.message.kind == MessageKind.RECOVER_REQUEST \
                    and t.replica_base_seq > s.replica_base_seq:
                remote_swaps += 1
                assert not ev(s, a, t)
            if isinstance(a, Checkpoint):
                halves += 1
                assert not ev(s, a, t)
            if isinstance(a, Deliver) and a.message.kind == MessageKind.CHECKPOINTED \
                    and t.replica_base_seq > s.replica_base_seq:
                both += 1
                assert ev(s, a, t) == (t.replica_base_seq == t.base_seq)
    assert swaps and remote_swaps and halves and both


def test_not_applicable_names_what_the_bounds_exclude() -> None:
    wt, swap = Bounds(), Bounds(recovery_kind=RecoveryKind.SWAP, markers=1)
    assert not_applicable(BY_NAME["swap_timeout_resynced"], wt) == "a witness of swap recovery only"
    assert not_applicable(BY_NAME["swap_timeout_resynced"], swap) == ""
    assert not_applicable(BY_NAME["marker_recovery_reachable"], wt) == "needs markers >= 1"
    assert not_applicable(BY_NAME["marker_recovery_reachable"], swap) == ""
    late, small = BY_NAME["late_delivery_reachable"], PRESETS["small"]
    # small: one write in flight at a time, except a write-through recovery's; swap has none of those
    assert not_applicable(late, small.with_(recovery_kind=RecoveryKind.SWAP)).startswith(
        "needs premature_timeouts >= 1, or a lost write beside a late one")
    assert not_applicable(late, small.with_(recovery_kind=RecoveryKind.SWAP, premature_timeouts=1)) == ""
    assert not_applicable(late, small) == "" and not_applicable(late, wt) == ""  # a lost write beside a late one


# --- the command line: a witness not reached fails the check -------------------------------------------------

NO_FAULTS = ("check", "--preset", "small", "--recovery", "writethrough", "--crashes", "0", "--path-failures", "0",
             "--quiet")


@pytest.mark.parametrize("engine", ["frontier", "object"])
def test_a_witness_not_reached_exits_1_unless_allowed(engine: str, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # no fault at all: nothing ever suspends the pair, so no resync can complete
    js = tmp_path / "r.json"
    code, out, _ = run_cli(monkeypatch, capsys, *NO_FAULTS, "--engine", engine, "--out", str(tmp_path),
                           "--json", str(js))
    assert code == 1, out
    results = {r["property"]: r for r in json.loads(js.read_text())["runs"][0]["results"]}
    assert results["resync_reachable"]["verdict"] == "not reached"
    assert results["checkpoint_reachable"]["verdict"] == "reached"
    assert results["marker_recovery_reachable"]["verdict"] == "not applicable"
    assert all(r["verdict"] in ("holds", "reached", "not applicable") or r["expected_trade_off"]
               for n, r in results.items() if n != "resync_reachable")  # the one failure: the unreached witness
    code, out, _ = run_cli(monkeypatch, capsys, *NO_FAULTS, "--engine", engine, "--out", str(tmp_path),
                           "--allow-unreached")
    assert code == 0, out
    assert "resync_reachable" in out and "not reached" in out  # still reported


def test_a_witness_the_bounds_exclude_does_not_fail(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "check", "--preset", "small", "--recovery", "writethrough",
                           "--quiet", "--out", str(tmp_path))
    assert code == 0, out
    assert "not applicable" in out and "needs markers >= 1" in out
