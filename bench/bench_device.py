"""Figures for the served arrays (``pitmirror serve``); prints them, asserts nothing.

1. Host write throughput (nbdcopy of random data to P) and 4 KiB synchronous write latency (libnbd), through
   the mirror and through the same nbdkit serving a plain file (``nbdkit file``): the ratio is the cost of
   the synchronous mirror, the journal, and the Python controllers.
2. For each recovery method: the bytes that crossed the path against the bytes that differ (write-through
   should send exactly the differing blocks, swap none), and the time to recover the changes.

    python bench/bench_device.py                     # 16 MiB of writes and of changes (a few minutes)
    python bench/bench_device.py --changes 64M --no-writes   # the issue's 64 MiB of changes (about 12 min)
    python bench/bench_device.py --no-writes --changes 4M --baseline 2631686 --baseline-changes 1M
        # recovery only, beside an older commit's served arrays (``git archive``d into a temporary folder)

Needs nbdkit, nbdkit-plugin-python, libnbd-bin, python3-libnbd (Debian). Everything runs on loopback and is
stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pitmirror.checkers.cli.serve import parse_size  # noqa: E402
from pitmirror.impl.device.control import call  # noqa: E402

LATENCY = """
import sys, time, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1]); n = int(sys.argv[2]); buf = bytes(range(256)) * 16
lat = []
for i in range(n):
    t = time.perf_counter(); h.pwrite(buf, (i * 4096 * 7) % (8 << 20)); lat.append(time.perf_counter() - t)
lat.sort(); print(lat[len(lat) // 2], lat[int(len(lat) * 0.99)])
"""


def free_port() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as s2:
            if s2.connect_ex(("127.0.0.1", port + 1)) != 0 and port < 65000:
                return port
    raise RuntimeError("no free port")


@contextlib.contextmanager
def served(folder: Path, size: str, journal: int, root: Path = ROOT) -> Iterator[int]:
    """``pitmirror serve`` of the tree at ``root`` (this one, or an older commit's for a baseline)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pitmirror", "serve", "--dir", str(folder), "--size", size,
                             "--journal-capacity", str(journal), "--port", str(port),
                             "--path-port", str(free_port())],
                            env=dict(os.environ, PYTHONPATH=str(root)), stdout=subprocess.DEVNULL,
                            cwd=root)  # `python -m` looks in the working directory before PYTHONPATH
    try:
        deadline = time.monotonic() + 60
        while not (folder / "serve.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("serve did not start")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(30)


@contextlib.contextmanager
def plain_file(folder: Path, size: int) -> Iterator[int]:
    port = free_port()
    disk = folder / "plain.img"
    with open(disk, "wb") as f:
        f.truncate(size)
    proc = subprocess.Popen(["nbdkit", "--foreground", "--exit-with-parent", "-i", "127.0.0.1", "-p", str(port),
                             "--filter=blocksize", "file", str(disk), "minblock=4096"])
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nbdkit file did not start")
            time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(30)


def copy_in(src: Path, port: int) -> float:
    t = time.perf_counter()
    subprocess.run(["nbdcopy", str(src), f"nbd://127.0.0.1:{port}"], check=True, timeout=3600)
    return time.perf_counter() - t


def latency(port: int, n: int) -> tuple[float, float]:
    out = subprocess.run(["/usr/bin/python3", "-c", LATENCY, f"nbd://127.0.0.1:{port}", str(n)],
                         capture_output=True, text=True, check=True, timeout=600).stdout.split()
    return float(out[0]), float(out[1])


def recover_changes(tmp: Path, size: str, changes: int, method: str, root: Path, label: str) -> None:
    """Write ``changes`` bytes, set a marker, overwrite them, recover to the marker; print the figures."""
    before = tmp / "before.bin"
    after = tmp / "after.bin"
    before.write_bytes(os.urandom(changes))
    after.write_bytes(os.urandom(changes))
    blocks = changes // 4096
    folder = tmp / f"{label}-{method}-{blocks}"
    # room for the changes, and for the records A checkpoints at once (a 64th of the journal) past them
    with served(folder, size, journal=blocks + blocks // 16 + 64, root=root) as port:
        copy_in(before, port)
        call(folder, "marker", name="before")
        took = copy_in(after, port)
        answer = call(folder, "recover", to="before", method=method, timeout=3600)
    if not answer.get("ok"):
        print(f"  {label:<9} {method}: refused: {answer.get('error')}")
        return
    differ = answer["blocks_differing"] * 4096
    print(f"  {label:<9} {method:<12}: {answer['blocks_differing']} blocks differ ({differ / 2**20:.1f} MiB); "
          f"crossed the path: {answer['data_blocks_sent']} data blocks, {answer['bytes_sent']} bytes "
          f"({answer['bytes_sent'] / max(differ, 1):.3f} x the differing bytes); {answer['seconds']:.1f} s "
          f"(writing the changes took {took:.1f} s, {changes / 2**20 / took:.2f} MiB/s)")
    print("    " + json.dumps({k: answer[k] for k in ("target", "pair_state")}))


def old_tree(rev: str, into: Path) -> Path:
    """Commit ``rev`` of this repository, extracted (``git archive``) into ``into``."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {rev} failed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="64M", help="volume size")
    p.add_argument("--writes", default="16M", help="bytes written for the throughput figure")
    p.add_argument("--changes", default="16M", help="bytes changed after the marker, then recovered")
    p.add_argument("--latency-writes", type=int, default=200)
    p.add_argument("--no-writes", action="store_true", help="skip the host-write figures")
    p.add_argument("--methods", default="writethrough,swap",
                   help="recovery methods, comma-separated (empty: host writes only)")
    p.add_argument("--baseline", metavar="REV", default=None,
                   help="also recover with the served arrays of this commit (write-through before: slow)")
    p.add_argument("--baseline-changes", default=None, help="bytes changed for the baseline (default --changes)")
    args = p.parse_args()
    size, writes, changes = parse_size(args.size), parse_size(args.writes), parse_size(args.changes)
    methods = [m for m in args.methods.split(",") if m]
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp_name:
        tmp = Path(tmp_name)
        runs: list[tuple[str, Path, int]] = []
        if args.baseline:
            base_changes = parse_size(args.baseline_changes) if args.baseline_changes else changes
            runs.append((args.baseline, old_tree(args.baseline, tmp / "baseline-tree"), base_changes))
        runs.append(("this tree", ROOT, changes))
        if not args.no_writes:
            host_writes(tmp, args.size, size, writes, args.latency_writes, [(label, root) for label, root, _ in runs])
        if not methods:
            return
        for label, root, n in runs:
            print(f"recovery of {n / 2**20:.0f} MiB of changes ({n // 4096} blocks) to a marker, {label}:")
            for method in methods:
                recover_changes(tmp, args.size, n, method, root, label)


def host_writes(tmp: Path, size_arg: str, size: int, writes: int, latency_writes: int,
                trees: list[tuple[str, Path]]) -> None:
    """Host write throughput and latency, through nbdkit serving a plain file and through the mirror of
    each tree."""
    data = tmp / "data.bin"
    data.write_bytes(os.urandom(writes))  # nbdcopy writes the first `writes` bytes of the volume
    with plain_file(tmp, size) as port:
        t_plain = copy_in(data, port)
        lat_plain = latency(port, latency_writes)
    mb = writes / 2**20
    print(f"host writes, {mb:.0f} MiB with nbdcopy (4 KiB blocks):")
    print(f"  nbdkit file (plain file):  {mb / t_plain:8.1f} MiB/s   4 KiB write p50 {lat_plain[0] * 1e3:.2f} ms, "
          f"p99 {lat_plain[1] * 1e3:.2f} ms")
    for label, root in trees:
        with served(tmp / f"tp-{len(label)}-{root.name}", size_arg, journal=1024, root=root) as port:
            t_mirror = copy_in(data, port)
            lat_mirror = latency(port, latency_writes)
        print(f"  pitmirror, {label:<14} {mb / t_mirror:8.1f} MiB/s   4 KiB write p50 "
              f"{lat_mirror[0] * 1e3:.2f} ms, p99 {lat_mirror[1] * 1e3:.2f} ms  (ratio to the plain file: "
              f"throughput {t_mirror / t_plain:.1f}x, p50 latency {lat_mirror[0] / lat_plain[0]:.1f}x)")


if __name__ == "__main__":
    main()
