"""The liveness and "sometimes" properties of ``spec.properties`` over the state vector.

The safety properties already have their vector form in ``checkers.symbolic.encoding``; these are the rest of
the catalogue: the *pending* predicates of the two ``EVENTUALLY`` properties, and the events that witness the
``SOMETIMES`` properties, each over the vectors before and after a step. They are written over the same term
helpers, so they run on Python ints (where ``tests/test_frontier.py`` compares each with its Python form on
every reachable state, or every enumerated step) and on the frontier's arrays.
"""

from __future__ import annotations

from collections.abc import Callable

from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.spec_terms import COPY, HOST, PAIR
from pitmirror.checkers.symbolic.terms import SV, Term, any_of, conj, disj, neg, seq_contains, vol_eq
from pitmirror.spec.state import MARKER


def recovery_pending(s: SV) -> Term:
    """``spec.properties.recovery_pending``: a recovery is running."""
    return s["recovery.present"] == 1


def host_write_pending(s: SV) -> Term:
    """``spec.properties.host_write_pending``: some host write is neither acknowledged nor failed."""
    n = s.length("in_flight")
    return any_of(conj(i < n, e[3] == HOST, e[4] == 0) for i, e in enumerate(s.slots("in_flight")))


#: property name -> its predicate over the vector (for EVENTUALLY properties: the pending states)
OTHER_PREDICATES: dict[str, Callable[[SV], Term]] = {
    "recovery_completes": recovery_pending,
    "host_write_completes": host_write_pending,
}


# --- the witnesses' events, over the vectors before and after a step (``spec.properties``, same names) --------
# Which action each is a step of is the spec's ``Event.action``; the frontier engine evaluates these on the
# steps of that action's instances only.


def recovery_completed(pre: SV, post: SV) -> Term:
    """``spec.properties.recovery_completed``."""
    ti = post.vol("recovery_ended.target_image")
    changed = any_of(t != x for t, x in zip(ti, post.vol("recovery_ended.start_image"), strict=True))
    return conj(post["recovery_ended.present"] == 1, post["recovery_ended.faulted"] == 0,
                post["recovery_ended.left_pair"] == 0, changed, post["pair_state"] == PAIR,
                vol_eq(post.vol("primary"), ti), vol_eq(post.vol("remote"), ti))


def resync_completed(pre: SV, post: SV) -> Term:
    """``spec.properties.resync_completed``."""
    return conj(pre["pair_state"] == COPY, post["pair_state"] == PAIR, vol_eq(post.vol("remote"), post.vol("primary")))


def checkpoint_committed(pre: SV, post: SV) -> Term:
    """``spec.properties.checkpoint_committed``."""
    return conj(post["replica_base_seq"] > pre["replica_base_seq"], post["replica_base_seq"] == post["base_seq"],
                vol_eq(post.vol("replica_base"), post.vol("base")),
                post["remote_recovery_id"] == pre["remote_recovery_id"])


def swap_timeout_resynced(pre: SV, post: SV) -> Term:
    """``spec.properties.swap_timeout_resynced``."""
    return conj(pre["swap_timed_out"] == 1, resync_completed(pre, post))


def recovery_to_marker(pre: SV, post: SV) -> Term:
    """``spec.properties.recovery_to_marker``."""
    marker = pre.lay.entry(post["recovery.target"], MARKER, 0)  # ``Record(target, MARKER, 0)``, length 1
    return conj(post["recovery.present"] == 1, seq_contains(pre.slots("journal"), pre.length("journal"), marker))


def late_write_received(pre: SV, post: SV) -> Term:
    """``spec.properties.late_write_received``."""
    waiting, wn = pre.slots("in_flight"), pre.length("in_flight")

    def given_up(seq: Term) -> Term:
        return neg(any_of(conj(i < wn, e[0] == seq) for i, e in enumerate(waiting)))

    pb, pbn = pre.slots("remote_buffer"), pre.length("remote_buffer")
    qbn, qjn = post.length("remote_buffer"), post.length("remote_journal")
    new_in_buffer = any_of(conj(i < qbn, neg(seq_contains(pb, pbn, r)), given_up(r[0]))
                           for i, r in enumerate(post.slots("remote_buffer")))
    newly_applied = any_of(conj(i < qjn, r[0] > pre["remote_applied_seq"], given_up(r[0]))
                           for i, r in enumerate(post.slots("remote_journal")))
    return conj(pre["crashes"] == 0, disj(new_in_buffer, newly_applied))


#: witness name -> its event over the vectors before and after the step
EVENT_PREDICATES: dict[str, Callable[[SV, SV], Term]] = {
    "recovery_reachable": recovery_completed,
    "resync_reachable": resync_completed,
    "checkpoint_reachable": checkpoint_committed,
    "swap_timeout_resynced": swap_timeout_resynced,
    "marker_recovery_reachable": recovery_to_marker,
    "late_delivery_reachable": late_write_received,
}


def vector_predicates(enc: Encoding) -> dict[str, Callable[[SV], Term]]:
    """Every property of the catalogue witnessed by a state, by name, over the vector: the encoding's safety
    properties and the liveness predicates above (the witnesses' events are ``EVENT_PREDICATES``)."""
    return {**enc.properties(), **OTHER_PREDICATES}
