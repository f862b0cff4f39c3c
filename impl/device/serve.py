"""``pitmirror serve``: array A and array R as two processes, each with an nbdkit in front, supervised.

The supervisor starts R, then A (which connects to R over TCP on loopback), then nbdkit for P (read-write,
on ``nbd_port``) and nbdkit for S (read-only, on ``nbd_port + 1``). An array process that dies (``kill -9``)
is started again from its files at once, as a controller restarts: that restart is the ``CrashArray`` of
the event log. ``serve.json`` in the folder says where everything is; ``ctl`` reads it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pitmirror.impl.device.storage import DEVICE_MUTANTS, power_loss_marker

PLUGIN = Path(__file__).with_name("nbd_plugin.py")
#: the most data one NBD request brings to an array (nbdkit's blocksize filter splits longer ones): a chunk
#: longer than this could never arrive whole, so the atomic write is at most this
MAX_REQUEST = 4 << 20
LOOPBACK = ("127.0.0.1", "::1", "localhost")
#: the largest journal ring a served array takes (its drive files are sparse, but a file system caps a file)
MAX_JOURNAL_BYTES = 1 << 40


class ServeError(RuntimeError):
    """A served array could not be started (a usage or environment problem: one line says which)."""


@dataclass
class ServeConfig:
    """Everything ``serve`` is told: where, how big, which ports."""

    folder: Path
    volume_bytes: int
    block_size: int = 4096
    journal_capacity: int = 4096
    fence: str = "never"
    host: str = "127.0.0.1"
    nbd_port: int = 10809
    path_port: int = 10900
    max_in_flight: int = 256
    mutant: str | None = None  # a device-level seeded bug (storage.DEVICE_MUTANTS), for tests only
    #: the atomic write in bytes: a host write is journalled and mirrored in chunks of at most this much, one
    #: record and one MirrorWrite each, and a power loss leaves each chunk all old or all new
    atomic_write: int = 64 << 10

    @property
    def blocks(self) -> int:
        """Blocks per volume."""
        return self.volume_bytes // self.block_size

    @property
    def write_blocks(self) -> int:
        """Blocks per chunk: the most one journal record and one ``MirrorWrite`` carry."""
        return self.atomic_write // self.block_size

    def check(self) -> None:
        """Refuse what cannot be served, with one line saying why."""
        if self.host not in LOOPBACK:
            raise ServeError(f"host {self.host!r}: pitmirror serves on loopback only (127.0.0.1 or ::1)")
        bs = self.block_size
        if bs < 512 or bs & (bs - 1):
            raise ServeError(f"block size {bs}: a power of two of at least 512 bytes")
        if self.volume_bytes <= 0 or self.volume_bytes % bs:
            raise ServeError(f"volume size {self.volume_bytes}: a positive multiple of the block size {bs}")
        if self.mutant is not None and self.mutant not in DEVICE_MUTANTS:
            raise ServeError(f"mutant {self.mutant!r}: one of {', '.join(DEVICE_MUTANTS)}")
        if self.journal_capacity < 1:
            raise ServeError("journal capacity: at least one record")
        aw = self.atomic_write
        if aw < bs or aw & (aw - 1):
            # a power of two: it is what NBD clients are told as the preferred block size
            raise ServeError(f"atomic write {aw}: a power of two of at least the block size {bs}")
        if aw > min(self.volume_bytes, MAX_REQUEST):
            raise ServeError(f"atomic write {aw}: at most the volume size {self.volume_bytes} and at most "
                             f"{MAX_REQUEST} bytes, the most one NBD request brings")
        # the journal ring holds journal_capacity + blocks records of the longest chunk (header, data,
        # trailer); R's eight times that: a ring that cannot be addressed is refused here, not at a write
        ring = (self.journal_capacity + self.blocks) * (self.write_blocks + 2) * bs * 8
        if ring > MAX_JOURNAL_BYTES:
            raise ServeError(f"atomic write {aw} with a journal of {self.journal_capacity} records: R's journal "
                             f"ring would take {ring} bytes, more than {MAX_JOURNAL_BYTES}; lower one of them")
        for port in (self.nbd_port, self.nbd_port + 1, self.path_port):
            if not 0 < port < 65536:
                raise ServeError(f"port {port} is out of range")


def saved_config(folder: Path) -> ServeConfig | None:
    """The configuration a folder was first served with (sizes must not change on restart)."""
    f = folder / "serve.json"
    if not f.exists():
        return None
    d = json.loads(f.read_text())["config"]
    d["folder"] = Path(d["folder"])
    d.setdefault("atomic_write", d["block_size"])  # served before it was a setting: one block a record
    return ServeConfig(**d)


def power_loss(folder: Path, site: str) -> int:
    """Cut array ``site``'s power: leave the marker that makes its restart drop every write not synced, and
    kill it (``kill -9``: nothing more reaches its files); the supervisor starts it again. Returns the pid
    killed; ``ServeError`` when nothing is served from ``folder``."""
    try:
        state = json.loads((folder / "serve.json").read_text())
        pid = int(state["pids"][site])
        alive = state["supervisor"] and Path(f"/proc/{pid}").exists()
    except (OSError, ValueError, KeyError, TypeError):
        raise ServeError(f"no pair is served from {folder} (no readable serve.json)") from None
    if not alive or f"--site\0{site}\0".encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
        raise ServeError(f"array {site} of {folder} is not running (pid {pid})")
    power_loss_marker(folder, site).write_text(str(pid))
    os.kill(pid, signal.SIGKILL)
    return pid


class Supervisor:
    """The four processes of a served pair, and their restarts."""

    def __init__(self, cfg: ServeConfig) -> None:
        self.cfg = cfg
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts = {"A": 0, "R": 0}
        self.stopping = False

    def env(self) -> dict[str, str]:
        env = dict(os.environ, PITMIRROR_BLOCK_SIZE=str(self.cfg.block_size))
        root = str(Path(__file__).resolve().parents[2])  # the source tree: the arrays run this same code
        env["PYTHONPATH"] = os.pathsep.join(x for x in (root, env.get("PYTHONPATH", "")) if x)
        return env

    def start_array(self, site: str) -> None:
        c = self.cfg
        ready = c.folder / f"{site}.ready"
        with contextlib.suppress(FileNotFoundError):
            ready.unlink()
        log = open(c.folder / f"{site}.stderr", "ab")  # noqa: SIM115 - handed to the child
        self.procs[site] = subprocess.Popen(
            [sys.executable, "-m", "pitmirror.impl.device.node", "--site", site, "--dir", str(c.folder),
             "--blocks", str(c.blocks), "--journal-capacity", str(c.journal_capacity), "--fence", c.fence,
             "--path-host", c.host, "--path-port", str(c.path_port), "--max-in-flight", str(c.max_in_flight),
             "--write-blocks", str(c.write_blocks), *(["--mutant", c.mutant] if c.mutant else [])],
            env=self.env(), stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 30
        while not ready.exists():
            if self.procs[site].poll() is not None:
                tail = (c.folder / f"{site}.stderr").read_text(errors="replace").strip().splitlines()[-1:]
                raise ServeError(f"array {site} exited at start: {tail[0] if tail else 'no message'}")
            if time.monotonic() > deadline:
                raise ServeError(f"array {site} did not start within 30 s")
            time.sleep(0.05)

    def start_nbdkit(self, site: str) -> None:
        c = self.cfg
        port = c.nbd_port if site == "A" else c.nbd_port + 1
        cmd = ["nbdkit", "--foreground", "--exit-with-parent", "-i", c.host, "-p", str(port),
               "--filter=blocksize", *(["--readonly"] if site == "R" else []), "python", str(PLUGIN),
               f"sock={c.folder / f'{site}.host.sock'}", f"readonly={1 if site == 'R' else 0}",
               f"block={c.block_size}", f"atomic={c.atomic_write}", f"minblock={c.block_size}",
               f"maxdata={MAX_REQUEST}"]
        log = open(c.folder / f"nbdkit-{site}.stderr", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.procs[f"nbdkit-{site}"] = subprocess.Popen(cmd, stdout=log, stderr=log)
        except FileNotFoundError:
            raise ServeError("nbdkit is not installed (Debian: apt-get install nbdkit nbdkit-plugin-python)") \
                from None
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection((c.host, port), timeout=0.2):
                return
            if self.procs[f"nbdkit-{site}"].poll() is not None or time.monotonic() > deadline:
                tail = (c.folder / f"nbdkit-{site}.stderr").read_text(errors="replace").strip().splitlines()[-1:]
                raise ServeError(f"nbdkit for array {site} did not start: {tail[0] if tail else 'no message'}")
            time.sleep(0.05)

    def write_state(self) -> None:
        c = self.cfg
        state = {"config": {**asdict(c), "folder": str(c.folder)}, "supervisor": os.getpid(),
                 "pids": {k: p.pid for k, p in self.procs.items()}, "restarts": self.restarts,
                 "nbd": {"P": f"nbd://{c.host}:{c.nbd_port}", "S": f"nbd://{c.host}:{c.nbd_port + 1}"}}
        tmp = c.folder / "serve.json.tmp"
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, c.folder / "serve.json")

    def start(self) -> None:
        """Start everything (R first: A connects to it)."""
        self.cfg.check()
        self.cfg.folder.mkdir(parents=True, exist_ok=True)
        old = saved_config(self.cfg.folder)
        # the atomic write sizes the journal LDEV, so it fixes the drives' layout like the sizes do
        if old is not None and (old.volume_bytes, old.block_size, old.journal_capacity, old.atomic_write) != \
                (self.cfg.volume_bytes, self.cfg.block_size, self.cfg.journal_capacity, self.cfg.atomic_write):
            raise ServeError(f"{self.cfg.folder} holds arrays of {old.volume_bytes} bytes in blocks of "
                             f"{old.block_size} with a journal of {old.journal_capacity} and an atomic write of "
                             f"{old.atomic_write}: serve it with those")
        try:
            for site in ("R", "A"):
                self.start_array(site)
            for site in ("A", "R"):
                self.start_nbdkit(site)
        except BaseException:
            self.stop()
            raise
        self.write_state()

    def watch(self) -> None:
        """Restart an array that died; return when told to stop (SIGTERM/SIGINT)."""
        def stop(signum: int, frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while not self.stopping:
            for site in ("R", "A"):
                if self.procs[site].poll() is not None and not self.stopping:
                    self.restarts[site] += 1
                    self.start_array(site)
                    self.write_state()
            time.sleep(0.1)
        self.stop()

    def stop(self) -> None:
        """Stop every process, nbdkit first, then A, then R."""
        for name in ("nbdkit-A", "nbdkit-R", "A", "R"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
