"""The scorecard: a row per mutant plus the correct protocol, a column per checker, and every cell a
catch (or, for the correct protocol, "holds" / the expected trade-off) or an explained miss."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from pitmirror.checkers.cli import main as cli
from pitmirror.checkers.reports import scorecard
from pitmirror.checkers.reports.scorecard import CORRECT, Cell, Outcome, Settings
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


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> scorecard.Scorecard:
    """The full scorecard at the small bounds: the explicit checker for real, the plugged ones stood in."""
    settings = Settings(base=SMALL, out_dir=tmp_path_factory.mktemp("card"), workers=2)
    with pytest.MonkeyPatch.context() as mp:
        for adapter in (scorecard.SymbolicAdapter, scorecard.FuzzAdapter):
            module = types.ModuleType(adapter.module)
            module.scorecard_cell = _stand_in  # type: ignore[attr-defined]
            mp.setitem(sys.modules, adapter.module, module)
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


@pytest.mark.parametrize("checker", ["z3", "fuzz"])
def test_absent_checkers_are_explained_misses(checker: str, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter_cls = scorecard.ADAPTERS[checker]
    assert issubclass(adapter_cls, scorecard.PluggedAdapter)
    monkeypatch.setitem(sys.modules, adapter_cls.module, None)  # as in a build without that checker
    cells = adapter_cls(Settings(base=SMALL)).cells([None, MUTANTS["ack_before_remote"]])
    for c in cells:
        assert c.verdict is Outcome.UNAVAILABLE and "not available in this build" in c.note
        assert c.explained()


def test_markdown_and_json(card: scorecard.Scorecard, tmp_path: Path) -> None:
    card.write(tmp_path / "s.md", tmp_path / "s.json")
    md = (tmp_path / "s.md").read_text()
    for r in card.rows:
        assert r in md
    assert "| mutant | meant to break | explicit | z3 | fuzz |" in md
    data = json.loads((tmp_path / "s.json").read_text())
    assert [row["row"] for row in data["rows"]] == card.rows
    assert data["caught"]["explicit"] == len(MUTANTS)


def test_a_miss_must_say_why() -> None:
    assert not Cell(Outcome.MISSED).explained()
    assert Cell(Outcome.MISSED, note="holds within these bounds").explained()
    assert Cell(Outcome.CAUGHT, "ack_durable", 1, 0.0).explained()


def test_a_plugged_checker_joins_through_its_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pitmirror.checkers.conformance.fuzz")

    def scorecard_cell(mutant: str | None, bounds: object) -> dict[str, object]:
        if mutant is None:
            return {"verdict": "holds"}
        return {"verdict": "caught", "property": MUTANTS[mutant].breaks, "steps": 3}

    fake.scorecard_cell = scorecard_cell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pitmirror.checkers.conformance.fuzz", fake)
    adapter = scorecard.FuzzAdapter(Settings(base=SMALL))
    assert adapter(MUTANTS["skip_journal"]).property == "journal_well_formed"
    assert adapter(None).verdict is Outcome.HOLDS
    name = "pitmirror.checkers.conformance.fuzz"
    monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    c = scorecard.FuzzAdapter(Settings(base=SMALL))(None)
    assert c.verdict is Outcome.UNAVAILABLE and "hook" in c.note


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
