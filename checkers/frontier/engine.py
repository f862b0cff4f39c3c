"""The frontier engine: breadth-first exhaustive search a whole frontier at a time, over numpy arrays.

The transition relation is not written here. Every action instance (guard and effect) and every safety
property is ``checkers.symbolic.encoding``'s, the one definition the Z3 engines use too, evaluated over
arrays (``checkers.symbolic.terms`` dispatches ``ite`` to ``np.where``, ``conj`` to ``&``, ...): a frontier is
an ``int8`` array with one row per slot of the state vector and one column per state, so a guard is one
boolean array over the frontier and an effect is computed once for all the states where it is enabled (the
HostWrite value and the delivered path slot are expanded, one evaluation each).

Storage per state, in arrays: a 64-bit fingerprint in the visited set (``checkers.frontier.visited``: a sorted
array, or with the compiled kernel a hash table) with the state's id beside it,
and the parent id, action-instance id and parameter (``--exact`` keeps the packed vector itself instead of
the fingerprint, so no two states can be confused). States are numbered in breadth-first order, so the first
violation found is at the least depth: a counterexample is a shortest path. It is rebuilt from the parent
chain by re-running the recorded instances on the canonical vectors, then replayed on ``MirrorModel`` (at each
step the model action whose successor has the next canonical vector), so it is a normal trace of concrete
states and actions that ``pitmirror trace replay`` accepts.

A transition whose successor does not fit the vector's capacities is never a pruned transition: it ends the
search there, as ``--max-states`` does (every state up to its depth checked, a partial verdict beyond).
Liveness is the object engine's: backward reachability from the states where nothing is pending, over the
edges kept as two id arrays, and networkx only for the strongly connected components of a trapped region.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import resource
import signal
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from pitmirror.checkers.explicit.checker import (
    INTERRUPTED,
    CheckResult,
    Discovery,
    ProgressFn,
    Verdict,
    trap_note,
    with_event,
)
from pitmirror.checkers.frontier.compiled import CompileError, Kernel, TraceError, compile_encoding
from pitmirror.checkers.frontier.predicates import EVENT_PREDICATES, vector_predicates
from pitmirror.checkers.frontier.rows import (
    DTYPE,
    collision_probability,
    exact_keys,
    fingerprints,
    first_occurrences,
    pack,
    padded_width,
    unpack,
)
from pitmirror.checkers.frontier.symmetry import RowSymmetry
from pitmirror.checkers.frontier.visited import HashVisited, SortedVisited, Visited
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.terms import SV, CapacityError
from pitmirror.model.actions import Action
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.fields import CONSTANT_FIELDS
from pitmirror.spec.interface import event_of
from pitmirror.spec.properties import Kind, Property
from pitmirror.spec.state import State

#: how successors and properties are computed: ``c`` the compiled kernel (``checkers.frontier.compiled``),
#: ``numpy`` the encoding evaluated over arrays, ``auto`` the kernel when a C compiler is there
KERNELS = ("auto", "c", "numpy")
#: with ``auto`` and no kernel in the cache, a run compiles one once it has found this many states: the
#: compiler's seconds then pay back within the run or on the next one at these bounds
AUTO_COMPILE_AT = 100_000


class Outgrown(CapacityError):
    """A successor that does not fit the state vector (``FrontierChecker._outgrown``): ``what`` step grows which
    sequence, ``state`` the state it is taken from. It ends the search as --max-states does. Pickled whole, so it
    comes back from a worker process as it was raised."""

    def __init__(self, what: str, state: str) -> None:
        super().__init__(f"{what} from {state}")
        self.what, self.state = what, state

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.what, self.state)


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


_MIN_SPLIT = 2000  # frontier rows per worker below which splitting costs more than it saves
_CHUNK = 100_000  # frontier rows expanded at once (bounds the memory a level's successors take)
_WORKER: FrontierChecker | None = None  # the checker a forked worker process expands frontiers for


def _expand_in_worker(packed: np.ndarray, keep_edges: bool) -> Expansion:
    assert _WORKER is not None
    return _WORKER.expand(packed, keep_edges)


def _shift_candidates(edge_cand: np.ndarray | None, at: int) -> np.ndarray:
    """A part's edges to its candidates moved to where its candidates start among all parts' (an edge to a
    state of an earlier level, ``-2 - id``, stays)."""
    assert edge_cand is not None
    return np.where(edge_cand >= 0, edge_cand + at, edge_cand)


def _stop(pool: Any) -> None:
    """End a pool of worker threads or processes."""
    if isinstance(pool, ThreadPoolExecutor):
        pool.shutdown(cancel_futures=True)
    else:
        pool.terminate()
        pool.join()


@dataclass
class Expansion:
    """The expansion of a frontier: distinct candidate successors (packed, canonical) in discovery order,
    their keys, and the source row, action instance and parameter of each; with liveness, per successor the
    candidate it is (or ``-2 - id`` of a state of an earlier level, not among the candidates) and its source
    row (the edges)."""

    cand: np.ndarray
    cand_keys: np.ndarray
    src: np.ndarray
    inst: np.ndarray
    param: np.ndarray
    transitions: int
    edge_cand: np.ndarray | None
    edge_src: np.ndarray | None
    hits: dict[str, tuple[int, int, int]]  # event -> the first step that is it: (source row, instance, parameter)


@dataclass
class FrontierResult(CheckResult[Any, Any]):
    """``CheckResult`` with the frontier engine's own figures: ``memory_bytes`` counts the arrays kept per
    state (visited keys and ids, parents, action ids, liveness edges), and the fingerprint collision
    probability of the run (0 with ``--exact``)."""

    collision_probability: float = 0.0
    exact: bool = False
    kernel: str = ""  # which path computed successors and properties (``FrontierChecker.kernel_note``)


@dataclass
class FrontierStats:
    """Figures of a run beyond ``CheckResult``'s: what the visited set and parents take, and the collision
    probability of the fingerprints (0 with ``--exact``)."""

    stored_bytes: int
    collision_probability: float
    exact: bool
    rss_growth_bytes: int


class FrontierChecker:
    """Breadth-first exhaustive checker over frontiers of state vectors. Same interface and results as
    ``ExplicitChecker`` (a builder: configure, then ``run()``)."""

    def __init__(self, model: MirrorModel, properties: Sequence[Property], *, symmetry: bool = True,
                 exact: bool = False, max_states: int | None = None, stop_when_violated: Sequence[str] = (),
                 progress: ProgressFn | None = None, jobs: int = 1, kernel: str = "auto") -> None:
        self.model = model
        self.properties = list(properties)
        self.enc = Encoding(model.bounds)
        self.lay = self.enc.lay
        # every slot is a sequence number, a count, a length, a value, an lba or an enum: all below this
        # (journal locations are below the journal ring's size, which sits in a slot too)
        widest = max(self.lay.maxseq + 2, self.lay.vmax, *self.lay.caps.values(), model.bounds.host_writes + 1,
                     *(getattr(model.init_states()[0], f) for f in CONSTANT_FIELDS))
        if widest > np.iinfo(DTYPE).max:
            raise ValueError(f"bounds {model.bounds} need slots up to {widest}: too wide for {DTYPE.__name__}")
        self.sym = RowSymmetry(self.lay, model.bounds.values, enabled=symmetry)
        self.exact = exact
        self.jobs = jobs  # worker processes that expand parts of each frontier
        self.max_states = max_states
        self.stop_when_violated = set(stop_when_violated)
        self.progress = progress
        preds = vector_predicates(self.enc)
        # a witness's event is evaluated on the steps of its action's instances (``Inst.name`` is the action's
        # name, then the fixed parts in brackets)
        self.events = {p.name: (p.event.action, EVENT_PREDICATES[p.name]) for p in self.properties
                       if p.event is not None}
        self.preds = {p.name: preds[p.name] for p in self.properties if p.name not in self.events}
        self.found_events: set[str] = set()  # witnesses already hit at a shallower level: not evaluated again
        self.stats = FrontierStats(0, 0.0, exact, 0)
        if kernel not in KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}: one of {', '.join(KERNELS)}")
        self.kernel_choice = kernel
        self.kernel: Kernel | None = None  # the compiled encoding, once ``run`` has loaded it
        self.kernel_note = ""  # which path ran, and why (what ``check`` prints)
        #: the visited set as it stood before the level being expanded, when it can be read from the worker
        #: threads (the compiled hash table; never written while they run): ``expand`` drops what it holds
        self._seen: HashVisited | None = None

    def load_kernel(self, build: bool) -> None:
        """Load the C kernel of this encoding from the cache, or compile it when ``build``, unless the numpy
        path was asked for; with ``auto``, stay on numpy when there is no C compiler or the encoding cannot be
        traced (``kernel_note`` says why)."""
        if self.kernel_choice == "numpy" or self.kernel is not None:
            self.kernel_note = self.kernel_note or "numpy"
            return
        started = time.perf_counter()
        try:
            kernel = compile_encoding(self.enc, self.preds, build_missing=build, events=self.events)
            if kernel is not None:
                kernel.use_symmetry(self.sym, padded_width(len(self.lay.names)))
        except (CompileError, TraceError) as e:
            if self.kernel_choice == "c":
                raise
            self.kernel_choice = "numpy"  # no second attempt in this run
            self.kernel_note = f"numpy ({e})"
            return
        if kernel is None:
            self.kernel_note = "numpy (no compiled kernel yet)"
            return
        self.kernel = kernel
        how = "from the cache" if kernel.cached else "compiled"
        self.kernel_note = f"C kernel {how} in {time.perf_counter() - started:.1f} s"

    # --- evaluation over a frontier ----------------------------------------------------------------------

    def view(self, f: np.ndarray) -> SV:
        """A frontier as a state vector whose slots are arrays (one element per state)."""
        return SV(self.lay, dict(zip(self.lay.names, f, strict=True)))

    def evaluate_all(self, packed: np.ndarray, f: np.ndarray | None, pool: Any = None) -> dict[str, np.ndarray]:
        """Every property's predicate on every state of a frontier (``packed``; ``f`` is its unpacked form,
        made here when the numpy path needs it and it is not at hand). With the kernel and a pool of threads,
        parts of the frontier are evaluated side by side."""
        if self.kernel is not None:
            n = packed.shape[0]
            if not isinstance(pool, ThreadPoolExecutor) or n < _MIN_SPLIT * self.jobs:
                return self.kernel.predicates(packed)
            cuts = np.linspace(0, n, self.jobs + 1).astype(int)
            parts = list(pool.map(self.kernel.predicates, [packed[lo:hi] for lo, hi in itertools.pairwise(cuts)]))
            return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        f = unpack(packed, len(self.lay.names)) if f is None else f
        return {name: self.evaluate(name, f) for name in self.preds}

    def evaluate(self, name: str, f: np.ndarray) -> np.ndarray:
        """A property's predicate on every state of a frontier."""
        got = self.preds[name](self.view(f))
        return np.broadcast_to(np.asarray(got, dtype=bool), (f.shape[1],))

    def successors(self, f: np.ndarray | None, packed: np.ndarray | None = None,
                   hits: dict[str, tuple[int, int, int]] | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every successor of every state of ``f``: the packed vectors, and per successor the index of its
        source column, its action instance and its parameter. ``packed`` is ``pack(f)`` if at hand. The C
        kernel, when loaded, computes the same arrays in the same order (``f`` may then be ``None``). With
        ``hits``, the first step of each witness's event not yet found is added to it (source column,
        instance, parameter), evaluated on the states before and after each step of the event's action (by
        the kernel too: the events are compiled with it)."""
        if self.kernel is not None:
            assert f is not None or packed is not None
            packed = pack(f) if packed is None else packed  # type: ignore[arg-type]
            out, src, inst_ids, param_ids, bad = self.kernel.successors(packed, hits, self.found_events)
            if bad >= 0:
                row, pair = divmod(bad, self.kernel.npairs)
                self._outgrown(int(self.kernel.pair_inst[pair]), int(self.kernel.pair_param[pair]),
                               unpack(packed[[row]], len(self.lay.names))[:, 0])
            return out, src, inst_ids, param_ids
        assert f is not None
        wp = padded_width(len(self.lay.names))
        packed = pack(f) if packed is None else packed
        outs, srcs, insts, params = [], [], [], []
        for a, v, rows, sub, sub_view, cols, t, ok in self._steps(f):
            if ok is not True and not np.all(ok):
                self._outgrown(a, v, sub[:, int(np.argmin(ok))])
            if hits is not None:
                self._event_hits(hits, self.enc.instances[a].name.split("[")[0], sub_view, t, rows, a, v)
            out = packed[rows]  # the state before; then the slots the effect changed, in one block
            changed = [(k, x) for k, x in enumerate(map(t.d.__getitem__, self.lay.names)) if x is not cols[k]]
            if changed:
                block = np.empty((len(changed), rows.size), dtype=DTYPE)
                for j, (_, x) in enumerate(changed):
                    block[j] = x
                out[:, [k for k, _ in changed]] = block.T
            outs.append(out)
            srcs.append(rows)
            insts.append(np.full(rows.size, a, dtype=np.int16))
            params.append(np.full(rows.size, v, dtype=np.int16))
        if not outs:
            return (np.empty((0, wp), DTYPE), np.empty(0, np.int64), np.empty(0, np.int16), np.empty(0, np.int16))
        return np.concatenate(outs), np.concatenate(srcs), np.concatenate(insts), np.concatenate(params)

    def _event_hits(self, hits: dict[str, tuple[int, int, int]], action: str, pre: SV, post: SV, rows: np.ndarray,
                    inst: int, v: int) -> None:
        """Record in ``hits`` the first of these steps (from the states ``rows``, by instance ``inst`` with
        parameter ``v``) that is the event of a witness not yet hit."""
        for name, (ev_action, ev) in self.events.items():
            if name in hits or name in self.found_events or ev_action != action:
                continue
            at = np.flatnonzero(np.broadcast_to(np.asarray(ev(pre, post), dtype=bool), (rows.size,)))
            if at.size:
                hits[name] = (int(rows[at[0]]), inst, v)

    def _steps(self, f: np.ndarray) -> Iterator[
            tuple[int, int, np.ndarray, np.ndarray, SV, list[Any], SV, Any]]:
        """Each action instance and parameter with its guard evaluated over the frontier ``f``: the instance's
        index, the parameter, the columns where it is enabled, those states (``sub``, ``sub_view`` over them
        and its columns), the states after the step and the capacity condition."""
        s, n = self.view(f), f.shape[1]
        for a, inst in enumerate(self.enc.instances):
            for v in self.enc.params(inst):
                g = inst.guard(s, v)
                if g is False:
                    continue
                rows = np.arange(n) if g is True else np.flatnonzero(g)
                if rows.size == 0:
                    continue
                sub = f[:, rows]
                sub_view = self.view(sub)
                cols = list(sub_view.d.values())  # the columns before the step: what it changed is not these
                t, ok = inst.effect(sub_view, v)
                yield a, v, rows, sub, sub_view, cols, t, ok

    def _outgrown(self, a: int, v: int, column: np.ndarray) -> None:
        """Raise the ``CapacityError`` of instance ``a`` (parameter ``v``) taken from the state ``column``: which
        sequence outgrows its capacity, by the model's own step (it has no capacities), then the state."""
        inst = self.enc.instances[a]
        bad = self.lay.decode(dict(zip(self.lay.names, (int(x) for x in column), strict=True)))
        what = f"{inst.name} (parameter {v})"
        try:
            action = inst.decode(bad, v)
            after = self.model.next_state(bad, action)
            grown = [f"{q} to {len(getattr(after, q))} entries (capacity {cap})"
                     for q, cap in self.lay.caps.items() if len(getattr(after, q)) > cap]
            what = f"{action!r} grows {', '.join(grown)}" if grown else what
        except Exception:  # the message only: the error below is raised either way
            pass
        raise Outgrown(f"{what}: outgrows the state vector's capacities (Layout.capacities)", repr(bad))

    def keys(self, rows: np.ndarray) -> np.ndarray:
        """The visited-set keys of packed vectors: fingerprints, or the packed vectors (``--exact``)."""
        if self.exact:
            return exact_keys(rows)
        return fingerprints(rows) if self.kernel is None else self.kernel.fingerprints(rows)

    def packed(self, s: State) -> np.ndarray:
        """The packed vector of one concrete state (a 1-row array)."""
        d = self.lay.encode(s)
        return pack(np.array([[d[k]] for k in self.lay.names], dtype=DTYPE))

    def initial(self) -> np.ndarray:
        """The canonical packed vectors of the model's initial states."""
        return self.sym.canonical(np.concatenate([self.packed(s) for s in self.model.init_states()]))

    def expand(self, packed: np.ndarray, keep_edges: bool, frontier: np.ndarray | None = None) -> Expansion:
        """Expand a frontier (packed rows; ``frontier`` is ``unpack(packed)`` if at hand): its successors
        deduplicated, canonicalized and keyed, in the order of discovery, each with the source row, action
        instance and parameter that found it first."""
        if frontier is None and self.kernel is None:
            frontier = unpack(packed, len(self.lay.names))
        hits: dict[str, tuple[int, int, int]] = {}
        succ, src, inst, param = self.successors(frontier, packed, hits if self.events else None)
        raw_keys = self.keys(succ)
        # dedupe the raw successors first: only distinct vectors are canonicalized. ``raw_first``: the first
        # row of each distinct key, in discovery order; ``raw_of``: each row's distinct key, numbered so
        if self.kernel is not None and not self.exact:
            raw_first, raw_of = self.kernel.dedupe(raw_keys)  # one pass through a hash table
        else:
            raw_first, raw_of = first_occurrences(raw_keys)
        cand = succ[raw_first]
        if self.sym.enabled:
            # ``cand`` is a fresh array (fancy indexing): the kernel canonicalizes it where it is
            cand = self.sym.canonical(cand) if self.kernel is None else self.kernel.canonical(cand, in_place=True)
            cand_keys = self.keys(cand)
        else:
            cand_keys = raw_keys[raw_first]
        cand_src, cand_inst, cand_param = src[raw_first], inst[raw_first], param[raw_first]
        edge_cand = raw_of if keep_edges else None
        seen = self._seen
        if seen is not None:
            # most candidates were found at an earlier level: drop them here, in the worker, so that only new
            # states are gathered, concatenated and added (at the large preset the candidates of a level took
            # gigabytes). An edge to a dropped one keeps its id, as ``-2 - id``
            known = seen.lookup(cand_keys)
            fresh = np.flatnonzero(known < 0)
            if keep_edges:
                remap = -2 - known.astype(np.int64)
                remap[fresh] = np.arange(fresh.size)
                edge_cand = remap[raw_of]
            cand, cand_keys = cand[fresh], cand_keys[fresh]
            cand_src, cand_inst, cand_param = cand_src[fresh], cand_inst[fresh], cand_param[fresh]
        return Expansion(cand, cand_keys, cand_src, cand_inst, cand_param, succ.shape[0], edge_cand,
                         src if keep_edges else None, hits)

    def _visited(self, keys: np.ndarray, ids: np.ndarray) -> Visited:
        """The visited set holding ``keys`` with ``ids``: the compiled hash table of fingerprints when the
        kernel is loaded, else (and always with ``--exact``) a sorted array."""
        if self.kernel is not None and not self.exact:
            return HashVisited(self.kernel, keys, ids)
        return SortedVisited(keys, ids)

    def _pool(self) -> Any:
        """Workers for ``jobs > 1``, or ``None``: with the compiled kernel, threads (the kernel's C calls and
        numpy's sorts release the GIL, and threads share the frontier and its successors instead of pickling
        them between processes); on the numpy path, forked processes that inherit this checker."""
        if self.jobs <= 1:
            return None
        if self.kernel is not None:
            return ThreadPoolExecutor(self.jobs)
        if "fork" not in mp.get_all_start_methods():
            return None
        global _WORKER
        _WORKER = self
        return mp.get_context("fork").Pool(self.jobs, initializer=signal.signal,
                                           initargs=(signal.SIGINT, signal.SIG_IGN))

    def _expand_all(self, packed: np.ndarray, frontier: np.ndarray | None, keep_edges: bool, pool: Any) -> Expansion:
        """``expand`` on the whole frontier: split across the worker processes when there are some, and in
        slices of at most ``_CHUNK`` rows, so that a level's successors never all sit in memory at once."""
        n = packed.shape[0]
        parts = max(self.jobs if pool is not None and n >= _MIN_SPLIT * self.jobs else 1, -(-n // _CHUNK))
        if parts == 1:
            return self.expand(packed, keep_edges, frontier)
        bounds = np.linspace(0, n, parts + 1).astype(int)
        chunks = [packed[lo:hi] for lo, hi in itertools.pairwise(bounds)]
        if isinstance(pool, ThreadPoolExecutor):
            done: list[Expansion] = list(pool.map(lambda c: self.expand(c, keep_edges), chunks))
        elif pool is not None:
            done = pool.starmap(_expand_in_worker, [(c, keep_edges) for c in chunks])
        else:
            done = [self.expand(c, keep_edges) for c in chunks]
        cand_at = np.cumsum([0, *(p.cand.shape[0] for p in done)])
        hits: dict[str, tuple[int, int, int]] = {}
        for p, lo in zip(done, bounds, strict=False):  # the first part's hit is the first in frontier order
            for name, (row, a, v) in p.hits.items():
                hits.setdefault(name, (int(row + lo), a, v))
        return Expansion(
            np.concatenate([p.cand for p in done]), np.concatenate([p.cand_keys for p in done]),
            np.concatenate([p.src + lo for p, lo in zip(done, bounds, strict=False)]),
            np.concatenate([p.inst for p in done]), np.concatenate([p.param for p in done]),
            sum(p.transitions for p in done),
            np.concatenate([_shift_candidates(p.edge_cand, at) for p, at in zip(done, cand_at, strict=False)])
            if keep_edges else None,
            np.concatenate([p.edge_src + lo for p, lo in zip(done, bounds, strict=False)])
            if keep_edges else None, hits)

    # --- the search ----------------------------------------------------------------------------------------

    def run(self) -> FrontierResult:
        """Explore, check, and return the verdict of every property. Ctrl-C ends it with a partial verdict."""
        safety = [p for p in self.properties if p.kind is Kind.ALWAYS]
        liveness = [p for p in self.properties if p.kind is Kind.EVENTUALLY]
        sometimes = [p for p in self.properties if p.kind is Kind.SOMETIMES and p.name not in self.events]
        first_step: dict[str, int] = {}  # a witness's event -> id of the state before its first step
        self.found_events = set()
        keep_edges = bool(liveness)
        started = time.perf_counter()
        # the kernel from the cache, or compiled now if asked for; ``auto`` compiles one only once the run has
        # shown it is big (AUTO_COMPILE_AT states): small runs never wait for the compiler
        self.load_kernel(build=self.kernel_choice == "c")  # its cost counts in the run's time
        rss_before = _peak_rss_bytes()
        first_bad: dict[str, int] = {}
        first_seen: dict[str, int] = {}
        pending: dict[str, list[np.ndarray]] = {p.name: [] for p in liveness}
        parents: list[np.ndarray] = []
        inst_ids: list[np.ndarray] = []
        param_ids: list[np.ndarray] = []
        edge_src: list[np.ndarray] = []
        edge_dst: list[np.ndarray] = []

        f0 = self.initial()
        k0 = self.keys(f0)
        _, first = np.unique(k0, return_index=True)
        first.sort()
        packed = f0[first]
        visited = self._visited(k0[first], np.arange(first.size, dtype=np.int32))
        parents.append(np.full(first.size, -1, dtype=np.int32))
        inst_ids.append(np.full(first.size, -1, dtype=np.int16))
        param_ids.append(first.astype(np.int16))  # an initial state records which initial vector it is
        self._inits = f0
        count, depth, transitions = first.size, 0, 0
        base = 0  # id of the frontier's first state
        stop_reason = ""

        def record(packed: np.ndarray, f: np.ndarray | None, ids_from: int) -> None:
            values = self.evaluate_all(packed, f, pool)
            for p in safety:
                if p.name not in first_bad:
                    bad = np.flatnonzero(~values[p.name])
                    if bad.size:
                        first_bad[p.name] = ids_from + int(bad[0])
            for p in sometimes:
                if p.name not in first_seen:
                    hit = np.flatnonzero(values[p.name])
                    if hit.size:
                        first_seen[p.name] = ids_from + int(hit[0])
            for p in liveness:
                pending[p.name].append(values[p.name].copy())

        pool = self._pool()
        try:
            w = len(self.lay.names)
            compiled = self.kernel is not None  # the numpy path works on unpacked frontiers, the kernel on rows
            frontier: np.ndarray | None = None if compiled else unpack(packed, w)
            record(packed, frontier, 0)
            while packed.shape[0]:
                if self.stop_when_violated and self.stop_when_violated <= first_bad.keys():
                    stop_reason = "stopped: " + ", ".join(sorted(self.stop_when_violated)) + " violated"
                    break
                if self.max_states is not None and count >= self.max_states:
                    stop_reason = f"stopped at --max-states {self.max_states}"
                    break
                self._seen = visited if isinstance(visited, HashVisited) else None  # read by the workers
                part = self._expand_all(packed, frontier, keep_edges, pool)
                transitions += part.transitions
                for name, (row, _, _) in part.hits.items():
                    first_step.setdefault(name, base + row)
                self.found_events.update(first_step)  # (forked workers keep evaluating: they only cost time)
                cand, cand_keys = part.cand, part.cand_keys
                # each distinct canonical vector not seen before, at its first discovery (candidates are in
                # discovery order), numbered on from ``count``
                nj, cand_ids = visited.add(cand_keys, count, self.max_states, keep_edges)
                if self.max_states is not None and count + nj.size >= self.max_states:
                    stop_reason = f"stopped at --max-states {self.max_states}"
                parents.append((base + part.src[nj]).astype(np.int32))
                inst_ids.append(part.inst[nj])
                param_ids.append(part.param[nj])
                if keep_edges:
                    assert part.edge_cand is not None and part.edge_src is not None and cand_ids is not None
                    # the id of every successor: a candidate's, or one found at an earlier level (-2 - id)
                    ec = part.edge_cand
                    dst = (-2 - ec).astype(np.int32)
                    fresh_edges = ec >= 0
                    dst[fresh_edges] = cand_ids[ec[fresh_edges]]
                    known = dst >= 0  # all but those cut off by --max-states
                    edge_src.append((base + part.edge_src[known]).astype(np.int32))
                    edge_dst.append(dst[known])
                base = count
                count += nj.size
                packed = cand[nj]
                if self.kernel is None and self.kernel_choice == "auto" and count >= AUTO_COMPILE_AT:
                    self.load_kernel(build=True)
                    compiled = self.kernel is not None
                    if compiled and isinstance(visited, SortedVisited) and not self.exact:
                        visited = self._visited(visited.keys, visited.ids)
                    if compiled and pool is not None:  # processes for the numpy path: threads from now on
                        _stop(pool)
                        pool = self._pool()
                frontier = None if compiled else unpack(packed, w)
                if packed.shape[0]:
                    depth += 1
                    record(packed, frontier, base)
                if self.progress is not None:
                    self.progress(count, depth, packed.shape[0])
                if stop_reason:
                    break
        except KeyboardInterrupt:
            stop_reason = INTERRUPTED
        except Outgrown as e:
            # a successor of depth + 1 that the vector cannot hold: every state to ``depth`` was checked, so the
            # violations found are real and shortest; what lies beyond is not claimed (as with --max-states)
            stop_reason = (f"stopped at depth {depth + 1}: {e.what}; the space outgrows the state vector here "
                           "(--engine object has no capacities)")
        finally:
            if pool is not None:
                _stop(pool)
        complete = not stop_reason
        if complete:
            stop_reason = "state space exhausted"
        self._parent = np.concatenate(parents)
        self._inst = np.concatenate(inst_ids)
        self._param = np.concatenate(param_ids)
        src_all = np.concatenate(edge_src) if edge_src else np.empty(0, np.int32)
        dst_all = np.concatenate(edge_dst) if edge_dst else np.empty(0, np.int32)
        stored = (visited.nbytes + self._parent.nbytes + self._inst.nbytes
                  + self._param.nbytes + src_all.nbytes + dst_all.nbytes)
        self.stats = FrontierStats(stored, 0.0 if self.exact else collision_probability(count), self.exact,
                                   max(0, _peak_rss_bytes() - rss_before))

        discoveries: dict[str, Discovery[State, Action]] = {}
        for p in safety:
            if p.name in first_bad:
                discoveries[p.name] = Discovery(p, Verdict.VIOLATED, self.path_to(first_bad[p.name]))
            else:
                discoveries[p.name] = Discovery(p, Verdict.HOLDS if complete else Verdict.UNKNOWN)
        for p in sometimes:
            if p.name in first_seen:
                discoveries[p.name] = Discovery(p, Verdict.REACHED, self.path_to(first_seen[p.name]))
            else:
                discoveries[p.name] = Discovery(p, Verdict.NOT_REACHED if complete else Verdict.UNKNOWN)
        for p in self.properties:
            event = event_of(p)
            if p.name not in self.events or event is None:
                continue
            if p.name in first_step:
                path = with_event(self.model, self.path_to(first_step[p.name]), event)
                discoveries[p.name] = Discovery(p, Verdict.REACHED, path)
            else:
                discoveries[p.name] = Discovery(p, Verdict.NOT_REACHED if complete else Verdict.UNKNOWN)
        for p in liveness:
            if not complete:
                discoveries[p.name] = Discovery(p, Verdict.UNKNOWN, note="liveness needs the whole graph")
                continue
            discoveries[p.name] = self._liveness(p, np.concatenate(pending[p.name])[:count], src_all, dst_all)
        ordered = {p.name: discoveries[p.name] for p in self.properties}
        return FrontierResult(ordered, count, transitions, depth, time.perf_counter() - started, complete,
                              stop_reason, self.sym.group_size, stored, self.stats.collision_probability,
                              self.exact, self.kernel_note)

    # --- liveness ------------------------------------------------------------------------------------------

    def _liveness(self, p: Property, pending: np.ndarray, src: np.ndarray, dst: np.ndarray) -> Discovery[State, Action]:
        """From every pending state a non-pending one must be reachable; else show the shortest way in."""
        n = pending.size
        ok = ~pending
        # backward reachability from the non-pending states, sweeping the edge arrays until nothing changes
        order = np.argsort(dst, kind="stable")
        rsrc, rdst = src[order], dst[order]
        rstart = np.searchsorted(rdst, np.arange(n + 1))
        frontier = np.flatnonzero(ok)
        while frontier.size:
            lo, hi = rstart[frontier], rstart[frontier + 1]
            sizes = hi - lo
            if not sizes.sum():
                break
            idx = np.repeat(lo - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes) + np.arange(sizes.sum())
            # the new predecessors, each once: marking a flag array is linear, np.unique's hashing of ids is not
            hit = np.zeros(n, dtype=bool)
            hit[rsrc[idx]] = True
            preds = np.flatnonzero(hit & ~ok)
            ok[preds] = True
            frontier = preds
        trapped = np.flatnonzero(~ok)
        if not trapped.size:
            return Discovery(p, Verdict.HOLDS)
        entry = int(trapped[0])  # ids are in BFS order: the least id is the shallowest trapped state
        forder = np.argsort(src, kind="stable")
        fsrc, fdst = src[forder], dst[forder]
        fstart = np.searchsorted(fsrc, np.arange(n + 1))
        path = self.path_to(entry)
        note = trap_note(entry, lambda u: fdst[fstart[u]:fstart[u + 1]].tolist(), len(path) - 1)
        return Discovery(p, Verdict.VIOLATED, path, note=note)

    # --- counterexamples -----------------------------------------------------------------------------------

    def canonical_chain(self, sid: int) -> list[np.ndarray]:
        """The canonical vectors from an initial state to state ``sid``, recomputed from the recorded
        action instances (only ids are stored per state)."""
        steps = []
        while self._parent[sid] != -1:
            steps.append((int(self._inst[sid]), int(self._param[sid])))
            sid = int(self._parent[sid])
        steps.reverse()
        w = len(self.lay.names)
        cur = self._inits[[int(self._param[sid])]]
        chain = [cur]
        for a, v in steps:
            if self.kernel is not None:  # the recorded step among the kernel's successors of the state
                out, _, insts, params, _ = self.kernel.successors(cur)
                nxt = out[np.flatnonzero((insts == a) & (params == v))[:1]]
                cur = self.kernel.canonical(nxt, in_place=True) if self.sym.enabled else nxt
            else:
                t, _ = self.enc.instances[a].effect(self.view(unpack(cur, w)), v)
                nxt = np.array([np.broadcast_to(t.d[name], (1,)) for name in self.lay.names], dtype=DTYPE)
                cur = self.sym.canonical(pack(nxt))
            chain.append(cur)
        return chain

    def path_to(self, sid: int) -> list[tuple[Action | None, State]]:
        """A concrete shortest execution to state ``sid``: the canonical chain, replayed on the model by
        choosing at each step an action whose successor has the next canonical vector."""
        chain = self.canonical_chain(sid)
        model = self.model

        def canon_of(s: State) -> np.ndarray:
            return self.sym.canonical(self.packed(s))

        cur = next(s for s in model.init_states() if np.array_equal(canon_of(s), chain[0]))
        out: list[tuple[Action | None, State]] = [(None, cur)]
        for want in chain[1:]:
            steps = [(a, model.next_state(cur, a)) for a in model.actions(cur)]
            canon = self.sym.canonical(np.concatenate([self.packed(t) for _, t in steps]))
            hits = np.flatnonzero((canon == want).all(axis=1))
            if not hits.size:  # pragma: no cover - would mean the encoding and the model disagree
                raise AssertionError("could not replay the frontier engine's path on the model")
            out.append(steps[int(hits[0])])
            cur = out[-1][1]
        return out
