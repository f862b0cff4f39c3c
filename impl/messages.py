"""What crosses the path between the arrays: the six message kinds of docs/PROTOCOL.md.

Each message carries real bytes where the protocol carries data, and shows itself in the model's words:
``repr(MirrorWrite(3, 0, block_of_value(1)))`` is ``MirrorWrite(seq=3, lba=0, value=1)``. ``name`` and
``fields()`` have the same shape as the model's messages, so a model message can name an impl message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from pitmirror.impl.blocks import BLOCK_SIZE, is_value_block, value_of_block, value_of_write
from pitmirror.impl.record import MARKER

#: ``fields()`` value of a MirrorWrite whose block is not the image of any model value (host text).
OPAQUE = -1


@dataclass(frozen=True)
class MirrorWrite:
    """A -> R: write ``seq`` of the blocks of ``data`` from ``lba`` (one block, or a multi-block write's k:
    one message for the whole write); a marker has ``lba == MARKER`` and its name as data."""

    seq: int
    lba: int
    data: bytes = field(repr=False)
    kind: ClassVar[int] = 0

    @property
    def name(self) -> str:
        """The message kind in the protocol's words."""
        return "MirrorWrite"

    @property
    def is_marker(self) -> bool:
        """A marker carries a name, no data block."""
        return self.lba == MARKER

    @property
    def nblocks(self) -> int:
        """The blocks the write covers (a marker: 1, as the model counts it)."""
        return 1 if self.is_marker else max(1, len(self.data) // BLOCK_SIZE)

    @property
    def value(self) -> int:
        """The model value of the blocks (0 for a marker, ``OPAQUE`` for host text)."""
        if self.is_marker:
            return 0
        if len(self.data) == BLOCK_SIZE:
            return value_of_block(self.data) if is_value_block(self.data) else OPAQUE
        v = value_of_write(self.data)
        return OPAQUE if v is None else v

    def fields(self) -> dict[str, int]:
        """The message's fields by their protocol names (a one-block write leaves its length out, as the
        model's does)."""
        out = {"seq": self.seq, "lba": self.lba, "value": self.value}
        return out if self.nblocks == 1 else {**out, "length": self.nblocks}

    def sort_key(self) -> tuple[int, int, int, int, bytes]:
        """Messages on the path are kept in this order (the model's sorted multiset)."""
        return (self.kind, self.seq, self.lba, self.value, self.data)

    def __repr__(self) -> str:
        lba = "MARKER" if self.is_marker else str(self.lba)
        more = f", length={self.nblocks}" if self.nblocks != 1 else ""
        if self.is_marker or self.value != OPAQUE:
            return f"MirrorWrite(seq={self.seq}, lba={lba}, value={self.value}{more})"
        return f"MirrorWrite(seq={self.seq}, lba={lba}, data={self.data.rstrip(bytes(1))[:24]!r})"


@dataclass(frozen=True)
class MirrorAck:
    """R -> A: R has applied write ``seq`` (or had already: duplicates are acknowledged again)."""

    seq: int
    kind: ClassVar[int] = 1

    @property
    def name(self) -> str:
        """The message kind in the protocol's words."""
        return "MirrorAck"

    def fields(self) -> dict[str, int]:
        """The message's fields by their protocol names."""
        return {"seq": self.seq}

    def sort_key(self) -> tuple[int, int, int, int, bytes]:
        """Path order."""
        return (self.kind, self.seq, 0, 0, b"")


@dataclass(frozen=True)
class RecoverRequest:
    """A -> R: rebuild image(``target``) from RB and JR and swap it in as S (swap recovery)."""

    recovery_id: int
    target: int
    kind: ClassVar[int] = 2

    @property
    def name(self) -> str:
        """The message kind in the protocol's words."""
        return "RecoverRequest"

    def fields(self) -> dict[str, int]:
        """The message's fields by their protocol names."""
        return {"recovery_id": self.recovery_id, "target": self.target}

    def sort_key(self) -> tuple[int, int, int, int, bytes]:
        """Path order."""
        return (self.kind, self.recovery_id, self.target, 0, b"")


@dataclass(frozen=True)
class SwapDone:
    """R -> A: R's swap for ``recovery_id`` is done."""

    recovery_id: int
    kind: ClassVar[int] = 3

    @property
    def name(self) -> str:
        """The message kind in the protocol's words."""
        return "SwapDone"

    def fields(self) -> dict[str, int]:
        """The message's fields by their protocol names."""
        return {"recovery_id": self.recovery_id}

    def sort_key(self) -> tuple[int, int, int, int, bytes]:
        """Path order."""
        return (self.kind, self.recovery_id, 0, 0, b"")


@dataclass(frozen=True)
class Checkpointed:
    """A -> R: A's half of a checkpoint is committed, its base is at ``seq``; R applies JR's records up to
    ``seq`` to RB (cumulative and idempotent: a late, duplicated or overtaken one changes nothing)."""

    seq: int
    kind: ClassVar[int] = 4

    @property
    def name(self) -> str:
        """The message kind in the protocol's words."""
        return "Checkpointed"

    def fields(self) -> dict[str, int]:
        """The message's fields by their protocol names."""
        return {"seq": self.seq}

    def sort_key(self) -> tuple[int, int, int, int, bytes]:
        """Path order."""
        return (self.kind, self.seq, 0, 0, b"")


@dataclass(frozen=True)
class Resynced:
    """R -> A: R has committed its half of resync ``resync_id`` (S, RB, JR and its watermarks from A's copy);
    A leaves COPY on the answer of the resync it runs, and on no other."""

    resync_id: int
    kind: ClassVar[int] = 5

    @property
    def name(self) -> str:
        """The message kind in the protocol's words."""
        return "Resynced"

    def fields(self) -> dict[str, int]:
        """The message's fields by their protocol names."""
        return {"resync_id": self.resync_id}

    def sort_key(self) -> tuple[int, int, int, int, bytes]:
        """Path order."""
        return (self.kind, self.resync_id, 0, 0, b"")


Message = MirrorWrite | MirrorAck | RecoverRequest | SwapDone | Checkpointed | Resynced
MESSAGE_NAMES: tuple[str, ...] = ("MirrorWrite", "MirrorAck", "RecoverRequest", "SwapDone", "Checkpointed",
                                  "Resynced")


def message_key(msg: Message) -> tuple[str, tuple[tuple[str, int], ...]]:
    """The message in the model's terms: its name and fields (what a model message can be matched on)."""
    return msg.name, tuple(sorted(msg.fields().items()))
