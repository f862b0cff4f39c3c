"""The model's actions: frozen dataclasses named in the patent's words, whose repr is valid Python.

Each carries the claims it realises (``claims``) and who performs it (``actor``: the lane on the trace page).
The impl emits the same names, so a model trace replays on the impl and an impl run replays on the model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from pitmirror.spec.state import Message, RecoveryKind, message_from_fields


@dataclass(frozen=True, slots=True)
class Action:
    """Base class: an action's name is its class name; ``args()`` are its fields as JSON-ready data."""

    claims: ClassVar[tuple[int, ...]] = ()
    actor: ClassVar[str] = "A"

    @property
    def name(self) -> str:
        """The action's protocol name, e.g. ``HostWrite``."""
        return type(self).__name__

    def args(self) -> dict[str, Any]:
        """The arguments as JSON-ready data (a message becomes ``{"kind": ..., <fields>}``)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Message):
                out[f.name] = {"kind": v.name, **v.fields()}
            elif isinstance(v, RecoveryKind):
                out[f.name] = v.name.lower()
            else:
                out[f.name] = v
        return out


@dataclass(frozen=True, slots=True)
class HostWrite(Action):
    """The host writes ``value`` to block ``lba`` of P."""

    lba: int
    value: int
    claims: ClassVar[tuple[int, ...]] = (1, 2, 4, 15, 16, 18)
    actor: ClassVar[str] = "host"


@dataclass(frozen=True, slots=True)
class SetMarker(Action):
    """A named consistency point: a journal record with no data."""

    claims: ClassVar[tuple[int, ...]] = (3, 4, 17, 18)
    actor: ClassVar[str] = "host"


@dataclass(frozen=True, slots=True)
class Deliver(Action):
    """The path delivers one message (any one: the path reorders)."""

    message: Message
    claims: ClassVar[tuple[int, ...]] = (1, 7, 10, 15, 21, 24)
    actor: ClassVar[str] = "path"


@dataclass(frozen=True, slots=True)
class LoseMessage(Action):
    """Fault: one message on the path is lost."""

    message: Message
    actor: ClassVar[str] = "path"


@dataclass(frozen=True, slots=True)
class DuplicateMessage(Action):
    """Fault: one message on the path is duplicated."""

    message: Message
    actor: ClassVar[str] = "path"


@dataclass(frozen=True, slots=True)
class FailPath(Action):
    """Fault: every link of the path goes down; what was on it is lost."""

    actor: ClassVar[str] = "path"


@dataclass(frozen=True, slots=True)
class RepairPath(Action):
    """The path comes back up."""

    actor: ClassVar[str] = "path"


@dataclass(frozen=True, slots=True)
class MirrorTimeout(Action):
    """A gives up waiting for R on the write ``seq``: the pair is suspended per the fence policy."""

    seq: int
    claims: ClassVar[tuple[int, ...]] = (1, 15)


@dataclass(frozen=True, slots=True)
class SwapTimeout(Action):
    """A gives up waiting for R's half of a swap: the pair is suspended with every block dirty."""

    claims: ClassVar[tuple[int, ...]] = (13, 14, 27, 28)


@dataclass(frozen=True, slots=True)
class CrashArray(Action):
    """Fault: crash and restart of one array's controller (``"A"`` or ``"R"``)."""

    array: str
    claims: ClassVar[tuple[int, ...]] = (8, 22)
    actor: ClassVar[str] = "fault"


@dataclass(frozen=True, slots=True)
class Checkpoint(Action):
    """Apply the oldest journal record to B and, in lockstep, to RB; free it."""

    claims: ClassVar[tuple[int, ...]] = (10, 12, 24, 26)


@dataclass(frozen=True, slots=True)
class RemoteCheckpoint(Action):
    """R checkpoints RB on its own (only the ``remote_checkpoints_alone`` mutant enables it)."""

    actor: ClassVar[str] = "R"


@dataclass(frozen=True, slots=True)
class PersistJournal(Action):
    """A volatile journal record reaches J (only ``journal_not_persisted_before_ack`` enables it)."""


@dataclass(frozen=True, slots=True)
class StartResync(Action):
    """SUSPENDED -> COPY: start copying the dirty blocks to R."""

    claims: ClassVar[tuple[int, ...]] = (1, 15)


@dataclass(frozen=True, slots=True)
class FinishResync(Action):
    """COPY -> PAIR: every dirty block and missing journal record is on R."""

    claims: ClassVar[tuple[int, ...]] = (1, 15)


@dataclass(frozen=True, slots=True)
class StartRecovery(Action):
    """Recover P to image(target): freeze host I/O; for a swap, ask R to rebuild too."""

    target: int
    kind: RecoveryKind
    claims: ClassVar[tuple[int, ...]] = (1, 3, 5, 10, 15, 17, 19, 24)
    actor: ClassVar[str] = "host"


@dataclass(frozen=True, slots=True)
class RecoveryWrite(Action):
    """Write-through: write one block where P differs from replay(B, J, T) through the synchronous path."""

    lba: int
    claims: ClassVar[tuple[int, ...]] = (1, 5, 6, 7, 15, 19, 20, 21)


@dataclass(frozen=True, slots=True)
class SwapVolumes(Action):
    """Swap: A builds replay(B, J, T) in a spare LDEV and makes it the primary volume."""

    claims: ClassVar[tuple[int, ...]] = (11, 13, 25, 27)


@dataclass(frozen=True, slots=True)
class FinishRecovery(Action):
    """The recovery is done; host I/O resumes."""

    claims: ClassVar[tuple[int, ...]] = (1, 6, 7, 10, 15, 20, 21, 24)


ACTION_TYPES: dict[str, type[Action]] = {
    cls.__name__: cls
    for cls in (
        HostWrite, SetMarker, Deliver, LoseMessage, DuplicateMessage, FailPath, RepairPath, MirrorTimeout,
        SwapTimeout, CrashArray, Checkpoint, RemoteCheckpoint, PersistJournal, StartResync, FinishResync,
        StartRecovery, RecoveryWrite, SwapVolumes, FinishRecovery,
    )
}


def action_from_json(name: str, args: dict[str, Any]) -> Action:
    """Rebuild an action from a trace step; ``ValueError`` with a clear message on anything malformed."""
    cls = ACTION_TYPES.get(name)
    if cls is None:
        raise ValueError(f"unknown action {name!r}; valid: {', '.join(ACTION_TYPES)}")
    try:
        kw: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        if set(args) != names:
            raise TypeError(f"takes arguments ({', '.join(sorted(names))}), got ({', '.join(sorted(args))})")
        for key, v in args.items():
            if key == "message":
                m = dict(v)
                kw[key] = message_from_fields(str(m.pop("kind")), m)
            elif key == "kind":
                kw[key] = RecoveryKind[str(v).upper()]
            elif key == "array":
                if v not in ("A", "R"):
                    raise TypeError("array must be 'A' or 'R'")
                kw[key] = v
            else:
                if not isinstance(v, int) or isinstance(v, bool):
                    raise TypeError(f"{key} must be an integer")
                kw[key] = v
        return cls(**kw)
    except (TypeError, KeyError, AttributeError, ValueError) as e:
        raise ValueError(f"malformed {name} arguments {args!r}: {e}") from None
