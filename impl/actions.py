"""The actions of the event log and of the step-by-step API, named as the model names them.

An ``Action`` is a name and its arguments; its repr is the model's (``HostWrite(lba=0, value=1)``,
``Deliver(message=MirrorWrite(seq=1, lba=0, value=1))``) and ``to_json()`` gives the trace format's
``{"action": ..., "args": {...}}`` with a message as ``{"kind": ..., <fields>}``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from pitmirror.impl.messages import MESSAGE_NAMES
from pitmirror.impl.states import RecoveryKind

#: Every action, in the order ``enabled_actions`` lists them: a copy of ``spec.actions.ACTION_NAMES`` (the impl may
#: not import spec; tests/test_layers.py proves the two equal). ``SwapTimeout`` is the model's name for
#: MirrorTimeout's swap case (docs/PROTOCOL.md folds both into MirrorTimeout).
ACTION_NAMES: tuple[str, ...] = (
    "HostWrite", "SetMarker", "Deliver", "LoseMessage", "DuplicateMessage", "FailPath", "RepairPath",
    "MirrorTimeout", "SwapTimeout", "CrashArray", "Checkpoint", "RemoteCheckpoint", "PersistJournal",
    "StartResync", "FinishResync", "StartRecovery", "RecoveryWrite", "SwapVolumes", "FinishRecovery",
    "SwitchHostLun", "CrashMidWrite", "CrashMidApply", "CrashMidRemoteSwap",
)

_ACTION_NAME_SET = frozenset(ACTION_NAMES)  # ``make`` runs for every enabled action of every state

#: The message kinds, as the model names them.
MESSAGE_KINDS: tuple[str, ...] = MESSAGE_NAMES


@functools.cache
def snake(name: str) -> str:
    """``HostWrite`` -> ``host_write``: the step method named after an action."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def _show(value: Any) -> str:
    if isinstance(value, RecoveryKind):
        return repr(value.name.lower())
    if isinstance(value, bytes):
        return repr(value.rstrip(b"\0")[:24])
    return repr(value)


def _json(value: Any) -> Any:
    if isinstance(value, RecoveryKind):
        return value.name.lower()
    if isinstance(value, bytes):
        return value.hex()
    fields = getattr(value, "fields", None)
    if callable(fields):
        return {"kind": value.name, **fields()}
    return value


@dataclass(frozen=True)
class Action:
    """One step of the protocol: ``name`` (one of ``ACTION_NAMES``) and its arguments."""

    name: str
    args: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def make(cls, action: str, /, **args: Any) -> Action:
        """``Action.make("HostWrite", lba=0, value=1)``; ``ValueError`` for an unknown name."""
        if action not in _ACTION_NAME_SET:
            raise ValueError(f"unknown action {action!r}; valid: {', '.join(ACTION_NAMES)}")
        return cls(action, tuple(args.items()))

    def kwargs(self) -> dict[str, Any]:
        """The arguments as keyword arguments of the step method."""
        return dict(self.args)

    def to_json(self) -> dict[str, Any]:
        """``{"action": name, "args": {...}}`` with JSON-ready values."""
        return {"action": self.name, "args": {k: _json(v) for k, v in self.args}}

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={_show(v)}' for k, v in self.args)})"
