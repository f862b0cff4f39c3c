"""Real clients on the served arrays: an ext4 image written to P with nbdcopy, a marker, corruption with
qemu-io, recovery to the marker by each method, then P and S read back with nbdcopy: e2fsck is clean on
both, the files match byte for byte, and both arrays' event logs validate against the model."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pitmirror.checkers.traces.eventlog import validate
from pitmirror.impl.device.control import call
from pitmirror.impl.device.serve import ServeConfig, Supervisor

TOOLS = ("nbdkit", "nbdcopy", "qemu-io", "mke2fs", "e2fsck", "debugfs")
missing = [t for t in TOOLS if shutil.which(t) is None and not os.path.exists(f"/usr/sbin/{t}")]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (Debian: nbdkit "
                                "nbdkit-plugin-python libnbd-bin qemu-utils e2fsprogs; see .ci/run)")
SIZE = 16 << 20
FILES = {"invoice-1001.txt": b"invoice 1001: 250.00 EUR\n" * 40, "blob.bin": os.urandom(48 << 10),
         "notes/readme.md": b"# pitmirror\nserved arrays\n"}


def _tool(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServeConfig]:
    """A served pair in tmp_path, stopped (every process) however the test ends."""
    base = _free_port()
    cfg = ServeConfig(tmp_path / "arrays", SIZE, 4096, journal_capacity=4096, nbd_port=base,
                      path_port=_free_port())
    if socket.socket().connect_ex(("127.0.0.1", base + 1)) == 0:
        pytest.skip("port in use")
    sup = Supervisor(cfg)
    sup.start()
    try:
        yield cfg
    finally:
        sup.stop()


def run(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)


def make_image(tmp: Path) -> Path:
    src = tmp / "src"
    for name, data in FILES.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    img = tmp / "fs.img"
    run(_tool("mke2fs"), "-q", "-F", "-t", "ext4", "-b", "4096", "-E", "lazy_itable_init=1,lazy_journal_init=1",
        "-d", str(src), str(img), str(SIZE // 4096))
    return img


def read_back(cfg: ServeConfig, port: int, out: Path) -> Path:
    run("nbdcopy", f"nbd://127.0.0.1:{port}", str(out))
    return out


def assert_clean_with_files(img: Path) -> None:
    run(_tool("e2fsck"), "-fn", str(img))
    for name, data in FILES.items():
        got = subprocess.run([_tool("debugfs"), "-R", f"cat /{name}", str(img)], capture_output=True,
                             timeout=60, check=True).stdout
        assert got == data, f"{name} differs after recovery"


@pytest.mark.parametrize("method", ["writethrough", "swap"])
def test_ext4_corrupted_then_recovered_to_marker(served: ServeConfig, tmp_path: Path, method: str) -> None:
    cfg = served
    img = make_image(tmp_path)
    run("nbdcopy", "--destination-is-zero", str(img), f"nbd://127.0.0.1:{cfg.nbd_port}")
    assert call(cfg.folder, "marker", name="good")["ok"]
    # corrupt: the superblock's group and the first blocks of the inode table and data
    for offset in ("0", "64k", "1M", "2M"):
        run("qemu-io", "-f", "raw", "-c", f"write -P 0x5a {offset} 8k", f"nbd://127.0.0.1:{cfg.nbd_port}")
    broken = read_back(cfg, cfg.nbd_port, tmp_path / "broken.img")
    assert subprocess.run([_tool("e2fsck"), "-fn", str(broken)], capture_output=True, timeout=60).returncode != 0
    answer = call(cfg.folder, "recover", to="good", method=method)
    assert answer["ok"], answer
    assert answer["blocks_differing"] > 0
    if method == "swap":
        assert answer["data_blocks_sent"] == 0  # both arrays rebuild: no data block crosses the path
    else:
        assert answer["data_blocks_sent"] == answer["blocks_differing"]  # exactly the differing blocks
    p = read_back(cfg, cfg.nbd_port, tmp_path / "p.img")
    s = read_back(cfg, cfg.nbd_port + 1, tmp_path / "s.img")
    assert p.read_bytes() == s.read_bytes()
    assert_clean_with_files(p)
    assert_clean_with_files(s)
    v = validate([cfg.folder / "A-events.jsonl", cfg.folder / "R-events.jsonl"], cfg.journal_capacity,
                 cfg.max_in_flight)
    assert v.ok, v.reason
    assert v.steps > 10
