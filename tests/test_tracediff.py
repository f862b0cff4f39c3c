"""`pitmirror trace diff`: same config and property? the first step whose actions differ, and per step the
state fields that differ; exit 0 when identical but for source and note, 1 when they differ, 2 when a file
is malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_cli

from pitmirror.checkers.explicit.runner import CheckJob, run_job
from pitmirror.checkers.traces import diff as tracediff
from pitmirror.checkers.traces import trace as tr
from pitmirror.model.config import PRESETS
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import PROPERTIES, Kind

SMALL = PRESETS["small"].with_(concurrency=2)


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Explicit-checker traces of two mutants that break the same property, and one of another."""
    folder = tmp_path_factory.mktemp("diff")
    props = tuple(p.name for p in PROPERTIES if p.kind is not Kind.SOMETIMES)
    out = {}
    for name in ("ack_before_remote", "journal_not_persisted_before_ack", "swap_without_freeze"):
        m = MUTANTS[name]
        o = run_job(CheckJob(SMALL.with_(mutant=name, recovery_kind=m.recovery_kind), props,
                             stop_when_violated=(m.breaks,)))
        out[name] = folder / f"{name}.json"
        o.traces[m.breaks].write(out[name])
    return out


def test_identical_modulo_source_and_note(traces: dict[str, Path], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    a = traces["ack_before_remote"]
    doc = json.loads(a.read_text())
    b = tmp_path / "b.json"
    b.write_text(json.dumps({**doc, "source": "z3", "note": "found by another checker"}))
    code, out, _ = run_cli(monkeypatch, capsys, "trace", "diff", str(a), str(b))
    assert code == 0 and "identical" in out
    assert tracediff.compare(tr.load(a), tr.load(b)).identical


def test_a_changed_state_field_is_found(traces: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    a = traces["ack_before_remote"]
    doc = json.loads(a.read_text())
    doc["steps"][-1]["state"]["remote"] = [1, 1]  # within the bounds (values=2): a trace out of its bounds is refused
    b = tmp_path / "b.json"
    b.write_text(json.dumps(doc))
    d = tracediff.compare(tr.load(a), tr.load(b))
    assert not d.identical and d.same_config and d.same_property and d.first_action_diff is None
    last = len(doc["steps"]) - 1
    assert [(s.index, [f for f, _, _ in s.fields]) for s in d.steps] == [(last, ["remote"])]
    code, out, _ = run_cli(monkeypatch, capsys, "trace", "diff", str(a), str(b))
    assert code == 1 and "S (0,0)->(1,1)" in " ".join(out.split())


def test_different_counterexamples(traces: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    a, b = traces["ack_before_remote"], traces["journal_not_persisted_before_ack"]
    d = tracediff.compare(tr.load(a), tr.load(b))
    assert not d.identical and not d.same_config and "mutant" in d.config
    assert d.same_property  # both break ack_durable
    assert d.first_action_diff == 1
    assert d.length_a != d.length_b and (d.extra_a or d.extra_b)
    code, out, _ = run_cli(monkeypatch, capsys, "trace", "diff", str(a), str(b))
    assert code == 1
    assert "actions: first differ at step 1" in out and "config differs: mutant" in out
    c = traces["swap_without_freeze"]
    d2 = tracediff.compare(tr.load(a), tr.load(c))
    assert not d2.same_property and "recovery_kind" in d2.config


def test_every_trace_diffs_against_itself(traces: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    for path in traces.values():
        code, _out, err = run_cli(monkeypatch, capsys, "trace", "diff", str(path), str(path))
        assert code == 0, err


def test_malformed_exits_2(traces: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "pitmirror-trace", "version": 1}')
    code, _out, err = run_cli(monkeypatch, capsys, "trace", "diff", str(traces["ack_before_remote"]), str(bad))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "malformed" in err
