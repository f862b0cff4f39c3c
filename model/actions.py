"""The model's actions: frozen dataclasses named in the patent's words, whose repr is valid Python.

Each carries the claims it realises (``claims``) and who performs it (``actor``: the lane on the trace page),
both read from ``spec.actions``, the one table of what each action is; a class missing from the table, or
whose fields are not the table's parameters, fails at import. The impl emits the same names, so a model
trace replays on the impl and an impl run replays on the model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

from pitmirror.spec import actions as spec_actions
from pitmirror.spec.state import Message, RecoveryKind, message_from_fields


@dataclass(frozen=True, slots=True)
class Action:
    """Base class: an action's name is its class name; ``args()`` are its fields as JSON-ready data."""

    claims: ClassVar[tuple[int, ...]] = ()
    actor: ClassVar[str] = "A"

    def __init_subclass__(cls) -> None:
        # claims and actor come from spec.actions, so they are written once (KeyError: not in the table).
        # No super() call: slots=True rebuilds this class, which breaks the zero-argument form, and object's
        # hook does nothing.
        row = spec_actions.BY_NAME[cls.__name__]
        cls.claims, cls.actor = row.claims, row.actor

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
    """The host writes ``value`` to the ``length`` contiguous blocks from ``lba`` of P (one record, one
    mirror message)."""

    lba: int
    value: int
    length: int = 1

    def __repr__(self) -> str:
        # a one-block write reads as it always did (traces name fields; a missing length is 1)
        more = f", length={self.length}" if self.length != 1 else ""
        return f"HostWrite(lba={self.lba}, value={self.value}{more})"

    def args(self) -> dict[str, Any]:
        """The arguments; a one-block write leaves its length out."""
        out = {"lba": self.lba, "value": self.value}
        return out if self.length == 1 else {**out, "length": self.length}


@dataclass(frozen=True, slots=True)
class SetMarker(Action):
    """A named consistency point: a journal record with no data."""



@dataclass(frozen=True, slots=True)
class Deliver(Action):
    """The path delivers one message (any one: the path reorders)."""

    message: Message


@dataclass(frozen=True, slots=True)
class LoseMessage(Action):
    """Fault: one message on the path is lost."""

    message: Message


@dataclass(frozen=True, slots=True)
class DuplicateMessage(Action):
    """Fault: one message on the path is duplicated."""

    message: Message


@dataclass(frozen=True, slots=True)
class FailPath(Action):
    """Fault: every link of the path goes down; what was on it is lost."""



@dataclass(frozen=True, slots=True)
class RepairPath(Action):
    """The path comes back up."""



@dataclass(frozen=True, slots=True)
class MirrorTimeout(Action):
    """A gives up waiting for R on the write ``seq``: the pair is suspended per the fence policy."""

    seq: int


@dataclass(frozen=True, slots=True)
class SwapTimeout(Action):
    """A gives up waiting for R's half of a swap: the pair is suspended with every block dirty."""



@dataclass(frozen=True, slots=True)
class CrashArray(Action):
    """Fault: crash and restart of one array's controller (``"A"`` or ``"R"``)."""

    array: str


@dataclass(frozen=True, slots=True)
class Checkpoint(Action):
    """Apply the oldest journal record to B and, in lockstep, to RB; free it."""



@dataclass(frozen=True, slots=True)
class RemoteCheckpoint(Action):
    """R checkpoints RB on its own (only the ``remote_checkpoints_alone`` mutant enables it)."""



@dataclass(frozen=True, slots=True)
class PersistJournal(Action):
    """A volatile journal record reaches J (only ``journal_not_persisted_before_ack`` enables it)."""


@dataclass(frozen=True, slots=True)
class StartResync(Action):
    """SUSPENDED -> COPY: start copying the dirty blocks to R."""



@dataclass(frozen=True, slots=True)
class FinishResync(Action):
    """COPY -> PAIR: every dirty block and missing journal record is on R."""



@dataclass(frozen=True, slots=True)
class StartRecovery(Action):
    """Recover P to image(target): freeze host I/O; for a swap, ask R to rebuild too."""

    target: int
    kind: RecoveryKind


@dataclass(frozen=True, slots=True)
class RecoveryWrite(Action):
    """Write-through: write one block where P differs from replay(B, J, T) through the synchronous path."""

    lba: int


@dataclass(frozen=True, slots=True)
class SwapVolumes(Action):
    """Swap: A builds replay(B, J, T) in a spare LDEV and makes it the primary volume."""



@dataclass(frozen=True, slots=True)
class FinishRecovery(Action):
    """The recovery is done; host I/O resumes."""



@dataclass(frozen=True, slots=True)
class SwitchHostLun(Action):
    """Swap, second half at A: the host-LUN map moves to the volume the role map now calls P."""


@dataclass(frozen=True, slots=True)
class CrashMidWrite(Action):
    """Fault: A loses power in the middle of a multi-block host write of ``value`` to the ``length`` blocks
    from ``lba``: after its record reached J, before its last block reached P (before anything was sent to R).
    A's restart redoes the record from J."""

    lba: int
    value: int
    length: int


@dataclass(frozen=True, slots=True)
class CrashMidApply(Action):
    """Fault: R loses power in the middle of applying the multi-block MirrorWrite ``message``: after its
    record reached JR, before its last block reached S (before the acknowledgement). R's restart redoes the
    record from JR."""

    message: Message


@dataclass(frozen=True, slots=True)
class CrashMidRemoteSwap(Action):
    """Fault: R loses power in the middle of its half of a swap, on the RecoverRequest ``message`` it acts on:
    after its swap's intent record (recovery id, target) reached shared memory and while RB was being rebuilt
    in place. R's restart finds the intent record, redoes the swap whole (the rebuild in place is idempotent;
    after the role map's swap only the copy onto the new RB is left), commits it and answers SwapDone."""

    message: Message


def _in_table_order(*classes: type[Action]) -> dict[str, type[Action]]:
    """The action classes by name, in ``spec.actions`` order; ``TypeError`` when they are not exactly the
    table's actions with the table's parameters (a class added here and not there, or the other way)."""
    by_name = {cls.__name__: cls for cls in classes}
    if set(by_name) != set(spec_actions.ACTION_NAMES):
        raise TypeError(f"model actions {sorted(by_name)} are not spec.actions' {sorted(spec_actions.ACTION_NAMES)}")
    for row in spec_actions.ACTIONS:
        params = tuple(f.name for f in fields(by_name[row.name]))
        if params != row.params:
            raise TypeError(f"{row.name} has fields {params}, spec.actions says {row.params}")
    return {name: by_name[name] for name in spec_actions.ACTION_NAMES}


#: Every action class by name, in the order the model lists enabled actions (``spec.actions.ACTIONS``).
ACTION_TYPES: dict[str, type[Action]] = _in_table_order(
    HostWrite, SetMarker, Deliver, LoseMessage, DuplicateMessage, FailPath, RepairPath, MirrorTimeout,
    SwapTimeout, CrashArray, Checkpoint, RemoteCheckpoint, PersistJournal, StartResync, FinishResync,
    StartRecovery, RecoveryWrite, SwapVolumes, FinishRecovery, SwitchHostLun, CrashMidWrite, CrashMidApply,
    CrashMidRemoteSwap,
)


def action_from_json(name: str, args: dict[str, Any]) -> Action:
    """Rebuild an action from a trace step; ``ValueError`` with a clear message on anything malformed."""
    cls = ACTION_TYPES.get(name)
    if cls is None:
        raise ValueError(f"unknown action {name!r}; valid: {', '.join(ACTION_TYPES)}")
    try:
        kw: dict[str, Any] = {}
        names = {f.name for f in fields(cls)}
        if name == "HostWrite" and "length" not in args:
            args = {**args, "length": 1}  # a one-block write (its length is left out of traces)
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
