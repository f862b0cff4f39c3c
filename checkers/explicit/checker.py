"""The explicit-state model checker: exhaustive breadth-first search over any model's state space.

The engine knows only ``pitmirror.spec.interface``: a ``Model[S, A]`` (initial states, actions, next state),
``Property[S]`` values, and optionally a canonicalizer for symmetry (passed in, or asked of the model through
its ``canonicalizer()`` hook) and a ``within_boundary`` hook. The mirror (``pitmirror.model``) is one such
model; ``pitmirror.examples.two_phase_commit`` is another.

Breadth-first, so the first state found violating a property is at the least depth: every counterexample is a
shortest one. Storage is compact: one canonical state per symmetry orbit in a dict to an integer id, and per
id a parent id in an ``array`` (stateright stores fingerprint -> parent and rebuilds a path by replaying
actions; so do we). The successor lists are kept as flat integer arrays only for the liveness analysis, which
runs backward reachability from the states where nothing is pending and hands the trapped region, if any, to
networkx for its strongly connected components.

Safety: every ``ALWAYS`` property is evaluated on every state. Liveness: an ``EVENTUALLY`` property holds
when from every reachable pending state some non-pending state is reachable (no fairness assumed: the model
must offer the way out, as the mirror's ``RepairPath`` is always enabled while the path is down).
Reachability: every ``SOMETIMES`` property must be reached, or the bounds are vacuous for it. One witnessed by
an event (``spec.interface.event_of``) is evaluated on every transition explored, as (state, action,
successor); its trace is the shortest path to the state before the step, and then the step.
"""

from __future__ import annotations

import resource
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

from pitmirror.spec.interface import (
    Canonicalizer,
    HasBoundary,
    HasSymmetry,
    Identity,
    Kind,
    Model,
    Property,
    event_of,
)

S = TypeVar("S")
A = TypeVar("A")
Path = list[tuple[A | None, S]]  # (action into the state, state), from an initial state

INTERRUPTED = "interrupted (Ctrl-C)"


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class Verdict(Enum):
    """The outcome for one property."""

    HOLDS = "holds"
    VIOLATED = "violated"
    REACHED = "reached"  # a SOMETIMES property was witnessed
    NOT_REACHED = "not reached"  # a SOMETIMES property was not: the bounds are vacuous for it
    UNKNOWN = "unknown"  # exploration stopped early (max states or interrupted)


def trap_note(entry: int, successors: Callable[[int], Iterable[int]], step: int) -> str:
    """Why an ``eventually`` property fails from state ``entry`` (id of the shallowest pending state from which
    no non-pending state is reachable): how many states are trapped with it and whether they end in a cycle
    or a dead end. networkx holds only this trapped region (its strongly connected components), never the
    whole graph."""
    import networkx as nx  # only when a liveness property fails: a fifth of a second off every command's start

    graph = nx.DiGraph()
    graph.add_node(entry)
    stack = [entry]
    while stack:
        u = stack.pop()
        for t in successors(u):
            if t not in graph:
                stack.append(t)
            graph.add_edge(u, t)
    cond = nx.condensation(graph)
    bottom = [c for c in cond.nodes if cond.out_degree(c) == 0]
    members = cond.nodes[bottom[0]]["members"]
    kind = "a cycle" if len(members) > 1 or graph.has_edge(entry, entry) else "a dead end"
    return (f"from step {step} on, no sequence of steps ends it: {len(graph)} states reachable from there, "
            f"all pending; they end in {kind} of {len(members)} state(s)")


@dataclass
class Discovery(Generic[S, A]):
    """A property's verdict with, for a violation or a witness, the shortest path from an initial state."""

    prop: Property[S]
    verdict: Verdict
    path: Path[A, S] = field(default_factory=list)  # (action into state, state)
    note: str = ""


@dataclass
class CheckResult(Generic[S, A]):
    """What a run found: per-property discoveries and the run's figures."""

    discoveries: dict[str, Discovery[S, A]]
    states: int
    transitions: int
    depth: int
    seconds: float
    complete: bool
    stop_reason: str
    symmetry_group: int
    memory_bytes: int = 0  # growth of the process's peak resident memory during the run

    @property
    def bytes_per_state(self) -> float:
        """Peak memory growth divided by the states stored (visited set, parents, successor lists)."""
        return self.memory_bytes / max(1, self.states)

    @property
    def states_per_second(self) -> float:
        """Unique states explored per second of wall time."""
        return self.states / self.seconds if self.seconds > 0 else float(self.states)

    def violated(self) -> list[Discovery[S, A]]:
        """The discoveries that are violations, catalogue order."""
        return [d for d in self.discoveries.values() if d.verdict is Verdict.VIOLATED]


ProgressFn = Callable[[int, int, int], None]  # (states, depth, frontier remaining)


def with_event(model: Model[S, A], path: Path[A, S], event: Callable[[S, A, S], bool]) -> Path[A, S]:
    """``path`` (to a state where the step ``event`` names is enabled, up to symmetry) and then that step:
    the first enabled action of the path's last concrete state whose step is the event."""
    last = path[-1][1]
    for a in model.actions(last):
        nxt = model.next_state(last, a)
        if event(last, a, nxt):
            return [*path, (a, nxt)]
    raise AssertionError("the event found on the canonical state is not enabled on its concrete state")


class ExplicitChecker(Generic[S, A]):
    """Breadth-first exhaustive checker. A builder, like stateright's: configure, then ``run()``.

    Symmetry: with ``symmetry`` on, states are stored by the representative ``canonicalizer`` gives, or,
    when none is passed, the one the model's ``canonicalizer()`` hook gives (none: no reduction). With
    ``symmetry`` off no canonicalizer is built or called. A model with ``within_boundary(state)`` has the
    states outside it neither checked nor explored."""

    def __init__(self, model: Model[S, A], properties: Sequence[Property[S]], *, symmetry: bool = True,
                 canonicalizer: Canonicalizer[S] | None = None, max_states: int | None = None,
                 stop_when_violated: Sequence[str] = (), progress: ProgressFn | None = None) -> None:
        self.model = model
        self.properties = list(properties)
        self.canon: Canonicalizer[S] = Identity()
        if symmetry:
            if canonicalizer is not None:
                self.canon = canonicalizer
            elif isinstance(model, HasSymmetry):
                self.canon = model.canonicalizer()
        self.max_states = max_states
        self.stop_when_violated = set(stop_when_violated)
        self.progress = progress

    def run(self) -> CheckResult[S, A]:
        """Explore, check, and return the verdict of every property. Ctrl-C ends it with a partial verdict."""
        model, canon = self.model, self.canon
        safety = [p for p in self.properties if p.kind is Kind.ALWAYS]
        liveness = [p for p in self.properties if p.kind is Kind.EVENTUALLY]
        sometimes = [p for p in self.properties if p.kind is Kind.SOMETIMES]
        events = {p.name: ev for p in sometimes if (ev := event_of(p)) is not None}
        sometimes = [p for p in sometimes if p.name not in events]  # the rest are witnessed by a state
        first_step: dict[str, tuple[int, A]] = {}  # event -> (state before the step, action)
        within = model.within_boundary if isinstance(model, HasBoundary) else None
        ids: dict[S, int] = {}
        states: list[S] = []
        parent = array("q")
        depth_of = array("i")
        succ_start = array("q")
        succ = array("q")
        first_bad: dict[str, int] = {}
        first_seen: dict[str, int] = {}
        keep_edges = bool(liveness)

        def add(s: S, par: int, depth: int) -> int:
            sid = len(states)
            ids[s] = sid
            states.append(s)
            parent.append(par)
            depth_of.append(depth)
            for p in safety:
                if p.name not in first_bad and not p.predicate(s):
                    first_bad[p.name] = sid
            for p in sometimes:
                if p.name not in first_seen and p.predicate(s):
                    first_seen[p.name] = sid
            return sid

        started = time.perf_counter()
        rss_before = _peak_rss_bytes()
        stop_reason = ""
        transitions = 0
        i = 0
        for s0 in model.init_states():
            c = canon(s0)
            if c not in ids and (within is None or within(c)):
                add(c, -1, 0)
        try:
            while i < len(states):
                s = states[i]
                d = depth_of[i] + 1
                if keep_edges:
                    succ_start.append(len(succ))
                for a in model.actions(s):
                    raw = model.next_state(s, a)
                    t = canon(raw)
                    transitions += 1
                    tid = ids.get(t)
                    if tid is None:
                        if within is not None and not within(t):
                            continue  # outside the bounds: no state, no edge (a dead end for liveness)
                        tid = add(t, i, d)
                    if keep_edges:
                        succ.append(tid)
                    if len(first_step) < len(events):
                        for name, ev in events.items():
                            if name not in first_step and ev(s, a, raw):
                                first_step[name] = (i, a)
                i += 1
                if self.progress is not None and i & 0x3FF == 0:
                    self.progress(len(states), depth_of[i - 1], len(states) - i)
                if self.max_states is not None and len(states) >= self.max_states:
                    stop_reason = f"stopped at --max-states {self.max_states}"
                    break
                if self.stop_when_violated and self.stop_when_violated <= first_bad.keys():
                    stop_reason = "stopped: " + ", ".join(sorted(self.stop_when_violated)) + " violated"
                    break
        except KeyboardInterrupt:
            stop_reason = INTERRUPTED
        complete = i >= len(states)
        if complete:
            stop_reason = "state space exhausted"
        if keep_edges:
            succ_start.append(len(succ))
        if self.progress is not None:
            self.progress(len(states), max(depth_of) if depth_of else 0, len(states) - i)

        def path_to(sid: int) -> Path[A, S]:
            return self._concrete_path(states, parent, sid)

        discoveries: dict[str, Discovery[S, A]] = {}
        for p in safety:
            if p.name in first_bad:
                discoveries[p.name] = Discovery(p, Verdict.VIOLATED, path_to(first_bad[p.name]))
            else:
                discoveries[p.name] = Discovery(p, Verdict.HOLDS if complete else Verdict.UNKNOWN)
        for p in sometimes:
            if p.name in first_seen:
                discoveries[p.name] = Discovery(p, Verdict.REACHED, path_to(first_seen[p.name]))
            else:
                discoveries[p.name] = Discovery(p, Verdict.NOT_REACHED if complete else Verdict.UNKNOWN)
        for p in self.properties:
            if p.name in events:
                if p.name in first_step:
                    path = with_event(model, path_to(first_step[p.name][0]), events[p.name])
                    discoveries[p.name] = Discovery(p, Verdict.REACHED, path)
                else:
                    discoveries[p.name] = Discovery(p, Verdict.NOT_REACHED if complete else Verdict.UNKNOWN)
        for p in liveness:
            if not complete:
                discoveries[p.name] = Discovery(p, Verdict.UNKNOWN, note="liveness needs the whole graph")
                continue
            discoveries[p.name] = self._liveness(p, states, succ_start, succ, path_to)
        ordered = {p.name: discoveries[p.name] for p in self.properties}
        return CheckResult(ordered, len(states), transitions, max(depth_of) if depth_of else 0,
                           time.perf_counter() - started, complete, stop_reason, self.canon.group_size,
                           max(0, _peak_rss_bytes() - rss_before))

    def _liveness(self, p: Property[S], states: list[S], succ_start: array[int], succ: array[int],
                  path_to: Callable[[int], Path[A, S]]) -> Discovery[S, A]:
        """From every pending state a non-pending one must be reachable; else show the shortest way in."""
        n = len(states)
        pending = [p.predicate(s) for s in states]
        # reverse adjacency (CSR) for backward reachability from the non-pending states
        indeg = [0] * (n + 1)
        for t in succ:
            indeg[t + 1] += 1
        for k in range(n):
            indeg[k + 1] += indeg[k]
        rev = array("q", bytes(8 * len(succ)))
        fill = list(indeg[:n])
        for u in range(n):
            for k in range(succ_start[u], succ_start[u + 1]):
                t = succ[k]
                rev[fill[t]] = u
                fill[t] += 1
        ok = [not x for x in pending]
        stack = [k for k in range(n) if ok[k]]
        while stack:
            v = stack.pop()
            for k in range(indeg[v], indeg[v + 1]):
                u = rev[k]
                if not ok[u]:
                    ok[u] = True
                    stack.append(u)
        trapped = [k for k in range(n) if not ok[k]]
        if not trapped:
            return Discovery(p, Verdict.HOLDS)
        entry = min(trapped)  # ids are in BFS order: the least id is the shallowest trapped state
        note = trap_note(entry, lambda u: succ[succ_start[u]:succ_start[u + 1]], len(path_to(entry)) - 1)
        return Discovery(p, Verdict.VIOLATED, path_to(entry), note=note)

    def _concrete_path(self, states: list[S], parent: array[int], sid: int) -> Path[A, S]:
        """Rebuild a concrete execution to state ``sid``: walk the canonical parents back, then replay
        forward, at each step choosing an action whose successor has the next canonical state."""
        chain = []
        while sid != -1:
            chain.append(states[sid])
            sid = parent[sid]
        chain.reverse()
        model, canon = self.model, self.canon
        inits = [s for s in model.init_states() if canon(s) == chain[0]]
        cur = inits[0]
        out: Path[A, S] = [(None, cur)]
        for want in chain[1:]:
            for a in model.actions(cur):
                nxt = model.next_state(cur, a)
                if canon(nxt) == want:
                    out.append((a, nxt))
                    cur = nxt
                    break
            else:  # pragma: no cover - would mean the canonicalizer broke symmetry
                raise AssertionError("could not rebuild a concrete path through the canonical states")
        return out
