"""The bytes on the real path and on the local sockets, and the event log's lines.

A frame is ``>II`` (header length, data length), a UTF-8 JSON header, then the raw data. The path
carries the protocol's six messages (``MirrorWrite``, ``MirrorAck``, ``RecoverRequest``, ``SwapDone``,
``Checkpointed``: R's half of a checkpoint A has committed; ``Resynced``: R's half of a resync, committed) and
A's resync copy, ``Resync`` (the batch: P's dirty blocks, B, J's records), which R answers with ``Resynced``.

The event log (one JSON object a line, ``<site>-events.jsonl``) names each step in the model's action
vocabulary (``impl.actions.ACTION_NAMES``) with its arguments. Block contents appear as ``digest``: "0"
for a block of zeros, else 16 hex digits of BLAKE2b; a write of several blocks (a chunk of an NBD write:
one record, one message) carries its ``length`` and the ``digests`` of its blocks instead. ``pitmirror
trace validate`` maps digests to the model's small values per block (checkers/traces/eventlog.py explains
the abstraction).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
from typing import Any

from pitmirror.impl.blocks import BLOCK_SIZE
from pitmirror.impl.messages import Checkpointed, Message, MirrorAck, MirrorWrite, RecoverRequest, Resynced, SwapDone
from pitmirror.impl.record import MARKER

_FRAME = struct.Struct(">II")
MAX_HEADER = 1 << 20


class WireError(ValueError):
    """A frame that is not one this protocol sends."""


def digest(block: bytes) -> str:
    """The name of a block's (or a write's) content in the event log: "0" for zeros, else 16 hex digits."""
    if not any(block):
        return "0"
    return hashlib.blake2b(block, digest_size=8).hexdigest()


def frame(header: dict[str, Any], data: bytes = b"") -> bytes:
    """One frame."""
    raw = json.dumps(header, separators=(",", ":")).encode()
    return _FRAME.pack(len(raw), len(data)) + raw + data


async def read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    """The next frame; ``asyncio.IncompleteReadError`` at end of stream."""
    hlen, dlen = _FRAME.unpack(await reader.readexactly(_FRAME.size))
    if hlen > MAX_HEADER:
        raise WireError(f"frame header of {hlen} bytes")
    header = json.loads(await reader.readexactly(hlen))
    if not isinstance(header, dict) or not isinstance(header.get("kind"), str):
        raise WireError("frame header without a kind")
    data = await reader.readexactly(dlen) if dlen else b""
    return header, data


def encode_message(msg: Message) -> tuple[dict[str, Any], bytes]:
    """A protocol message as a frame's header and data."""
    if isinstance(msg, MirrorWrite):
        return {"kind": "MirrorWrite", "seq": msg.seq, "lba": msg.lba}, msg.data
    return {"kind": msg.name, **msg.fields()}, b""


def decode_message(header: dict[str, Any], data: bytes) -> Message:
    """Inverse of ``encode_message``; ``WireError`` for anything else."""
    kind = header["kind"]
    try:
        if kind == "MirrorWrite":
            return MirrorWrite(int(header["seq"]), int(header["lba"]), data)
        if kind == "MirrorAck":
            return MirrorAck(int(header["seq"]))
        if kind == "RecoverRequest":
            return RecoverRequest(int(header["recovery_id"]), int(header["target"]))
        if kind == "SwapDone":
            return SwapDone(int(header["recovery_id"]))
        if kind == "Checkpointed":
            return Checkpointed(int(header["seq"]))
        if kind == "Resynced":
            return Resynced(int(header["resync_id"]))
    except (KeyError, TypeError, ValueError) as e:
        raise WireError(f"malformed {kind}: {e}") from None
    raise WireError(f"not a protocol message: {kind!r}")


def write_event(lba: int, data: bytes) -> dict[str, Any]:
    """A write's arguments in the event log: ``lba`` and the ``digest`` of its block, or, for a write of
    several blocks (one record, one message), its ``length`` and the ``digests`` of its blocks in LBA order
    (the model's ``HostWrite`` leaves a one-block write's length out)."""
    blocks = [data[i : i + BLOCK_SIZE] for i in range(0, len(data), BLOCK_SIZE)]
    if len(blocks) <= 1:
        return {"lba": lba, "digest": digest(data)}
    return {"lba": lba, "length": len(blocks), "digests": [digest(b) for b in blocks]}


def message_event(msg: Message) -> dict[str, Any]:
    """A message as an event argument: the model's fields, with the data's digest for a write."""
    if isinstance(msg, MirrorWrite):
        if msg.lba == MARKER:
            return {"kind": "MirrorWrite", "seq": msg.seq, "lba": msg.lba, "digest": "0"}
        return {"kind": "MirrorWrite", "seq": msg.seq, **write_event(msg.lba, msg.data)}
    return {"kind": msg.name, **msg.fields()}
