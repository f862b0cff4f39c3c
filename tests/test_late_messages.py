"""Timeouts that fire while the message is only late, and the late message's delivery afterwards (issue 14,
item 1): the correct protocol drops what it has passed (a write at or below R's applied seq, a request of a
recovery R has settled), and a version without that check (``remote_accepts_stale_messages``) is caught by
``check`` with a shortest trace at bounds where a premature timeout is the only fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_cli

from pitmirror.checkers.explicit.checker import Verdict
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.model.actions import (
    Deliver,
    FinishRecovery,
    FinishResync,
    HostWrite,
    MirrorTimeout,
    StartRecovery,
    StartResync,
    SwapTimeout,
    SwapVolumes,
    SwitchHostLun,
)
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import SAFETY, mirror_consistent
from pitmirror.spec.state import MirrorAck, MirrorWrite, PairState, RecoverRequest, RecoveryKind, Resynced, State

MUTANT = "remote_accepts_stale_messages"
#: The small preset with one premature timeout as the only fault (no path failure, crash or message fault).
ONLY_LATE = PRESETS["small"].with_(path_failures=0, crashes=0, message_faults=0, premature_timeouts=1)


def _run(bounds: Bounds, steps: list[object]) -> State:
    model = MirrorModel(bounds)
    s = model.init_states()[0]
    for a in steps:
        assert a in model.actions(s), (a, s)
        s = model.next_state(s, a)  # type: ignore[arg-type]
    return s


def test_a_timeout_fires_while_its_write_is_late_only_within_the_budget() -> None:
    model = MirrorModel(ONLY_LATE)
    s = model.next_state(model.init_states()[0], HostWrite(0, 1))
    assert MirrorTimeout(1) in model.actions(s)  # the write is on the path: late, not lost
    t = model.next_state(s, MirrorTimeout(1))
    assert t.pair_state == PairState.SUSPENDED and t.premature_timeouts == 1
    assert MirrorWrite(1, 0, 1) in t.path  # the late write stays on the path
    assert MirrorTimeout(1) not in MirrorModel(ONLY_LATE.with_(premature_timeouts=0)).actions(s)


@pytest.mark.parametrize("mutant", [None, MUTANT])
def test_a_late_write_after_the_resync_is_dropped(mutant: str | None) -> None:
    steps = [HostWrite(0, 1), MirrorTimeout(1), HostWrite(0, 0), StartResync(), FinishResync(),
             Deliver(Resynced(1)), Deliver(MirrorWrite(1, 0, 1))]
    s = _run(ONLY_LATE.with_(mutant=mutant), steps)
    assert s.pair_state == PairState.PAIR and not s.in_flight
    assert mirror_consistent(s) is (mutant is None)  # the mutant lets write 1 land on S over write 2


@pytest.mark.parametrize("mutant", [None, MUTANT])
def test_a_late_recover_request_after_the_resync_does_not_swap_again(mutant: str | None) -> None:
    bounds = ONLY_LATE.with_(recovery_kind=RecoveryKind.SWAP, mutant=mutant)
    steps = [HostWrite(0, 1), Deliver(MirrorWrite(1, 0, 1)), Deliver(MirrorAck(1)),
             StartRecovery(0, RecoveryKind.SWAP), SwapTimeout(), SwapVolumes(), SwitchHostLun(), FinishRecovery(),
             StartResync(), FinishResync(), Deliver(Resynced(1)),
             HostWrite(1, 1), Deliver(MirrorWrite(3, 1, 1)), Deliver(RecoverRequest(1, 0))]
    s = _run(bounds, steps)
    assert s.premature_timeouts == 1 and s.remote_recovery_id == 1
    assert (s.remote == s.primary == (0, 1)) is (mutant is None)  # the mutant rebuilds image(0) on S again


@pytest.mark.parametrize("kind", list(RecoveryKind), ids=lambda k: k.name.lower())
def test_only_a_premature_timeout_exposes_the_missing_stale_check(kind: RecoveryKind) -> None:
    caught = FrontierChecker(MirrorModel(ONLY_LATE.with_(mutant=MUTANT, recovery_kind=kind)), SAFETY).run()
    d = caught.discoveries["mirror_consistent"]
    assert d.verdict is Verdict.VIOLATED and len(d.path) - 1 == 7  # write, timeout, write, resync x3, delivery
    assert any(isinstance(a, MirrorTimeout) for a, _ in d.path[1:])
    correct = FrontierChecker(MirrorModel(ONLY_LATE.with_(recovery_kind=kind)), SAFETY).run()
    assert correct.complete
    assert correct.discoveries["mirror_consistent"].verdict is Verdict.HOLDS
    broken = {n for n, x in correct.discoveries.items() if x.verdict is Verdict.VIOLATED}
    assert broken <= ({"remote_is_point_in_time"} if kind == RecoveryKind.WRITETHROUGH else set())
    without = FrontierChecker(MirrorModel(ONLY_LATE.with_(mutant=MUTANT, recovery_kind=kind,
                                                          premature_timeouts=0)), SAFETY).run()
    assert without.discoveries["mirror_consistent"].verdict is Verdict.HOLDS  # no other fault shows it


def test_check_exits_1_with_the_shortest_trace(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "check", "--preset", "small", "--path-failures", "0",
                             "--premature-timeouts", "1", "--mutant", MUTANT, "--recovery", "writethrough",
                             "--property", "mirror_consistent", "--quiet", "--jobs", "1", "--out", str(tmp_path))
    assert code == 1, out + err
    doc = json.loads((tmp_path / f"{MUTANT}-writethrough-mirror_consistent.json").read_text())
    assert doc["property"]["name"] == "mirror_consistent" and len(doc["steps"]) == 8
    assert doc["config"]["premature_timeouts"] == 1
