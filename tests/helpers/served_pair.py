"""A host writing through a served pair and the checks after a fault (tests/device/): shared by the crash,
power-loss and path-delay tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pitmirror.checkers.traces.eventlog import validate

WRITER = Path(__file__).resolve().parents[1] / "device" / "writer.py"
CHUNK = 64 << 10
JOURNAL = 64  # a short window: A checkpoints all along, and validation stays quick
OUTAGE_JOURNAL = 512
HAVE_LIBNBD = subprocess.run(["/usr/bin/python3", "-c", "import nbd"], capture_output=True).returncode == 0
needs_clients = pytest.mark.skipif(shutil.which("nbdkit") is None or shutil.which("nbdcopy") is None
                                or not HAVE_LIBNBD, reason="needs nbdkit, nbdcopy and python3-libnbd (see .ci/run)")


def chunk(tag: bytes, i: int) -> bytes:
    return (tag + b"%08d" % i).ljust(64, b".") * (CHUNK // 64)


def write(uri: str, first: int, count: int, tag: str) -> list[int]:
    out = subprocess.run(["/usr/bin/python3", str(WRITER), uri, str(first), str(count), tag],
                         capture_output=True, text=True, timeout=120).stdout
    return [int(line) for line in out.splitlines() if line.isdigit()]


def start_writer(uri: str, first: int, count: int, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(["/usr/bin/python3", str(WRITER), uri, str(first), str(count), tag],
                            stdout=subprocess.PIPE, text=True)


def acked_so_far(proc: subprocess.Popen[str], want: int) -> list[int]:
    assert proc.stdout is not None
    got: list[int] = []
    while len(got) < want:
        line = proc.stdout.readline()
        assert line, "the writer ended early"
        got.append(int(line))
    return got


def image(uri: str, tmp: Path, name: str) -> bytes:
    out = tmp / name
    subprocess.run(["nbdcopy", uri, str(out)], check=True, timeout=120, capture_output=True)
    return out.read_bytes()


def check_pair(served: Any, tmp: Path, acked: dict[int, bytes], journal: int = JOURNAL,
               validate_logs: bool = True) -> None:
    st = served.wait(lambda s: s["pair_state"] == "PAIR" and s["connected"] and s["dirty"] == 0
                     and s["in_flight"] == 0, what="PAIR after resync")
    assert st["journaling_state"] == "JOURNALING"
    p, s = image(served.p, tmp, "p.img"), image(served.s, tmp, "s.img")
    assert p == s, "P and S differ after resync"
    for i, data in acked.items():
        assert p[i * CHUNK : (i + 1) * CHUNK] == data, f"acknowledged chunk {i} lost"
    if validate_logs:  # the costly part (a replay of the whole run): once, at the end of a test
        v = validate(served.logs(), journal, 256)
        assert v.ok, v.reason




def fault_while_writing(served: Any, tmp: Path, site: str, strike: Any) -> dict[int, bytes]:
    """A host writes 16 chunks; after 5 are acknowledged ``strike()`` takes array ``site`` down. The
    supervisor restarts it; no acknowledged chunk is lost, the pair resyncs, P == S, the logs validate, and
    (A) the host can write again. Returns the acknowledged chunks."""
    writer = start_writer(served.p, 0, 16, "k9")
    try:
        done = acked_so_far(writer, 5)
        strike()
        rest, _ = writer.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    done += [int(line) for line in rest.splitlines() if line.isdigit()]  # not "ERR <i> ...": that one failed
    deadline = time.monotonic() + 30
    while served.state()["restarts"][site] < 1:
        assert time.monotonic() < deadline, f"array {site} was not restarted"
        time.sleep(0.1)
    if site == "R":
        assert len(done) == 16  # fence never: the host never noticed R was gone
    acked = {i: chunk(b"k9", i) for i in done}
    check_pair(served, tmp, acked, OUTAGE_JOURNAL, validate_logs=site == "R")
    if site == "A":  # the host can go on after A's restart
        more = write(served.p, 200, 2, "after")
        assert more == [200, 201]
        acked |= {i: chunk(b"after", i) for i in more}
        check_pair(served, tmp, acked, OUTAGE_JOURNAL)
    return acked
