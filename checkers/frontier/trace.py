"""The encoding traced once into a term DAG, for the compiled kernel (``checkers.frontier.compiled``).

Nothing of the protocol is written here. ``trace`` runs every action instance's guard and effect, and every
property and witness event, of ``checkers.symbolic.encoding`` once on a vector of *traced* terms: ``Traced``
is a numpy array subclass, so the encoding's array branch (``ite`` -> ``np.where``, ``conj`` -> ``&``,
comparisons, ``+``) records each operation as a node instead of computing it, with no change to the encoding
or to ``checkers.symbolic.terms``. Equal operations on equal arguments are one node (hash-consed), so a
subterm the encoding builds twice (``host_io_allowed`` in every HostWrite guard, a path slot read by every
delivery) is computed once. A change to the encoding (a new field, action or mutant) is traced on the next
run: the kernel is derived from what the encoding says then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.terms import SV, Term


class TraceError(TypeError):
    """The encoding did something a traced term cannot record (a Python ``if`` on a term, a numpy function
    other than ``np.where``): the kernel cannot be derived, the numpy path must be used."""


#: the numpy ufuncs the tracer records as nodes, and their C operators
BINARY = {"add": "+", "subtract": "-", "multiply": "*", "equal": "==", "not_equal": "!=", "less": "<",
           "less_equal": "<=", "greater": ">", "greater_equal": ">=", "bitwise_and": "&", "bitwise_or": "|",
           "bitwise_xor": "^", "logical_and": "&&", "logical_or": "||"}
_BOOLEAN = {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
            "logical_not"}


class Traced(np.ndarray):
    """A term of the traced encoding: one node of the DAG (a 0-d array only so that the encoding's
    ``isinstance(x, np.ndarray)`` branches take it; its data is never read)."""

    op: str
    args: tuple[Any, ...]
    nid: int
    boolean: bool
    tracer: Tracer

    def __array_ufunc__(self, ufunc: Any, method: str, *args: Any, **kwargs: Any) -> Any:
        if method != "__call__" or (ufunc.__name__ not in BINARY and ufunc.__name__ not in ("invert", "logical_not",
                                                                                              "negative")):
            raise TraceError(f"cannot trace numpy {ufunc.__name__}.{method}")
        return self.tracer.node(ufunc.__name__, *args)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is not np.where or kwargs:
            raise TraceError(f"cannot trace numpy {getattr(func, '__name__', func)}")
        return self.tracer.node("ite", *args)

    def astype(self, *args: Any, **kwargs: Any) -> Any:  # ``count``: a condition as 0/1
        return self.tracer.node("b2i", self)

    def all(self, *args: Any, **kwargs: Any) -> Any:  # ``merge``'s shortcut: not known to hold everywhere
        return False

    def any(self, *args: Any, **kwargs: Any) -> Any:  # ``merge`` / ``never``: not known to be false everywhere
        return True

    def __bool__(self) -> bool:
        raise TraceError("the encoding branches in Python on a traced term")

    def __iand__(self, other: Any) -> Any:  # type: ignore[misc]  # a node is shared: never update it in place
        return self & other

    def __ior__(self, other: Any) -> Any:  # type: ignore[misc]
        return self | other

    __hash__ = object.__hash__  # type: ignore[assignment]


class Tracer:
    """The hash-consed node table of one traced encoding."""

    def __init__(self) -> None:
        self.nodes: list[Traced] = []
        self._table: dict[tuple[Any, ...], Traced] = {}

    @staticmethod
    def _key(x: Any) -> tuple[str, int]:
        if isinstance(x, Traced):
            return ("n", x.nid)
        if isinstance(x, bool | int | np.integer | np.bool_):
            return ("c", int(x))
        raise TraceError(f"cannot trace a {type(x).__name__} operand")

    def node(self, op: str, *args: Any) -> Traced:
        """The node ``op(args)``, made once."""
        key = (op, *map(self._key, args))
        n = self._table.get(key)
        if n is None:
            n = np.ndarray.__new__(Traced, ())
            n.op, n.args, n.nid, n.tracer = op, args, len(self.nodes), self
            n.boolean = op in _BOOLEAN or (op in ("bitwise_and", "bitwise_or", "bitwise_xor", "invert")
                                           and all(is_bool(a) for a in args)) or (
                op == "ite" and is_bool(args[1]) and is_bool(args[2]))
            self.nodes.append(n)
            self._table[key] = n
        return n


def is_bool(x: Any) -> bool:
    """Whether a term is a truth value (C writes its negation with ``!``, a number's with ``~``)."""
    return x.boolean if isinstance(x, Traced) else isinstance(x, bool | np.bool_)


@dataclass
class TracedPair:
    """One (action instance, parameter) whose guard is not constantly false: its guard, the slots its effect
    changes (slot index -> term), the capacity condition, and the witnesses' events that are steps of its
    action (event index -> term over the states before and after)."""

    inst: int
    param: int
    guard: Term
    writes: dict[int, Term]
    fits: Term
    events: dict[int, Term] = field(default_factory=dict)


@dataclass
class TracedEncoding:
    """Every action instance and the given predicates of one encoding, as one DAG."""

    tracer: Tracer
    width: int
    pairs: list[TracedPair]
    predicates: dict[str, Term]
    events: list[str] = field(default_factory=list)


#: a witness's event for the kernel: the name of the action it is a step of, and its predicate over the
#: states before and after the step (``checkers.frontier.predicates.EVENT_PREDICATES``)
EventSpec = tuple[str, Callable[[SV, SV], Term]]


def action_of(inst_name: str) -> str:
    """The action an instance is a step of: its name up to the fixed parts in brackets."""
    return inst_name.split("[")[0]


def trace(enc: Encoding, predicates: dict[str, Callable[[SV], Term]],
          events: dict[str, EventSpec] | None = None) -> TracedEncoding:
    """Run the encoding's instances, the predicates and the witnesses' ``events`` (on the steps of their
    actions' instances) once on traced slots (``TraceError`` if it cannot be traced)."""
    tr = Tracer()
    names = enc.lay.names
    leaves = {k: tr.node("var", i) for i, k in enumerate(names)}
    evs = list((events or {}).items())
    pairs = []
    for a, inst in enumerate(enc.instances):
        for v in enc.params(inst):
            g = inst.guard(SV(enc.lay, dict(leaves)), v)
            if g is False:
                continue
            t, ok = inst.effect(SV(enc.lay, dict(leaves)), v)
            writes = {k: t.d[name] for k, name in enumerate(names) if t.d[name] is not leaves[name]}
            hit = {e: ev(SV(enc.lay, dict(leaves)), t) for e, (_, (action, ev)) in enumerate(evs)
                   if action == action_of(inst.name)}
            pairs.append(TracedPair(a, v, g, writes, ok, {e: x for e, x in hit.items() if x is not False}))
    preds = {name: f(SV(enc.lay, dict(leaves))) for name, f in predicates.items()}
    return TracedEncoding(tr, len(names), pairs, preds, [name for name, _ in evs])
