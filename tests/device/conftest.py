"""Fixtures for the served arrays: ``pitmirror serve`` as a real process, stopped however a test ends."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pitmirror.impl.device.control import ControlError, call

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody uses now, and the one after it (for S). Picked below Linux's ephemeral range (32768 and
    up by default): the kernel gives ports of that range to outgoing connections, the arrays' own path among
    them, and one of those took a port picked there before nbdkit could bind it (a run failed with "Address
    already in use"). At random, so that two test workers do not pick alike; both ports are bound once to
    check they are free."""
    rnd = random.SystemRandom()
    for _ in range(200):
        port = rnd.randrange(20000, 32000)
        try:
            with socket.socket() as s, socket.socket() as s2:
                s.bind(("127.0.0.1", port))
                s2.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair")


@dataclass
class Served:
    """A running ``pitmirror serve``."""

    folder: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def p(self) -> str:
        return f"nbd://127.0.0.1:{self.port}"

    @property
    def s(self) -> str:
        return f"nbd://127.0.0.1:{self.port + 1}"

    def ctl(self, command: str, site: str = "A", **args: Any) -> dict[str, Any]:
        return call(self.folder, command, site, **args)

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.folder / "serve.json").read_text()))

    def wait(self, pred: Any, timeout: float = 30.0, what: str = "") -> dict[str, Any]:
        """Poll A's status until ``pred(status)``."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            with contextlib.suppress(ControlError):
                last = self.ctl("status")
                if last.get("ok") and pred(last):
                    return last
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: last status {last}")

    def logs(self) -> list[Path]:
        return [self.folder / "A-events.jsonl", self.folder / "R-events.jsonl"]


@pytest.fixture
def serve_cli(tmp_path: Path) -> Iterator[Any]:
    """Start ``pitmirror serve`` (a factory: call it with extra options); every process is stopped at the end."""
    started: list[Served] = []

    def start(*extra: str, size: str = "16M") -> Served:
        folder = tmp_path / f"arrays{len(started)}"
        port = free_port()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen([sys.executable, "-m", "pitmirror", "serve", "--dir", str(folder), "--size", size,
                                 "--port", str(port), "--path-port", str(free_port()), *extra],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        served = Served(folder, port, proc)
        started.append(served)
        deadline = time.monotonic() + 60
        while not (folder / "serve.json").exists():
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise AssertionError("serve did not start within 60 s")
            time.sleep(0.1)
        return served

    yield start
    for served in started:
        pids = served.state()["pids"].values() if (served.folder / "serve.json").exists() else []
        served.proc.send_signal(signal.SIGTERM)
        try:
            served.proc.wait(20)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait()
        for pid in pids:  # a safety net: nothing the test started may outlive it (checked: still ours)
            with contextlib.suppress(OSError):
                if str(served.folder).encode() in Path(f"/proc/{pid}/cmdline").read_bytes() \
                        or str(served.port).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)
