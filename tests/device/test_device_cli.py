"""The command line of the served arrays: exit codes and one-line errors, no traceback, nothing started."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli

from helpers.device_logs import D1, D2, ev, faithful, logs, write_ack
from pitmirror.checkers.traces import trace as tr
from pitmirror.model.protocol import MirrorModel


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
    ["ctl", "power-loss", "A", "--dir", "{tmp}/nothing-served"],
    ["ctl", "power-loss", "B", "--dir", "{tmp}/nothing-served"],
    ["ctl", "delay-path", "5", "--dir", "{tmp}/nothing-served"],
    ["serve", "--dir", "{tmp}/a", "--mutant", "no_such_bug"],
    ["serve", "--dir", "{tmp}/a", "--host", "10.0.0.1"],  # loopback only
    ["serve", "--dir", "{tmp}/a", "--size", "1000", "--block-size", "4K"],
    ["serve", "--dir", "{tmp}/a", "--size", "lots"],
    ["serve", "--dir", "{tmp}/a", "--atomic-write", "12K"],  # the atomic write is a power of two
    ["serve", "--dir", "{tmp}/a", "--atomic-write", "2K"],  # of at least one block
    ["serve", "--dir", "{tmp}/a", "--atomic-write", "8M"],  # no NBD request brings more than 4M
    ["serve", "--dir", "{tmp}/a", "--size", "1M", "--atomic-write", "2M"],  # nor more than the volume
    # a journal ring for that many records of 4M chunks could not be a file
    ["serve", "--dir", "{tmp}/a", "--journal-capacity", "100000000", "--atomic-write", "4M"],
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


def _long_rejected_log(tmp: Path) -> list[Path]:
    """Six writes to six blocks in a journal of 16 (beyond ``check``'s ranges), then a step never enabled."""
    events = []
    for i in range(6):
        events += write_ack(10 * (i + 1), i + 1, 4096 * (i + 1), D1)
    events.append(ev(100, "A", "FinishRecovery"))  # no recovery is running
    return logs(tmp, events)


def test_trace_show_reads_what_trace_validate_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "rejected.json"
    code, _, _ = run_cli(monkeypatch, capsys, "trace", "validate", *map(str, _long_rejected_log(tmp_path)),
                         "--journal-capacity", "16", "--concurrency", "4", "-o", str(trace))
    assert code == 1
    doc = tr.load(trace)  # the one trace format, schema-checked
    assert doc["config"]["blocks"] == 6 and doc["config"]["journal_capacity"] == 16  # beyond check's ranges
    bounds, prop, actions = tr.parse(doc)
    assert prop.name == "step_enabled" and len(actions) == 19 and bounds.blocks == 6
    # the round trip: the model replays the document to the same states, and writing it again gives it back
    report = tr.replay_on_model(doc)
    assert report.clean and report.steps_replayed == 19
    model = MirrorModel(bounds)
    s = model.init_states()[0]
    taken: list[Any] = [(None, s)]
    for a in actions[1:]:
        assert a is not None
        s = model.next_state(s, a)
        taken.append((a, s))
    again = tr.Trace("impl", bounds, prop, doc["verdict"], taken, note=doc["note"]).to_dict()
    assert again == doc
    code, out, err = run_cli(monkeypatch, capsys, "trace", "show", str(trace))
    assert code == 0, err
    assert "step_enabled violated at step 18" in out and "blocks=6" in out and "step 19" in out


def test_only_a_served_run_may_name_step_enabled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "rejected.json"
    run_cli(monkeypatch, capsys, "trace", "validate", *map(str, _long_rejected_log(tmp_path)),
            "--journal-capacity", "16", "--concurrency", "4", "-o", str(trace))
    doc = json.loads(trace.read_text())
    for source in ("explicit", "fuzz"):  # their bounds stay within check's ranges, their property in the catalogue
        doc["source"] = source
        trace.write_text(json.dumps(doc))
        code, _, err = run_cli(monkeypatch, capsys, "trace", "show", str(trace))
        assert code == 2 and "Traceback" not in err
