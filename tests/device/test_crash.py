"""Crashes for real: the path cut and restored, kill -9 of R and of A while a host writes. After each,
no acknowledged write is lost, the pair resynchronizes, P == S, and the event logs validate."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from helpers.served_pair import OUTAGE_JOURNAL, check_pair, chunk, fault_while_writing, needs_clients, write

pytestmark = needs_clients


def test_path_cut_suspends_then_resyncs(serve_cli: Any, tmp_path: Path) -> None:
    served = serve_cli("--journal-capacity", "256")  # room for the writes of the outage: no checkpoint without R
    acked = {i: chunk(b"one", i) for i in write(served.p, 0, 8, "one")}
    assert served.ctl("fail-path")["ok"]
    acked |= {i: chunk(b"two", i) for i in write(served.p, 4, 8, "two")}  # fence never: acked, dirty
    st = served.ctl("status")
    assert st["pair_state"] == "SUSPENDED" and st["path"] == "down" and st["dirty"] > 0
    assert len(acked) == 12
    assert served.ctl("repair-path")["ok"]
    check_pair(served, tmp_path, acked, journal=256)


@pytest.mark.parametrize("site", [pytest.param("R", marks=pytest.mark.slow), "A"])  # R: ~22 s
def test_kill_9_while_writing(serve_cli: Any, tmp_path: Path, site: str) -> None:
    # the window must hold what the host writes while the pair is suspended (no checkpoint without R)
    served = serve_cli("--journal-capacity", str(OUTAGE_JOURNAL))
    fault_while_writing(served, tmp_path, site, lambda: os.kill(served.state()["pids"][site], signal.SIGKILL))
