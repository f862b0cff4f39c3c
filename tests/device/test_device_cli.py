"""The command line of the served arrays: exit codes and one-line errors, no traceback, nothing started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_cli

from helpers.device_logs import D2, faithful, logs


def test_trace_validate_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    good = logs(tmp_path, faithful())
    code, out, _ = run_cli(monkeypatch, capsys, "trace", "validate", *map(str, good), "--journal-capacity", "8",
                           "--concurrency", "4")
    assert code == 0 and "valid: 14 steps" in out
    events = faithful()
    events[-3]["args"]["message"]["digest"] = D2
    bad = logs(tmp_path, events)
    trace = tmp_path / "rejected.json"
    code, _, err = run_cli(monkeypatch, capsys, "trace", "validate", *map(str, bad), "--journal-capacity", "8",
                           "--concurrency", "4", "-o", str(trace))
    assert code == 1 and "REJECTED" in err and "step 12" in err
    doc = json.loads(trace.read_text())
    assert doc["format"] == "pitmirror-trace" and doc["source"] == "impl" and doc["verdict"] == "violated"
    assert len(doc["steps"]) == 12 and doc["steps"][0]["action"] is None  # init + the 11 steps the model took
    assert doc["property"]["name"] == "step_enabled" and "step 12" in doc["note"]


@pytest.mark.parametrize("args", [
    ["trace", "validate", "{log}"],  # no serve.json next to it and no bounds given
    ["trace", "validate", "{junk}", "--journal-capacity", "8", "--concurrency", "4"],
    ["ctl", "status", "--dir", "{tmp}/nothing-served"],
    ["serve", "--dir", "{tmp}/a", "--host", "10.0.0.1"],  # loopback only
    ["serve", "--dir", "{tmp}/a", "--size", "1000", "--block-size", "4K"],
    ["serve", "--dir", "{tmp}/a", "--size", "lots"],
])
def test_usage_errors_are_one_line_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    log = logs(tmp_path, faithful())[0]
    junk = tmp_path / "junk.jsonl"
    junk.write_text("{}\n")
    argv = [a.format(log=log, junk=junk, tmp=tmp_path) for a in args]
    code, _, err = run_cli(monkeypatch, capsys, *argv)
    assert code == 2, err
    assert "Traceback" not in err and err.strip()
    assert not (tmp_path / "a" / "serve.json").exists()  # nothing was started
