"""One served array as a process: the sans-I/O controller core of array A or R, its drives and tables in
files (``storage``), the path as a real TCP connection, local sockets for the NBD shim and the control
commands, and the event log.

Everything runs on one asyncio loop, so controller steps never interleave: each step runs to its
``Ready``, which the node acts on in the contract's order (``ArrayStore.commit`` makes it durable, then
messages go on the path, then the host hears). Run as
``python -m pitmirror.impl.device.node --site A|R --dir D --blocks N ...`` (``pitmirror serve`` does).

What the node does that the in-process driver (impl/driver.py) does for a scripted run:

- A times out writes the path lost: when the connection to R breaks (``FailPath``), every write in flight
  is lost, so A takes ``MirrorTimeout`` at once; the pair suspends (fence ``never``: the host is answered).
- When the connection comes back (``RepairPath``) A resynchronizes: ``StartResync``, the batch to R,
  ``FinishResync`` on R's answer.
- A checkpoints (in lockstep, R told over the path) only when a host write finds the journal full.
- A restart after ``kill -9`` is ``CrashArray``: the core's ``crash()`` on the tables and drives read back.
- A fail-path command closes the connection gracefully: R answers everything it has read before A logs
  ``FailPath``, so the log's order is the order things happened.
- ``ctl delay-path MS`` makes each array hold what it puts on the path MS milliseconds (``PathSender``), in
  order; a fail-path lets what was handed over go out first, as it was already on the path.
- ``ctl power-loss`` is a ``kill -9`` whose restart first drops every write the array had not synced
  (``storage``): the node syncs before it sends or answers (``ArrayStore.commit``), so the restart's
  ``CrashArray`` finds every record it acknowledged.

The event log's timestamps are ``CLOCK_MONOTONIC`` nanoseconds, one clock for every process on the
machine (the served arrays are loopback-only), so the merged log is in real-time order, which respects
causality: a message is logged as sent (at A's step) before it is logged as delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import errno
import json
import os
import signal
import struct
import sys
import time
from pathlib import Path
from typing import Any

from pitmirror.impl.blocks import BLOCK_SIZE
from pitmirror.impl.device.storage import DEVICE_MUTANTS, ArrayStore, VolatileFile
from pitmirror.impl.device.wire import (
    WireError,
    decode_message,
    digest,
    encode_message,
    frame,
    message_event,
    read_frame,
)
from pitmirror.impl.errors import (
    JournalFull,
    PairSuspended,
    RecoveryInProgress,
    ResyncInProgress,
    ScsiError,
    TooManyInFlight,
)
from pitmirror.impl.messages import Message, MirrorAck, MirrorWrite, RecoverRequest, SwapDone
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.primary import ArrayAController
from pitmirror.impl.ready import HostRequest, Ready, RequestStatus, ResyncBatch
from pitmirror.impl.record import JournalRecord
from pitmirror.impl.remote import ArrayRController
from pitmirror.impl.states import FencePolicy, PairState, RecoveryKind, RemoteSwapStatus

#: host-socket request: op, offset, length, data length (then the data); answer: errno, data length
REQ = struct.Struct(">BQII")
ANS = struct.Struct(">II")
OP_READ, OP_WRITE, OP_ZERO, OP_FLUSH, OP_SIZE = 0, 1, 2, 3, 4
#: refusals a host write waits out instead of failing: they end by themselves
TRANSIENT = (RecoveryInProgress, ResyncInProgress, TooManyInFlight, JournalFull)


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
                 mutant: str | None = None) -> None:
        self.site, self.folder, self.blocks = site, folder, blocks
        self.store = ArrayStore(folder, site, blocks, journal_capacity, fence, mutant)
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


class ArrayANode(Node):
    """Array A: P exported to the host, the path to R, recovery on command."""

    def __init__(self, folder: Path, blocks: int, journal_capacity: int, fence: FencePolicy, host: str,
                 port: int, max_in_flight: int, mutant: str | None = None) -> None:
        super().__init__("A", folder, blocks, journal_capacity, fence, mutant)
        self.a = ArrayAController(self.store.array, Mutant(None), max_in_flight)
        self.remote_addr = (host, port)
        self.writer: asyncio.StreamWriter | None = None
        self.sender: PathSender | None = None
        self.path_up: bool = self.store.meta.get("path_up", True)  # the model's path_up survives a crash
        self.path_wanted = True  # false between ctl fail-path and repair-path
        self.outbox: list[Message] = []
        self.unsent: list[Message] = []
        self.closing = False  # fail-path has half-closed the connection: nothing more is sent on it
        self.tag = 0
        self.resync_done: asyncio.Future[None] | None = None
        self.checkpoint_batch = max(1, journal_capacity // 64)
        self.recovering = False
        if self.store.restarted:
            self.run(lambda: self.a.crash())
            self.events.record("CrashArray", array="A")
            self.commit()

    # --- batches ---------------------------------------------------------------------------------------

    def run(self, step: Any) -> Any:
        """One core step: act on its Ready (messages wait in the outbox for the commit)."""
        ready = step()
        ready = ready[1] if isinstance(ready, tuple) else ready
        self.take(ready)
        return ready

    def take(self, ready: Ready) -> None:
        """A Ready's messages wait for the commit; its answers to the host are recorded now (the host
        hears them only after the commit: ``host_write`` returns after its batch is committed)."""
        self.outbox += ready.messages
        for req in ready.acked:
            req.status = RequestStatus.ACKED
        for req, err in ready.failed:
            req.status, req.error = RequestStatus.FAILED, err

    def commit(self, durable: bool = True) -> None:
        """Commit, then send what the batch produced; a write the path cannot carry is lost."""
        self.store.meta["path_up"] = self.path_up
        super().commit(durable or bool(self.outbox))
        out, self.outbox = self.outbox, []
        if self.writer is None or self.closing:
            if self.path_up:  # on the model's path: sent as soon as the connection is there
                self.unsent += out
            return
        for msg in out:
            self.send(*encode_message(msg))

    def send(self, header: dict[str, Any], data: bytes = b"") -> None:
        if self.sender is None or self.closing:
            return  # the path is going down: the model's FailPath will drop it

        raw = frame(header, data)
        self.sender.send(raw)
        self.bytes_sent += len(raw)
        self.data_blocks_sent += len(data) // BLOCK_SIZE if header["kind"] != "Resync" else 0

    def time_out_lost(self) -> None:
        """The path is down: every write in flight is lost, so A times out (the oldest first, which
        resolves all), and a swap answer that cannot come is timed out too."""
        if self.path_up:
            return
        if self.a.in_flight:
            seq = self.a.in_flight[0].seq
            self.run(lambda: self.a.timeout(seq))
            self.events.record("MirrorTimeout", seq=seq)
        r = self.a.jfmt.recovery
        if r is not None and r.remote_status == RemoteSwapStatus.REQUESTED:
            self.run(self.a.swap_timeout)
            self.events.record("SwapTimeout")

    # --- host I/O --------------------------------------------------------------------------------------

    async def before_read(self) -> None:
        while self.a.jfmt.recovery is not None:
            await self.wait_change()

    async def host_write(self, first: int, blocks: list[bytes]) -> int:
        requests: list[HostRequest] = []
        for i, block in enumerate(blocks):
            lba = first + i
            while True:
                err = None if self.recovering else self.a.check_host_write(lba, block)
                if self.recovering:
                    err = RecoveryInProgress("WRITE", "a recovery is about to start")
                if err is None:
                    break
                if isinstance(err, PairSuspended):
                    return errno.EIO
                if not isinstance(err, TRANSIENT):
                    return errno.EINVAL
                if isinstance(err, JournalFull):
                    if self.try_checkpoint():
                        continue
                    if self.a.pair.pair_state != PairState.PAIR or not self.path_up:
                        return errno.ENOSPC  # no checkpoint without R: the window is full until resync
                self.commit()
                await self.wait_change()
            self.tag += 1
            req = HostRequest(self.tag, lba, block)
            self.run(lambda req=req: self.a.host_write(req))
            self.events.record("HostWrite", lba=lba, digest=digest(block))
            requests.append(req)
            self.time_out_lost()
        self.commit()
        while not all(r.done for r in requests):
            await self.wait_change()
        return 0 if all(r.status is RequestStatus.ACKED for r in requests) else errno.EIO

    def try_checkpoint(self) -> bool:
        """Checkpoint the oldest records, in lockstep with R, if the protocol allows it now: up to
        ``checkpoint_batch`` of them in one commit (each commit of a checkpoint is synced, B being no
        volume the journal can redo; one per host write was most of a write's time once the journal was
        full). The window shrinks by at most that many records more than the write needed."""
        seqs: list[int] = []
        while len(seqs) < self.checkpoint_batch:
            if self.writer is None or self.closing or not self.path_up or self.a.check_checkpoint() is not None:
                break
            oldest = self.a.log.entries[0].seq
            if any(e.seq <= oldest for e in self.a.in_flight):
                break  # R has not applied it yet
            seq, ready = self.a.checkpoint()
            self.take(ready)
            self.events.record("Checkpoint")
            seqs.append(seq)
        if not seqs:
            return False
        self.commit()
        for seq in seqs:
            self.send({"kind": "Checkpoint", "seq": seq})
        return True

    # --- the path --------------------------------------------------------------------------------------

    async def path_loop(self) -> None:
        """Keep the connection to R: connect, resync if needed, read R's messages; on loss, FailPath."""
        while True:
            if not self.path_wanted:
                await self.wait_change()
                continue
            try:
                reader, writer = await asyncio.open_connection(*self.remote_addr)
            except OSError:
                if self.path_up:  # R is unreachable: what the path held is lost
                    self.lose_path()
                await asyncio.sleep(0.2)
                continue
            self.writer, self.closing = writer, False
            self.sender = PathSender(writer, lambda: self.path_delay)
            unsent, self.unsent = self.unsent, []
            for msg in unsent:
                self.send(*encode_message(msg))
            if not self.path_up:
                self.path_up = True
                self.events.record("RepairPath")
                self.commit()
            resync = asyncio.create_task(self.resync())
            try:
                acks_only = True
                while True:
                    header, data = await read_frame(reader)
                    self.on_frame(header, data)
                    acks_only = acks_only and header["kind"] == "MirrorAck"
                    if not more_buffered(reader):
                        # group commit of the frames already here; R's acknowledgements alone need no
                        # sync: the records they complete were synced before they were sent
                        self.commit(durable=not acks_only)
                        acks_only = True
            except (asyncio.IncompleteReadError, ConnectionError, WireError):
                pass
            resync.cancel()
            self.writer, self.sender = None, None
            writer.close()
            self.lose_path()

    def lose_path(self) -> None:
        """FailPath: the connection is gone, and with it everything on the path."""
        self.path_up = False
        self.unsent = []
        self.events.record("FailPath")
        if self.resync_done is not None and not self.resync_done.done():
            self.resync_done.cancel()
        self.time_out_lost()
        self.commit()

    def on_frame(self, header: dict[str, Any], data: bytes) -> None:
        if header["kind"] == "ResyncDone":
            if self.resync_done is not None and not self.resync_done.done():
                self.resync_done.set_result(None)
            return
        msg = decode_message(header, data)
        if not isinstance(msg, MirrorAck | SwapDone):
            raise WireError(f"array A does not receive {msg!r}")
        self.run(lambda: self.a.receive(msg))
        self.events.record("Deliver", message=message_event(msg))

    async def resync(self) -> None:
        """While connected: bring a suspended pair back to PAIR (StartResync, the batch, FinishResync)."""
        while self.writer is not None:
            if self.closing:
                return
            if self.a.pair.pair_state == PairState.SUSPENDED and self.a.check_start_resync() is None:
                self.run(self.a.start_resync)
                self.events.record("StartResync")
                self.commit()
            if self.a.pair.pair_state == PairState.COPY:
                batch = self.a.resync_source()
                self.resync_done = asyncio.get_running_loop().create_future()
                self.send(*encode_batch(batch))
                await self.resync_done
                self.run(self.a.finish_resync)
                self.events.record("FinishResync")
                self.commit()
            await self.wait_change()

    # --- control ---------------------------------------------------------------------------------------

    async def command(self, name: str, req: dict[str, Any]) -> dict[str, Any]:
        if name == "marker":
            return await self.marker(req.get("name"))
        if name == "recover":
            return await self.recover(req["to"], str(req.get("method", "writethrough")))
        if name == "fail-path":
            return await self.fail_path()
        if name == "repair-path":
            self.path_wanted = True
            self.notify()
            return {"ok": True}
        return await super().command(name, req)

    def status(self) -> dict[str, Any]:
        a = self.a
        return {**super().status(), "pair_state": a.pair.pair_state.name,
                "journaling_state": a.jfmt.journaling_state.name, "path": "up" if self.path_up else "down",
                "connected": self.writer is not None, "base_seq": a.jfmt.base_seq, "next_seq": a.log.next_seq,
                "in_flight": len(a.in_flight), "dirty": len(a.pair.dirty_lbas()),
                "markers": dict(a.log.markers), "journal_records": len(a.log.entries)}

    async def marker(self, name: Any) -> dict[str, Any]:
        while True:
            err = self.a.check_set_marker(name)
            if err is None:
                break
            if not isinstance(err, TRANSIENT):
                raise err
            await self.wait_change()
        name, ready = self.a.set_marker(name)
        self.take(ready)
        self.events.record("SetMarker", name=name)
        self.time_out_lost()
        self.commit()
        return {"ok": True, "name": name, "seq": self.a.log.markers[name]}

    async def fail_path(self) -> dict[str, Any]:
        """Cut the path: stop sending, let R answer what it has read, then the connection is down."""
        self.path_wanted = False
        writer, sender = self.writer, self.sender
        if writer is not None and sender is not None:
            self.closing = True
            await sender.drained()  # what was sent before the cut goes out first (it is on the path)
            writer.write_eof()
            while self.writer is not None:
                await self.wait_change(0.05)
        return {"ok": True}

    async def recover(self, to: Any, method: str) -> dict[str, Any]:
        """Recover P (and S) to a marker or seq: wait for quiet, run every step, report."""
        kind = {"writethrough": RecoveryKind.WRITETHROUGH, "swap": RecoveryKind.SWAP}.get(method)
        if kind is None:
            return {"ok": False, "error": f"unknown method {method!r}: writethrough or swap"}
        target: int | str = int(to) if isinstance(to, int) or str(to).isdigit() else str(to)
        err = self.a.recovery.check_target(target, kind)
        if err is not None:
            raise err
        began, sent_before = time.monotonic(), (self.bytes_sent, self.data_blocks_sent)
        self.recovering = True  # new host writes wait from now on
        try:
            while True:
                err = self.a.recovery.check_start(target, kind)
                if err is None:
                    break
                if self.a.recovery.check_target(target, kind) is not None:
                    raise err
                await self.wait_change()
            seq = self.a.recovery.resolve(target)
            image = self.a.recovery.image(seq)
            differing = sum(1 for p, v in zip(self.a.primary(), image, strict=True) if p != v)
            self.run(lambda: self.a.recovery.start(target, kind))
            self.events.record("StartRecovery", target=seq, kind=kind.name.lower())
            self.time_out_lost()
            self.commit()
        finally:
            self.recovering = False
        eng = self.a.recovery
        while self.a.jfmt.recovery is not None:
            progressed = False
            if eng.check_finish() is None:
                self.run(eng.finish)
                self.events.record("FinishRecovery")
                progressed = True
            elif eng.check_swap() is None:
                self.full_commit = True  # the rebuilt volume is not in the journal: durable before the map
                self.run(eng.swap)
                self.events.record("SwapVolumes")
                progressed = True
            elif kind == RecoveryKind.WRITETHROUGH:
                for lba in eng.differing():
                    # eng.write checks its own guard; asking check_write first would rebuild image(T) twice
                    try:
                        self.run(lambda lba=lba: eng.write(lba))
                    except ScsiError:
                        continue  # in flight, or the pair left PAIR: a later round takes it
                    self.events.record("RecoveryWrite", lba=lba)
                    self.time_out_lost()
                    progressed = True
            self.time_out_lost()
            self.commit()
            if not progressed:
                await self.wait_change()
        return {"ok": True, "target": seq, "method": method, "blocks_differing": differing,
                "bytes_sent": self.bytes_sent - sent_before[0],
                "data_blocks_sent": self.data_blocks_sent - sent_before[1],
                "seconds": round(time.monotonic() - began, 3),
                "pair_state": self.a.pair.pair_state.name}


class ArrayRNode(Node):
    """Array R: applies what A mirrors, S exported read-only."""

    def __init__(self, folder: Path, blocks: int, journal_capacity: int, mutant: str | None = None) -> None:
        super().__init__("R", folder, blocks, journal_capacity, FencePolicy.NEVER, mutant)
        self.r = ArrayRController(self.store.array, Mutant(None))
        self.current: asyncio.Task[None] | None = None
        if self.store.restarted:
            self.r.crash()
            self.events.record("CrashArray", array="R")
            self.commit()

    async def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection from A at a time: an older one is read to its end first (FIFO across both)."""
        previous, self.current = self.current, asyncio.current_task()
        if previous is not None:
            with contextlib.suppress(BaseException):
                await previous
        replies: list[tuple[dict[str, Any], bytes]] = []
        sender = PathSender(writer, lambda: self.path_delay)
        try:
            while True:
                header, data = await read_frame(reader)
                replies += self.on_frame(header, data)
                if more_buffered(reader):
                    continue  # group commit: the frames already here share one commit
                self.commit()
                for h, d in replies:
                    raw = frame(h, d)
                    sender.send(raw)
                    self.bytes_sent += len(raw)
                replies = []
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, WireError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                await sender.drained()  # answers to what was read go out before the connection closes
            writer.close()

    def on_frame(self, header: dict[str, Any], data: bytes) -> list[tuple[dict[str, Any], bytes]]:
        kind = header["kind"]
        if kind == "Checkpoint":
            if self.r.holds_oldest(int(header["seq"])):
                self.r.checkpoint()
            return []
        if kind == "Resync":
            self.full_commit = True  # S takes blocks that are in no record of JR
            self.r.apply_resync(decode_batch(header, data, self.blocks))
            return [({"kind": "ResyncDone"}, b"")]
        msg = decode_message(header, data)
        if not isinstance(msg, MirrorWrite | RecoverRequest):
            raise WireError(f"array R does not receive {msg!r}")
        if isinstance(msg, RecoverRequest):
            self.full_commit = True  # the swap's rebuilt S is in no record of JR
        ready = self.r.receive(msg)
        self.events.record("Deliver", message=message_event(msg))
        return [encode_message(m) for m in ready.messages]  # sent after the commit

    def status(self) -> dict[str, Any]:
        r = self.r
        return {**super().status(), "applied_seq": r.applied_seq, "replica_base_seq": r.replica_base_seq,
                "journal_records": len(r.log.entries)}


class PathSender:
    """The frames one array puts on one connection of the path, in order, each held ``delay()`` seconds
    first (``ctl delay-path``: a long link). Without a delay a frame is written at once."""

    def __init__(self, writer: asyncio.StreamWriter, delay: Any) -> None:
        self.writer, self.delay = writer, delay
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    def send(self, raw: bytes) -> None:
        """Put a frame on the path (after the frames before it, however their delays compare)."""
        delay = float(self.delay())
        if delay <= 0 and not self.queue:
            self.writer.write(raw)
            return
        loop = asyncio.get_running_loop()
        self.queue.append((loop.time() + delay, raw))
        self.idle.clear()
        if self.task is None or self.task.done():
            self.task = loop.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.queue:
            due, raw = self.queue[0]
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            self.queue.popleft()
            if not self.writer.is_closing():  # a connection that went down lost it, as the path does
                self.writer.write(raw)
        self.idle.set()

    async def drained(self) -> None:
        """Until every frame handed over is on the connection."""
        await self.idle.wait()


def more_buffered(reader: asyncio.StreamReader) -> bool:
    """Whether bytes of a next frame are already read in (asyncio has no public call for it)."""
    return bool(getattr(reader, "_buffer", b""))


def encode_batch(batch: ResyncBatch) -> tuple[dict[str, Any], bytes]:
    """A resync batch as one frame: the dirty blocks, the whole base, the journal's records."""
    lbas = sorted(batch.blocks)
    records = [{"seq": r.seq, "lba": r.lba, "name": r.name, "len": len(r.payload)} for r in batch.records]
    data = b"".join(batch.blocks[lba] for lba in lbas) + b"".join(batch.base) \
        + b"".join(r.payload for r in batch.records)
    return {"kind": "Resync", "lbas": lbas, "records": records, "base_seq": batch.base_seq,
            "next_seq": batch.next_seq, "recovery_id": batch.recovery_id}, data


def decode_batch(header: dict[str, Any], data: bytes, blocks: int) -> ResyncBatch:
    """Inverse of ``encode_batch``."""
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        pos += n
        return data[pos - n : pos]

    lbas = [int(x) for x in header["lbas"]]
    dirty = {lba: take(BLOCK_SIZE) for lba in lbas}
    base = [take(BLOCK_SIZE) for _ in range(blocks)]
    records = [JournalRecord(int(r["seq"]), int(r["lba"]), take(int(r["len"])), name=str(r["name"]))
               for r in header["records"]]
    return ResyncBatch(dirty, base, int(header["base_seq"]), records, int(header["next_seq"]),
                       int(header["recovery_id"]))


async def main_async(args: argparse.Namespace) -> None:
    folder = Path(args.dir)
    fence = FencePolicy[args.fence.upper()]
    servers: list[asyncio.AbstractServer] = []
    node: Node
    if args.site == "A":
        node = ArrayANode(folder, args.blocks, args.journal_capacity, fence, args.path_host, args.path_port,
                          args.max_in_flight, args.mutant)
        asyncio.create_task(node.path_loop())  # noqa: RUF006 - lives as long as the loop
    else:
        rnode = ArrayRNode(folder, args.blocks, args.journal_capacity, args.mutant)
        servers.append(await asyncio.start_server(rnode.on_connection, args.path_host, args.path_port))
        node = rnode
    writable = args.site == "A"
    role = "primary" if writable else "remote"

    async def host(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await node.host_reader(reader, writer, role, writable)

    servers.append(await node.serve_unix(folder / f"{args.site}.host.sock", host))
    servers.append(await node.serve_unix(folder / f"{args.site}.ctl.sock", node.control))
    (folder / f"{args.site}.ready").write_text(str(os.getpid()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    node.commit()
    node.store.close()
    # Everything is committed to the files; leave without unwinding the path and resync tasks (a task
    # parked in a shielded wait can hold up asyncio's cancel-all for ever, and nothing is left to save).
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of one array process."""
    p = argparse.ArgumentParser(prog="pitmirror-array")
    p.add_argument("--site", choices=("A", "R"), required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--blocks", type=int, required=True)
    p.add_argument("--journal-capacity", type=int, required=True)
    p.add_argument("--fence", choices=("never", "data"), default="never")
    p.add_argument("--path-host", default="127.0.0.1")
    p.add_argument("--path-port", type=int, required=True)
    p.add_argument("--max-in-flight", type=int, default=256)
    p.add_argument("--mutant", choices=DEVICE_MUTANTS, default=None)
    args = p.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
