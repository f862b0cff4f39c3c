"""Symmetry reduction: blocks are interchangeable, and so are the non-zero data values.

Nothing in the protocol treats block 0 differently from block 1, or value 1 from value 2 (0 is special:
it is what every volume starts with). So renaming blocks and non-zero values maps reachable states to
reachable states and preserves every property of the catalogue; the checker stores one canonical
representative per orbit, shrinking the space by up to ``blocks! * (values - 1)!``.
"""

from __future__ import annotations

from itertools import permutations

from spec.state import (
    MARKER,
    GhostWrite,
    InFlight,
    Message,
    MessageKind,
    Record,
    State,
)

Perm = tuple[tuple[int, ...], tuple[int, ...]]  # (block -> block, value -> value)


def symmetry_group(blocks: int, values: int) -> list[Perm]:
    """Every (block permutation, value permutation fixing 0) pair, identity first."""
    block_perms = list(permutations(range(blocks)))
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
    return Record(r.seq, MARKER if r.lba == MARKER else bp[r.lba], vp[r.value])


def _msg(m: Message, bp: tuple[int, ...], vp: tuple[int, ...]) -> Message:
    if m.kind != MessageKind.MIRROR_WRITE:
        return m
    return Message(m.kind, m.a, MARKER if m.b == MARKER else bp[m.b], vp[m.c])


def apply_perm(s: State, perm: Perm) -> State:
    """Rename blocks and values in every field of ``s`` that holds a block index or a data value."""
    bp, vp = perm
    return s._replace(
        primary=_vol(s.primary, bp, vp),
        base=_vol(s.base, bp, vp),
        journal=tuple(_rec(r, bp, vp) for r in s.journal),
        journal_cache=tuple(_rec(r, bp, vp) for r in s.journal_cache),
        in_flight=tuple(
            InFlight(e.seq, MARKER if e.lba == MARKER else bp[e.lba], vp[e.value], e.origin, e.host_acked)
            for e in s.in_flight
        ),
        dirty=_pos(s.dirty, bp),
        path=tuple(sorted(_msg(m, bp, vp) for m in s.path)),
        remote=_vol(s.remote, bp, vp),
        replica_base=_vol(s.replica_base, bp, vp),
        remote_journal=tuple(sorted(_rec(r, bp, vp) for r in s.remote_journal)),
        remote_buffer=tuple(sorted(_rec(r, bp, vp) for r in s.remote_buffer)),
        ghost_base=_vol(s.ghost_base, bp, vp),
        retired_image=None if s.retired_image is None else _vol(s.retired_image, bp, vp),
        recovery=None if s.recovery is None else s.recovery._replace(
            target_image=_vol(s.recovery.target_image, bp, vp),
            start_image=_vol(s.recovery.start_image, bp, vp)),
        recovery_ended=None if s.recovery_ended is None else s.recovery_ended._replace(
            target_image=_vol(s.recovery_ended.target_image, bp, vp),
            start_image=_vol(s.recovery_ended.start_image, bp, vp)),
        history=tuple(
            GhostWrite(h.seq, MARKER if h.lba == MARKER else bp[h.lba], vp[h.value], h.acked, h.point_in_time)
            for h in s.history
        ),
    )


class Canonicalizer:
    """Maps a state to the least member of its orbit under the symmetry group."""

    def __init__(self, blocks: int, values: int, enabled: bool = True) -> None:
        group = symmetry_group(blocks, values) if enabled else []
        self.perms = group[1:]  # the identity is the state itself
        self.group_size = max(1, len(group))

    def __call__(self, s: State) -> State:
        best = s
        for perm in self.perms:
            t = apply_perm(s, perm)
            if t < best:
                best = t
        return best
