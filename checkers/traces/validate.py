"""A trace checked against its own bounds before anything shows, renders, diffs or replays it.

The JSON schema (``trace.SCHEMA``) checks the document's outline; this module checks what the schema cannot:
every step's state has exactly the fields of ``spec.state.State`` with the right types (enum values by name,
records and messages as objects), every volume has ``blocks`` entries, every block address is below
``blocks`` (or the marker), every data value below ``values``, and every action's arguments fit the same
bounds. The state is rebuilt into the spec's own types, so a new field of ``State`` is checked without
touching this file.
"""

from __future__ import annotations

import types
import typing
from enum import Enum
from typing import Any, NamedTuple, get_args, get_origin, get_type_hints

from pitmirror.model.config import Bounds
from pitmirror.spec.state import MARKER, MESSAGE_NAMES, Message, MessageKind, State, message_from_fields


class StateShapeError(ValueError):
    """A state (or an action argument) in a trace does not fit the spec's types or the trace's bounds."""


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    if cls not in _HINTS:
        _HINTS[cls] = get_type_hints(cls)
    return _HINTS[cls]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _build(value: Any, hint: Any, where: str) -> Any:
    """``value`` (JSON) rebuilt as the spec type ``hint``; ``StateShapeError`` naming ``where`` if it is not."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        (inner,) = [o for o in options if o is not type(None)]
        return _build(value, inner, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise StateShapeError(f"{where} must be true or false, not {value!r}")
        return value
    if hint is int:
        if not _is_int(value):
            raise StateShapeError(f"{where} must be an integer, not {value!r}")
        return value
    if isinstance(hint, type) and issubclass(hint, Enum):
        if not isinstance(value, str) or value not in hint.__members__:
            raise StateShapeError(f"{where} must be one of {', '.join(hint.__members__)}, not {value!r}")
        return hint[value]
    if hint is Message:
        if not isinstance(value, dict) or value.get("kind") not in MESSAGE_NAMES.values():
            raise StateShapeError(f"{where} must be a message ({', '.join(MESSAGE_NAMES.values())})")
        fields = {k: v for k, v in value.items() if k != "kind"}
        if not all(_is_int(v) for v in fields.values()):
            raise StateShapeError(f"{where}: a message's fields are integers")
        try:
            return message_from_fields(str(value["kind"]), fields)
        except (TypeError, KeyError, ValueError) as e:
            raise StateShapeError(f"{where}: malformed {value['kind']} ({e})") from None
    if origin is tuple:
        args = get_args(hint)
        if not isinstance(value, list):
            raise StateShapeError(f"{where} must be a list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_build(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
        return _record(value, hint, where)
    raise StateShapeError(f"{where}: unexpected value {value!r}")


def _record(value: Any, cls: type, where: str) -> Any:
    if not isinstance(value, dict):
        raise StateShapeError(f"{where or 'state'} must be an object with fields {', '.join(cls._fields)}")  # type: ignore[attr-defined]
    names: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    missing = [n for n in names if n not in value]
    extra = [k for k in value if k not in names]
    if missing or extra:
        what = "; ".join(x for x in (missing and f"missing {', '.join(missing)}",
                                     extra and f"unknown {', '.join(extra)}") if x)
        raise StateShapeError(f"{where or 'state'}: {what}")
    hints = _hints(cls)
    return cls(**{n: _build(value[n], hints[n], f"{where}.{n}" if where else n) for n in names})


def state_from_json(doc: Any) -> State:
    """A trace step's ``state`` rebuilt as a ``State``; ``StateShapeError`` when its shape is wrong."""
    state: State = _record(doc, State, "")
    return state


class _Located(NamedTuple):
    where: str
    value: Any


def _walk(value: Any, where: str) -> typing.Iterator[_Located]:
    """Every part of a rebuilt state, with its path."""
    yield _Located(where, value)
    if isinstance(value, Message):
        return
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        for f in value._fields:
            yield from _walk(getattr(value, f), f"{where}.{f}" if where else f)
    elif isinstance(value, tuple):
        for i, v in enumerate(value):
            yield from _walk(v, f"{where}[{i}]")


# Fields that are whole volumes (one entry per block) or block-indexed bitmaps.
VOLUMES = frozenset({"primary", "base", "remote", "replica_base", "ghost_base", "retired_image", "target_image",
                     "start_image", "dirty"})


def check_state(state: State, bounds: Bounds, values_bounded: bool = True) -> None:
    """``StateShapeError`` when a part of ``state`` is out of the trace's bounds. With ``values_bounded``
    false (a state of the unbounded proof system) block values and sequence numbers may be any integers:
    only the number of blocks and the block addresses are checked."""
    for loc in _walk(state, ""):
        field = loc.where.rsplit(".", 1)[-1]
        v = loc.value
        if field in VOLUMES and isinstance(v, tuple):
            if len(v) != bounds.blocks:
                raise StateShapeError(f"{loc.where} has {len(v)} blocks; the trace's bounds say blocks={bounds.blocks}")
            top = 2 if field == "dirty" else bounds.values
            for i, x in enumerate(v):
                if (values_bounded or field == "dirty") and not 0 <= x < top:
                    raise StateShapeError(f"{loc.where}[{i}] = {x} is out of range (0..{top - 1})")
        elif not values_bounded:
            if hasattr(v, "_fields") and "lba" in v._fields:
                _check_lba(v.lba, bounds, loc.where)
        elif isinstance(v, Message):
            _check_message(v, bounds, loc.where)
        elif hasattr(v, "_fields") and "lba" in v._fields:
            _check_block(v.lba, v.value, bounds, loc.where)
        elif _is_int(v) and not isinstance(v, Enum) and v < 0 and field not in ("lba",):
            raise StateShapeError(f"{loc.where} = {v} is negative")


def _check_lba(lba: int, bounds: Bounds, where: str) -> None:
    if lba != MARKER and not 0 <= lba < bounds.blocks:
        raise StateShapeError(f"{where}: lba={lba} is out of range (0..{bounds.blocks - 1})")


def _check_block(lba: int, value: int, bounds: Bounds, where: str) -> None:
    _check_lba(lba, bounds, where)
    if not 0 <= value < max(bounds.values, 1) and not (lba == MARKER and value >= 0):
        raise StateShapeError(f"{where}: value={value} is out of range (0..{bounds.values - 1})")


def _check_message(m: Message, bounds: Bounds, where: str) -> None:
    if m.kind is MessageKind.MIRROR_WRITE:
        _check_block(m.b, m.c, bounds, where)


def check_action_args(args: dict[str, Any], bounds: Bounds, where: str) -> None:
    """``StateShapeError`` when an action's block address or value is out of the trace's bounds."""
    lba = args.get("lba")
    if isinstance(lba, int) and _is_int(lba) and lba != MARKER and not 0 <= lba < bounds.blocks:
        raise StateShapeError(f"{where}: lba={lba} is out of range (0..{bounds.blocks - 1})")
    value = args.get("value")
    if isinstance(value, int) and _is_int(value) and not 0 <= value < bounds.values:
        raise StateShapeError(f"{where}: value={value} is out of range (0..{bounds.values - 1})")
    message = args.get("message")
    if isinstance(message, dict) and message.get("kind") == MESSAGE_NAMES[MessageKind.MIRROR_WRITE]:
        m_lba, m_value = message.get("lba"), message.get("value")
        if isinstance(m_lba, int) and isinstance(m_value, int) and _is_int(m_lba) and _is_int(m_value):
            _check_block(m_lba, m_value, bounds, f"{where} message")
