"""Array R served: the path's server end, which applies mirror writes in sequence order, answers
checkpoints and resyncs, and rebuilds its half of a swap recovery (``impl/device/node.py``)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from pitmirror.impl.device.path_link import PathSender, decode_batch, more_buffered
from pitmirror.impl.device.site import Node
from pitmirror.impl.device.wire import (
    WireError,
    decode_message,
    encode_message,
    frame,
    message_event,
    read_frame,
)
from pitmirror.impl.messages import Checkpointed, MirrorWrite, RecoverRequest
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.remote import ArrayRController
from pitmirror.impl.states import FencePolicy

__all__ = ["ArrayRNode"]


class ArrayRNode(Node):
    """Array R: applies what A mirrors, S exported read-only."""

    def __init__(self, folder: Path, blocks: int, journal_capacity: int, mutant: str | None = None,
                 write_blocks: int = 1) -> None:
        # JR's ring is sized for A's longest record (``write_blocks``): one chunk of a host write is one
        # MirrorWrite, appended to JR whole before S is written, and redone from JR by a restart
        super().__init__("R", folder, blocks, journal_capacity, FencePolicy.NEVER, mutant, write_blocks)
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
        if kind == "Resync":
            self.full_commit = True  # S takes blocks that are in no record of JR
            _, _, ready = self.r.apply_resync(decode_batch(header, data, self.blocks))
            return [encode_message(m) for m in ready.messages]  # Resynced, sent after the commit
        msg = decode_message(header, data)
        if not isinstance(msg, MirrorWrite | RecoverRequest | Checkpointed):
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
