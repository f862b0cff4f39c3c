"""What a person and a CI system rely on from every command: one exit-code contract, output paths checked
before any work, names printed literally, traces validated against their own bounds, Ctrl-C that stops
everything, progress in a log, and ``--json`` results that follow their schema."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cli_helpers import run_cli

from pitmirror.checkers.cli.common import COMMAND_MODULES, ExitCode, Group, cli

README = Path(__file__).resolve().parents[1] / "README.md"


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """``python -m pitmirror ARGS`` with stdout and stderr piped (not a terminal), as CI runs it."""
    return subprocess.run([sys.executable, "-m", "pitmirror", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def _commands(group: Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, cmd in group.load_all().items():
        found.append((*prefix, name))
        if isinstance(cmd, Group):
            found += _commands(cmd, (*prefix, name))
    return found


def test_the_contract_is_one_enum() -> None:
    assert [int(c) for c in (ExitCode.OK, ExitCode.VIOLATED, ExitCode.USAGE, ExitCode.INCONCLUSIVE,
                             ExitCode.INTERRUPTED)] == [0, 1, 2, 3, 130]


@pytest.mark.parametrize("command", [(), *_commands(cli)], ids=lambda c: " ".join(c) or "pitmirror")
def test_every_help_states_the_exit_codes(command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, *command, "--help")
    text = " ".join(out.split())
    assert code == 0
    assert "Exit codes: 0 everything asked for was verified" in text and "3 inconclusive" in text
    assert "130 interrupted" in text


def test_readme_states_the_same_exit_codes() -> None:
    text = " ".join(README.read_text().split())
    for code, words in ((0, "everything asked for was verified"), (1, "a violation or a missed mutant"),
                        (2, "usage error"), (3, "inconclusive"), (130, "interrupted")):
        assert f"{code} {words}" in text, (code, words)


def test_every_command_is_registered_on_the_one_group() -> None:
    # each module named in COMMAND_MODULES registers its command on the one group when imported, and no
    # command is registered without being named there (it would be missing from a command line that has not
    # imported its module)
    assert set(cli.load_all()) == set(COMMAND_MODULES)
    assert {"check", "prove", "fuzz", "mutants", "trace", "claims", "demo", "serve", "ctl"} <= set(COMMAND_MODULES)


def test_a_command_loads_only_what_it_runs() -> None:
    """``pitmirror check`` and ``pitmirror trace show`` start without Hypothesis, the proof engines and the
    served arrays (each loaded by the commands that use them), as the command line's own entry point runs them."""
    probe = ("import sys; from pitmirror.checkers.cli.common import cli; cli.get_command(None, sys.argv[1]); "
             "print(' '.join(m for m in sys.argv[2:] if m in sys.modules))")
    heavy = ["hypothesis", "pitmirror.checkers.symbolic.induction", "pitmirror.checkers.symbolic.houdini",
             "pitmirror.checkers.conformance.fuzz", "pitmirror.impl.device.serve",
             "pitmirror.checkers.reports.scorecard"]
    for command in ("check", "trace"):
        r = subprocess.run([sys.executable, "-c", probe, command, *heavy], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [], (command, r.stdout)
    # the probe sees a module once it is loaded: fuzz loads Hypothesis, mutants the scorecard
    r = subprocess.run([sys.executable, "-c", probe, "mutants", *heavy], capture_output=True, text=True, timeout=60)
    assert "pitmirror.checkers.reports.scorecard" in r.stdout.split() and "hypothesis" in r.stdout.split()


# --- exit 3: nothing verified is not success ------------------------------------------------------------------

def test_check_cut_off_by_max_states_is_inconclusive(tmp_path: Path) -> None:
    r = run("check", "--preset", "small", "--max-states", "200", "--quiet", "--out", str(tmp_path))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "unknown" in r.stdout and "partial verdict" in r.stdout


def test_prove_not_proved_by_induction_is_inconclusive(tmp_path: Path) -> None:
    # --bounded: the checked system, where a seeded bug's property is not provable (nor violated at k = 1)
    r = run("prove", "--induction", "--bounded", "--preset", "small", "--blocks", "1", "--recovery", "writethrough",
            "--mutant", "checkpoint_drops_record", "--property", "replay_is_point_in_time", "--jobs", "1", "--quiet",
            "--out", str(tmp_path))
    assert r.returncode == 3, r.stdout + r.stderr
    assert "not proved" in r.stdout


# --- output paths checked before any work ----------------------------------------------------------------------

@pytest.mark.parametrize("command", [["check", "--preset", "small", "--recovery", "swap"],
                                     ["prove", "--preset", "small", "--depth", "1", "--recovery", "swap"],
                                     ["fuzz", "--examples", "2", "--steps", "2"],
                                     ["mutants", "--checker", "explicit", "--preset", "small", "--mutant",
                                      "skip_journal"]],
                         ids=lambda c: c[0])
def test_a_bad_output_path_is_a_usage_error_before_any_work(command: list[str], tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    before = sorted(tmp_path.rglob("*"))
    for extra in (["--out", str(a_file)], ["--out", str(tmp_path / "missing" / "deeper")],
                  ["--out", str(tmp_path / "ok"), "--json", str(tmp_path / "missing" / "x.json")],
                  ["--out", str(tmp_path / "ok"), "--json", str(tmp_path)]):
        started = time.perf_counter()
        r = run(*command, "--quiet", *extra)
        assert r.returncode == 2, (extra, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "states" not in r.stdout and "depth" not in r.stdout, "the work must not have started"
        assert sorted(tmp_path.rglob("*")) == before, "nothing may be created"
        assert time.perf_counter() - started < 30


def test_mutants_json_in_a_missing_folder_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    r = run("mutants", "--checker", "explicit", "--mutant", "skip_journal", "--quiet", "--out",
            str(tmp_path / "out"), "--json", str(missing / "x.json"))
    assert r.returncode == 2 and not missing.exists() and not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_a_usage_error(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    r = run("check", "--preset", "small", "--quiet", "--out", str(ro))
    assert r.returncode == 2 and "not writable" in r.stderr


# --- literal names --------------------------------------------------------------------------------------------

def test_square_brackets_in_paths_are_printed_literally(tmp_path: Path) -> None:
    r = run("trace", "show", "x[/]y/t.json", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "x[/]y/t.json" in r.stderr
    out = tmp_path / "o[red]x"
    r = run("check", "--preset", "small", "--recovery", "writethrough", "--quiet", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    shown = [line.split(": ", 1)[1] for line in r.stdout.splitlines() if line.startswith("trace of ")]
    assert shown and all(Path(p).exists() and "o[red]x" in p for p in shown)


# --- traces validated against their own bounds -----------------------------------------------------------------

@pytest.fixture(scope="module")
def trade_off_trace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("traces")
    r = run("check", "--preset", "small", "--recovery", "writethrough", "--quiet", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    return out / "correct-writethrough-remote_is_point_in_time.json"


def _tampered(doc: dict[str, Any], change: str) -> dict[str, Any]:
    d = json.loads(json.dumps(doc))
    s1 = d["steps"][1]
    if change == "three blocks":
        s1["state"]["primary"] = [*s1["state"]["primary"], 0]
    elif change == "lba out of range":
        s1["args"]["lba"] = 99
    elif change == "value out of range":
        s1["state"]["remote"] = [5, 0]
    elif change == "unknown enum":
        s1["state"]["pair_state"] = "HALF_PAIRED"
    elif change == "missing field":
        del s1["state"]["journal"]
    elif change == "record out of range":
        s1["state"]["journal"] = [{"seq": 1, "lba": 7, "value": 0}]
    return d


@pytest.mark.parametrize("change", ["three blocks", "lba out of range", "value out of range", "unknown enum",
                                    "missing field", "record out of range"])
def test_a_trace_out_of_its_own_bounds_is_refused(change: str, trade_off_trace: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_tampered(json.loads(trade_off_trace.read_text()), change)))
    for args in (["show", str(bad)], ["render", str(bad), "-o", str(tmp_path / "p.html")],
                 ["diff", str(trade_off_trace), str(bad)], ["replay", str(bad)]):
        code, _, err = run_cli(monkeypatch, capsys, "trace", *args)
        assert code == 2, (change, args, err)
        assert "step 1" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "p.html").exists()


@pytest.mark.parametrize("content", [b"\x7fELF\x02\x01\x01\x00\x00\x00", b"\xff\xfe{\x00}\x00", b"{ not json"],
                         ids=["binary", "not utf-8", "not json"])
def test_binary_and_non_text_files_are_usage_errors(content: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "t.json"
    f.write_bytes(content)
    for sub in ("show", "render", "replay"):
        code, _, err = run_cli(monkeypatch, capsys, "trace", sub, str(f))
        assert code == 2 and str(f) in err and "internal error" not in err, (sub, err)


def test_replay_of_the_expected_trade_off_exits_like_check(trade_off_trace: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(monkeypatch, capsys, "trace", "replay", str(trade_off_trace))
    assert code == 0, out
    assert "expected trade-off" in out and "remote_is_point_in_time violated" in out


# --- Ctrl-C stops everything ----------------------------------------------------------------------------------

def _interrupt(args: list[str], after: float, cwd: Path, progress: bool = False) -> tuple[int, str, str, float]:
    """Ctrl-C after ``after`` seconds, or (``progress``) once the command reports progress: a fixed sleep races
    the start-up on a busy machine, where Ctrl-C during the imports is another path."""
    proc = subprocess.Popen([sys.executable, "-m", "pitmirror", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, cwd=cwd,
                            env={**os.environ, "PITMIRROR_PROGRESS_SECONDS": "0.2"})
    if progress:
        assert proc.stderr is not None
        deadline, first = time.monotonic() + 120, ""
        while time.monotonic() < deadline and not first.startswith("progress"):
            first = proc.stderr.readline()
            assert first or proc.poll() is None, "the command ended before it reported progress"
    else:
        time.sleep(after)
    sent = time.perf_counter()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group, as in a terminal
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr, time.perf_counter() - sent


@pytest.mark.slow
@pytest.mark.parametrize("args", [["prove", "--depth", "8"],
                                  ["prove", "--induction", "--jobs", "2"]], ids=["bmc", "induction"])
def test_ctrl_c_stops_prove_whole(args: list[str], tmp_path: Path) -> None:
    code, stdout, stderr, took = _interrupt([*args, "--out", str(tmp_path)], 6, tmp_path)
    assert code == 130, stdout + stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert "interrupted" in stdout and "pairs decided" in stdout
    assert took < 10, f"prove took {took:.1f} s to stop"


@pytest.mark.slow
def test_ctrl_c_writes_a_partial_scorecard(tmp_path: Path) -> None:
    code, stdout, stderr, took = _interrupt(["mutants", "--out", str(tmp_path)], 6, tmp_path)
    assert code == 130, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert "PARTIAL" in (tmp_path / "scorecard.md").read_text().splitlines()[0]
    doc = json.loads((tmp_path / "scorecard.json").read_text())
    assert doc["partial"] is True and doc["status"] == "interrupted"
    assert took < 15, f"mutants took {took:.1f} s to stop"


# --- options no preset sets together -------------------------------------------------------------------------

#: Bounds no preset combines: multi-block writes with markers (`check`'s marker-recovery witness was an internal
#: error there) or with faults, three blocks with every fault. Found by a random sweep (session 18).
COMBINATIONS = [["--write-blocks", "2", "--markers", "1"],
                ["--write-blocks", "2", "--crashes", "1", "--message-faults", "1", "--premature-timeouts", "1"],
                ["--blocks", "3", "--write-blocks", "3", "--markers", "2", "--path-failures", "2", "--recoveries", "2"]]


@pytest.mark.slow
@pytest.mark.parametrize("extra", COMBINATIONS, ids=["multi-markers", "multi-faults", "three-blocks"])
def test_check_and_induction_take_option_combinations(extra: list[str], tmp_path: Path) -> None:
    # a verdict, partial or whole, never an internal error (exit 70)
    r = run("check", "--preset", "small", *extra, "--kernel", "numpy", "--max-states", "20000", "--quiet",
            "--allow-unreached", "--out", str(tmp_path))
    assert r.returncode in (ExitCode.OK, ExitCode.INCONCLUSIVE), r.stdout + r.stderr
    # the correct protocol is proved with them (write-through: its core three, to keep the test short)
    r = run("prove", "--induction", "--preset", "small", *extra, "--recovery", "writethrough", "--property",
            "journal_well_formed", "--property", "replay_is_point_in_time", "--property", "mirror_consistent",
            "--quiet", "--out", str(tmp_path))
    assert r.returncode == ExitCode.OK, r.stdout + r.stderr


# --- progress in a log ----------------------------------------------------------------------------------------

# check on the numpy path: with a compiled kernel in the cache, small ends before the first period
@pytest.mark.parametrize("args", [["check", "--preset", "small", "--kernel", "numpy"],
                                  ["prove", "--preset", "small", "--depth", "3", "--recovery", "swap", "--property",
                                   "ack_durable"],
                                  # 30 examples took 0.3 s, as long as one period: no line when it ended first
                                  ["fuzz", "--examples", "200", "--steps", "30", "--recovery", "swap"],
                                  pytest.param(["mutants", "--checker", "z3", "--mutant", "skip_journal"],
                                               marks=pytest.mark.slow)],
                         ids=lambda a: a[0])
def test_piped_output_gets_plain_periodic_progress_lines(args: list[str], tmp_path: Path) -> None:
    r = run(*args, "--out", str(tmp_path), env={"PITMIRROR_PROGRESS_SECONDS": "0.3"})
    assert r.returncode in (0, 1), r.stdout + r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("progress ")]
    assert lines, r.stderr
    assert "\x1b[" not in r.stderr, "no terminal control codes in a log"


def test_a_log_hears_of_a_bmc_query_while_it_runs(tmp_path: Path) -> None:
    # one kind, in this process: the query holds the main thread for seconds, and a log still gets a line each
    # period saying what it asks (without the ticks: at most the one line as it was put)
    r = run("prove", "--depth", "6", "--recovery", "swap", "--out", str(tmp_path),
            env={"PITMIRROR_PROGRESS_SECONDS": "0.3"})
    assert r.returncode == 0, r.stdout + r.stderr
    asking = [line for line in r.stderr.splitlines() if line.startswith("progress ") and "asking within 6" in line]
    assert len(asking) >= 2, r.stderr


def test_fuzz_progress_does_not_sit_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from pitmirror.checkers.cli import common
    from pitmirror.checkers.cli import fuzz as fuzz_cli
    from pitmirror.checkers.conformance.fuzz import FUZZ_BOUNDS, FuzzConfig, FuzzResult

    seen: list[tuple[int | None, int | None]] = []

    class Recording(common.Ticker):
        def task(self, label: str, total: int | None = None, info: str = "") -> Any:
            return lambda completed=None, total=None, info="": seen.append((completed, total))

    def fake_fuzz(config: FuzzConfig, progress: Any) -> FuzzResult:
        for n in (5, 10, 12, 15):  # discarded and shrinking runs go past the budget of 10
            progress(n, n * 3)
        return FuzzResult(config, 15, 45, 0.1)

    monkeypatch.setattr(fuzz_cli, "fuzz", fake_fuzz)
    fuzz_cli._run_one(FuzzConfig(FUZZ_BOUNDS, examples=10), Recording(quiet=True), "swap")
    assert seen[-1] == (15, 15) and all(c is not None and t is not None and c <= t for c, t in seen)


# --- fuzz: a seed is a run, and the working directory stays clean ---------------------------------------------

def test_fuzz_is_deterministic_and_writes_only_what_out_names(tmp_path: Path) -> None:
    args = ["fuzz", "--examples", "15", "--steps", "20", "--seed", "3", "--recovery", "swap", "--quiet"]
    first = run(*args, "--json", "a.json", cwd=tmp_path)
    second = run(*args, "--json", "b.json", cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stdout + first.stderr
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["runs"][0]["counts"] == b["runs"][0]["counts"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]  # no .hypothesis/, no traces/


def test_fuzz_keeps_an_example_database_only_when_asked(tmp_path: Path) -> None:
    r = run("fuzz", "--examples", "5", "--steps", "5", "--recovery", "swap", "--quiet", "--database", "db",
            "--mutant", "skip_journal", "--out", "t", cwd=tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    assert (tmp_path / "db").is_dir() and not (tmp_path / ".hypothesis").exists()


# --- --json results follow their schema -----------------------------------------------------------------------

SCHEMA = json.loads(resources.files("pitmirror.checkers.reports").joinpath("results.schema.json").read_text())


@pytest.mark.parametrize("args, code", [
    (["check", "--preset", "small", "--recovery", "writethrough"], 0),
    (["check", "--preset", "small", "--mutant", "skip_journal", "--recovery", "writethrough"], 1),
    (["prove", "--preset", "small", "--depth", "2", "--recovery", "swap", "--property", "ack_durable"], 0),
    (["fuzz", "--examples", "5", "--steps", "10", "--mutant", "skip_journal"], 1),
    (["mutants", "--checker", "explicit", "--preset", "small", "--mutant", "skip_journal"], 0),
], ids=["check", "check-violated", "prove", "fuzz", "mutants"])
def test_json_results_follow_the_schema(args: list[str], code: int, tmp_path: Path) -> None:
    js = tmp_path / "r.json"
    r = run(*args, "--quiet", "--out", str(tmp_path / "t"), "--json", str(js))
    assert r.returncode == code, r.stdout + r.stderr
    doc = json.loads(js.read_text())
    jsonschema.validate(doc, SCHEMA)
    assert doc["command"] == args[0] and doc["exit_code"] == code
    traces = [x["trace"] for run_ in doc["runs"] for x in run_["results"] if x.get("trace")]
    assert all(Path(t).exists() for t in traces)
    if code == 1:
        assert traces, "a violation names its trace"


def test_the_schema_rejects_a_wrong_document() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"format": "pitmirror-results", "version": 1, "command": "check", "exit_code": 70,
                             "status": "ok", "partial": False, "seconds": 1, "runs": []}, SCHEMA)


def test_ctrl_c_stops_fuzz_and_writes_partial_results(tmp_path: Path) -> None:
    code, stdout, stderr, took = _interrupt(["fuzz", "--examples", "100000", "--out", str(tmp_path), "--json",
                                             str(tmp_path / "r.json")], 5, tmp_path, progress=True)
    assert code == 130 and "Traceback" not in stderr, stdout + stderr
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["partial"] is True and doc["status"] == "interrupted"
    assert took < 10
