"""Two-phase commit (examples/two_phase_commit.py) checked by the explicit engine: the state counts are
pinned for one to five RMs, with and without symmetry, and cross-checked against a plain breadth-first
search written here from the TLA+ text, sharing no code with the engine or the example."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import permutations

import pytest

from pitmirror.checkers.explicit import ExplicitChecker, Verdict
from pitmirror.examples.two_phase_commit import (
    PROPERTIES,
    Action,
    TMCommit,
    TmState,
    TwoPhaseCommit,
    TwoPhaseState,
)

# (RMs, symmetry) -> unique states. TLC's count for 3 RMs is 288, stateright's for 5 is 8,832. With symmetry
# the counts are exact orbits (stateright's 665 for 5 RMs sorts on rm_state alone, which is not canonical).
PINNED = {(1, False): 12, (2, False): 56, (3, False): 288, (4, False): 1_568, (5, False): 8_832,
          (1, True): 12, (2, True): 34, (3, True): 80, (4, True): 166, (5, True): 314}

Plain = tuple[tuple[str, ...], str, frozenset[int], frozenset[tuple[str, int]]]


def plain_successors(n: int, s: Plain) -> Iterator[Plain]:
    """TPNext, transcribed from TwoPhase.tla."""
    rm, tm, tp, msgs = s
    if tm == "init":
        yield from ((rm, tm, tp | {r}, msgs) for r in range(n) if ("Prepared", r) in msgs)
        if tp == frozenset(range(n)):
            yield rm, "done", tp, msgs | {("Commit", -1)}
        yield rm, "done", tp, msgs | {("Abort", -1)}
    for r in range(n):
        def to(v: str, r: int = r) -> tuple[str, ...]:
            return (*rm[:r], v, *rm[r + 1:])
        if rm[r] == "working":
            yield to("prepared"), tm, tp, msgs | {("Prepared", r)}
            yield to("aborted"), tm, tp, msgs
        if ("Commit", -1) in msgs:
            yield to("committed"), tm, tp, msgs
        if ("Abort", -1) in msgs:
            yield to("aborted"), tm, tp, msgs


def plain_key(n: int, s: Plain, symmetric: bool) -> object:
    """The state itself, or the least of all its renamings of the RMs (brute force)."""
    if not symmetric:
        return s
    rm, tm, tp, msgs = s
    return min((tuple(rm[p[i]] for i in range(n)), tm, tuple(sorted(i for i in range(n) if p[i] in tp)),
                tuple(sorted((m, -1 if r < 0 else p.index(r)) for m, r in msgs))) for p in permutations(range(n)))


def plain_bfs(n: int, symmetric: bool) -> int:
    """Unique states (or orbits) reachable from TPInit."""
    init: Plain = (("working",) * n, "init", frozenset(), frozenset())
    seen, frontier = {plain_key(n, init, symmetric)}, [init]
    while frontier:
        nxt = []
        for s in frontier:
            for t in plain_successors(n, s):
                k = plain_key(n, t, symmetric)
                if k not in seen:
                    seen.add(k)
                    nxt.append(t)
        frontier = nxt
    return len(seen)


@pytest.mark.parametrize("symmetry", [False, True], ids=["plain", "symmetry"])
@pytest.mark.parametrize("rms", [1, 2, 3, 4, 5])
def test_state_counts_are_pinned_and_match_a_plain_bfs(rms: int, symmetry: bool) -> None:
    r = ExplicitChecker(TwoPhaseCommit(rms), PROPERTIES, symmetry=symmetry).run()
    assert r.complete
    assert r.states == PINNED[rms, symmetry]
    assert plain_bfs(rms, symmetry) == PINNED[rms, symmetry]
    expected = {"TPTypeOK": Verdict.HOLDS, "TCConsistent": Verdict.HOLDS, "all_decide": Verdict.HOLDS,
                "commit_reachable": Verdict.REACHED, "abort_reachable": Verdict.REACHED}
    assert {n: d.verdict for n, d in r.discoveries.items()} == expected


class EagerCommit(TwoPhaseCommit):
    """A broken TM: it commits without waiting for every RM to prepare."""

    def actions(self, s: TwoPhaseState) -> list[Action]:
        acts = super().actions(s)
        if s.tm_state == TmState.INIT and TMCommit() not in acts:
            acts.insert(0, TMCommit())
        return acts


def test_a_tm_that_commits_early_breaks_tc_consistent_with_a_shortest_trace() -> None:
    model = EagerCommit(2)
    for symmetry in (False, True):
        d = ExplicitChecker(model, PROPERTIES, symmetry=symmetry).run().discoveries["TCConsistent"]
        assert d.verdict is Verdict.VIOLATED
        # one RM aborts, the TM commits, the other RM receives the commit: three steps, no fewer
        assert [type(a).__name__ for a, _ in d.path[1:]] == ["TMCommit", "RMChooseToAbort", "RMRcvCommitMsg"]
        s = d.path[0][1]
        for a, t in d.path[1:]:
            assert a in model.actions(s) and model.next_state(s, a) == t
            s = t


def test_the_model_rejects_a_system_without_resource_managers() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TwoPhaseCommit(0)
