"""Terms that are either concrete Python values or Z3 expressions, and the fixed-width state vector.

The symbolic encoding (``checkers.symbolic.encoding``) is written once over these helpers. Given Python ints it
computes concretely (``ite`` on a Python bool picks a branch, ``conj`` folds constants), given Z3 terms it
builds formulas, and given numpy arrays (one element per state of a breadth-first frontier) it computes a
whole frontier at once (``ite`` is ``np.where``, ``conj`` is ``&``). So the same code is run three ways:
concretely by the agreement test on every reachable state at small bounds (fast), symbolically by the solver
(also compared with the model by the test), and over arrays by the frontier engine (``checkers.frontier``),
whose state counts and verdicts tests compare with the explicit engine's.

State vector: every field of ``spec.state.State`` is flattened to named integer slots. Volumes are ``blocks``
slots; bounded sequences (journal, path, history, ...) are fixed-capacity arrays of slots plus a length, with
the unused slots zero so that one ``State`` has exactly one vector; ``Optional`` fields get a ``present``
slot and zeros when absent. Booleans and enums are 0/1 and their integer values.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence
from enum import IntEnum
from typing import Any

import numpy as np
import z3

from pitmirror.model.config import Bounds
from pitmirror.spec.fields import BY_NAME as FIELD
from pitmirror.spec.fields import FIELDS, Content
from pitmirror.spec.state import (
    GhostWrite,
    InFlight,
    Message,
    MessageKind,
    Origin,
    Record,
    Recovery,
    RecoveryKind,
    RemoteSwapStatus,
    State,
)

Term = Any  # an int / bool (concrete run), a z3.ArithRef / z3.BoolRef (symbolic run) or an np.ndarray (frontier)
Tup = tuple[Term, ...]


def ite(c: Term, a: Term, b: Term) -> Term:
    """``a if c else b``; folds when ``c`` is a Python bool or both branches are the same term."""
    if c is True:
        return a
    if c is False:
        return b
    if same(a, b):
        return a
    if isinstance(c, np.ndarray):
        return np.where(c, a, b)
    return z3.If(c, a, b)


def same(a: Term, b: Term) -> bool:
    """True when two terms are syntactically the same (so an ``If`` between them is pointless)."""
    if a is b:
        return True
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, z3.ExprRef) and isinstance(b, z3.ExprRef):
        return bool(a.eq(b))
    return False


def ite_t(c: Term, a: Sequence[Term], b: Sequence[Term]) -> Tup:
    """``ite`` over tuples, element by element."""
    return tuple(ite(c, x, y) for x, y in zip(a, b, strict=True))


def conj(*xs: Term) -> Term:
    """Conjunction with constant folding."""
    out = []
    for x in xs:
        if x is True:
            continue
        if x is False:
            return False
        out.append(x)
    if not out:
        return True
    if len(out) == 1:
        return out[0]
    if isinstance(out[0], np.ndarray):
        acc = out[0] & out[1]
        for x in out[2:]:
            acc &= x
        return acc
    return z3.And(*out)


def disj(*xs: Term) -> Term:
    """Disjunction with constant folding."""
    out = []
    for x in xs:
        if x is False:
            continue
        if x is True:
            return True
        out.append(x)
    if not out:
        return False
    if len(out) == 1:
        return out[0]
    if isinstance(out[0], np.ndarray):
        acc = out[0] | out[1]
        for x in out[2:]:
            acc |= x
        return acc
    return z3.Or(*out)


def all_of(xs: Iterable[Term]) -> Term:
    """``conj`` over an iterable."""
    return conj(*xs)


def any_of(xs: Iterable[Term]) -> Term:
    """``disj`` over an iterable."""
    return disj(*xs)


def neg(x: Term) -> Term:
    """Negation with constant folding."""
    if isinstance(x, bool):
        return not x
    if isinstance(x, np.ndarray):
        return ~x
    return z3.Not(x)


def implies(a: Term, b: Term) -> Term:
    """``a => b``."""
    return disj(neg(a), b)


def count(xs: Iterable[Term]) -> Term:
    """How many of the conditions hold."""
    total: Term = 0
    for x in xs:
        if x is True:
            total = total + 1
        elif isinstance(x, np.ndarray):
            total = total + x.astype(np.int8)
        elif x is not False:
            total = total + z3.If(x, 1, 0)
    return total


def tmax(a: Term, b: Term) -> Term:
    """``max(a, b)``."""
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    return ite(a >= b, a, b)


def tmin(a: Term, b: Term) -> Term:
    """``min(a, b)``."""
    if isinstance(a, int) and isinstance(b, int):
        return min(a, b)
    return ite(a <= b, a, b)


def eq_t(a: Sequence[Term], b: Sequence[Term]) -> Term:
    """Tuples equal, element by element."""
    return all_of(x == y for x, y in zip(a, b, strict=True))


def lt_t(a: Sequence[Term], b: Sequence[Term]) -> Term:
    """Lexicographic ``a < b`` (Python's tuple order, which is how the model sorts the path and buffers)."""
    res: Term = False
    for x, y in reversed(list(zip(a, b, strict=True))):
        res = disj(x < y, conj(x == y, res))
    return res


# --- the state vector -----------------------------------------------------------------------------------

REC = ("seq", "lba", "value")
IFL = ("seq", "lba", "value", "origin", "host_acked")
MSG = ("kind", "a", "b", "c")
HIST = ("seq", "lba", "value", "acked", "pit")
LOC = ("location",)
RECOVERY_SCALARS = ("recovery_id", "kind", "target", "a_swapped", "remote_status", "faulted", "left_pair",
                    "host_io_during_swap")
# How each field of State is flattened, derived from spec.fields (the one table of what each field holds), in
# the state's order: a field added there gets its slots here by what it holds.
_BY_CONTENT: dict[Content, tuple[str, ...]] = {c: tuple(f.name for f in FIELDS if f.content is c) for c in Content}
#: one slot each (numbers, flags, enums)
SCALARS = _BY_CONTENT[Content.SCALAR]
#: one slot per block (a bitmap's slots hold 0/1)
VOLUMES = tuple(f.name for f in FIELDS if f.content in (Content.VOLUME, Content.BITMAP))
#: the optional ``Recovery`` fields of ``State``, each a ``present`` slot, the scalars and the two images
RECOVERY_ENTRIES = _BY_CONTENT[Content.RECOVERY]
#: optional volumes: a ``present`` slot and one slot per block
OPTIONAL_VOLUMES = _BY_CONTENT[Content.OPTIONAL_VOLUME]
#: the slots of one entry of a bounded sequence, by what the sequence holds
ENTRY_SLOTS: dict[Content, tuple[str, ...]] = {
    Content.RECORDS: REC, Content.RECORD_MULTISET: REC, Content.IN_FLIGHT: IFL, Content.MESSAGES: MSG,
    Content.HISTORY: HIST, Content.LOCATIONS: LOC,
}
#: the slot a multi-block write adds to an entry (its length, last), only in a layout whose bounds allow
#: writes of more than one block (``Bounds.write_blocks``): one-block bounds keep today's vector exactly. A
#: journal location is a bare sector number: no length
LENGTH_SLOT: dict[Content, str] = {Content.RECORDS: "length", Content.RECORD_MULTISET: "length",
                                   Content.IN_FLIGHT: "length", Content.MESSAGES: "d", Content.HISTORY: "length"}


def _mw_length(x: tuple[int, ...]) -> int:
    """A message's length slot, or (a one-block layout has none) 1 for a MirrorWrite and 0 for the rest."""
    return x[4] if len(x) > 4 else int(x[0] == MessageKind.MIRROR_WRITE)


#: an entry of a bounded sequence from its slots, by what the sequence holds (a missing length slot: 1 block)
_ENTRY: dict[Content, Any] = {
    Content.RECORDS: lambda x: Record(*x),
    Content.RECORD_MULTISET: lambda x: Record(*x),
    Content.IN_FLIGHT: lambda x: InFlight(x[0], x[1], x[2], Origin(x[3]), bool(x[4]), *x[5:]),
    Content.MESSAGES: lambda x: Message(MessageKind(x[0]), x[1], x[2], x[3], _mw_length(x)),
    Content.HISTORY: lambda x: GhostWrite(x[0], x[1], x[2], bool(x[3]), bool(x[4]), *x[5:]),
    Content.LOCATIONS: lambda x: x[0],
}
#: a scalar from its slot: its enum, a flag, or the int itself (from State's annotations)
_SCALAR_TYPE: dict[str, Any] = {f: t for f, t in typing.get_type_hints(State).items() if f in SCALARS}
#: the entry type of a bounded sequence, by what the sequence holds
ENTRY_TYPE: dict[Content, Any] = {Content.RECORDS: Record, Content.RECORD_MULTISET: Record,
                                  Content.IN_FLIGHT: InFlight, Content.MESSAGES: Message, Content.HISTORY: GhostWrite}


def top(annotation: Any) -> int | None:
    """The largest value a slot of this type holds: 1 for a flag, the largest member for an enum, ``None``
    for a number (any integer >= 0). Well-formedness reads the domains of ``State``'s fields from here."""
    if annotation is bool:
        return 1
    if isinstance(annotation, type) and issubclass(annotation, IntEnum):
        return max(int(m) for m in annotation)
    return None


#: the domain of each scalar slot of ``State``, and of each scalar of a ``Recovery`` entry
SCALAR_TOP: dict[str, int | None] = {f: top(t) for f, t in _SCALAR_TYPE.items()}
RECOVERY_TOP: dict[str, int | None] = {f: top(t) for f, t in typing.get_type_hints(Recovery).items()
                                       if f in RECOVERY_SCALARS}
#: the domain of each slot of an entry, by position, by what the sequence holds (a location is any sector >= 0;
#: ``journal_records_at_their_locations`` bounds it by the ring)
ENTRY_TOP: dict[Content, tuple[int | None, ...]] = {
    **{c: tuple(top(t) for t in typing.get_type_hints(e).values()) for c, e in ENTRY_TYPE.items()},
    Content.LOCATIONS: (None,)}


class CapacityError(ValueError):
    """A state does not fit the fixed-capacity vector of these bounds."""


class Layout:
    """The fixed-width vector for one ``Bounds``: slot names, capacities and value ranges.

    Capacities are upper bounds on every reachable state at the bounds (derived from the budgets: every
    sequence number is taken by a host write, a marker, a recovery write or a swap). ``encode`` raises
    ``CapacityError`` if a state does not fit, so the agreement test would show a capacity too small.
    """

    def __init__(self, bounds: Bounds, value_bits: int | None = None, unbounded: bool = False) -> None:
        b = bounds
        nb = b.blocks
        self.bounds = b
        self.nb = nb
        #: the proof system of ``docs/PROOFS.md``: no budgets, sequence numbers and values any integer >= 0,
        #: capacities from the protocol's own limits (journal capacity, concurrency, blocks) alone
        self.unbounded = unbounded
        #: recovery writes per recovery: each differing block once. Under journal_not_persisted_before_ack a
        #: recovery's records reach J late (PersistJournal), its image can change while it runs, and it writes on
        #: while J and its cache have room, journal_capacity + nb (seen at the small preset: 4 recovery writes
        #: with 2 blocks; a bound observed, not derived: a state that does not fit ends a search as
        #: inconclusive, never pruned)
        self.recovery_writes = nb
        if b.mutant == "journal_not_persisted_before_ack":
            self.recovery_writes = b.journal_capacity + nb
        self.maxseq = b.host_writes + b.markers + b.recoveries * (self.recovery_writes + 1)  # + 1: a swap's seq
        self.vmax = (1 << value_bits) if value_bits else b.values  # values are 0 .. vmax-1 (unbounded: >= 0)
        self.caps: dict[str, int] = self.unbounded_capacities(b) if unbounded else self.capacities(b)
        #: whether entries carry a length slot (the bounds allow multi-block host writes)
        self.multi = b.write_blocks > 1
        self.subs: dict[str, tuple[str, ...]] = {
            q: ENTRY_SLOTS[FIELD[q].content]
            + ((LENGTH_SLOT[FIELD[q].content],) if self.multi and FIELD[q].content in LENGTH_SLOT else ())
            for q in self.caps}
        names: list[str] = list(SCALARS)
        for v in VOLUMES:
            names += [f"{v}.{i}" for i in range(nb)]
        for q, cap in self.caps.items():
            names.append(f"{q}.len")
            names += [f"{q}.{i}.{f}" for i in range(cap) for f in self.subs[q]]
        for r in RECOVERY_ENTRIES:
            names.append(f"{r}.present")
            names += [f"{r}.{f}" for f in RECOVERY_SCALARS]
            names += [f"{r}.target_image.{i}" for i in range(nb)] + [f"{r}.start_image.{i}" for i in range(nb)]
        for v in OPTIONAL_VOLUMES:
            names.append(f"{v}.present")
            names += [f"{v}.{i}" for i in range(nb)]
        self.names: tuple[str, ...] = tuple(names)
        # per bounded sequence, per slot, the slot names of its fields (hot in the concrete run)
        self.slot_keys: dict[str, list[tuple[str, ...]]] = {
            q: [tuple(f"{q}.{i}.{f}" for f in self.subs[q]) for i in range(cap)] for q, cap in self.caps.items()}
        self.vol_keys: dict[str, tuple[str, ...]] = {}

    def capacities(self, b: Bounds) -> dict[str, int]:
        """The capacity of each bounded sequence at bounds ``b``, derived by hand from the budgets. Nothing
        relies on them being right: a state that does not fit is a ``CapacityError`` in ``encode``, and an
        effect that outgrows one is reported by BMC and induction and ends the frontier engine's search there
        (a partial verdict), never taken as a disabled transition.

        This table stays by hand, not derived from ``spec.fields``: a capacity is an argument about the bounds
        (which steps can fill a sequence, and how far), which no per-field column can say. Its keys (and
        their order, which is the vector's slot order) are checked against the fields by tests/test_fields.py."""
        nb = b.blocks
        jc = b.journal_capacity + nb  # host writes fill journal_capacity; recovery has a reserve of nb
        return {
            "journal": jc,
            "journal_cache": jc if b.mutant == "journal_not_persisted_before_ack" else 0,
            "in_flight": b.concurrency + nb,
            # a premature timeout leaves what was in flight on the path (late) while new writes follow
            # and a Checkpointed per checkpoint (at most one per record ever journaled) R has not taken yet
            "path": (2 * (b.concurrency + nb) + 2 * b.message_faults + 2
                     + (b.concurrency + nb + 1) * b.premature_timeouts + b.host_writes + b.markers
                     + b.recoveries * self.recovery_writes),
            "history": b.host_writes + b.markers + b.recoveries * self.recovery_writes,
            "remote_journal": max(self.maxseq, jc),
            "remote_buffer": b.concurrency + nb + b.message_faults,
            "journal_locations": jc,  # one per record of J
        }

    @staticmethod
    def unbounded_capacities(b: Bounds) -> dict[str, int]:
        """The capacities of the proof system, from the protocol's own limits alone (no budget): J holds at
        most ``journal_capacity`` records plus the recovery reserve of one per block; A has at most
        ``concurrency`` host writes and one recovery write per block in flight; R's buffer, JR and the ghost
        history are no longer than what they mirror. Induction proves that every step from a state satisfying
        the invariants stays within them (an obligation, ``docs/PROOFS.md``), except the path's, which is the
        proof system's one explicit abstraction (``Encoding.channel``)."""
        nb = b.blocks
        jc = b.journal_capacity + nb
        in_flight = b.concurrency + nb
        return {
            "journal": jc,
            "journal_cache": jc if b.mutant == "journal_not_persisted_before_ack" else 0,
            "in_flight": in_flight,
            "path": 2 * in_flight + 2 + b.message_faults,
            "history": jc,
            "remote_journal": jc,
            "remote_buffer": in_flight,
            "journal_locations": jc,
        }

    def entry(self, *slots: Term, length: Term = 1) -> Tup:
        """A record, in-flight or history entry: its slots, and its length when the layout has that slot."""
        return (*slots, length) if self.multi else tuple(slots)

    def value_ok(self, x: Term) -> Term:
        """``x`` is a block value of the domain: ``0 <= x < vmax``, or any ``x >= 0`` in the proof system."""
        return x >= 0 if self.unbounded else conj(x >= 0, x < self.vmax)

    # concrete <-> vector

    def encode(self, s: State) -> dict[str, int]:
        """The vector of a concrete state (canonical: unused slots are zero)."""
        d: dict[str, int] = dict.fromkeys(self.names, 0)
        for f in SCALARS:
            d[f] = int(getattr(s, f))
        for v in VOLUMES:
            for i, x in enumerate(getattr(s, v)):
                d[f"{v}.{i}"] = int(x)
        for q, cap in self.caps.items():
            items = getattr(s, q)
            if len(items) > cap:
                raise CapacityError(f"{q} holds {len(items)} > capacity {cap} in {s!r}")
            d[f"{q}.len"] = len(items)
            w = len(self.subs[q])
            for i, it in enumerate(items):
                it = it if isinstance(it, tuple) else (it,)  # a location is a bare int
                if len(it) > w and it[w] != (1 if q != "path" else _mw_length(tuple(it[:4]))):
                    raise CapacityError(f"{q} holds a multi-block entry {it!r}, but these bounds have none")
                for f, x in zip(self.subs[q], it[:w], strict=True):
                    d[f"{q}.{i}.{f}"] = int(x)
        for r in RECOVERY_ENTRIES:
            rec: Recovery | None = getattr(s, r)
            if rec is not None:
                d[f"{r}.present"] = 1
                for f in RECOVERY_SCALARS:
                    d[f"{r}.{f}"] = int(getattr(rec, f))
                for i in range(self.nb):
                    d[f"{r}.target_image.{i}"] = rec.target_image[i]
                    d[f"{r}.start_image.{i}"] = rec.start_image[i]
        for v in OPTIONAL_VOLUMES:
            vol: tuple[int, ...] | None = getattr(s, v)
            if vol is not None:
                d[f"{v}.present"] = 1
                for i in range(self.nb):
                    d[f"{v}.{i}"] = vol[i]
        return d

    def decode(self, d: dict[str, int]) -> State:
        """The concrete state of a vector (inverse of ``encode``)."""
        def vol(prefix: str) -> tuple[int, ...]:
            return tuple(d[f"{prefix}.{i}"] for i in range(self.nb))

        def items(q: str) -> list[tuple[int, ...]]:
            # a counterexample to induction may end in a state that outgrew a capacity: its slots stop there
            return [tuple(d[f"{q}.{i}.{f}"] for f in self.subs[q]) for i in range(min(d[f"{q}.len"], self.caps[q]))]

        def recovery(r: str) -> Recovery | None:
            if not d[f"{r}.present"]:
                return None
            g = {f: d[f"{r}.{f}"] for f in RECOVERY_SCALARS}
            return Recovery(g["recovery_id"], RecoveryKind(g["kind"]), g["target"], bool(g["a_swapped"]),
                            RemoteSwapStatus(g["remote_status"]), bool(g["faulted"]), bool(g["left_pair"]),
                            bool(g["host_io_during_swap"]), vol(f"{r}.target_image"), vol(f"{r}.start_image"))

        out: dict[str, Any] = {}
        for f in FIELDS:
            c = f.content
            if c is Content.SCALAR:
                out[f.name] = _SCALAR_TYPE[f.name](d[f.name])
            elif c in (Content.VOLUME, Content.BITMAP):
                out[f.name] = vol(f.name)
            elif c is Content.RECOVERY:
                out[f.name] = recovery(f.name)
            elif c is Content.OPTIONAL_VOLUME:
                out[f.name] = vol(f.name) if d[f"{f.name}.present"] else None
            else:
                out[f.name] = tuple(_ENTRY[c](x) for x in items(f.name))
        return State(**out)

    def symbolic(self, tag: str) -> SV:
        """A vector of fresh Z3 integer constants named ``<slot>@<tag>``."""
        return SV(self, {n: z3.Int(f"{n}@{tag}") for n in self.names})

    def concrete(self, s: State) -> SV:
        """The vector of ``s`` as Python ints, for a concrete run of the encoding."""
        return SV(self, dict(self.encode(s)))


class SV:
    """A state vector (concrete or symbolic) with accessors in the model's vocabulary. Copy before change."""

    __slots__ = ("d", "lay")

    def __init__(self, lay: Layout, d: dict[str, Term]) -> None:
        self.lay = lay
        self.d = d

    def __getitem__(self, k: str) -> Term:
        return self.d[k]

    def __setitem__(self, k: str, v: Term) -> None:
        self.d[k] = v

    def copy(self) -> SV:
        """A shallow copy (terms are immutable)."""
        return SV(self.lay, dict(self.d))

    def vol(self, name: str) -> list[Term]:
        """A volume (or image) as a list of ``blocks`` terms."""
        keys = self.lay.vol_keys.get(name)
        if keys is None:
            keys = self.lay.vol_keys[name] = tuple(f"{name}.{i}" for i in range(self.lay.nb))
        d = self.d
        return [d[k] for k in keys]

    def set_vol(self, name: str, v: Sequence[Term]) -> None:
        """Overwrite a volume."""
        for i, x in enumerate(v):
            self.d[f"{name}.{i}"] = x

    def slots(self, q: str) -> list[Tup]:
        """Every slot of a bounded sequence (valid ones first, then zeros)."""
        d = self.d
        return [tuple(map(d.__getitem__, keys)) for keys in self.lay.slot_keys[q]]

    def length(self, q: str) -> Term:
        """The number of valid slots of a bounded sequence."""
        return self.d[f"{q}.len"]

    def set_seq(self, q: str, slots: Sequence[Tup], n: Term) -> None:
        """Overwrite a bounded sequence (``slots`` must have the full capacity)."""
        d = self.d
        for keys, t in zip(self.lay.slot_keys[q], slots, strict=True):
            d.update(zip(keys, t, strict=True))
        d[f"{q}.len"] = n

    def clear_seq(self, q: str) -> None:
        """Make a bounded sequence empty."""
        cap, w = self.lay.caps[q], len(self.lay.subs[q])
        self.set_seq(q, [(0,) * w] * cap, 0)


def merge(c: Term, a: SV, b: SV) -> SV:
    """``a if c else b``, slot by slot (only slots that differ get an ``If``)."""
    if c is True:
        return a
    if c is False:
        return b
    if isinstance(c, np.ndarray):  # a frontier where every state takes the same branch
        if c.all():
            return a
        if not c.any():
            return b
    return SV(a.lay, {k: ite(c, x, b.d[k]) for k, x in a.d.items()})


def never(c: Term) -> bool:
    """``c`` is false for certain: the constant ``False`` or, over a frontier, false for every state."""
    return c is False or (isinstance(c, np.ndarray) and not c.any())


def zero(width: int) -> Tup:
    """An unused slot."""
    return (0,) * width


def seq_append(slots: Sequence[Tup], n: Term, item: Tup) -> tuple[list[Tup], Term, Term]:
    """Append; returns the new slots, length, and the capacity condition ``n < cap``."""
    cap = len(slots)
    return [ite_t(n == i, item, slots[i]) for i in range(cap)], n + 1, n < cap


def seq_pop_front(slots: Sequence[Tup], n: Term) -> tuple[list[Tup], Term]:
    """Drop the first slot (the caller guards ``n > 0``)."""
    w = len(slots[0]) if slots else 0
    return [*slots[1:], zero(w)], n - 1


def seq_remove_at(slots: Sequence[Tup], n: Term, j: int) -> tuple[list[Tup], Term]:
    """Remove the slot at a fixed index ``j`` (the caller guards ``j < n``)."""
    w = len(slots[0])
    return [*slots[:j], *slots[j + 1:], zero(w)], n - 1


def seq_remove_where(slots: Sequence[Tup], n: Term, hit: Sequence[Term]) -> tuple[list[Tup], Term, Term]:
    """Remove the first valid slot whose ``hit`` condition holds; returns slots, length, and whether one did."""
    cap = len(slots)
    w = len(slots[0]) if slots else 0
    first = [conj(i < n, hit[i], *(neg(conj(k < n, hit[k])) for k in range(i))) for i in range(cap)]
    found = any_of(first)
    before = [False] * cap  # before[i]: the removed slot is at an index <= i
    acc: Term = False
    for i in range(cap):
        acc = disj(acc, first[i])
        before[i] = acc
    padded = [*slots, zero(w)]
    new = [ite_t(before[i], padded[i + 1], slots[i]) for i in range(cap)]
    return new, ite(found, n - 1, n), found


def seq_insert_sorted(slots: Sequence[Tup], n: Term, item: Tup) -> tuple[list[Tup], Term, Term]:
    """Insert into a sorted bounded sequence (the model's ``tuple(sorted((*xs, x)))``)."""
    cap = len(slots)
    pos = count(conj(i < n, lt_t(slots[i], item)) for i in range(cap))
    new = []
    for i in range(cap):
        prev = slots[i - 1] if i > 0 else item
        new.append(ite_t(i < pos, slots[i], ite_t(pos == i, item, prev)))
    return new, n + 1, n < cap


def seq_contains(slots: Sequence[Tup], n: Term, item: Sequence[Term]) -> Term:
    """``item in xs``."""
    return any_of(conj(i < n, eq_t(slots[i], item)) for i in range(len(slots)))


def seq_compress(slots: Sequence[Tup], n: Term, keep: Sequence[Term], cap: int | None = None
                 ) -> tuple[list[Tup], Term]:
    """``[x for x, k in zip(xs, keep) if k]`` as a bounded sequence of ``cap`` slots."""
    cap = len(slots) if cap is None else cap
    w = len(slots[0]) if slots else 0
    kept = [conj(i < n, keep[i]) for i in range(len(slots))]
    before: list[Term] = []
    c: Term = 0
    for k in kept:
        before.append(c)
        c = c + ite(k, 1, 0) if not isinstance(k, bool) else c + int(k)
    out = []
    for j in range(cap):
        acc: Tup = zero(w)
        for i in range(len(slots)):
            if i < j:
                continue  # the j-th kept slot is at index >= j
            acc = ite_t(conj(kept[i], before[i] == j), slots[i], acc)
        out.append(acc)
    return out, c


def seq_equal(a: Sequence[Tup], an: Term, b: Sequence[Tup], bn: Term) -> Term:
    """Two bounded sequences hold the same items (capacities may differ)."""
    cap = max(len(a), len(b))
    w = len(a[0]) if a else len(b[0]) if b else 0
    pa = [*a, *[zero(w)] * (cap - len(a))]
    pb = [*b, *[zero(w)] * (cap - len(b))]
    return conj(an == bn, *(implies(i < an, eq_t(pa[i], pb[i])) for i in range(cap)))


def select(vol: Sequence[Term], idx: Term) -> Term:
    """``vol[idx]`` for a term index (0 when out of range, e.g. the MARKER lba)."""
    out: Term = 0
    for i in range(len(vol) - 1, -1, -1):
        out = ite(idx == i, vol[i], out)
    return out


def store(vol: Sequence[Term], idx: Term, value: Term) -> list[Term]:
    """``vol`` with ``vol[idx] = value`` (unchanged when ``idx`` is out of range, e.g. MARKER)."""
    return [ite(idx == i, value, x) for i, x in enumerate(vol)]


def covers(lba: Term, length: Term, k: int) -> Term:
    """A write of ``length`` blocks from ``lba`` covers block ``k`` (never for the MARKER lba). A length that
    is the constant 1 (every one-block layout) gives exactly ``lba == k``, so those kernels are unchanged."""
    if isinstance(length, int) and length == 1:
        return lba == k
    return conj(lba >= 0, lba <= k, k < lba + length)


def store_range(vol: Sequence[Term], lba: Term, length: Term, value: Term) -> list[Term]:
    """``vol`` with ``value`` on every block a write of ``length`` blocks from ``lba`` covers (a multi-block
    record applied whole); ``store`` for a length that is the constant 1."""
    if isinstance(length, int) and length == 1:
        return store(vol, lba, value)
    return [ite(covers(lba, length, i), value, x) for i, x in enumerate(vol)]


def vol_eq(a: Sequence[Term], b: Sequence[Term]) -> Term:
    """Two volumes are equal."""
    return eq_t(a, b)
