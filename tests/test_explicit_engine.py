"""The explicit engine on toy models whose answers are known by hand: it is tested on more than the mirror.

Each model here is a few lines written against ``pitmirror.spec.interface`` only (no bounds, no mirror
state), which is itself the test that the engine needs nothing else. The mirror's bounded graph is acyclic,
so the cycle branch of the liveness analysis runs only here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from pitmirror.checkers.explicit import ExplicitChecker, Kind, Verdict


@dataclass(frozen=True)
class Prop:
    """A property of a toy model (any object with name, kind and predicate will do)."""

    name: str
    kind: Kind
    predicate: Callable[[Any], bool]


def replays(model: Any, path: Sequence[tuple[Any, Any]]) -> bool:
    """The path starts at an initial state and each step is an enabled action leading to the next state."""
    (first_action, s), *rest = path
    if first_action is not None or s not in list(model.init_states()):
        return False
    for a, t in rest:
        if a not in model.actions(s) or model.next_state(s, a) != t:
            return False
        s = t
    return True


# --- a directed graph: liveness, including its cycle branch --------------------------------------------


class Graph:
    """Nodes are states, an action is the node it moves to."""

    def __init__(self, edges: dict[int, list[int]]) -> None:
        self.edges = edges

    def init_states(self) -> list[int]:
        return [0]

    def actions(self, s: int) -> list[int]:
        return self.edges[s]

    def next_state(self, s: int, a: int) -> int:
        return a


def pending_in(nodes: set[int]) -> Prop:
    return Prop("leaves", Kind.EVENTUALLY, lambda s: s in nodes)


def test_liveness_fails_on_a_pending_cycle_with_no_way_out() -> None:
    # 0 -> 1 -> 2 -> 1: once in {1, 2} nothing ever leaves it, though no state is a dead end
    r = ExplicitChecker(Graph({0: [1], 1: [2], 2: [1]}), [pending_in({1, 2})]).run()
    d = r.discoveries["leaves"]
    assert d.verdict is Verdict.VIOLATED
    assert "a cycle of 2 state(s)" in d.note
    assert d.path == [(None, 0), (1, 1)]  # the shortest way into the trap


def test_liveness_fails_on_a_pending_self_loop() -> None:
    r = ExplicitChecker(Graph({0: [0]}), [pending_in({0})]).run()
    assert r.discoveries["leaves"].verdict is Verdict.VIOLATED
    assert "a cycle of 1 state(s)" in r.discoveries["leaves"].note


def test_liveness_holds_on_a_pending_cycle_with_a_way_out() -> None:
    # the same cycle, but 2 may also go to 3, which is not pending: AG(pending -> EF not pending) holds
    r = ExplicitChecker(Graph({0: [1], 1: [2], 2: [1, 3], 3: []}), [pending_in({1, 2})]).run()
    assert r.discoveries["leaves"].verdict is Verdict.HOLDS


def test_liveness_fails_at_a_pending_dead_end() -> None:
    r = ExplicitChecker(Graph({0: [1, 2], 1: [], 2: [3], 3: []}), [pending_in({2, 3})]).run()
    d = r.discoveries["leaves"]
    assert d.verdict is Verdict.VIOLATED
    assert "a dead end of 1 state(s)" in d.note
    assert d.path == [(None, 0), (2, 2)]


def test_liveness_is_unknown_on_a_partial_graph() -> None:
    r = ExplicitChecker(Graph({0: [1], 1: [2], 2: [3], 3: []}), [pending_in({1})], max_states=2).run()
    assert not r.complete and r.discoveries["leaves"].verdict is Verdict.UNKNOWN


# --- a counter: a violation at a known depth, shortest trace, replay -------------------------------------


class Counter:
    """x starts at 0; ``+1`` and ``+2`` while x < 20 (``+1`` listed first, so a depth-first search would
    find the 7-step trace 1+1+1+1+1+1+1 to x == 7; breadth-first must find a 4-step one)."""

    def init_states(self) -> list[int]:
        return [0]

    def actions(self, x: int) -> list[int]:
        return [1, 2] if x < 20 else []

    def next_state(self, x: int, a: int) -> int:
        return x + a


def test_a_violation_comes_with_a_shortest_trace_that_replays() -> None:
    model = Counter()
    r = ExplicitChecker(model, [Prop("not_seven", Kind.ALWAYS, lambda x: x != 7)]).run()
    d = r.discoveries["not_seven"]
    assert d.verdict is Verdict.VIOLATED
    assert len(d.path) - 1 == 4  # ceil(7 / 2) steps, the fewest that reach 7
    assert d.path[-1][1] == 7 and all(s != 7 for _, s in d.path[:-1])
    assert replays(model, d.path)
    assert r.states == 22 and r.complete  # 0..21


def test_a_violated_initial_state_is_a_trace_of_no_steps() -> None:
    r = ExplicitChecker(Counter(), [Prop("positive", Kind.ALWAYS, lambda x: x > 0)]).run()
    assert r.discoveries["positive"].path == [(None, 0)]


def test_a_sometimes_witness_is_shortest_and_an_unreached_one_is_reported() -> None:
    model = Counter()
    r = ExplicitChecker(model, [Prop("twelve", Kind.SOMETIMES, lambda x: x == 12),
                                Prop("thirty", Kind.SOMETIMES, lambda x: x == 30)]).run()
    assert r.discoveries["twelve"].verdict is Verdict.REACHED
    assert len(r.discoveries["twelve"].path) - 1 == 6 and replays(model, r.discoveries["twelve"].path)
    assert r.discoveries["thirty"].verdict is Verdict.NOT_REACHED


@dataclass(frozen=True)
class EventProp(Prop):
    """A SOMETIMES property witnessed by a step: ``event(pre, action, post)`` (``spec.interface.event_of``)."""

    event: Callable[[Any, Any, Any], bool] = lambda pre, a, post: False


def test_an_event_witness_is_the_shortest_path_to_its_step_and_ends_with_it() -> None:
    # "a +1 from an odd x to 12 or more": the state 12 alone is reached in 6 steps (+2 six times), but the
    # step needs x = 11 first (6 steps: five +2 and one +1), then the +1: 7 steps, ending with that step
    model = Counter()
    never = EventProp("plus_two_from_twenty", Kind.SOMETIMES, lambda x: False, lambda pre, a, post: pre == 20)
    r = ExplicitChecker(model, [EventProp("odd_plus_one_to_twelve", Kind.SOMETIMES, lambda x: False,
                                          lambda pre, a, post: a == 1 and pre % 2 == 1 and post >= 12),
                                never]).run()
    d = r.discoveries["odd_plus_one_to_twelve"]
    assert d.verdict is Verdict.REACHED and replays(model, d.path)
    assert len(d.path) - 1 == 7 and d.path[-2][1] == 11 and d.path[-1] == (1, 12)
    assert r.discoveries["plus_two_from_twenty"].verdict is Verdict.NOT_REACHED  # 20 has no step at all


class UnboundedCounter(Counter):
    """No guard at all: the bound is the ``within_boundary`` hook."""

    def actions(self, x: int) -> list[int]:
        return [1, 2]

    def within_boundary(self, x: int) -> bool:
        return x <= 5


def test_within_boundary_keeps_states_outside_unexplored_and_unchecked() -> None:
    r = ExplicitChecker(UnboundedCounter(), [Prop("small", Kind.ALWAYS, lambda x: x <= 5)], max_states=100).run()
    assert r.complete and r.states == 6  # 0..5; max_states only guards the test against a runaway
    assert r.discoveries["small"].verdict is Verdict.HOLDS


# --- interchangeable processes: symmetry --------------------------------------------------------------


class Dials:
    """``n`` dials, each showing 0, 1 or 2; ``Turn(i)`` advances dial i modulo 3. The dials are
    interchangeable: 3**n states, of which the orbits are the multisets of n values, C(n + 2, 2)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.asked = 0  # times the engine asked for the canonicalizer

    def init_states(self) -> list[tuple[int, ...]]:
        return [(0,) * self.n]

    def actions(self, s: tuple[int, ...]) -> list[int]:
        return list(range(self.n))

    def next_state(self, s: tuple[int, ...], i: int) -> tuple[int, ...]:
        return (*s[:i], (s[i] + 1) % 3, *s[i + 1:])

    def canonicalizer(self) -> Sorted:
        self.asked += 1
        return Sorted(self.n)


class Sorted:
    """Dials renamed so their values come out sorted."""

    def __init__(self, n: int) -> None:
        self.group_size = math.factorial(n)

    def __call__(self, s: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(s))


ALL_DIFFERENT = Prop("not_all_different", Kind.ALWAYS, lambda s: len(set(s)) < len(s))


@pytest.mark.parametrize(("n", "plain", "orbits"), [(2, 9, 6), (3, 27, 10), (4, 81, 15)])
def test_symmetry_counts_one_state_per_orbit(n: int, plain: int, orbits: int) -> None:
    assert ExplicitChecker(Dials(n), [], symmetry=False).run().states == plain
    assert ExplicitChecker(Dials(n), []).run().states == orbits  # the model's own canonicalizer
    assert ExplicitChecker(Dials(n), [], canonicalizer=Sorted(n)).run().states == orbits  # one passed in


def test_symmetry_off_never_asks_the_model_for_a_canonicalizer() -> None:
    model = Dials(3)
    r = ExplicitChecker(model, [], symmetry=False).run()
    assert model.asked == 0 and r.symmetry_group == 1
    ExplicitChecker(model, []).run()
    assert model.asked == 1


def test_symmetry_keeps_the_violation_and_its_trace_is_concrete() -> None:
    model = Dials(3)
    for symmetry in (False, True):
        d = ExplicitChecker(model, [ALL_DIFFERENT], symmetry=symmetry).run().discoveries["not_all_different"]
        assert d.verdict is Verdict.VIOLATED
        assert len(d.path) - 1 == 3  # 0 + 1 + 2 turns
        assert replays(model, d.path)  # a real execution, not a walk through representatives
