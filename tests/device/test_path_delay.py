"""A long path: ``ctl delay-path MS`` holds every message MS milliseconds each way. Writes still complete
(slower by the round trip), R applies A's writes in order and A hears R's answers in order, checkpoints
in lockstep still pass through the delayed path, P == S, and the event logs validate."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import run_cli

from helpers.served_pair import CHUNK, check_pair, chunk, needs_clients, write

pytestmark = needs_clients
DELAY_MS = 100
BURST_DELAY_MS = 20
WINDOW = 16  # a short journal: the burst checkpoints through the delayed path, and validation stays quick


def delivered(log: Path, kind: str) -> list[tuple[int, int]]:
    """(seq, time in ns) of the ``kind`` messages an array's log shows delivered, in the order it took them."""
    out = []
    for line in log.read_text().splitlines():
        ev = json.loads(line)
        if ev["action"] == "Deliver" and ev["args"]["message"]["kind"] == kind:
            out.append((int(ev["args"]["message"]["seq"]), int(ev["t"])))
    return out


def host_writes(log: Path) -> list[int]:
    """When A took each host write (ns): the k-th takes seq k in a run without markers or recoveries."""
    return [int(ev["t"]) for ev in map(json.loads, log.read_text().splitlines()) if ev["action"] == "HostWrite"]


def test_delayed_path_keeps_writes_complete_ordered_and_mirrored(
        serve_cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # one record a 4 KiB block (the smallest atomic write): many records in flight on the delayed path
    served = serve_cli("--journal-capacity", str(WINDOW), "--atomic-write", "4K")
    code, out, _ = run_cli(monkeypatch, capsys, "ctl", "delay-path", "--dir", str(served.folder), str(DELAY_MS))
    assert code == 0 and json.loads(out)["R"]["delay_ms"] == DELAY_MS
    assert served.ctl("status")["path_delay_ms"] == DELAY_MS
    acked = {i: chunk(b"slow", i) for i in write(served.p, 0, 6, "slow")}
    assert sorted(acked) == list(range(6))
    # each message spent the delay on the path, both ways (the logs' clock is the machine's monotonic one)
    sent = host_writes(served.folder / "A-events.jsonl")
    at_r = dict(delivered(served.folder / "R-events.jsonl", "MirrorWrite"))
    at_a = dict(delivered(served.folder / "A-events.jsonl", "MirrorAck"))
    assert len(sent) == len(at_r) == len(at_a) == 6 * CHUNK // 4096
    least = (DELAY_MS - 1) * 1_000_000  # a timer may fire within the clock's resolution of its time
    for seq, t in enumerate(sent, 1):
        assert at_r[seq] - t >= least and at_a[seq] - at_r[seq] >= least, f"seq {seq} was not delayed"
    assert all(served.ctl("delay-path", site, ms=BURST_DELAY_MS)["ok"] for site in ("A", "R"))
    # many writes at once (nbdcopy: eight requests of four blocks in flight), past the journal's capacity
    data = os.urandom(3 * WINDOW * 4096)
    src = tmp_path / "burst.img"
    src.write_bytes(data)
    subprocess.run(["nbdcopy", "--connections=1", "--requests=8", "--request-size=16384", str(src), served.p],
                   check=True, timeout=120, capture_output=True)
    acked |= {i: data[i * CHUNK : (i + 1) * CHUNK] for i in range(len(data) // CHUNK)}  # over the first three
    for log, kind in ((served.folder / "R-events.jsonl", "MirrorWrite"), (served.folder / "A-events.jsonl",
                                                                         "MirrorAck")):
        seqs = [seq for seq, _ in delivered(log, kind)]
        assert len(seqs) > 3 * WINDOW and seqs == sorted(seqs), f"{kind} out of order on the delayed path"
    status = served.ctl("status")
    assert status["base_seq"] > 0  # checkpoints went through the delayed path
    code, _, _ = run_cli(monkeypatch, capsys, "ctl", "delay-path", "--dir", str(served.folder), "0")
    assert code == 0 and served.ctl("status")["path_delay_ms"] == 0
    check_pair(served, tmp_path, acked, WINDOW)  # P == S, nothing acknowledged lost, the logs validate


@pytest.mark.parametrize("ms", ["-1", "lots", "70000"])
def test_delay_path_refuses_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], ms: str) -> None:
    code, _, err = run_cli(monkeypatch, capsys, "ctl", "delay-path", "--dir", str(tmp_path), "--", ms)
    assert code == 2 and "Traceback" not in err and err.strip()
