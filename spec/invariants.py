"""Strengthening invariants: facts about every reachable state that make the safety properties inductive.

k-induction (``pitmirror prove --induction``) proves a property P by showing that P on k consecutive states
implies P on the next. An unreachable state can break that step although it never occurs; each invariant
below rules out a family of such states. They are plain predicates over ``State``, so the explicit checker
can check them too, and ``prove`` proves them together with the property (the conjunction is what is shown
inductive, and the base case checks it on the initial states), so nothing is assumed that is not proved.

``SUPPORT`` names, per property, the invariants its induction uses (fewer conjuncts, smaller formulas).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from spec.properties import journal_well_formed
from spec.state import MARKER, MessageKind, PairState, RecoveryKind, State, image


def counters_ordered(s: State) -> bool:
    """``base_seq < next_seq``: a checkpoint only frees records that took a sequence number; a swap restarts
    the journal at ``next_seq`` and moves ``next_seq`` past it."""
    return s.base_seq < s.next_seq


def history_below_next_seq(s: State) -> bool:
    """Every ghost history entry took a sequence number already: its seq is below ``next_seq``."""
    return all(h.seq < s.next_seq for h in s.history)


def history_in_seq_order(s: State) -> bool:
    """The ghost history is in increasing sequence order (writes are applied to P in the order they take
    their numbers), and starts above the ghost base."""
    seqs = [h.seq for h in s.history]
    return all(a < b for a, b in pairwise(seqs)) and all(x > s.ghost_base_seq for x in seqs)


def ghost_base_not_past_base(s: State) -> bool:
    """The ghost base never runs ahead of B: ``ghost_base_seq <= base_seq``."""
    return s.ghost_base_seq <= s.base_seq


def base_is_its_image(s: State) -> bool:
    """B is the image P had right after write ``base_seq``: ``B == image(base_seq)`` (checkpoints apply the
    oldest record to B as the ghost folds it; a swap makes both the rebuilt volume)."""
    return s.base == image(s, s.base_seq)


def messages_below_next_seq(s: State) -> bool:
    """Every mirrored write on the path, in R's buffer or in A's in-flight table took a seq already, and R
    never applied a seq A has not taken (outside a swap recovery: R may swap first and take A's next seq)."""
    swapping = s.recovery is not None and s.recovery.kind == RecoveryKind.SWAP
    return ((swapping or s.remote_applied_seq < s.next_seq)
            and all(m.a < s.next_seq for m in s.path if m.kind == MessageKind.MIRROR_WRITE)
            and all(r.seq < s.next_seq for r in s.remote_buffer) and all(e.seq < s.next_seq for e in s.in_flight))


def acks_applied(s: State) -> bool:
    """R acknowledges only what it applied, and buffers only what it has not: every MirrorAck's seq is at most
    ``remote_applied_seq``, every buffered record's above it."""
    return (all(m.a <= s.remote_applied_seq for m in s.path if m.kind == MessageKind.MIRROR_ACK)
            and all(r.seq > s.remote_applied_seq for r in s.remote_buffer))


def tables_in_seq_order(s: State) -> bool:
    """A's in-flight table and R's reorder buffer hold each sequence number once, in increasing order (A
    appends as it numbers writes; R keeps its buffer sorted and never buffers a record twice)."""
    ifl = [e.seq for e in s.in_flight]
    buf = [r.seq for r in s.remote_buffer]
    return all(a < b for xs in (ifl, buf) for a, b in pairwise(xs))


def _pending_records(s: State) -> list[tuple[int, int, int]]:
    """Mirrored writes R has not applied yet: on the path above R's applied seq, or in R's buffer."""
    out = [(m.a, m.b, m.c) for m in s.path if m.kind == MessageKind.MIRROR_WRITE and m.a > s.remote_applied_seq]
    return out + [(r.seq, r.lba, r.value) for r in s.remote_buffer]


def pending_records_agree(s: State) -> bool:
    """Two writes R has still to apply that carry the same seq are the same write (a seq names one write)."""
    by_seq: dict[int, tuple[int, int, int]] = {}
    return all(by_seq.setdefault(r[0], r) == r for r in _pending_records(s))


def pending_writes_tracked(s: State) -> bool:
    """In PAIR every write R has still to apply is in A's in-flight table; out of PAIR it is on a dirty block
    (the timeout or crash that suspended the pair marked it) and nothing is in flight."""
    if s.pair_state == PairState.PAIR:
        in_flight = {(e.seq, e.lba, e.value) for e in s.in_flight}
        return all(r in in_flight for r in _pending_records(s))
    return not s.in_flight and all(lba == MARKER or s.dirty[lba] for _seq, lba, _v in _pending_records(s))


def mirror_gap_in_flight(s: State) -> bool:
    """In PAIR, a block where P and S differ has a write in flight that R has not applied, and P holds the
    newest such write's value (so when R applies it, the block agrees again). A swap recovery in progress is
    exempt: between the two swaps P and S legitimately differ."""
    if s.pair_state != PairState.PAIR or (s.recovery is not None and s.recovery.kind == RecoveryKind.SWAP):
        return True
    pending = [e for e in s.in_flight if e.lba != MARKER and e.seq > s.remote_applied_seq]
    for b, (p, r) in enumerate(zip(s.primary, s.remote, strict=True)):
        on_b = [e for e in pending if e.lba == b]
        if p != r and not on_b:
            return False
        if on_b and p != max(on_b, key=lambda e: e.seq).value:
            return False
    return True


INVARIANTS: tuple[Callable[[State], bool], ...] = (
    counters_ordered, history_below_next_seq, history_in_seq_order, ghost_base_not_past_base, base_is_its_image,
    messages_below_next_seq, acks_applied, tables_in_seq_order, pending_records_agree, pending_writes_tracked,
    mirror_gap_in_flight, journal_well_formed,
)

#: The invariants each property's induction is strengthened with.
SUPPORT: dict[str, tuple[str, ...]] = {
    "journal_well_formed": ("counters_ordered", "history_below_next_seq"),
    "replay_is_point_in_time": ("counters_ordered", "history_below_next_seq", "history_in_seq_order",
                                "ghost_base_not_past_base", "base_is_its_image", "journal_well_formed"),
    "mirror_consistent": ("counters_ordered", "messages_below_next_seq", "acks_applied", "tables_in_seq_order",
                          "pending_records_agree", "pending_writes_tracked", "mirror_gap_in_flight"),
}
