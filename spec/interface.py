"""The interface between a model and an engine, in the shape of stateright's ``Model``: generic, nothing of
the mirror in it (this module imports nothing from pitmirror).

A model is three functions: its initial states, the enabled actions of a state, and the next state for an
action. States must be hashable and totally ordered among themselves only if a canonicalizer compares
them; actions must come out of ``actions(state)`` in a fixed order (ranges, sorted tuples, never set
iteration), because an engine rebuilds a counterexample by replaying actions, and Python randomises string
hashing per process.

A property is data: a name, a kind and one predicate. The kinds, as every pitmirror engine reads them:

- ``ALWAYS``: the predicate holds in every reachable state (safety);
- ``EVENTUALLY``: the predicate says a state is *pending* (something started that must end); the property
  holds when from every reachable pending state some non-pending state is reachable. That is
  ``AG(pending -> EF not pending)``: no fairness is assumed, and a cycle of pending states is fine as long
  as a way out exists (the mirror's "with the path eventually up": ``RepairPath`` is always enabled);
- ``SOMETIMES``: the predicate holds in some reachable state, proving the bounds are not vacuous for it.
  A ``SOMETIMES`` property may instead be witnessed by an *event*: a step (the state before, the action,
  the state after) rather than a state. It then carries ``event`` (see ``event_of``), a predicate over the
  step, and the engines evaluate it on every transition they explore, with no state of its own to store;
  its ``predicate`` is not consulted. The witness's trace ends with the step that is the event.

Optional, through extra methods a model may have (each a Protocol below, checked with ``isinstance``):
``canonicalizer()`` for symmetry reduction, ``within_boundary(state)`` for bounds kept out of the guards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import Any, Protocol, TypeVar, runtime_checkable

S = TypeVar("S")
A = TypeVar("A")
S_contra = TypeVar("S_contra", contravariant=True)


class Kind(Enum):
    """How a property quantifies over behaviours."""

    ALWAYS = "always"
    EVENTUALLY = "eventually"
    SOMETIMES = "sometimes"


class Model(Protocol[S, A]):
    """A state machine an engine can explore."""

    def init_states(self) -> Iterable[S]:
        """The initial states."""
        ...

    def actions(self, state: S) -> Sequence[A]:
        """The actions enabled in ``state``, in a fixed order."""
        ...

    def next_state(self, state: S, action: A) -> S:
        """The state ``action`` leads to from ``state`` (``action`` is one of ``actions(state)``)."""
        ...


class Property(Protocol[S_contra]):
    """A named predicate over states and how it quantifies (see the module docstring for the kinds)."""

    @property
    def name(self) -> str:
        """A stable name, unique among the properties checked together."""
        ...

    @property
    def kind(self) -> Kind:
        """ALWAYS, EVENTUALLY (the predicate is the pending condition) or SOMETIMES."""
        ...

    @property
    def predicate(self) -> Callable[[S_contra], bool]:
        """The one definition of the property."""
        ...


class Canonicalizer(Protocol[S]):
    """Maps a state to one representative of its symmetry orbit, so that an engine stores one state per
    orbit. It must map symmetric states to the same representative, and every property must give the same
    answer on a state and on its representative."""

    @property
    def group_size(self) -> int:
        """How many renamings the symmetry group holds (1: no reduction), for the report."""
        ...

    def __call__(self, state: S) -> S:
        """The representative of ``state``'s orbit."""
        ...


@runtime_checkable
class HasSymmetry(Protocol[S]):
    """A model that knows its own symmetries."""

    def canonicalizer(self) -> Canonicalizer[S]:
        """The canonicalizer for this model's state space (with its current bounds)."""
        ...


@runtime_checkable
class HasBoundary(Protocol[S_contra]):
    """A model whose exploration bound is a predicate on states rather than a guard in every action."""

    def within_boundary(self, state: S_contra) -> bool:
        """False for a state the engine must neither check nor explore (stateright's ``within_boundary``)."""
        ...


def event_of(prop: Property[S]) -> Callable[[S, Any, S], bool] | None:
    """The event that witnesses a ``SOMETIMES`` property, ``event(pre, action, post)``, or ``None`` for a
    property witnessed by a state (an optional attribute ``event``: a property need not have it)."""
    event: Callable[[S, Any, S], bool] | None = getattr(prop, "event", None)
    return event


class Identity:
    """The trivial canonicalizer: every state is its own representative."""

    group_size = 1

    def __call__(self, state: S) -> S:
        """``state`` itself."""
        return state


__all__ = ["Canonicalizer", "HasBoundary", "HasSymmetry", "Identity", "Kind", "Model", "Property", "event_of"]
