"""The command line as a user runs it: exit codes, traces written and shown, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import run_cli

from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import BY_NAME, Kind


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed entry point's code as a user would, capturing everything."""
    return subprocess.run([sys.executable, "-m", "pitmirror", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_check_small_bounds_holds_and_shows_the_trade_off(tmp_path: Path) -> None:
    r = run("check", "--preset", "small", "--quiet", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "violated (expected trade-off)" in r.stdout
    assert "states/s" in r.stdout and "state space exhausted" in r.stdout
    assert (tmp_path / "correct-writethrough-remote_is_point_in_time.json").exists()


@pytest.mark.parametrize("name", list(MUTANTS))
def test_check_mutant_exits_1_names_the_property_and_the_trace_shows(name: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """check in a process of its own, as a user runs it; the trace it wrote shown and replayed through the same
    entry point in this process (a process each would add a second of start-up per mutant; the malformed-file
    tests run them as processes)."""
    m = MUTANTS[name]
    preset = "small" if BY_NAME[m.breaks].kind is Kind.EVENTUALLY else "default"
    # no bound raised by hand: check raises the preset's to what the mutant needs (a torn write: two blocks)
    r = run("check", "--mutant", name, "--recovery", m.recovery_kind.name.lower(), "--property", m.breaks,
            "--preset", preset, "--quiet", "--out", str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert m.breaks in r.stdout and "violated" in r.stdout
    trace_file = tmp_path / f"{name}-{m.recovery_kind.name.lower()}-{m.breaks}.json"
    code, shown, err = run_cli(monkeypatch, capsys, "trace", "show", str(trace_file))
    assert code == 0, err
    assert m.breaks in shown
    assert any(a in shown for a in ("HostWrite", "StartRecovery", "SetMarker", "CrashMidWrite"))
    code, replayed, _ = run_cli(monkeypatch, capsys, "trace", "replay", str(trace_file))
    assert code == 1  # the replay reaches the same violation
    if BY_NAME[m.breaks].kind is Kind.ALWAYS:
        assert f"{m.breaks} violated" in replayed


def _write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _good_trace(tmp_path: Path) -> dict[str, object]:
    run("check", "--preset", "small", "--quiet", "--recovery", "writethrough", "--out", str(tmp_path))
    doc: dict[str, object] = json.loads((tmp_path / "correct-writethrough-remote_is_point_in_time.json").read_text())
    return doc


@pytest.mark.parametrize("args", [
    ["check", "--mutant", "no_such_bug"],
    ["check", "--property", "no_such_property"],
    ["check", "--blocks", "9"],
    ["check", "--values", "1"],
    ["check", "--host-writes", "-3"],
    ["check", "--recovery", "sideways"],
    ["check", "--max-states", "0"],
    ["trace", "show", "/no/such/file.json"],
    ["no-such-command"],
])
def test_usage_errors_exit_2_with_one_line(args: list[str]) -> None:
    r = run(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip(), "a usage error must say what is wrong"


def test_malformed_and_foreign_trace_files_exit_2(tmp_path: Path) -> None:
    good = _good_trace(tmp_path)
    bad_action = json.loads(json.dumps(good))
    bad_action["steps"][1]["action"] = "FormatDisk"  # type: ignore[index]
    bad_args = json.loads(json.dumps(good))
    bad_args["steps"][1]["args"] = {"lba": "zero"}  # type: ignore[index]
    bad_schema = json.loads(json.dumps(good))
    del bad_schema["steps"]
    cases = {
        "not-json.json": "this is not json {",
        "foreign.json": json.dumps({"hello": "world"}),
        "future.json": json.dumps({**good, "version": 99}),
        "schema.json": json.dumps(bad_schema),
        "action.json": json.dumps(bad_action),
        "args.json": json.dumps(bad_args),
        "pickle.json": "\x80\x04\x95",
    }
    for name, text in cases.items():
        for sub in ("show", "replay"):
            r = run("trace", sub, _write(tmp_path, name, text))
            assert r.returncode == 2, (name, sub, r.stdout, r.stderr)
            assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 3, (name, r.stderr)


def test_replay_detects_a_tampered_state(tmp_path: Path) -> None:
    doc = _good_trace(tmp_path)
    doc["steps"][2]["state"]["remote"] = [1, 1]  # type: ignore[index]
    r = run("trace", "replay", _write(tmp_path, "tampered.json", json.dumps(doc)))
    assert r.returncode == 1 and "diverges at step 2" in r.stdout


@pytest.mark.claims(1, 6, 7, 11, 13, 14)
def test_demo_recovers_to_the_marker_by_both_methods() -> None:
    r = run("demo")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("P == S == image(marker): yes") == 2 and "demo: OK" in r.stdout


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_gives_a_partial_verdict_and_stops_everything(jobs: str, tmp_path: Path) -> None:
    import signal
    import time

    # thorough bounds run long enough to be interrupted; Ctrl-C goes in once the search reports progress (a
    # fixed sleep raced the start-up on a busy machine, where Ctrl-C during the imports is a different path)
    proc = subprocess.Popen([sys.executable, "-m", "pitmirror", "check", "--preset", "thorough", "--jobs", jobs,
                             "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PITMIRROR_PROGRESS_SECONDS": "0.2"})
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    first = ""
    while time.monotonic() < deadline and not first.startswith("progress"):
        first = proc.stderr.readline()
        assert first or proc.poll() is None, "check ended before it reported progress"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, as in a terminal
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    assert stdout.count("interrupted (Ctrl-C)") >= 1 and "partial verdict" in stdout
    assert "state space exhausted" not in stdout


def test_claims_table_lists_every_claim(tmp_path: Path) -> None:
    md = tmp_path / "t.md"
    r = run("claims", "--markdown", str(md), "--tests", str(Path(__file__).parent))
    assert r.returncode == 0, r.stderr
    text = md.read_text()
    assert all(f"| {c} |" in text for c in range(1, 29))


def test_a_slip_outside_the_trade_off_window_exits_1(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Issue 18: a slip at R in the protocol itself (no mutant named, so the trade-off label is in play),
    checked for the labelled property alone. Its violation lies outside the write-through window: no label,
    and the window property, checked along with it, is violated too. Exit 1."""
    from cli_helpers import run_cli

    from pitmirror.model.protocol import MirrorModel

    real_init = MirrorModel.__init__

    def slipped(self: MirrorModel, bounds: object) -> None:
        real_init(self, bounds)  # type: ignore[arg-type]
        self.mutant = "remote_writes_ahead_of_gap"  # the step as the slip changed it, under the correct name

    monkeypatch.setattr(MirrorModel, "__init__", slipped)
    # the slip is patched into MirrorModel, so the object engine runs it (the frontier engine derives its
    # steps from the symbolic encoding, which tests/test_z3_agreement.py proves equal to MirrorModel)
    code, out, _err = run_cli(monkeypatch, capsys, "check", "--engine", "object", "--preset", "small",
                              "--concurrency", "2", "--recovery", "writethrough", "--property",
                              "remote_is_point_in_time", "--quiet", "--out", str(tmp_path))
    assert code == 1, out
    assert "expected trade-off" not in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip().startswith("remote_is_point_in_time")}
    assert "violated" in rows["remote_is_point_in_time"] and "violated" in rows["remote_is_point_in_time_or_recovering"]


def test_a_mutant_raises_the_preset_bounds_it_needs_and_keeps_those_given(
        capsys: pytest.CaptureFixture[str]) -> None:
    """``check --mutant torn_multiblock_write`` on the default preset (one-block writes) would explore a
    protocol where the bug is dead code and report "holds": the bound is raised, and said; a bound given on
    the command line is kept, with a warning that the mutant cannot show."""
    from pitmirror.checkers.cli.common import make_bounds
    from pitmirror.model.config import PRESETS
    none = {"write_blocks": None}
    assert PRESETS["default"].write_blocks < 2
    raised = make_bounds("default", None, "torn_multiblock_write", none)
    assert raised.write_blocks == 2 and raised.mutant == "torn_multiblock_write"
    assert "write_blocks" in capsys.readouterr().err
    kept = make_bounds("default", None, "torn_multiblock_write", {"write_blocks": 1})
    assert kept.write_blocks == 1
    assert "--write-blocks" in capsys.readouterr().err
    assert make_bounds("default", None, None, none) == PRESETS["default"].with_(mutant=None)
    assert capsys.readouterr().err == ""
