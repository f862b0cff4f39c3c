"""The path between the arrays: one or more links carrying a multiset of messages, and what crossed it.

The path is a sorted multiset (any message may be delivered next: reordering), as in the model. It goes
down only when every link is down, and then every message on it is lost; a message sent while it is down
is dropped. ``PathStats`` counts, by kind, what was sent, delivered, lost, duplicated and dropped, and the
data blocks that crossed: the numbers the write-through vs swap comparison is about. A resync's copy is one
exchange (R commits it and answers ``Resynced`` on the path); it is counted too (``transfer``).
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pitmirror.impl.messages import Message, MirrorWrite, message_key


@dataclass
class Link:
    """One link of the path."""

    name: str
    up: bool = True
    carried: int = 0


@dataclass
class PathStats:
    """What crossed the path, by kind."""

    sent: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    duplicated: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    data_blocks: Counter[str] = field(default_factory=Counter)

    def copy(self) -> PathStats:
        """An independent copy (to subtract later)."""
        return PathStats(Counter(self.sent), Counter(self.delivered), Counter(self.lost),
                         Counter(self.duplicated), Counter(self.dropped), Counter(self.data_blocks))

    def since(self, earlier: PathStats) -> PathStats:
        """What crossed after ``earlier`` was taken."""
        return PathStats(self.sent - earlier.sent, self.delivered - earlier.delivered,
                         self.lost - earlier.lost, self.duplicated - earlier.duplicated,
                         self.dropped - earlier.dropped, self.data_blocks - earlier.data_blocks)

    @property
    def messages_sent(self) -> int:
        """Every message and transfer sent."""
        return sum(self.sent.values())

    @property
    def data_blocks_sent(self) -> int:
        """Every data block that crossed."""
        return sum(self.data_blocks.values())

    def summary(self) -> str:
        """``3 messages (MirrorWrite x2, MirrorAck x1), 2 data blocks``."""
        kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.sent.items()))
        return f"{self.messages_sent} messages ({kinds or 'none'}), {self.data_blocks_sent} data blocks"


def _spec_key(spec: Any) -> tuple[str, tuple[tuple[str, int], ...]]:
    """A message named by the caller: an impl message, a ``{"kind": ..., fields}`` dict, or any object
    with ``name`` and ``fields()`` (the model's messages)."""
    if isinstance(spec, dict):
        fields = {k: int(v) for k, v in spec.items() if k != "kind"}
        if fields.get("length") == 1:
            del fields["length"]  # a one-block MirrorWrite's fields leave its length out
        return str(spec.get("kind")), tuple(sorted(fields.items()))
    name, fields_fn = getattr(spec, "name", None), getattr(spec, "fields", None)
    if isinstance(name, str) and callable(fields_fn):
        return name, tuple(sorted((str(k), int(v)) for k, v in fields_fn().items()))
    raise TypeError(f"not a message: {spec!r}")


class Path:
    """The path: ``links`` links and the messages on it."""

    def __init__(self, links: int = 2) -> None:
        if links < 1:
            raise ValueError("a path has at least one link")
        self.links = [Link(f"link{i}") for i in range(links)]
        self.messages: list[Message] = []
        self.stats = PathStats()
        self._next_link = 0

    @property
    def up(self) -> bool:
        """The path is up while any link is."""
        return any(link.up for link in self.links)

    def send(self, msg: Message) -> bool:
        """Put ``msg`` on the path (on the next link that is up); False if it was dropped."""
        if not self.up:
            self.stats.dropped[msg.name] += 1
            return False
        while not self.links[self._next_link % len(self.links)].up:
            self._next_link += 1
        self.links[self._next_link % len(self.links)].carried += 1
        self._next_link += 1
        self.stats.sent[msg.name] += 1
        if isinstance(msg, MirrorWrite) and not msg.is_marker:
            self.stats.data_blocks[msg.name] += 1
        bisect.insort(self.messages, msg, key=lambda m: m.sort_key())
        return True

    def find(self, spec: Any) -> Message | None:
        """The first message on the path equal to ``spec`` (an impl message), or matching it by name and
        fields (a model message or a dict)."""
        if isinstance(spec, Message):
            return next((m for m in self.messages if m == spec), None)
        key = _spec_key(spec)
        return next((m for m in self.messages if message_key(m) == key), None)

    def take(self, msg: Message) -> None:
        """Remove one copy of ``msg``: it is delivered."""
        self.messages.remove(msg)
        self.stats.delivered[msg.name] += 1

    def lose(self, msg: Message) -> None:
        """Remove one copy of ``msg``: it is lost."""
        self.messages.remove(msg)
        self.stats.lost[msg.name] += 1

    def duplicate(self, msg: Message) -> None:
        """Add one more copy of ``msg``."""
        bisect.insort(self.messages, msg, key=lambda m: m.sort_key())
        self.stats.duplicated[msg.name] += 1

    def fail(self) -> list[Message]:
        """Every link goes down; what was on the path is lost."""
        for link in self.links:
            link.up = False
        dropped, self.messages = self.messages, []
        for m in dropped:
            self.stats.dropped[m.name] += 1
        return dropped

    def repair(self) -> None:
        """Every link comes back up."""
        for link in self.links:
            link.up = True

    def distinct(self) -> list[Message]:
        """The messages on the path, each once, in path order."""
        out: list[Message] = []
        for m in self.messages:
            if not out or out[-1] != m:
                out.append(m)
        return out

    def transfer(self, kind: str, count: int = 1, data_blocks: int = 0) -> None:
        """Count an atomic exchange that crosses the path (checkpoint, resync)."""
        if count:
            self.stats.sent[kind] += count
            self.stats.delivered[kind] += count
        if data_blocks:
            self.stats.data_blocks[kind] += data_blocks
