"""The atomic write of the served arrays: an NBD write is one journal record and one ``MirrorWrite`` per chunk
of at most ``--atomic-write`` bytes, and a power loss at A or at R in the middle of a long write leaves every
chunk all old or all new (on P after A's restart, on S after R's), never torn; P == S after the resync.

The power losses strike while the write is cut in two by the journal: with a window of 8 records the array
journals and sends 8 chunks, then waits for R's answers (each delayed on the path) to checkpoint and go on.
With one record a block, as before, the cut fell inside the first chunk: these tests failed then."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from helpers.served_pair import check_pair, image, needs_clients
from pitmirror.impl.device.serve import power_loss

pytestmark = needs_clients

KIB = 1 << 10
BLOCK = 4 * KIB
WINDOW = 8  # journal records: a write of 16 chunks waits for R half-way
ATOMIC = 64 * KIB
LONG = 16 * ATOMIC  # one NBD write of 16 chunks

PWRITE = """
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
data = open(sys.argv[3], "rb").read()
try:
    h.pwrite(data, int(sys.argv[2]))
    print("ACK", flush=True)
except nbd.Error as e:
    print("ERR", e, flush=True)
"""


def pattern(tag: bytes, n: int) -> bytes:
    """``n`` bytes in which every 4 KiB block names its tag and its number (so a torn chunk shows)."""
    return b"".join((tag + b"%08d" % i).ljust(64, b".") * (BLOCK // 64) for i in range(n // BLOCK))


def start_pwrite(uri: str, offset: int, data: bytes, tmp: Path) -> subprocess.Popen[str]:
    """One NBD write of ``data`` (a single request, however long), by the system python3's libnbd."""
    f = tmp / f"data-{offset}-{len(data)}"
    f.write_bytes(data)
    return subprocess.Popen(["/usr/bin/python3", "-c", PWRITE, uri, str(offset), str(f)], stdout=subprocess.PIPE,
                            text=True)


def pwrite(uri: str, offset: int, data: bytes, tmp: Path) -> str:
    out, _ = start_pwrite(uri, offset, data, tmp).communicate(timeout=120)
    return out.strip()


def chunks_of(vol: bytes, old: bytes, new: bytes, atomic: int = ATOMIC) -> str:
    """Each chunk of the long write as it is on ``vol``: ``o`` all old, ``n`` all new, ``T`` torn."""
    out = ""
    for at in range(0, len(new), atomic):
        got = vol[at : at + atomic]
        out += "o" if got == old[at : at + atomic] else "n" if got == new[at : at + atomic] else "T"
    return out


def test_a_long_write_is_one_record_per_chunk(serve_cli: Any, tmp_path: Path) -> None:
    served = serve_cli("--journal-capacity", "64", "--atomic-write", "128K")
    before = served.ctl("status")["next_seq"]
    data = pattern(b"long", 4 * 128 * KIB + 2 * BLOCK)  # four whole chunks and a chunk of two blocks
    assert pwrite(served.p, 3 * BLOCK, data, tmp_path) == "ACK"
    st = served.wait(lambda s: s["in_flight"] == 0, what="the write acknowledged")
    assert st["next_seq"] - before == 5  # five records, not 130
    # the journal log table: one entry a chunk, in order, each covering 32 blocks of 4 KiB (the last, 2)
    assert st["journal_tail"][-5:] == [[before + i, 3 + 32 * i, 32 if i < 4 else 2] for i in range(5)]
    assert served.ctl("status", "R")["applied_seq"] == st["next_seq"] - 1  # one MirrorWrite a record
    p = image(served.p, tmp_path, "p.img")
    assert p[3 * BLOCK : 3 * BLOCK + len(data)] == data
    check_pair(served, tmp_path, {}, 64)  # P == S, and the logs (with their multi-block steps) validate


@pytest.mark.parametrize("site", ["A", "R"])
def test_power_loss_in_a_long_write_leaves_each_chunk_whole(serve_cli: Any, tmp_path: Path, site: str) -> None:
    served = serve_cli("--journal-capacity", str(WINDOW))
    old, new = pattern(b"old", LONG), pattern(b"new", LONG)
    assert pwrite(served.p, 0, old, tmp_path) == "ACK"
    served.wait(lambda s: s["in_flight"] == 0, what="the old contents mirrored")
    # A's messages wait 300 ms on the path: A journals 8 chunks, sends them, and waits for R to checkpoint
    assert served.ctl("delay-path", "A", ms=300)["ok"]
    # the cut: A once it has taken some of the new chunks (R has none: they wait on the path), R once it has
    # applied some (the rest wait behind R's checkpoint, 300 ms away). Watched, not slept for: on a busy
    # machine a fixed sleep fell before the write or after it
    seq = "next_seq" if site == "A" else "applied_seq"
    before = served.ctl("status", site)[seq]
    writer = start_pwrite(served.p, 0, new, tmp_path)
    deadline = time.monotonic() + 30
    while served.ctl("status", site)[seq] <= before:
        assert time.monotonic() < deadline, f"array {site} took none of the write"
        time.sleep(0.01)
    power_loss(served.folder, site)
    if site == "R":
        assert served.ctl("fail-path")["ok"]  # no resync yet: S as R's restart left it
    writer.communicate(timeout=120)
    deadline = time.monotonic() + 30
    while served.state()["restarts"][site] < 1:
        assert time.monotonic() < deadline, f"array {site} was not restarted"
        time.sleep(0.1)
    assert served.ctl("delay-path", "A", ms=0)["ok"]
    if site == "R":
        deadline = time.monotonic() + 30
        while not (r := served.ctl("status", "R")).get("ok"):
            assert time.monotonic() < deadline, "R did not come back"
            time.sleep(0.1)
        assert r["power_lost"]
        s = chunks_of(image(served.s, tmp_path, "s-restart.img"), old, new)
        assert "T" not in s, f"S torn after R's power loss: {s}"
        assert "n" in s and "o" in s, f"the power loss did not fall inside the write: {s}"
        assert served.ctl("repair-path")["ok"]
    p = chunks_of(image(served.p, tmp_path, "p-restart.img"), old, new)
    assert "T" not in p, f"P torn after {site}'s power loss: {p}"
    if site == "A":  # (at R's power loss, A had journalled every chunk already: R is where the cut is)
        assert "n" in p and "o" in p, f"the power loss did not fall inside the write: {p}"
    check_pair(served, tmp_path, {}, WINDOW)  # P == S after the resync, the logs validate
    after = image(served.p, tmp_path, "p-resync.img")
    assert chunks_of(after, old, new) == p  # the resync moved nothing on P
