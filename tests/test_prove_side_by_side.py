"""``prove``'s BMC runs the two recovery kinds side by side, one worker process each (``--jobs 2``, the default):
the verdicts, depths, traces and exit code are those of the kinds one after the other (``--jobs 1``), and a
worker's encoding error or crash reaches the parent as the same exit, not a hang; a query that times out in a
worker leaves its kind inconclusive (exit 3), never 0."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pitmirror.checkers.cli import prove as prove_cli
from pitmirror.checkers.symbolic.bmc import CapacityError
from pitmirror.model.config import Bounds
from pitmirror.spec.state import RecoveryKind

# a mutant that one query within 3 steps shows under both kinds, and a property that holds: both tables matter
ARGS = ["prove", "--preset", "small", "--blocks", "1", "--depth", "3", "--mutant", "skip_journal",
        "--property", "journal_well_formed", "--property", "mirror_consistent"]


def _prove(tmp_path: Path, jobs: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / f"jobs{jobs}"
    r = subprocess.run([sys.executable, "-m", "pitmirror", *ARGS, "--jobs", jobs, "--out", str(out),
                        "--json", str(out / "results.json")], capture_output=True, text=True, timeout=300)
    return r, json.loads((out / "results.json").read_text())


def _verdicts(doc: dict[str, Any]) -> list[tuple[str, str, str, int | None]]:
    return [(run["label"], res["property"], res["verdict"], res["steps"]) for run in doc["runs"]
            for res in run["results"]]


def test_side_by_side_gives_the_verdicts_of_one_after_the_other(tmp_path: Path) -> None:
    together, doc2 = _prove(tmp_path, "2")
    alone, doc1 = _prove(tmp_path, "1")
    assert together.returncode == alone.returncode == 1, together.stdout + together.stderr
    assert "side by side" in together.stdout and "side by side" not in alone.stdout
    # each kind's lines are labelled with it when the two are interleaved
    assert "writethrough: queries over" in together.stdout and "swap: queries over" in together.stdout
    assert _verdicts(doc2) == _verdicts(doc1)
    for doc in (doc1, doc2):  # a kind's time is its own wall time, not its properties' times added up
        assert all(run["seconds"] <= doc["seconds"] for run in doc["runs"]), doc
    assert [run["label"] for run in doc2["runs"]] == ["writethrough", "swap"]  # the kinds' order, whoever ends first
    assert ("swap", "journal_well_formed", "violated", 1) in _verdicts(doc2)
    for kind in ("writethrough", "swap"):
        trace = tmp_path / "jobs2" / f"z3-skip_journal-{kind}-journal_well_formed.json"
        assert json.loads(trace.read_text())["source"] == "z3"


def _job(**kw: Any) -> prove_cli._BmcKind:
    b = Bounds(blocks=1, concurrency=1, host_writes=2, recovery_kind=RecoveryKind.SWAP)
    return prove_cli._BmcKind(**{"bounds": b, "props": ("mirror_consistent",), "depth": 2, "values_bits": None,
                                 "timeout_ms": 0, "quiet": True, **kw})


def test_an_encoding_error_in_a_kind_ends_the_run_with_70(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    def too_small(*args: Any, **kw: Any) -> Any:
        raise CapacityError("HostWrite[0] at step 1 outgrows the capacity of in_flight")

    monkeypatch.setattr(prove_cli, "bmc_all", too_small)
    said: list[tuple[str, Any]] = []
    prove_cli._bmc_kind(_job(), lambda tag, x: said.append((tag, x)))
    assert said[-1][0] == "error" and "no verdict for mirror_consistent" in said[-1][1]
    run = prove_cli._Run(2, False, [], None, 0, Path("traces"), True, "BMC to depth 2", pairs=2)
    with prove_cli.Ticker(True) as ticker:
        on = run._bmc_printer(ticker, [RecoveryKind.SWAP], prefix=True)
        with pytest.raises(SystemExit) as e:
            on(RecoveryKind.SWAP, *said[-1])
    assert e.value.code == 70
    assert "swap: no verdict for mirror_consistent" in capsys.readouterr().out


def test_a_worker_that_crashes_says_so_to_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    # run here, the worker's body must not make this process ignore Ctrl-C (later tests rely on it)
    monkeypatch.setattr(prove_cli.solving, "ignore_ctrl_c_in_worker", lambda: None)
    messages: queue.Queue[tuple[RecoveryKind, str, Any]] = queue.Queue()
    prove_cli._bmc_kind_in_worker(_job(props=("no_such_property",)), messages)
    kind, tag, text = messages.get_nowait()
    assert (kind, tag) == (RecoveryKind.SWAP, "crash") and "no_such_property" in text
    run = prove_cli._Run(2, False, [], None, 0, Path("traces"), True, "BMC to depth 2", pairs=2)
    with prove_cli.Ticker(True) as ticker:
        on = run._bmc_printer(ticker, [RecoveryKind.SWAP], prefix=True)
        with pytest.raises(RuntimeError, match="BMC worker for swap recovery failed"):
            on(kind, tag, text)


def test_a_solver_timeout_is_inconclusive_never_0(tmp_path: Path) -> None:
    # within 10 steps at the default bounds a query takes about a minute: one second per query cannot decide it
    doc_path = tmp_path / "results.json"
    r = subprocess.run([sys.executable, "-m", "pitmirror", "prove", "--depth", "10", "--timeout", "1", "--quiet",
                        "--out", str(tmp_path), "--json", str(doc_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stdout + r.stderr
    doc = json.loads(doc_path.read_text())
    assert doc["status"] == "inconclusive" and [run["label"] for run in doc["runs"]] == ["writethrough", "swap"]
    assert {res["verdict"] for run in doc["runs"] for res in run["results"]} == {"unknown"}
