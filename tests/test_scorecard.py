"""The scorecard: a row per mutant plus the correct protocol, a column per checker, and every cell a
catch (or, for the correct protocol, "holds" / the expected trade-off) or an explained miss."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pitmirror.checkers.cli import main as cli
from pitmirror.checkers.reports import scorecard
from pitmirror.checkers.reports.scorecard import CORRECT, Cell, Outcome, Settings
from pitmirror.impl.mutants import IMPL_ONLY_MUTANTS
from pitmirror.model.config import PRESETS
from pitmirror.model.mutants import MUTANTS

# The small preset with two writes in flight reaches every mutant in a few seconds on 2 cores.
SMALL = PRESETS["small"].with_(concurrency=2)


def _stand_in(mutant: str | None, bounds: object) -> dict[str, object]:
    """A fast stand-in for a plugged checker's hook: this file tests how the scorecard is assembled; the
    z3 and fuzz checkers' real catches of every mutant are asserted in test_z3_bmc.py and test_fuzz.py
    (running them all here would take minutes)."""
    if mutant is None:
        return {"verdict": "holds", "note": "stand-in"}
    return {"verdict": "caught", "property": MUTANTS[mutant].breaks, "steps": 1, "note": "stand-in"}


def _impl_only_stand_in(name: str) -> dict[str, object]:
    """A fast stand-in for ``impl_only_cell`` (test_fuzz.py runs the real one on every impl-only mutant)."""
    return {"verdict": "caught", "property": "conformance: journal", "steps": 3, "note": "stand-in"}


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> scorecard.Scorecard:
    """The full scorecard at the small bounds: the explicit checker for real, the plugged ones stood in."""
    settings = Settings(base=SMALL, out_dir=tmp_path_factory.mktemp("card"), workers=2)
    with pytest.MonkeyPatch.context() as mp:
        for adapter in (scorecard.SymbolicAdapter, scorecard.FuzzAdapter):
            mp.setattr(adapter, "hook", lambda self: _stand_in)
        mp.setattr(scorecard.FuzzAdapter, "impl_only_hook", lambda self: _impl_only_stand_in)
        return scorecard.build(list(scorecard.ADAPTERS), settings)


def test_a_row_per_mutant_and_a_column_per_checker(card: scorecard.Scorecard) -> None:
    assert card.rows == [*MUTANTS, CORRECT]
    assert card.checkers == ["explicit", "z3", "fuzz"]
    assert set(card.cells) == {(r, c) for r in card.rows for c in card.checkers}
    assert card.unexplained() == []


def test_explicit_catches_every_mutant_and_shows_the_trade_off(card: scorecard.Scorecard) -> None:
    assert card.missed("explicit") == []
    for name, m in MUTANTS.items():
        cell = card.cell(name, "explicit")
        assert cell.verdict is Outcome.CAUGHT and cell.property == m.breaks, (name, cell)
        assert cell.steps is not None and cell.seconds is not None and cell.trace and Path(cell.trace).exists()
    correct = card.cell(CORRECT, "explicit")
    assert correct.verdict is Outcome.TRADE_OFF and correct.property == "remote_is_point_in_time"
    assert not card.false_alarms("explicit")


def test_a_safety_checker_is_out_of_scope_for_a_liveness_mutant(monkeypatch: pytest.MonkeyPatch) -> None:
    liveness = next(m for m in MUTANTS.values() if m.breaks == "host_write_completes")
    monkeypatch.setattr(scorecard.SymbolicAdapter, "hook", lambda self: _stand_in)
    (cell,) = scorecard.SymbolicAdapter(Settings(base=SMALL)).cells([liveness])
    assert cell.verdict is Outcome.OUT_OF_SCOPE and "always" in cell.note
    card = scorecard.Scorecard(["z3"], [liveness.name, CORRECT], {liveness.name: liveness.breaks, CORRECT: ""},
                               {(liveness.name, "z3"): cell, (CORRECT, "z3"): Cell(Outcome.HOLDS)}, SMALL)
    assert card.missed("z3") == [] and card.caught("z3") == 0  # neither a catch nor a miss


def test_ctrl_c_leaves_the_rest_not_run_and_the_card_partial(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    calls: list[str | None] = []

    def interrupted_on_the_second(mutant: str | None, bounds: object) -> dict[str, object]:
        calls.append(mutant)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return _stand_in(mutant, bounds)

    for adapter in (scorecard.SymbolicAdapter, scorecard.FuzzAdapter):
        monkeypatch.setattr(adapter, "hook", lambda self: interrupted_on_the_second)
    rows = ["ack_before_remote", "skip_journal", "reuse_sequence_number"]
    card = scorecard.build(["z3", "fuzz"], Settings(base=SMALL), mutants=rows)
    assert card.partial and len(calls) == 2  # the fuzz column never started
    assert [card.cell(r, "z3").verdict for r in rows] == [Outcome.CAUGHT, Outcome.NOT_RUN, Outcome.NOT_RUN]
    assert all(card.cell(r, "fuzz").verdict is Outcome.NOT_RUN for r in card.rows)
    assert card.missed("z3") == [] and card.unexplained() == []
    card.write(tmp_path / "s.md", tmp_path / "s.json")
    assert "PARTIAL" in (tmp_path / "s.md").read_text().splitlines()[0]
    assert json.loads((tmp_path / "s.json").read_text())["partial"] is True


def test_markdown_and_json(card: scorecard.Scorecard, tmp_path: Path) -> None:
    card.write(tmp_path / "s.md", tmp_path / "s.json")
    md = (tmp_path / "s.md").read_text()
    for r in card.rows:
        assert r in md
    assert "| mutant | meant to break | explicit | z3 | fuzz |" in md
    data = json.loads((tmp_path / "s.json").read_text())
    assert [row["row"] for row in data["rows"]] == card.rows
    assert data["caught"]["explicit"] == len(MUTANTS)


def test_the_implementation_only_mutants_have_their_conformance_column(card: scorecard.Scorecard,
                                                                       tmp_path: Path) -> None:
    assert list(card.impl_only) == list(IMPL_ONLY_MUTANTS)
    assert card.impl_only_caught() == len(IMPL_ONLY_MUTANTS) and card.impl_only_missed() == []
    card.write(tmp_path / "s.md", tmp_path / "s.json")
    md = (tmp_path / "s.md").read_text()
    assert f"| implementation-only mutant | the bug | {scorecard.IMPL_ONLY_COLUMN} |" in md
    for name, bug in IMPL_ONLY_MUTANTS.items():
        assert f"| `{name}` | {bug} | caught conformance: journal, 3 steps" in md
    assert f"caught by conformance: {len(IMPL_ONLY_MUTANTS)} of {len(IMPL_ONLY_MUTANTS)}" in md
    data = json.loads((tmp_path / "s.json").read_text())
    assert [r["row"] for r in data["impl_only"]] == list(IMPL_ONLY_MUTANTS)
    assert data["impl_only_caught"] == len(IMPL_ONLY_MUTANTS)


def test_mutants_exits_1_when_conformance_misses_an_implementation_only_mutant(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def misses(name: str) -> dict[str, object]:
        return {"verdict": "missed", "note": "stand-in miss"} if name == "log_table_frees_newest" else \
            _impl_only_stand_in(name)

    monkeypatch.setattr(scorecard.FuzzAdapter, "hook", lambda self: _stand_in)
    monkeypatch.setattr(scorecard.FuzzAdapter, "impl_only_hook", lambda self: misses)
    monkeypatch.setattr(sys, "argv", ["pitmirror", "mutants", "--checker", "fuzz", "--quiet", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    out = capsys.readouterr().out
    assert e.value.code == 1
    assert f"{len(IMPL_ONLY_MUTANTS) - 1} of {len(IMPL_ONLY_MUTANTS)} implementation-only mutants caught" in out
    assert "missed: log_table_frees_newest" in out
    assert f"fuzz: {len(MUTANTS)} of {len(MUTANTS)} mutants caught" in out


def test_a_miss_must_say_why() -> None:
    assert not Cell(Outcome.MISSED).explained()
    assert Cell(Outcome.MISSED, note="holds within these bounds").explained()
    assert Cell(Outcome.CAUGHT, "ack_durable", 1, 0.0).explained()


def test_mutants_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    md, js = tmp_path / "card.md", tmp_path / "card.json"
    monkeypatch.setattr(sys, "argv", ["pitmirror", "mutants", "--checker", "explicit", "--preset", "small",
                                      "--concurrency", "2",
                                      "--mutant", "ack_before_remote", "--quiet", "--out", str(tmp_path / "t"),
                                      "--markdown", str(md), "--json", str(js)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    out = capsys.readouterr().out
    assert e.value.code == 0
    assert "ack_before_remote" in out and "correct protocol" in out and "expected trade-off" in out
    assert md.exists() and js.exists()


def test_mutants_exits_1_when_any_checker_misses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    def misses(mutant: str | None, bounds: object) -> dict[str, object]:
        return {"verdict": "missed", "note": "stand-in miss"} if mutant else {"verdict": "holds"}

    monkeypatch.setattr(scorecard.SymbolicAdapter, "hook", lambda self: misses)
    monkeypatch.setattr(sys, "argv", ["pitmirror", "mutants", "--checker", "z3", "--mutant", "skip_journal",
                                      "--quiet", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 1
    assert "missed: skip_journal" in capsys.readouterr().out
