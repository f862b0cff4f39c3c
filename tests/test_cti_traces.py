"""A counterexample to induction of the unbounded proof system is a trace the trace commands read.

Its states are states of the proof system: block values and sequence numbers are any integers, beyond the
value range of its config, and its first state is not initial. ``trace show`` and ``trace render`` read it
(they rejected it once, as a value out of range); ``trace replay`` says why there is nothing to replay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pitmirror.checkers.traces import trace as tr
from pitmirror.model.config import PROOF_PARAMETERS
from tests.cli_helpers import run_cli

CTI = "z3-cti-skip_journal-writethrough-journal_well_formed.json"


@pytest.fixture(scope="module")
def cti(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CTI ``prove --induction`` writes for a seeded bug on the proof system (a few seconds)."""
    out = tmp_path_factory.mktemp("cti")
    r = subprocess.run([sys.executable, "-m", "pitmirror", "prove", "--induction", "--mutant", "skip_journal",
                        "--property", "journal_well_formed", "--blocks", "1", "--concurrency", "1", "--recovery",
                        "writethrough", "--quiet", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stdout + r.stderr  # not proved: inconclusive
    return out / CTI


def test_cti_is_marked_as_the_proof_systems(cti: Path) -> None:
    doc = tr.load(cti)
    assert doc["system"] == "proof" and doc["verdict"] == "possibly-unreachable"
    tr.parse(doc)  # values beyond the config's range are not an error here


def test_show_and_render_read_the_cti(cti: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "trace", "show", str(cti))
    assert code == 0, err
    assert "unbounded proof system" in out and "arbitrary start state" in out
    flat = "".join(out.split())
    # what the proof holds for, every parameter of it (a CTI at multi-block writes said nothing of them)
    assert all(f"{k}=" in flat for k in PROOF_PARAMETERS), out
    assert "host_writes=" not in flat and "values=" not in flat  # no budget, no value domain bounds it
    code, out, err = run_cli(monkeypatch, capsys, "trace", "render", str(cti), "-o", str(tmp_path / "p.html"))
    assert code == 0, err
    assert (tmp_path / "p.html").stat().st_size > 0


def test_replay_of_a_cti_is_a_usage_error(cti: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(monkeypatch, capsys, "trace", "replay", str(cti))
    assert code == 2 and "counterexample to induction" in err and "Traceback" not in err


def _with_value(doc: dict[str, Any], value: int) -> dict[str, Any]:
    """The trace with every state's first block of P holding ``value``: any integer is a value of the proof
    system, but beyond the config's range for the checked one."""
    doc = json.loads(json.dumps(doc))
    for step in doc["steps"]:
        step["state"]["primary"][0] = value
    return doc


def test_any_integer_value_reads_on_the_proof_system_only(cti: Path, tmp_path: Path) -> None:
    doc = _with_value(json.loads(cti.read_text()), 976)
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(doc))
    tr.parse(tr.load(proof))
    # the same states without the proof-system mark are out of the config's range: still refused
    del doc["system"]
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(doc))
    with pytest.raises(tr.TraceError, match="out of range"):
        tr.parse(tr.load(plain))


def test_only_a_cti_may_claim_the_proof_system(cti: Path, tmp_path: Path) -> None:
    doc = json.loads(cti.read_text())
    doc["verdict"] = "violated"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(tr.TraceError, match="not a counterexample to induction"):
        tr.load(bad)
