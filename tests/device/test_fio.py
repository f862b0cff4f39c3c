"""fio with its nbd engine and ``verify=crc32c`` through P: across a path cut, a kill -9 of R and the
resync, everything fio wrote verifies on P and on S; a recovery to a marker taken mid-run brings back the
data written before the marker; and the run's logs validate against the model."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from typing import Any

import pytest

from pitmirror.checkers.traces.eventlog import validate

pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in ("fio", "nbdkit", "qemu-io")),
                                reason="needs fio, nbdkit, qemu-io (Debian: fio nbdkit nbdkit-plugin-python "
                                       "qemu-utils; see .ci/run)")
JOURNAL = 160  # holds what is written after the marker (2 x 64 blocks); small keeps validation quick


def fio(uri: str, offset: str, seed: int, *extra: str) -> subprocess.CompletedProcess[str]:
    """A random-write job over 256 KiB at ``offset`` whose data is set by ``seed`` (``--verify_only``
    re-reads it), paced to last about 2 s so an outage can land in the middle of it."""
    return subprocess.run(["fio", "--name=pm", "--ioengine=nbd", f"--uri={uri}", "--rw=randwrite", "--bs=16k",
                           f"--offset={offset}", "--size=256k", "--rate_iops=8", "--verify=crc32c", "--iodepth=4",
                           f"--randseed={seed}", "--verify_fatal=1", "--verify_state_save=0", *extra],
                          capture_output=True, text=True, timeout=180)


def verifies(uri: str, offset: str, seed: int) -> bool:
    return fio(uri, offset, seed, "--verify_only").returncode == 0


@pytest.mark.slow  # about 30 s: three fio phases, two outages, a recovery
def test_fio_verifies_across_a_path_cut_a_kill_of_r_and_a_recovery(serve_cli: Any) -> None:
    served = serve_cli("--journal-capacity", str(JOURNAL))
    assert not verifies(served.p, "0", 1)  # nothing written yet: verification is not vacuous
    # 1. region 0 while the path is cut and restored in the middle
    cut = threading.Timer(0.8, lambda: served.ctl("fail-path"))
    cut.start()
    assert fio(served.p, "0", 1, "--do_verify=1").returncode == 0
    cut.join()
    assert served.ctl("repair-path")["ok"]
    served.wait(lambda s: s["pair_state"] == "PAIR" and s["dirty"] == 0, what="resync after the path cut")
    mark = served.ctl("marker", name="mid")
    assert mark["ok"]
    # 2. region 256k while R is killed with -9 (and restarted by serve)
    pid = served.state()["pids"]["R"]
    killer = threading.Timer(0.8, lambda: os.kill(pid, signal.SIGKILL))
    killer.start()
    assert fio(served.p, "256k", 2, "--do_verify=1").returncode == 0
    killer.join()
    deadline = time.monotonic() + 30
    while served.state()["restarts"]["R"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    served.wait(lambda s: s["pair_state"] == "PAIR" and s["dirty"] == 0 and s["connected"], what="resync")
    for uri in (served.p, served.s):
        assert verifies(uri, "0", 1) and verifies(uri, "256k", 2)
    # 3. clobber region 0 after the marker (a bad job), then recover to it: the data from before is back
    subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x33 0 256k", served.p], check=True, timeout=60,
                   capture_output=True)
    assert not verifies(served.p, "0", 1)
    answer = served.ctl("recover", to="mid", method="swap")
    assert answer["ok"] and answer["data_blocks_sent"] == 0, answer
    for uri in (served.p, served.s):
        assert verifies(uri, "0", 1)
        assert not verifies(uri, "256k", 2)  # written after the marker: recovered away
    v = validate(served.logs(), JOURNAL, 256)
    assert v.ok, v.reason
    taken = [a.name for a, _ in v.taken if a is not None]
    # the outages really fell inside the writes: the pair suspended twice, and resynchronized twice
    # (a connection the dying R's kernel still accepted can add a FailPath: harmless, and validated)
    assert taken.count("FailPath") >= 2 and taken.count("CrashArray") == 1 and taken.count("MirrorTimeout") >= 1
    assert taken.count("FinishResync") == 2 and taken.count("SwapVolumes") == 1
