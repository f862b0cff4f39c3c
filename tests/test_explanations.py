"""Each property explains a state that breaks it, expected against actual, and ``trace show`` and the page
open with that explanation (the verdict first)."""

from __future__ import annotations

import pytest
from cli_helpers import run_cli

from pitmirror.checkers.explicit.runner import CheckJob, run_job
from pitmirror.checkers.traces import render
from pitmirror.checkers.traces.trace import Trace
from pitmirror.model.config import PRESETS
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import BY_NAME, PROPERTIES, SAFETY, Kind

SMALL = PRESETS["small"].with_(concurrency=2)


def _counterexample(mutant: str) -> Trace:
    m = MUTANTS[mutant]
    props = tuple(p.name for p in PROPERTIES if p.kind is not Kind.SOMETIMES)
    job = CheckJob(m.exposed_in(SMALL), props, stop_when_violated=(m.breaks,))  # a crash, if the bug needs one
    return run_job(job).traces[m.breaks]


def test_every_property_has_an_explanation() -> None:
    assert [p.name for p in PROPERTIES if p.explain is None] == []


@pytest.mark.parametrize("mutant", [m.name for m in MUTANTS.values() if BY_NAME[m.breaks] in SAFETY])
def test_a_violating_state_is_explained_expected_against_actual(mutant: str) -> None:
    t = _counterexample(mutant)
    state = t.steps[-1][1]
    assert not t.prop.predicate(state)
    text = t.prop.explanation(state)
    assert "expected" in text and ("got" in text or "but" in text), text
    assert "\n" not in text and len(text) < 300


def test_the_issue_example_reads_as_promised() -> None:
    t = _counterexample("recovery_off_by_one")
    assert t.prop.explanation(t.steps[-1][1]) == \
        "the recovery to 1 (writethrough) ended: expected P = image(1) = (1,0), got P = (0,0)"


def test_trace_show_opens_with_the_verdict(tmp_path: object, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "t.json"
    _counterexample("recovery_off_by_one").write(path)
    code, out, _ = run_cli(monkeypatch, capsys, "trace", "show", str(path))
    assert code == 0
    first, second = out.splitlines()[:2]
    assert first.startswith("recovery_correct violated at step")
    assert "expected P = image(1) = (1,0), got P = (0,0)" in second


def test_the_page_opens_with_the_verdict() -> None:
    doc = _counterexample("recovery_off_by_one").to_dict()
    page = render.render_html(doc)
    head = page.index('id="headline"')
    assert head < page.index('id="step-0"')
    assert "expected P = image(1) = (1,0), got P = (0,0)" in page[head:page.index('id="step-0"')]
