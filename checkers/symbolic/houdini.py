"""Invariant inference on the proof system: a Houdini search over candidate invariants from templates (issue 15).

The hand-written strengthening invariants of ``spec.invariants`` make the safety properties inductive; this
module finds such invariants without them. It works in three stages, each sound on its own:

1. **Templates.** ``candidates`` generates candidate invariants over the fields of ``spec.fields`` (through the
   ``Layout``'s slots): order bounds between the sequence counters, equalities of volumes (whole and per
   block) and of volumes with ``image(n)`` at the counters, emptiness and lengths of the bounded sequences,
   per-slot facts about the entries of J, the ghost history, A's in-flight table, R's buffer and the path,
   identity relations of the enum fields (``primary_volume == host_lun``, optionally under a flag),
   each under a guard (``true``, a pair state, a journaling state, a recovery present or not, the mirror
   idle, A in COPY with its resync's answer on the path, and pairs of them). Also the structural facts of
   ``bmc.well_formed`` (every length within its capacity: the proof system's capacity obligations), one
   candidate per conjunct, and the top-level conjuncts of the properties asked, as Houdini usually seeds
   them. No hand-written invariant is a candidate. Each candidate carries readable text in field names
   (``pair_state == PAIR and idle => primary[0] == remote[0]``).
2. **Cheap filter.** Every candidate is evaluated, as a numpy column over the term layer (the frontier engine's
   way), on the initial states and on every state the model reaches breadth-first at small budgets with the
   same blocks, concurrency and journal capacity; one false evaluation drops it. What survives holds on every
   initial state (the base case, exactly: the initial states are finite and all evaluated).
3. **Houdini with Z3.** C is the conjunction of the survivors. For each action instance a, the solver looks
   for a state in C whose a-successor breaks some candidate in C; every candidate false in that model is
   dropped; repeated until no instance finds one (a fixpoint): C is then inductive (Init => C, C & T => C').
   Finally C => P is asked for each property. One incremental solver serves the whole search: the instances
   and candidates sit behind assumption literals, so dropping a candidate costs nothing and what the solver
   learnt carries over.

The result is a proof on the proof system of ``docs/PROOFS.md`` (the same
``Encoding(bounds, unbounded=True, canonical_path=False)`` ``prove --induction`` uses, 1-induction), with the
invariant printed as its surviving conjuncts grouped by guard (``readable``).
"""

# The templates bind their loop variables as lambda defaults (``lambda s, a=a: ...``), which mypy cannot type:
# mypy: disable-error-code="misc"
from __future__ import annotations

import time
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from itertools import combinations

import numpy as np
import z3

from pitmirror.checkers.symbolic import solving
from pitmirror.checkers.symbolic.bmc import _b, well_formed
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.spec_terms import (
    COPY,
    JOURNALING,
    MA,
    MW,
    PAIR,
    RECOV,
    RECOVERING,
    SUSPENDED,
    SWAP,
    SWAPPING,
    SpecTerms,
)
from pitmirror.checkers.symbolic.terms import SV, Term, conj, count, implies, neg, select, vol_eq
from pitmirror.model.config import Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.fields import FIELDS, Content, Lane
from pitmirror.spec.state import MARKER, MessageKind, Recovery, State

Pred = Callable[[SV], Term]
#: ``Inference.dropped_by`` of a candidate false on a state the filter's exploration reached (not a step's CTI)
REACHED = "a reachable state"


@dataclass(frozen=True)
class Candidate:
    """One candidate invariant: readable text in the state's field names, and the predicate over a vector."""

    text: str
    pred: Pred
    origin: str = "template"  # "template", "well_formed" (a structural conjunct) or "property"
    guard: int = -1  # a template's guard and atom (indexes into ``_guards``, ``_atoms``): the filter evaluates
    atom: int = -1  # each guard and atom once over the reachable states, not each candidate
    guard_text: str = ""  # a template's guard in field names ("" for true), under which ``readable`` lists it
    fact: str = ""  # what holds under the guard (the atom's text; the whole text when unguarded)


# --- templates -----------------------------------------------------------------------------------------------

#: The sequence counters whose order the templates relate (``spec.fields``: A's, R's and the ghost's).
COUNTERS = ("base_seq", "next_seq", "replica_base_seq", "remote_applied_seq", "ghost_base_seq")
#: The volumes (``Content.VOLUME``) and the recovery's images, compared with each other and with image(n).
VOLUMES = ("primary", "base", "remote", "replica_base", "ghost_base")
RECOVERY_IMAGES = ("recovery.target_image", "recovery.start_image")
#: the bounded sequences of records (seq, lba, value) and where each keeps its seq, lba and value
RECORDS = {"journal": (0, 1, 2), "history": (0, 1, 2), "in_flight": (0, 1, 2), "remote_buffer": (0, 1, 2),
           "remote_journal": (0, 1, 2)}


def _guards(enc: Encoding) -> list[tuple[str, Pred, frozenset[str]]]:
    """The guards candidates are implied by: single facts of the control tables and their pairs, each with the
    single facts it is the conjunction of."""
    single = _single_guards(enc)
    out: list[tuple[str, Pred, frozenset[str]]] = [("", lambda s: True, frozenset())]
    for group in single.values():
        out.extend((t, p, frozenset({t})) for t, p in group)
    for g1, g2 in combinations(list(single), 2):
        for (t1, p1) in single[g1]:
            for (t2, p2) in single[g2]:
                out.append((f"{t1} and {t2}", lambda s, p1=p1, p2=p2: conj(p1(s), p2(s)), frozenset({t1, t2})))
    return out


def _single_guards(enc: Encoding) -> dict[str, list[tuple[str, Pred]]]:
    """Single facts of the control tables, by the table (or part of the state) they read."""
    single: dict[str, list[tuple[str, Pred]]] = {
        "pair": [("pair_state == PAIR", lambda s: s["pair_state"] == PAIR),
                 ("pair_state == SUSPENDED", lambda s: s["pair_state"] == SUSPENDED),
                 ("pair_state == COPY", lambda s: s["pair_state"] == COPY),
                 ("pair_state != PAIR", lambda s: s["pair_state"] != PAIR)],
        "journaling": [("journaling_state == JOURNALING", lambda s: s["journaling_state"] == JOURNALING),
                       ("journaling_state == RECOVERING", lambda s: s["journaling_state"] == RECOVERING),
                       ("journaling_state == SWAPPING", lambda s: s["journaling_state"] == SWAPPING)],
        "recovery": [("no recovery", lambda s: s["recovery.present"] == 0),
                     ("recovery present", lambda s: s["recovery.present"] == 1)],
        "idle": [("mirror idle (in_flight, remote_buffer empty)",
                  lambda s: conj(s.length("in_flight") == 0, s.length("remote_buffer") == 0))],
        "path": [("path up", lambda s: s["path_up"] == 1)],
        # A in COPY with the answer to the resync it runs on the path: R's half is done, A's not yet, and R holds
        # A's copy (what mirror_consistent needs at A's half). One fact, not COPY paired with "answered": a
        # guard of two facts is dropped where one of its facts alone survives the filter (``_weakest_guards``),
        # and the answer alone is too weak a guard for Houdini to keep
        "resync": [("pair_state == COPY and A's resync answered (its Resynced on the path)",
                    lambda s: conj(s["pair_state"] == COPY, SpecTerms.resync_answered(s)))],
    }
    if enc.kind == SWAP:
        single["swap"] = [("A swapped", lambda s: s["recovery.a_swapped"] == 1),
                          ("A not swapped", lambda s: conj(s["recovery.present"] == 1, s["recovery.a_swapped"] == 0)),
                          ("R swapped", lambda s: conj(s["recovery.present"] == 1,
                                                       s["remote_recovery_id"] >= s["recovery.recovery_id"])),
                          ("R not swapped", lambda s: conj(s["recovery.present"] == 1,
                                                           s["remote_recovery_id"] < s["recovery.recovery_id"]))]
        # the swap's phases: which of the two arrays has swapped (one fact each, so that a pair with the pair
        # state, ``pair_state == PAIR and A alone swapped``, is a guard of two facts)
        single["swap"] += [(f"{txt}", lambda s, a=a, r=r: conj(s["recovery.present"] == 1, _swapped(s, "A") == a,
                                                               _swapped(s, "R") == r))
                                for txt, a, r in (("neither array swapped", False, False),
                                                  ("A alone swapped", True, False), ("R alone swapped", False, True))]
    return single


def _atoms(enc: Encoding) -> list[tuple[str, Pred]]:
    """The facts the templates guard: order, equalities, emptiness, per-slot entry facts."""
    lay = enc.lay
    nb = lay.nb
    out: list[tuple[str, Pred]] = []
    counters = [*COUNTERS, "recovery.target"]
    for a, b in combinations(counters, 2):
        for op, f in (("<", lambda x, y: x < y), ("<=", lambda x, y: x <= y), ("==", lambda x, y: x == y),
                      (">", lambda x, y: x > y), (">=", lambda x, y: x >= y)):
            out.append((f"{a} {op} {b}", lambda s, a=a, b=b, f=f: f(s[a], s[b])))
    for a in counters:
        if a != "next_seq":
            out.append((f"{a} == next_seq - 1", lambda s, a=a: s[a] == s["next_seq"] - 1))
    out.append(("remote_recovery_id == recoveries_started",
                lambda s: s["remote_recovery_id"] == s["recoveries_started"]))
    out.append(("remote_recovery_id <= recoveries_started",
                lambda s: s["remote_recovery_id"] <= s["recoveries_started"]))
    out.append(("recovery.recovery_id == recoveries_started",
                lambda s: s["recovery.recovery_id"] == s["recoveries_started"]))
    vols = [*VOLUMES, *RECOVERY_IMAGES]
    points = {"base_seq": lambda s: s["base_seq"], "next_seq - 1": lambda s: s["next_seq"] - 1,
              "remote_applied_seq": lambda s: s["remote_applied_seq"], "ghost_base_seq": lambda s: s["ghost_base_seq"],
              "recovery.target": lambda s: s["recovery.target"]}
    for a, b in combinations(vols, 2):
        out.append((f"{a} == {b}", lambda s, a=a, b=b: vol_eq(s.vol(a), s.vol(b))))
        if nb > 1:
            for i in range(nb):
                out.append((f"{a}[{i}] == {b}[{i}]", lambda s, a=a, b=b, i=i: s.vol(a)[i] == s.vol(b)[i]))
    for a in vols:
        for pname, n in points.items():
            out.append((f"{a} == image({pname})", lambda s, a=a, n=n: vol_eq(s.vol(a), enc.image(s, n(s)))))
    for i in range(nb):
        out.append((f"primary[{i}] == remote[{i}] or dirty[{i}]",
                    lambda s, i=i: (s.vol("primary")[i] == s.vol("remote")[i]) | (s.vol("dirty")[i] != 0)
                    if isinstance(s.vol("dirty")[i], np.ndarray) else
                    z3.Or(_b(s.vol("primary")[i] == s.vol("remote")[i]), _b(s.vol("dirty")[i] != 0))))
        out.append((f"dirty[{i}] == 1", lambda s, i=i: s.vol("dirty")[i] == 1))
        out.append((f"dirty[{i}] == 0", lambda s, i=i: s.vol("dirty")[i] == 0))
    for q in lay.caps:
        if lay.caps[q] == 0:
            continue
        out.append((f"{q} empty", lambda s, q=q: s.length(q) == 0))
    out.append(("len(journal) == next_seq - base_seq - 1",
                lambda s: s.length("journal") == s["next_seq"] - s["base_seq"] - 1))
    # the lengths of every two bounded sequences (``Layout.caps``, from the field table: a sequence added to the
    # state is covered): one record per journal record in the history and in J's log table, JR a prefix of J
    seqs = [q for q in lay.caps if lay.caps[q]]
    for q1, q2 in combinations(seqs, 2):
        out.append((f"len({q1}) == len({q2})", lambda s, q1=q1, q2=q2: s.length(q1) == s.length(q2)))
        out.append((f"len({q1}) <= len({q2})", lambda s, q1=q1, q2=q2: s.length(q1) <= s.length(q2)))
        out.append((f"len({q2}) <= len({q1})", lambda s, q1=q1, q2=q2: s.length(q2) <= s.length(q1)))
    out.append(("next_seq - base_seq <= capacity(journal) + 1",
                lambda s: s["next_seq"] - s["base_seq"] <= lay.caps["journal"] + 1))
    out.extend(_slot_atoms(enc))
    out.extend(_in_flight_atoms(enc))
    out.extend(_rebuild_atoms(enc))
    out.extend(_message_atoms(enc))
    # the control tables' facts as atoms too, so templates relate them (``journaling_state == JOURNALING =>
    # no recovery``); the vacuous pairs of guards say the rest (``not (... and ...)``)
    for group in _single_guards(enc).values():
        out.extend(group)
    # the identity relations last, less those the control tables' facts above already say (same text)
    have = {t for t, _p in out}
    out.extend((t, p) for t, p, _base, _cond in _identity_atoms(enc) if t not in have)
    return out


def _enum_slots(enc: Encoding) -> dict[str, type[IntEnum]]:
    """The slots of the vector holding an enum, with its type, from the field table and ``State``'s (and a
    recovery entry's) annotations: the control tables, the role maps and the host-LUN map, a recovery's kind."""
    hints = typing.get_type_hints(State)
    rec_hints = typing.get_type_hints(Recovery)
    out: dict[str, type[IntEnum]] = {}
    for f in FIELDS:
        if f.content is Content.SCALAR:
            t = hints[f.name]
            if isinstance(t, type) and issubclass(t, IntEnum):
                out[f.name] = t
        elif f.content is Content.RECOVERY:
            for name, t in rec_hints.items():
                if isinstance(t, type) and issubclass(t, IntEnum) and f"{f.name}.{name}" in enc.lay.names:
                    out[f"{f.name}.{name}"] = t
    return out


def _flag_slots() -> list[str]:
    """The state's boolean scalars (``path_up``, ``swap_timed_out``, ``lun_switch_pending``, ...), from the field
    table and ``State``'s annotations: the flags an identity fact may hold under."""
    hints = typing.get_type_hints(State)
    return [f.name for f in FIELDS if f.content is Content.SCALAR and hints[f.name] is bool]


def _identity_atoms(enc: Encoding) -> list[tuple[str, Pred, str, Pred | None]]:
    """Identity relations over the enum fields (``_enum_slots``): each enum field equal to each of its values
    (``primary_volume == V0``), and every two fields of the same enum type equal or different (``primary_volume
    == host_lun``: the host-LUN map names the volume the role map calls P); the flags' own values (``not
    lun_switch_pending``); and each fact under each flag set or clear (``primary_volume == host_lun when not
    lun_switch_pending``). Returned as (text, predicate, the unguarded fact's text, the flag's condition or
    None): the filter keeps a flag's copy only where the fact alone fails and the flag's value occurs under
    the guard. Without them nothing says the host's LUN names P's volume (a host write to B leaves P apart from
    its journal's image): write-through inference no longer proved ``mirror_consistent`` once those fields came."""
    enums = _enum_slots(enc)
    facts: list[tuple[str, Pred]] = []
    for slot, t in enums.items():
        facts += [(f"{slot} == {m.name}", lambda s, slot=slot, m=int(m): s[slot] == m) for m in t]
    for a, b in combinations(enums, 2):
        if enums[a] is enums[b]:
            facts.append((f"{a} == {b}", lambda s, a=a, b=b: s[a] == s[b]))
            facts.append((f"{a} != {b}", lambda s, a=a, b=b: s[a] != s[b]))
    flags = _flag_slots()
    out: list[tuple[str, Pred, str, Pred | None]] = [(t, p, t, None) for t, p in facts]
    for flag in flags:
        for val, word in ((1, ""), (0, "not ")):
            out.append((f"{word}{flag}", lambda s, flag=flag, val=val: s[flag] == val, f"{word}{flag}", None))
    for flag in flags:
        for val, word in ((1, ""), (0, "not ")):
            out += [(f"{t} when {word}{flag}", lambda s, p=p, flag=flag, val=val: implies(s[flag] == val, p(s)), t,
                     lambda s, flag=flag, val=val: s[flag] == val)
                    for t, p in facts]
    return out


def _swapped(s: SV, array: str) -> Term:
    """Whether ``array`` ("A" or "R") has swapped for the running swap recovery (as a term)."""
    if array == "A":
        return s["recovery.a_swapped"] == 1
    return s["remote_recovery_id"] >= s["recovery.recovery_id"]


#: The points (seq numbers) at which an array's volume is rebuilt from its journal: the running recovery's
#: target, A's newest write and the newest R applied.
REBUILD_POINTS = {"recovery.target": lambda s: s["recovery.target"], "next_seq - 1": lambda s: s["next_seq"] - 1,
                  "remote_applied_seq": lambda s: s["remote_applied_seq"]}


def _lane_images(enc: Encoding, lane: Lane) -> list[tuple[str, Callable[[SV], list[Term]]]]:
    """The images an array holds or can rebuild, from the field table: each of its volumes; the images of its
    recovery entry; and each volume rebuilt with each of its journals' records up to each ``REBUILD_POINTS``
    point (``rebuild(base, journal, recovery.target)``: what a swap makes of that array)."""
    lay = enc.lay
    vols = [f.name for f in FIELDS if f.lane is lane and f.content is Content.VOLUME]
    recs = [f.name for f in FIELDS if f.lane is lane and f.content is Content.RECORDS and lay.caps.get(f.name, 0)]
    out: list[tuple[str, Callable[[SV], list[Term]]]] = [(v, lambda s, v=v: s.vol(v)) for v in vols]
    for f in FIELDS:
        if f.lane is lane and f.content is Content.RECOVERY:
            out += [(f"{f.name}.{img}", lambda s, n=f"{f.name}.{img}": s.vol(n))
                    for img in ("target_image", "start_image") if f"{f.name}.{img}.0" in lay.names]
    for v in vols:
        for q in recs:
            for pt, n in REBUILD_POINTS.items():
                out.append((f"rebuild({v}, {q}, {pt})", lambda s, v=v, q=q, n=n: enc.rebuild(
                    s.vol(v), s.slots(q), s.length(q), n(s))))
    return out


def _rebuild_atoms(enc: Encoding) -> list[tuple[str, Pred]]:
    """Equalities between an image of array A and one of array R (``_lane_images``, pairs of fields of the same
    kind on the two arrays): ``rebuild(base, journal, recovery.target) == rebuild(replica_base, remote_journal,
    recovery.target)`` says both arrays' swaps will end on the same image. The pairs of two plain volumes are
    ``_atoms``' own."""
    a_imgs, r_imgs = _lane_images(enc, Lane.A), _lane_images(enc, Lane.R)
    plain = {*VOLUMES, *RECOVERY_IMAGES}
    return [(f"{ta} == {tr}", lambda s, fa=fa, fr=fr: vol_eq(fa(s), fr(s)))
            for ta, fa in a_imgs for tr, fr in r_imgs if not (ta in plain and tr in plain)]


def _message_atoms(enc: Encoding) -> list[tuple[str, Pred]]:
    """Facts of the control messages on the path (every kind but the mirror writes and acks, whose seqs
    ``_slot_atoms`` relates): each payload field against each counter and id, for every such message and for
    those R has not acted on (id above R's recovery id). Both kinds send ``Checkpointed`` and ``Resynced``
    (the checkpoint's and the resync's second halves); only swap recovery sends ``RecoverRequest`` and
    ``SwapDone``."""
    scalars = [*COUNTERS, "recovery.target", "recovery.recovery_id", "remote_recovery_id", "recoveries_started",
               "resync_id"]
    rels = (("==", lambda x, y: x == y), ("<=", lambda x, y: x <= y))
    out: list[tuple[str, Pred]] = []
    for kind in MessageKind:
        if int(kind) in (MW, MA) or (enc.kind != SWAP and kind in (MessageKind.RECOVER_REQUEST,
                                                                       MessageKind.SWAP_DONE)):
            continue
        for fi, fname in ((1, "a"), (2, "b")):
            for c in scalars:
                for op, f in rels:
                    for where, wtext in ((None, ""), (lambda m, s: m[1] > s["remote_recovery_id"],
                                                       " not acted on (a > remote_recovery_id)")):
                        out.append((f"every {_camel(kind)}{wtext} on the path: {fname} {op} {c}",
                                    _each_message(enc, int(kind), lambda m, s, fi=fi, c=c, f=f: f(m[fi], s[c]),
                                                  where)))
    return out


def _camel(kind: MessageKind) -> str:
    return "".join(w.capitalize() for w in kind.name.split("_"))


def _each_message(enc: Encoding, kind: int, body: Callable[[Sequence[Term], SV], Term],
                  where: Callable[[Sequence[Term], SV], Term] | None) -> Pred:
    def pred(s: SV) -> Term:
        n = s.length("path")
        return conj(*(implies(conj(i < n, m[0] == kind, where(m, s) if where else True), body(m, s))
                      for i, m in enumerate(s.slots("path"))))
    return pred


def _in_flight_atoms(enc: Encoding) -> list[tuple[str, Pred]]:
    """Who A's in-flight writes are from, how many, and on which blocks: what keeps the table within its
    capacity (``concurrency`` host writes, one recovery write per block)."""
    cap = enc.lay.caps["in_flight"]

    def origins(s: SV, keep: Callable[[Term], Term]) -> Term:
        n = s.length("in_flight")
        return count(conj(i < n, keep(e[3])) for i, e in enumerate(s.slots("in_flight")))

    def distinct_recovery_blocks(s: SV) -> Term:
        n, xs = s.length("in_flight"), s.slots("in_flight")
        rec = [conj(i < n, e[3] == RECOV) for i, e in enumerate(xs)]
        return conj(*(implies(conj(rec[i], rec[j]), xs[i][1] != xs[j][1])
                      for i in range(cap) for j in range(i + 1, cap)))

    def pending_on(s: SV, b: int) -> Term:
        n = s.length("in_flight")
        hits = [conj(i < n, e[1] == b, e[0] > s["remote_applied_seq"]) for i, e in enumerate(s.slots("in_flight"))]
        return _any(hits)

    def gap_in_flight(s: SV) -> Term:
        n, applied = s.length("in_flight"), s["remote_applied_seq"]
        above = count(conj(i < n, e[0] > applied) for i, e in enumerate(s.slots("in_flight")))
        return above >= s["next_seq"] - 1 - applied

    conc = enc.b.concurrency
    per_block: list[tuple[str, Pred]] = [
        (f"primary[{b}] == remote[{b}] or a write to block {b} above remote_applied_seq in flight",
         lambda s, b=b: _any([s.vol("primary")[b] == s.vol("remote")[b], pending_on(s, b)]))
        for b in range(enc.nb)]
    return [*per_block,
        ("every seq above remote_applied_seq and below next_seq is in flight", gap_in_flight),
        ("no recovery write in flight", lambda s: origins(s, lambda o: o == RECOV) == 0),
        ("every write in flight is a recovery write", lambda s: origins(s, lambda o: o != RECOV) == 0),
        (f"at most {conc} host writes and markers in flight (concurrency)",
         lambda s: origins(s, lambda o: o != RECOV) <= conc),
        ("recovery writes in flight on distinct blocks", distinct_recovery_blocks),
        ("no recovery write in flight to MARKER", lambda s: conj(*(
            implies(conj(i < s.length("in_flight"), e[3] == RECOV), e[1] != MARKER)
            for i, e in enumerate(s.slots("in_flight"))))),
    ]


def _slot_atoms(enc: Encoding) -> list[tuple[str, Pred]]:
    """Per-slot facts about the entries of each record sequence and of the mirror writes and acks on the path:
    how an entry's seq compares with each counter, the seq order of neighbours, J's numbering from
    ``base_seq``, equal entries across J and the history, an entry's value on its block of P."""
    lay = enc.lay
    out: list[tuple[str, Pred]] = []
    counters = ("base_seq", "next_seq", "remote_applied_seq", "ghost_base_seq", "replica_base_seq")
    rels = (("<", lambda x, y: x < y), ("<=", lambda x, y: x <= y), (">", lambda x, y: x > y))

    def each(q: str, body: Callable[[SV, int], Term], where: Callable[[SV, int], Term] | None = None
             ) -> Pred:
        def pred(s: SV) -> Term:
            n = s.length(q)
            return conj(*(implies(conj(i < n, where(s, i) if where else True), body(s, i))
                          for i in range(lay.caps[q])))
        return pred

    for q in RECORDS:
        if lay.caps.get(q, 0) == 0:
            continue
        for c in counters:
            for op, f in rels:
                out.append((f"every {q}.seq {op} {c}",
                            each(q, lambda s, i, q=q, c=c, f=f: f(s.slots(q)[i][0], s[c]))))
        out.append((f"{q} in seq order", lambda s, q=q: conj(*(
            implies(i + 1 < s.length(q), s.slots(q)[i][0] < s.slots(q)[i + 1][0]) for i in range(lay.caps[q] - 1)))))
        out.append((f"every non-marker {q} entry's value is on P",
                    each(q, lambda s, i, q=q: select(s.vol("primary"), s.slots(q)[i][1]) == s.slots(q)[i][2],
                         lambda s, i, q=q: s.slots(q)[i][1] != MARKER)))
        out.append((f"every {q} entry is a marker or a block write",
                    each(q, lambda s, i, q=q: s.slots(q)[i][1] >= MARKER)))
    out.append(("journal numbered from base_seq + 1",
                each("journal", lambda s, i: s.slots("journal")[i][0] == s["base_seq"] + 1 + i)))
    out.append(("journal == history (entry by entry)", lambda s: conj(
        s.length("journal") == s.length("history"),
        *(implies(i < s.length("journal"), conj(*(x == y for x, y in zip(s.slots("journal")[i][:3],
                                                                         s.slots("history")[i][:3], strict=True))))
          for i in range(min(lay.caps["journal"], lay.caps["history"]))))))
    out.append(("every history entry is in the journal",
                each("history", lambda s, i: _contains(s, "journal", s.slots("history")[i][:3]))))
    out.append(("every in_flight entry is in the journal",
                each("in_flight", lambda s, i: _contains(s, "journal", s.slots("in_flight")[i][:3]))))
    out.append(("every remote_buffer entry is in in_flight",
                each("remote_buffer", lambda s, i: _contains(s, "in_flight", s.slots("remote_buffer")[i][:3]))))
    out.append(("every remote_buffer entry is on a dirty block or in flight",
                each("remote_buffer", lambda s, i: _any([_contains(s, "in_flight", s.slots("remote_buffer")[i][:3]),
                                                         select(s.vol("dirty"), s.slots("remote_buffer")[i][1]) == 1]),
                     lambda s, i: s.slots("remote_buffer")[i][1] != MARKER)))
    out.append(("every in_flight entry above remote_applied_seq is on P",
                each("in_flight", lambda s, i: select(s.vol("primary"), s.slots("in_flight")[i][1])
                     == s.slots("in_flight")[i][2],
                     lambda s, i: conj(s.slots("in_flight")[i][0] > s["remote_applied_seq"],
                                       s.slots("in_flight")[i][1] != MARKER))))
    for kind, kname in ((MW, "MirrorWrite"), (MA, "MirrorAck")):
        for c in counters:
            for op, f in rels:
                out.append((f"every {kname} on the path: seq {op} {c}",
                            each("path", lambda s, i, c=c, f=f: f(s.slots("path")[i][1], s[c]),
                                 lambda s, i, kind=kind: s.slots("path")[i][0] == kind)))
    out.append(("every MirrorWrite on the path above remote_applied_seq is in in_flight",
                each("path", lambda s, i: _contains(s, "in_flight", s.slots("path")[i][1:4]),
                     lambda s, i: conj(s.slots("path")[i][0] == MW, s.slots("path")[i][1] > s["remote_applied_seq"]))))
    out.append(("every MirrorWrite on the path above remote_applied_seq is on a dirty block or in flight",
                each("path", lambda s, i: _contains(s, "in_flight", s.slots("path")[i][1:4])
                     | (select(s.vol("dirty"), s.slots("path")[i][2]) == 1)
                     if isinstance(s.length("path"), np.ndarray) else
                     z3.Or(_b(_contains(s, "in_flight", s.slots("path")[i][1:4])),
                           _b(select(s.vol("dirty"), s.slots("path")[i][2]) == 1)),
                     lambda s, i: conj(s.slots("path")[i][0] == MW, s.slots("path")[i][1] > s["remote_applied_seq"],
                                       s.slots("path")[i][2] != MARKER))))
    return out


def _contains(s: SV, q: str, item: Sequence[Term]) -> Term:
    """``item`` (seq, lba, value) is an entry of the record sequence ``q``."""
    n = s.length(q)
    return _any([conj(i < n, *(x == y for x, y in zip(r[:3], item, strict=True))) for i, r in enumerate(s.slots(q))])


def _any(xs: Sequence[Term]) -> Term:
    """Disjunction over terms of either kind (numpy columns or Z3), with constants folded."""
    out: Term = False
    for h in xs:
        if h is True:
            return True
        if h is False:
            continue
        out = h if out is False else (out | h if isinstance(h, np.ndarray) else z3.Or(_b(out), _b(h)))
    return out


def candidates(enc: Encoding, props: Iterable[str] = ()) -> list[Candidate]:
    """Every candidate of the templates (guard => atom), the conjuncts of ``well_formed`` and of the asked
    properties."""
    out: list[Candidate] = []
    for gi, (gt, g, _parts) in enumerate(_guards(enc)):
        for ai, (at, a) in enumerate(_atoms(enc)):
            text = f"{gt} => {at}" if gt else at
            out.append(Candidate(text, lambda s, g=g, a=a: implies(g(s), a(s)), "template", gi, ai, gt, at))
    x = enc.lay.symbolic("wf")
    for i, part in enumerate(_conjuncts(_b(well_formed(enc, x)))):
        out.append(Candidate(f"well_formed #{i}: {_readable(part)}", _renamed(enc, x, part), "well_formed"))
    for p in props:
        out.append(Candidate(p, enc.properties()[p], "property"))
    return out


def _conjuncts(t: z3.BoolRef) -> list[z3.BoolRef]:
    if z3.is_and(t):
        return [c for ch in t.children() for c in _conjuncts(ch)]
    return [t]


def _renamed(enc: Encoding, x: SV, t: z3.BoolRef) -> Pred:
    """A predicate built from a Z3 term over ``x``: renamed onto another symbolic vector, or evaluated on a
    concrete or numpy one by substituting its values (only the few states of stage 2 that need it)."""
    names = [n for n in enc.lay.names if _mentions(t, x[n])]

    def pred(s: SV) -> Term:
        v = s[names[0]] if names else None
        if isinstance(v, z3.ExprRef) or not names:
            return z3.substitute(t, *[(x[n], s[n]) for n in names]) if names else t
        return _eval_columns(t, [x[n] for n in names], [s[n] for n in names])
    return pred


def _mentions(t: z3.ExprRef, v: z3.ExprRef) -> bool:
    return any(v.eq(u) for u in _vars(t))


#: a term's id -> (the term, its variables). The term is kept with them: an id is unique only while its term is
#: alive, and a freed term's id reused by another would hand that one the first one's variables (a structural
#: conjunct renamed without its variables is not inductive: what failed one run in two of the inference test)
_VARS: dict[int, tuple[z3.ExprRef, list[z3.ExprRef]]] = {}


def _vars(t: z3.ExprRef) -> list[z3.ExprRef]:
    key = t.get_id()
    if key not in _VARS:
        seen: dict[int, z3.ExprRef] = {}
        todo = [t]
        while todo:
            e = todo.pop()
            if z3.is_const(e) and e.decl().kind() == z3.Z3_OP_UNINTERPRETED:
                seen[e.get_id()] = e
            todo.extend(e.children())
        _VARS[key] = (t, list(seen.values()))
    return _VARS[key][1]


def _eval_columns(t: z3.BoolRef, xs: list[z3.ExprRef], cols: list[Term]) -> Term:
    """``t`` on every row of numpy columns (or plain ints), one substitution per distinct row."""
    arrays = [np.broadcast_to(np.asarray(c), np.broadcast(*[np.asarray(c) for c in cols]).shape) for c in cols]
    rows = np.stack([a.ravel() for a in arrays], axis=1) if arrays else np.zeros((1, 0))
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    vals = np.array([z3.is_true(z3.simplify(z3.substitute(t, *[(x, z3.IntVal(int(v)))
                                                                 for x, v in zip(xs, r, strict=True)])))
                     for r in uniq])
    res = vals[inverse.ravel()]
    return res if isinstance(cols[0], np.ndarray) else bool(res[0])


def _readable(t: z3.ExprRef) -> str:
    """A Z3 term in field names: ``primary.0@wf`` reads ``primary[0]``."""
    text = str(t).replace("@wf", "")
    return " ".join(text.split())


def readable(inv: Sequence[Candidate], structural: bool = False) -> list[str]:
    """The invariant ``inv`` as lines of text grouped by guard: a heading per guard (``always:`` for the unguarded
    facts and the properties, ``never:`` for the guards no state of the invariant is in, then ``when <guard>:``
    in the templates' guard order), its facts below, indented. A guarded fact that also holds unguarded, or that
    is the guard itself, says nothing more under the guard: it is counted in the heading, not listed again. The
    structural conjuncts of ``well_formed`` are one closing line with their count, or (``structural``) a group
    of their own."""
    groups: dict[tuple[int, str], list[str]] = {}
    wf = [c.text for c in inv if c.origin == "well_formed"]
    for c in inv:
        if c.origin == "well_formed":
            continue
        if c.origin == "template" and c.atom < 0:
            key, fact = (1, "never"), c.fact or c.text
        elif c.origin == "template" and c.guard_text:
            key, fact = (2 + c.guard, f"when {c.guard_text}"), c.fact
        else:
            key, fact = (0, "always"), c.fact or c.text
        groups.setdefault(key, []).append(fact)
    always = set(groups.get((0, "always"), ()))
    lines: list[str] = []
    for key in sorted(groups):
        said = always if key[0] >= 2 else set()
        facts = [f for f in groups[key] if f not in said and f != key[1].removeprefix("when ")]
        more = len(groups[key]) - len(facts)
        if not facts:
            continue
        lines.append(f"{key[1]} ({len(facts)} fact{'s' if len(facts) != 1 else ''}"
                     + (f"; {more} more that hold always or are the guard" if more else "") + "):")
        lines += [f"  {f}" for f in facts]
    if wf and structural:
        lines.append(f"structural, bmc.well_formed ({len(wf)} conjuncts):")
        lines += [f"  {t}" for t in wf]
    elif wf:
        lines.append(f"and {len(wf)} structural conjuncts (bmc.well_formed: ranges, lengths within capacity)")
    return lines


# --- stage 2: the cheap filter on explicitly reachable states --------------------------------------------------

def reachable_states(bounds: Bounds, limit: int = 200_000) -> list[State]:
    """The states ``MirrorModel(bounds)`` reaches breadth-first (at most ``limit``), initial states first."""
    m = MirrorModel(bounds)
    seen: dict[State, None] = dict.fromkeys(m.init_states())
    frontier = list(seen)
    while frontier and len(seen) < limit:
        nxt: list[State] = []
        for s in frontier:
            for a in m.actions(s):
                t = m.next_state(s, a)
                if t not in seen:
                    seen[t] = None
                    nxt.append(t)
                    if len(seen) >= limit:
                        break
        frontier = nxt
    return list(seen)


def columns(enc: Encoding, states: Sequence[State]) -> SV:
    """The states as one vector of numpy columns (a row per state), as the frontier engine evaluates terms.
    States that do not fit the proof system's capacities (outside its bounded channel) are left out."""
    rows = []
    for st in states:
        try:
            d = enc.lay.encode(st)
        except ValueError:  # CapacityError: outside the proof system
            continue
        rows.append([d[n] for n in enc.lay.names])
    arr = np.array(rows, dtype=np.int64).reshape(len(rows), len(enc.lay.names))
    return SV(enc.lay, {n: arr[:, j] for j, n in enumerate(enc.lay.names)})


def holds_on(cand: Candidate, cols: SV, rows: int) -> bool:
    """The candidate is true on every row of ``cols``."""
    v = cand.pred(cols)
    if isinstance(v, bool | np.bool_):
        return bool(v)
    return bool(np.all(np.broadcast_to(v, (rows,))))


def _filter_templates(enc: Encoding, cands: list[Candidate], cols: SV, rows: int) -> list[Candidate]:
    """The template candidates true on every row of ``cols``, each guard and atom evaluated once. A guard true
    on no row makes every atom true under it: its candidates become one, ``not (guard)`` (for the guards none
    of whose parts is already such a one)."""
    def column(t: Term) -> np.ndarray:
        return np.broadcast_to(np.asarray(t, dtype=bool), (rows,))

    guards = _guards(enc)
    gcols = [column(g(cols)) for _t, g, _p in guards]
    vacuous = {gi for gi, g in enumerate(gcols) if not g.any()}
    atoms = _atoms(enc)
    false_under: dict[int, set[int]] = {}
    for ai, (_t, a) in enumerate(atoms):
        bad = ~column(a(cols))
        if bad.any():
            false_under[ai] = {gi for gi, g in enumerate(gcols) if (g & bad).any()}
    # a control-message fact true on every row (most are: those messages are rare) is kept unguarded only: its
    # guarded copies, implied by it, would double swap's search (1,766 of 5,063 candidates); so is an identity
    # fact (``_identity_atoms``). A flag's copy of an identity fact is left out where it says nothing more: the
    # fact alone holds on every row or under the same guard, the guard is the fact itself, or no row under the
    # guard has the flag's value
    index = {t: ai for ai, (t, _a) in enumerate(atoms)}
    idents = [x for x in _identity_atoms(enc) if x[0] in index]
    tables = {t for group in _single_guards(enc).values() for t, _p in group}
    texts = {t for t, _p in _message_atoms(enc)} | {t for t, _p, _b, _c in idents if t not in tables}
    unguarded_only = {ai for ai, (t, _a) in enumerate(atoms) if t in texts and ai not in false_under}
    implied = {index[t] for t, _p, base, cond in idents
               if cond is not None and base in index and index[base] not in false_under}
    copies = {index[t]: (base, column(cond(cols))) for t, _p, base, cond in idents if cond is not None}

    def says_nothing(c: Candidate) -> bool:
        if c.atom not in copies:
            return False
        base, flag = copies[c.atom]
        return (base in guards[c.guard][2] or c.guard not in false_under.get(index[base], ())
                or not (gcols[c.guard] & flag).any())

    out = [c for c in cands if c.guard not in vacuous and c.guard not in false_under.get(c.atom, ())
           and not (c.atom in unguarded_only and c.guard != 0) and c.atom not in implied and not says_nothing(c)]
    for gi in sorted(vacuous):
        text, g, parts = guards[gi]
        if not any(guards[h][2] < parts for h in vacuous):
            out.append(Candidate(f"not ({text})", lambda s, g=g: neg(g(s)), "template", gi, -1, "", text))
    return out


def _weakest_guards(enc: Encoding, cands: list[Candidate]) -> list[Candidate]:
    """Drop a template candidate guarded by two facts when the same atom survives under a guard of fewer
    (``g1 => a`` implies ``g1 and g2 => a``): the search stays much smaller. (Houdini may later drop the weaker
    guard's candidate where the stronger one would have stayed: a loss of completeness, not of soundness.)"""
    parts = [p for _t, _g, p in _guards(enc)]
    by_atom: dict[int, list[int]] = {}
    for c in cands:
        if c.origin == "template" and c.atom >= 0:
            by_atom.setdefault(c.atom, []).append(c.guard)
    # a single fact's guard stays beside ``true``'s: Houdini often drops the unguarded atom (a step from an
    # unreachable state breaks it) where the guarded one is what the proof needs
    keep = {(a, g) for a, gs in by_atom.items() for g in gs
            if len(parts[g]) <= 1 or not any(parts[h] < parts[g] for h in gs)}
    return [c for c in cands if c.origin != "template" or c.atom < 0 or (c.atom, c.guard) in keep]


# --- stage 3: Houdini ------------------------------------------------------------------------------------------

@dataclass
class Inference:
    """What the search found: the inductive invariant's conjuncts, figures, and the verdict per property."""

    invariant: list[Candidate]
    generated: int
    filtered: int  # left after the cheap filter
    states: int  # states the cheap filter evaluated on
    rounds: int  # solver queries of the fixpoint
    seconds: dict[str, float] = field(default_factory=dict)
    proved: dict[str, str] = field(default_factory=dict)  # property -> "proved" | "not proved" | "unknown"
    dropped_by: dict[str, str] = field(default_factory=dict)  # a dropped candidate -> the step that broke it
    note: str = ""
    minimal: list[Candidate] = field(default_factory=list)  # a subset still inductive and implying what is proved
    minimise_queries: int = 0


class GaveUp(Exception):
    """The solver answered unknown (a timeout): the search is inconclusive."""


def houdini(enc: Encoding, cands: list[Candidate], timeout_ms: int = 0,
            progress: Callable[[str], None] | None = None,
            dropped_by: dict[str, str] | None = None) -> tuple[list[Candidate], int]:
    """The largest subset of ``cands`` that is inductive on ``enc``'s transitions (Init is not asked: stage 2
    did). Returns it and the number of solver queries; ``dropped_by`` receives, per dropped candidate's text,
    the action instance whose step broke it. Raises ``GaveUp`` if a query times out."""
    lay = enc.lay
    x, y = lay.symbolic("x"), lay.symbolic("y")
    v = z3.Int("v@x")
    solver = z3.Solver()
    if timeout_ms:
        solver.set("timeout", timeout_ms)
    inst_lits: list[z3.BoolRef | None] = []
    for i, inst in enumerate(enc.instances):
        g = inst.guard(x, v)
        lit = z3.Bool(f"inst#{i}")
        if g is False:
            inst_lits.append(None)
            continue
        eff, _ok = inst.effect(x, v)  # the capacity condition is the well_formed candidates' business
        solver.add(z3.Implies(lit, z3.And(v >= 0, _b(g), *[y[n] == eff[n] for n in lay.names])))
        inst_lits.append(lit)
    pre_lits = [z3.Bool(f"pre#{j}") for j in range(len(cands))]
    post = []
    for j, c in enumerate(cands):
        solver.add(z3.Implies(pre_lits[j], _b(c.pred(x))))
        post.append(_b(c.pred(y)))
    active = set(range(len(cands)))
    queries = 0
    changed = True
    while changed:
        changed = False
        for i, lit in enumerate(inst_lits):
            if lit is None:
                continue
            while active:
                queries += 1
                goal = z3.Bool(f"goal#{queries}")
                solver.add(z3.Implies(goal, z3.Or(*[z3.Not(post[j]) for j in sorted(active)])))
                r = solving.check(solver, lit, goal, *[pre_lits[j] for j in sorted(active)])
                if r == z3.unsat:
                    break
                if r != z3.sat:
                    raise GaveUp(f"{enc.instances[i].name}: {solver.reason_unknown()}")
                m = solver.model()
                dropped = [j for j in active if not z3.is_true(m.eval(post[j], model_completion=True))]
                active -= set(dropped)
                changed = True
                if dropped_by is not None:
                    dropped_by.update((cands[j].text, enc.instances[i].name) for j in dropped)
                if progress is not None:
                    progress(f"{enc.instances[i].name}: dropped {len(dropped)}, {len(active)} left")
    return [cands[j] for j in sorted(active)], queries


def minimise(enc: Encoding, inv: list[Candidate], goals: list[Pred],
             timeout_ms: int = 0) -> tuple[list[Candidate], int]:
    """A subset of the inductive invariant ``inv`` that is still inductive and still implies every goal, found
    by unsat cores (Z3's, minimised; not a smallest subset, only one no query needed more of). Returns it and
    the number of solver queries.

    Start from the structural conjuncts (always kept: a vector that outgrew a capacity is not a state) and the
    core of ``inv => goals``; then, while the set S grows, ask for each action instance ``inv(x) & step(x, y) &
    not S(y)``, unsat because ``inv`` is inductive, and add its core: the conjuncts of ``inv`` the step needs
    to keep S. At the fixpoint each instance keeps S from S alone, so S is inductive; it holds initially as a
    subset of ``inv``, and implies the goals by the first core. Last, each template conjunct the rest of S
    implies is dropped, one at a time (the weaker twin a core kept beside its stronger one: ``seq <= next_seq``
    beside ``seq < next_seq``): what is left is equivalent to S, so still inductive and implying the goals."""
    lay = enc.lay
    x, y = lay.symbolic("x"), lay.symbolic("y")
    v = z3.Int("v@x")
    solver = z3.Solver()
    solver.set("core.minimize", True)
    if timeout_ms:
        solver.set("timeout", timeout_ms)
    lits = [z3.Bool(f"keep#{j}") for j in range(len(inv))]
    for j, c in enumerate(inv):
        solver.add(z3.Implies(lits[j], _b(c.pred(x))))
    by_lit = {lit.get_id(): j for j, lit in enumerate(lits)}
    queries = 0

    def core(*assumptions: z3.BoolRef) -> set[int]:
        nonlocal queries
        queries += 1
        r = solving.check(solver, *assumptions, *lits)
        if r != z3.unsat:  # inv is inductive and implies the goals: anything else is the solver giving up
            raise GaveUp(f"minimising: {r} ({solver.reason_unknown()})")
        return {by_lit[t.get_id()] for t in solver.unsat_core() if t.get_id() in by_lit}

    keep = {j for j, c in enumerate(inv) if c.origin == "well_formed"}
    goal = z3.Bool("goal#minimise")
    solver.add(z3.Implies(goal, z3.Or(*[z3.Not(_b(g(x))) for g in goals])))
    keep |= core(goal) if goals else set()
    steps = []
    for i, inst in enumerate(enc.instances):
        g = inst.guard(x, v)
        if g is False:
            continue
        eff, _ok = inst.effect(x, v)
        lit = z3.Bool(f"step#{i}")
        solver.add(z3.Implies(lit, z3.And(v >= 0, _b(g), *[y[n] == eff[n] for n in lay.names])))
        steps.append(lit)
    post = [_b(c.pred(y)) for c in inv]
    done: set[int] = set()  # conjuncts whose preservation every step has been asked for
    while keep - done:
        ask = sorted(keep - done)
        done |= set(ask)
        broken = z3.Bool(f"broken#{queries}")
        solver.add(z3.Implies(broken, z3.Or(*[z3.Not(post[j]) for j in ask])))
        for lit in steps:
            keep |= core(lit, broken)
    kept, more = drop_implied(enc, [c for j, c in enumerate(inv) if j in keep], timeout_ms)
    return kept, queries + more


def drop_implied(enc: Encoding, conjuncts: list[Candidate], timeout_ms: int = 0) -> tuple[list[Candidate], int]:
    """``conjuncts`` without each template conjunct the others imply, asked one at a time against what is left
    (so of two equivalent ones the later stays): a set equivalent to ``conjuncts``, so inductive and implying
    whatever they are and do. Structural and property conjuncts stay. Returns it and the number of queries."""
    x = enc.lay.symbolic("x")
    solver = z3.Solver()
    if timeout_ms:
        solver.set("timeout", timeout_ms)
    lits = [z3.Bool(f"keep#{j}") for j in range(len(conjuncts))]
    for lit, c in zip(lits, conjuncts, strict=True):
        solver.add(z3.Implies(lit, _b(c.pred(x))))
    keep = set(range(len(conjuncts)))
    queries = 0
    for j, c in enumerate(conjuncts):
        if c.origin != "template":
            continue
        queries += 1
        broken = z3.Bool(f"broken#{j}")
        solver.add(z3.Implies(broken, z3.Not(_b(c.pred(x)))))
        r = solving.check(solver, broken, *[lits[k] for k in sorted(keep - {j})])
        if r == z3.unsat:
            keep.discard(j)
        elif r != z3.sat:
            raise GaveUp(f"minimising: {r} ({solver.reason_unknown()})")
    return [c for j, c in enumerate(conjuncts) if j in keep], queries


def implies_property(enc: Encoding, inv: list[Candidate], prop: str, timeout_ms: int = 0) -> str:
    """Whether the invariant implies the property: "proved", "not proved" or "unknown"."""
    x = enc.lay.symbolic("x")
    solver = z3.Solver()
    if timeout_ms:
        solver.set("timeout", timeout_ms)
    solver.add(*[_b(c.pred(x)) for c in inv])
    r = solving.check(solver, z3.Not(_b(enc.properties()[prop](x))))
    return "proved" if r == z3.unsat else "not proved" if r == z3.sat else "unknown"


def infer(bounds: Bounds, props: Sequence[str], filter_bounds: Bounds | None = None, limit: int = 60_000,
          timeout_ms: int = 0, progress: Callable[[str], None] | None = None, minimal: bool = False) -> Inference:
    """Infer an inductive invariant on the proof system of ``bounds`` and ask whether it implies each of
    ``props``. ``filter_bounds`` are the budgets of stage 2's explicit exploration (by default small ones at
    the same blocks, concurrency and journal capacity). With ``minimal``, also the subset of the invariant
    ``minimise`` keeps for the properties proved (``Inference.minimal``)."""
    say = progress or (lambda _m: None)
    enc = Encoding(bounds, unbounded=True, canonical_path=False)
    fb = filter_bounds or bounds.with_(host_writes=3, markers=1, recoveries=1, crashes=1, path_failures=1,
                                        values=2, message_faults=0, premature_timeouts=0)
    t0 = time.perf_counter()
    cands = candidates(enc, props)
    states = reachable_states(fb, limit)
    cols = columns(enc, states)
    rows = len(next(iter(cols.d.values())))
    say(f"filter: {len(cands)} candidates, {rows} reachable states ({time.perf_counter() - t0:.1f}s)")
    init = columns(enc, MirrorModel(bounds).init_states())
    init_rows = len(next(iter(init.d.values())))
    dropped: dict[str, str] = {}
    kept = _filter_templates(enc, [c for c in cands if c.origin == "template"], cols, rows)
    kept = _weakest_guards(enc, kept)
    for c in cands:
        if c.origin == "property" and not holds_on(c, cols, rows):
            dropped[c.text] = REACHED
    kept += [c for c in cands if (c.origin == "property" and c.text not in dropped)
             or (c.origin == "well_formed" and holds_on(c, init, init_rows))]
    t1 = time.perf_counter()
    say(f"filter: {len(kept)} of {len(cands)} candidates hold on {rows} reachable states ({t1 - t0:.1f}s)")
    res = Inference([], len(cands), len(kept), rows, 0, dropped_by=dropped)
    res.seconds["filter"] = t1 - t0
    try:
        res.invariant, res.rounds = houdini(enc, kept, timeout_ms, progress, res.dropped_by)
    except GaveUp as e:
        res.note = f"the solver gave up: {e}"
        res.proved = dict.fromkeys(props, "unknown")
        res.seconds["houdini"] = time.perf_counter() - t1
        return res
    t2 = time.perf_counter()
    res.seconds["houdini"] = t2 - t1
    say(f"inductive: {len(res.invariant)} conjuncts after {res.rounds} queries ({t2 - t1:.1f}s)")
    lost = [c for c in kept if c.origin == "well_formed" and c not in res.invariant]
    if lost:
        res.note = f"a structural conjunct is not inductive: {lost[0].text}"
    for p in props:
        # without every structural conjunct the vector may not be a state (a capacity outgrown): no proof
        res.proved[p] = "not proved" if lost else implies_property(enc, res.invariant, p, timeout_ms)
    t3 = time.perf_counter()
    res.seconds["implies"] = t3 - t2
    goals = [enc.properties()[p] for p in props if res.proved[p] == "proved"]
    if goals and minimal:
        try:
            res.minimal, res.minimise_queries = minimise(enc, res.invariant, goals, timeout_ms)
        except GaveUp as e:
            res.note = (res.note + "; " if res.note else "") + f"not minimised: {e}"
        res.seconds["minimise"] = time.perf_counter() - t3
        say(f"minimised: {len(res.minimal)} conjuncts keep it inductive and imply what is proved "
            f"({res.minimise_queries} queries, {res.seconds['minimise']:.1f}s)")
    return res


__all__ = ["REACHED", "Candidate", "GaveUp", "Inference", "candidates", "columns", "drop_implied", "holds_on",
           "houdini", "implies_property", "infer", "minimise", "reachable_states", "readable"]
