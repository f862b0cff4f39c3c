"""The liveness and "sometimes" properties of ``spec.properties`` over the state vector.

The safety properties already have their vector form in ``checkers.symbolic.encoding``; these five are the
rest of the catalogue: the *pending* predicates of the two ``EVENTUALLY`` properties and the three
``SOMETIMES`` predicates. They are written over the same term helpers, so they run on Python ints (where
``tests/test_frontier.py`` compares each with its Python predicate on every reachable state) and on the
frontier's arrays.
"""

from __future__ import annotations

from collections.abc import Callable

from pitmirror.checkers.symbolic.encoding import HOST, PAIR, Encoding
from pitmirror.checkers.symbolic.terms import SV, Term, any_of, conj


def recovery_pending(s: SV) -> Term:
    """``spec.properties.recovery_pending``: a recovery is running."""
    return s["recovery.present"] == 1


def host_write_pending(s: SV) -> Term:
    """``spec.properties.host_write_pending``: some host write is neither acknowledged nor failed."""
    n = s.length("in_flight")
    return any_of(conj(i < n, e[3] == HOST, e[4] == 0) for i, e in enumerate(s.slots("in_flight")))


def recovery_ended_with_change(s: SV) -> Term:
    """``spec.properties.recovery_ended_with_change``: a recovery ended having changed P."""
    changed = any_of(t != x for t, x in zip(s.vol("recovery_ended.target_image"),
                                            s.vol("recovery_ended.start_image"), strict=True))
    return conj(s["recovery_ended.present"] == 1, changed)


def resynchronized(s: SV) -> Term:
    """``spec.properties.resynchronized``: back in PAIR after a fault."""
    return conj(s["pair_state"] == PAIR,
                s["path_failures"] + s["crashes"] + s["message_faults"] + s["premature_timeouts"] > 0)


def checkpoint_taken(s: SV) -> Term:
    """``spec.properties.checkpoint_taken``: a checkpoint advanced ``base_seq``."""
    return s["base_seq"] > 0


#: property name -> its predicate over the vector (for EVENTUALLY properties: the pending states)
OTHER_PREDICATES: dict[str, Callable[[SV], Term]] = {
    "recovery_completes": recovery_pending,
    "host_write_completes": host_write_pending,
    "recovery_reachable": recovery_ended_with_change,
    "resync_reachable": resynchronized,
    "checkpoint_reachable": checkpoint_taken,
}


def vector_predicates(enc: Encoding) -> dict[str, Callable[[SV], Term]]:
    """Every property of the catalogue by name, over the vector: the encoding's safety properties and the
    liveness and reachability predicates above."""
    return {**enc.properties(), **OTHER_PREDICATES}
