"""The path as a connection: the frames an array puts on it in order (with ``ctl delay-path``'s delay), and
the resync batch's bytes."""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from pitmirror.impl.blocks import BLOCK_SIZE
from pitmirror.impl.ready import ResyncBatch
from pitmirror.impl.record import JournalRecord

__all__ = ["PathSender", "decode_batch", "encode_batch", "more_buffered"]


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
            "next_seq": batch.next_seq, "recovery_id": batch.recovery_id, "resync_id": batch.resync_id}, data


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
                       int(header["recovery_id"]), int(header["resync_id"]))
