"""Array A served: its host writes, the path to R as a client connection, the timeouts and resync it runs
when the path fails and comes back, checkpoints, markers and recoveries (``impl/device/node.py``)."""

from __future__ import annotations

import asyncio
import errno
import time
from pathlib import Path
from typing import Any

from pitmirror.impl.blocks import BLOCK_SIZE
from pitmirror.impl.device.path_link import PathSender, encode_batch, more_buffered
from pitmirror.impl.device.site import (
    TRANSIENT,
    Node,
)
from pitmirror.impl.device.wire import (
    WireError,
    decode_message,
    encode_message,
    frame,
    message_event,
    read_frame,
    write_event,
)
from pitmirror.impl.errors import (
    JournalFull,
    PairSuspended,
    RecoveryInProgress,
    ScsiError,
)
from pitmirror.impl.messages import Message, MirrorAck, Resynced, SwapDone
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.primary import ArrayAController
from pitmirror.impl.ready import HostRequest, Ready, RequestStatus
from pitmirror.impl.states import FencePolicy, PairState, RecoveryKind, RemoteSwapStatus

__all__ = ["ArrayANode"]


class ArrayANode(Node):
    """Array A: P exported to the host, the path to R, recovery on command."""

    def __init__(self, folder: Path, blocks: int, journal_capacity: int, fence: FencePolicy, host: str,
                 port: int, max_in_flight: int, mutant: str | None = None, write_blocks: int = 1) -> None:
        super().__init__("A", folder, blocks, journal_capacity, fence, mutant, write_blocks)
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
        """An NBD write of ``blocks`` from ``first``: one journal record and one ``MirrorWrite`` per chunk of at
        most ``write_blocks`` blocks (the atomic write), in order. Each chunk is one ``HostWrite`` of the core,
        applied whole on P and S or, after a power loss, redone whole from J and JR: a power loss tears a longer
        write only between its chunks, never inside one. errno: 0 once every chunk is acknowledged."""
        requests: list[HostRequest] = []
        for at in range(0, len(blocks), self.write_blocks):
            lba, data = first + at, b"".join(blocks[at : at + self.write_blocks])
            while True:
                err = None if self.recovering else self.a.check_host_write(lba, data)
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
            req = HostRequest(self.tag, lba, data)
            self.run(lambda req=req: self.a.host_write(req))
            self.events.record("HostWrite", **write_event(lba, data))
            requests.append(req)
            self.time_out_lost()
        self.commit()
        while not all(r.done for r in requests):
            await self.wait_change()
        return 0 if all(r.status is RequestStatus.ACKED for r in requests) else errno.EIO

    def try_checkpoint(self) -> bool:
        """Checkpoint the oldest records, A's half, if the protocol allows it now (each sends ``Checkpointed``
        after the commit, and R does its half when it arrives): up to
        ``checkpoint_batch`` of them in one commit (each commit of a checkpoint is synced, B being no
        volume the journal can redo; one per host write was most of a write's time once the journal was
        full). The window shrinks by at most that many records more than the write needed."""
        seqs: list[int] = []
        while len(seqs) < self.checkpoint_batch:
            if self.writer is None or self.closing or not self.path_up or self.a.check_checkpoint() is not None:
                break
            seq, ready = self.a.checkpoint()
            self.take(ready)
            self.events.record("Checkpoint")
            seqs.append(seq)
        if not seqs:
            return False
        self.commit()  # sends each Checkpointed once the batch is durable
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
        msg = decode_message(header, data)
        if not isinstance(msg, MirrorAck | SwapDone | Resynced):
            raise WireError(f"array A does not receive {msg!r}")
        if isinstance(msg, Resynced):
            self.events.record("FinishResync")  # R has committed the copy: its answer says so
        self.run(lambda: self.a.receive(msg))
        self.events.record("Deliver", message=message_event(msg))
        if isinstance(msg, Resynced) and self.resync_done is not None and not self.resync_done.done():
            self.resync_done.set_result(None)

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
                await self.resync_done  # R's Resynced, delivered by on_frame, ended COPY
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
                "markers": dict(a.log.markers), "journal_records": len(a.log.entries),
                # the newest entries of the journal log table: [seq, lba, blocks] (one a chunk of a host write)
                "journal_tail": [[e.seq, e.lba, -(-e.length // BLOCK_SIZE)] for e in a.log.entries[-32:]]}

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
            elif eng.check_switch_lun() is None:
                self.run(eng.switch_lun)
                self.events.record("SwitchHostLun")
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
