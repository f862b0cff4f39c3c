"""Symmetry reduction: blocks are interchangeable, and so are the non-zero data values.

Nothing in the protocol treats block 0 differently from block 1, or value 1 from value 2 (0 is special:
it is what every volume starts with). So renaming blocks and non-zero values maps reachable states to
reachable states and preserves every property of the catalogue; the checker stores one canonical
representative per orbit, shrinking the space by up to ``blocks! * (values - 1)!``.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations
from typing import Any

from pitmirror.spec.fields import BY_NAME, FIELDS, Content
from pitmirror.spec.state import (
    MARKER,
    GhostWrite,
    InFlight,
    Message,
    MessageKind,
    Record,
    Recovery,
    State,
)

Perm = tuple[tuple[int, ...], tuple[int, ...]]  # (block -> block, value -> value)


def symmetry_group(blocks: int, values: int, write_blocks: int = 1) -> list[Perm]:
    """Every (block permutation, value permutation fixing 0) pair, identity first. With multi-block host
    writes (``write_blocks > 1``) blocks are no longer interchangeable: a write covers a contiguous range,
    and a renaming of blocks maps ranges to sets that need not be one; only the values stay symmetric."""
    block_perms = list(permutations(range(blocks))) if write_blocks == 1 else [tuple(range(blocks))]
    value_perms = [(0, *p) for p in permutations(range(1, values))]
    return [(bp, vp) for bp in block_perms for vp in value_perms]


def _vol(v: tuple[int, ...], bp: tuple[int, ...], vp: tuple[int, ...]) -> tuple[int, ...]:
    out = [0] * len(v)
    for i, x in enumerate(v):
        out[bp[i]] = vp[x]
    return tuple(out)


def _pos(v: tuple[int, ...], bp: tuple[int, ...]) -> tuple[int, ...]:
    out = [0] * len(v)
    for i, x in enumerate(v):
        out[bp[i]] = x
    return tuple(out)


def _rec(r: Record, bp: tuple[int, ...], vp: tuple[int, ...]) -> Record:
    return r._replace(lba=MARKER if r.lba == MARKER else bp[r.lba], value=vp[r.value])


def _msg(m: Message, bp: tuple[int, ...], vp: tuple[int, ...]) -> Message:
    if m.kind != MessageKind.MIRROR_WRITE:
        return m
    return m._replace(b=MARKER if m.b == MARKER else bp[m.b], c=vp[m.c])


def _records(rs: tuple[Record, ...], bp: tuple[int, ...], vp: tuple[int, ...]) -> tuple[Record, ...]:
    return tuple(_rec(r, bp, vp) for r in rs)


def _sorted_records(rs: tuple[Record, ...], bp: tuple[int, ...], vp: tuple[int, ...]) -> tuple[Record, ...]:
    return tuple(sorted(_rec(r, bp, vp) for r in rs))


def _in_flight(es: tuple[InFlight, ...], bp: tuple[int, ...], vp: tuple[int, ...]) -> tuple[InFlight, ...]:
    return tuple(e._replace(lba=MARKER if e.lba == MARKER else bp[e.lba], value=vp[e.value]) for e in es)


def _path(ms: tuple[Message, ...], bp: tuple[int, ...], vp: tuple[int, ...]) -> tuple[Message, ...]:
    return tuple(sorted(_msg(m, bp, vp) for m in ms))


def _history(hs: tuple[GhostWrite, ...], bp: tuple[int, ...], vp: tuple[int, ...]) -> tuple[GhostWrite, ...]:
    return tuple(h._replace(lba=MARKER if h.lba == MARKER else bp[h.lba], value=vp[h.value]) for h in hs)


def _dirty(v: tuple[int, ...], bp: tuple[int, ...], vp: tuple[int, ...]) -> tuple[int, ...]:
    return _pos(v, bp)


def _maybe_vol(v: tuple[int, ...] | None, bp: tuple[int, ...], vp: tuple[int, ...]) -> tuple[int, ...] | None:
    return None if v is None else _vol(v, bp, vp)


def _recovery(r: Recovery | None, bp: tuple[int, ...], vp: tuple[int, ...]) -> Recovery | None:
    if r is None:
        return None
    return r._replace(target_image=_vol(r.target_image, bp, vp), start_image=_vol(r.start_image, bp, vp))


_Transform = Callable[[Any, tuple[int, ...], tuple[int, ...]], Any]

#: How a renaming acts on each kind of content (``spec.fields.Content``). Journals and history keep their
#: order (the order writes were applied); multisets are re-sorted.
CONTENT_TRANSFORMS: dict[Content, _Transform] = {
    Content.VOLUME: _vol, Content.BITMAP: _dirty, Content.RECORDS: _records,
    Content.RECORD_MULTISET: _sorted_records, Content.IN_FLIGHT: _in_flight, Content.MESSAGES: _path,
    Content.HISTORY: _history, Content.RECOVERY: _recovery, Content.OPTIONAL_VOLUME: _maybe_vol,
}
#: How each State field changes under a renaming, from what ``spec.fields`` says it holds; fields absent
#: here hold no block index or data value.
FIELD_TRANSFORMS: dict[str, _Transform] = {f.name: CONTENT_TRANSFORMS[f.content] for f in FIELDS
                                           if f.content.block_indexed}
# BY_NAME[f] fails at import for a State field spec.fields does not describe: no field goes unrenamed silently
_PLAN: list[tuple[int, _Transform | None]] = [(i, FIELD_TRANSFORMS.get(BY_NAME[f].name))
                                              for i, f in enumerate(State._fields)]


def apply_perm(s: State, perm: Perm) -> State:
    """Rename blocks and values in every field of ``s`` that holds a block index or a data value."""
    bp, vp = perm
    fields: list[Any] = [s[i] if fn is None else fn(s[i], bp, vp) for i, fn in _PLAN]
    return State(*fields)


def fold_resync_ids(s: State) -> State:
    """``s`` with A's resync counter folded: the resync A runs (or last ran) is number 1, and every answer
    on the path is 1 if it answers that resync, else 0.

    No step or property reads the counter's value, only whether an answer names the resync A runs: that
    answer may end A's COPY, any other never will (every later resync takes a new, higher number). So two
    states that differ only in those numbers have the same futures and the same verdicts, and the checker
    keeps one of them, as it keeps one state of a renaming's orbit. Without this, states that differ only in
    how many resyncs A has run are told apart (issue 14's two-phase resync grew the default preset by a
    third). A counter of 0 (no resync yet) stays 0: no answer exists then. The path stays sorted: an answer
    never names a resync above the current one, so the order of the answers is kept (stale ones, 0, first)
    and only answers are touched."""
    rid = s.resync_id
    if rid <= 1:
        return s  # already folded: 0 has no answers, and 1's answers are all 1
    path = s.path
    if any(m.kind == MessageKind.RESYNCED for m in path):
        path = tuple(m._replace(a=1 if m.a == rid else 0) if m.kind == MessageKind.RESYNCED else m for m in path)
    return s._replace(resync_id=1, path=path)


class Canonicalizer:
    """Maps a state to the least member of its orbit under the symmetry group, after folding A's resync
    counter (``fold_resync_ids``)."""

    def __init__(self, blocks: int, values: int, enabled: bool = True, write_blocks: int = 1) -> None:
        group = symmetry_group(blocks, values, write_blocks) if enabled else []
        self.perms = group[1:]  # the identity is the state itself
        self.group_size = max(1, len(group))
        self.fold = enabled

    def __call__(self, s: State) -> State:
        if self.fold:
            s = fold_resync_ids(s)
        best = s
        for bp, vp in self.perms:
            # Compare field by field in State order and stop at the first difference: most renamings
            # are already larger in `primary`, so the full renamed state is built only when it wins.
            fields: list[Any] = []
            smaller = False
            for i, fn in _PLAN:
                v: Any = s[i] if fn is None else fn(s[i], bp, vp)
                if not smaller:
                    b: Any = best[i]
                    if v != b:
                        if v > b:
                            break
                        smaller = True
                fields.append(v)
            else:
                if smaller:
                    best = State(*fields)
        return best
