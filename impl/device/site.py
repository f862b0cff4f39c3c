"""What both served arrays share: the event log, and ``Node``, one array's controller core with its files, its
local sockets (the NBD shim's host socket and the control socket) and the order it acts on a ``Ready`` in
(``impl/device/node.py`` explains the process as a whole)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import struct
import time
from pathlib import Path
from typing import Any

from pitmirror.impl.blocks import BLOCK_SIZE
from pitmirror.impl.device.storage import ArrayStore, VolatileFile
from pitmirror.impl.errors import (
    JournalFull,
    RecoveryInProgress,
    ResyncInProgress,
    ScsiError,
    TooManyInFlight,
)
from pitmirror.impl.states import FencePolicy

#: host-socket request: op, offset, length, data length (then the data); answer: errno, data length
REQ = struct.Struct(">BQII")
ANS = struct.Struct(">II")
OP_READ, OP_WRITE, OP_ZERO, OP_FLUSH, OP_SIZE = 0, 1, 2, 3, 4
#: refusals a host write waits out instead of failing: they end by themselves
TRANSIENT = (RecoveryInProgress, ResyncInProgress, TooManyInFlight, JournalFull)

__all__ = ["ANS", "OP_FLUSH", "OP_READ", "OP_SIZE", "OP_WRITE", "OP_ZERO", "REQ", "TRANSIENT", "EventLog", "Node"]


class EventLog:
    """``<site>-events.jsonl``: lines are staged during a batch and written by the commit (to the store's
    ``events_file``, synced with the batch)."""

    def __init__(self, file: VolatileFile, site: str, committed: int) -> None:
        self.path, self.site, self.file = file.path, site, file
        lines = self.path.read_bytes().splitlines(keepends=True)
        if len(lines) != committed:  # a kill between the log and the tables: back to the tables
            if len(lines) < committed:
                raise ValueError(f"{self.path} holds {len(lines)} lines, the tables say {committed} were "
                                 "committed: the log was changed by hand")
            file.truncate(sum(map(len, lines[:committed])))
        self.count = committed
        self.staged: list[str] = []

    def record(self, action: str, **args: Any) -> None:
        """Stage one event, stamped now."""
        line = {"t": time.monotonic_ns(), "array": self.site, "n": self.count + len(self.staged),
                "action": action, "args": args}
        self.staged.append(json.dumps(line, separators=(",", ":")) + "\n")

    def write(self) -> int:
        """Append the staged lines; the committed count."""
        if self.staged:
            self.file.append("".join(self.staged).encode())
            self.count += len(self.staged)
            self.staged = []
        return self.count


class Node:
    """What A and R share: the store, the event log, batches, the control socket."""

    def __init__(self, site: str, folder: Path, blocks: int, journal_capacity: int, fence: FencePolicy,
                 mutant: str | None = None, write_blocks: int = 1) -> None:
        self.site, self.folder, self.blocks = site, folder, blocks
        self.write_blocks = write_blocks  # the atomic unit: the most blocks one journal record covers
        self.store = ArrayStore(folder, site, blocks, journal_capacity, fence, mutant, write_blocks)
        self.events = EventLog(self.store.events_file, site, self.store.meta["events"])
        self.full_commit = False  # the batch wrote the primary where the journal cannot redo it
        self.path_delay = 0.0  # seconds each message waits before it goes on the path (ctl delay-path)
        self._change: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.bytes_sent = 0
        self.data_blocks_sent = 0
        self._written_before = self.store.array.shm.log.written_seq

    def commit(self, durable: bool = True) -> None:
        """Make everything since the last commit durable (storage's order), then wake the waiters.
        ``durable=False``: written but not synced (see ``ArrayStore.commit``)."""
        full, self.full_commit = self.full_commit, False
        self.store.commit(self._written_before, self.events.write, full=full, durable=durable)
        self._written_before = self.store.array.shm.log.written_seq
        self.notify()

    def notify(self) -> None:
        """Wake every waiter (a broadcast: each waits on the same future)."""
        if not self._change.done():
            self._change.set_result(None)
        self._change = asyncio.get_running_loop().create_future()

    async def wait_change(self, timeout: float = 0.5) -> None:
        """Until some step changed something (or ``timeout``)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._change), timeout)

    def read_block(self, role: str, lba: int) -> bytes:
        """One block of a volume."""
        return self.store.array.read(role, lba)

    async def serve_unix(self, path: Path, handler: Any) -> asyncio.AbstractServer:
        """A local socket (removed first if a dead process left it)."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return await asyncio.start_unix_server(handler, path=str(path))

    async def host_reader(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                          role: str, writable: bool) -> None:
        """The NBD shim's requests for one connection."""
        try:
            while True:
                op, offset, length, dlen = REQ.unpack(await reader.readexactly(REQ.size))
                data = await reader.readexactly(dlen) if dlen else b""
                err, out = await self.host_request(op, offset, length, data, role, writable)
                writer.write(ANS.pack(err, len(out)) + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def host_request(self, op: int, offset: int, length: int, data: bytes, role: str,
                           writable: bool) -> tuple[int, bytes]:
        """One NBD request: (errno, data)."""
        size = self.blocks * BLOCK_SIZE
        if op == OP_SIZE:
            return 0, struct.pack(">Q", size)
        if op == OP_FLUSH:
            self.store.sync()
            return 0, b""
        if offset % BLOCK_SIZE or length % BLOCK_SIZE or offset + length > size:
            return errno.EINVAL, b""
        first, count = offset // BLOCK_SIZE, length // BLOCK_SIZE
        if op == OP_READ:
            await self.before_read()
            return 0, b"".join(self.read_block(role, lba) for lba in range(first, first + count))
        if not writable:
            return errno.EROFS, b""
        if op == OP_ZERO:
            data = bytes(length)
        if len(data) != length:
            return errno.EINVAL, b""
        blocks = [data[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE] for i in range(count)]
        return await self.host_write(first, blocks), b""

    async def before_read(self) -> None:
        """Wait until a read may go on (A: not during a recovery)."""

    async def host_write(self, first: int, blocks: list[bytes]) -> int:
        """Write blocks as the host; errno."""
        return errno.EROFS

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One control command a line (JSON), one answer a line."""
        try:
            line = await reader.readline()
            try:
                req = json.loads(line)
                answer = await self.command(str(req.get("command")), req)
            except ScsiError as e:
                answer = {"ok": False, "error": str(e)}
            except (ValueError, TypeError, KeyError) as e:
                answer = {"ok": False, "error": f"bad request: {e}"}
            writer.write((json.dumps(answer) + "\n").encode())
            await writer.drain()
        finally:
            writer.close()

    async def command(self, name: str, req: dict[str, Any]) -> dict[str, Any]:
        """A control command's answer."""
        if name == "status":
            return {"ok": True, **self.status()}
        if name == "delay-path":
            ms = req.get("ms")
            if not isinstance(ms, int | float) or isinstance(ms, bool) or not 0 <= ms <= 60_000:
                return {"ok": False, "error": f"delay {ms!r}: milliseconds from 0 to 60000"}
            self.path_delay = ms / 1000
            return {"ok": True, "site": self.site, "delay_ms": ms}
        return {"ok": False, "error": f"array {self.site} has no command {name!r}"}

    def status(self) -> dict[str, Any]:
        """What ``ctl status`` shows."""
        return {"site": self.site, "pid": os.getpid(), "events": self.events.count,
                "bytes_sent": self.bytes_sent, "data_blocks_sent": self.data_blocks_sent,
                "path_delay_ms": round(self.path_delay * 1000, 3), "power_lost": self.store.power_lost,
                "unsynced_writes_dropped": self.store.dropped_spans}
