"""BMC's queries over bit-vectors: the integer formulas of ``checkers.symbolic.bmc`` translated term by term to
bit-vectors of a width at which they mean the same, and solved by bit-blasting to Z3's SAT solver.

Why: a BMC query runs from the initial states for a bounded number of steps, so every slot of every state it
can reach, and every term built from them, is a bounded integer. Over unbounded integers Z3's SMT core
searches the actions with arithmetic reasoning it does not need; bit-blasted, the same query is a
propositional one, and CDCL answers the deep ones 2 to 9 times faster (checkpoint_not_redone, 11 steps at one
block: 31.5 CPU-s over integers, 3.6 over bit-vectors; docs/PROOFS.md, "Bit-vectors").

Why the translation is exact, not an approximation: ``ranges`` bounds every slot of every state within d
steps of an initial state by interval arithmetic over the transition's next-state terms (each a chain of
``If`` over effect terms; an ``If`` takes the hull of its branches, so the bound holds whichever branch is
taken), with each step's parameter inside the domain the concrete engines enumerate (``Encoding.params``).
``width`` then bounds every integer subterm of the formulas asked (guards, effects, properties) over those
ranges, and picks the width at which the largest fits signed. Within it no bit-vector operation wraps, so a
bit-vector assignment is an integer one with the same truth values and the other way round: the query is
satisfiable over bit-vectors exactly when it is over integers (with the parameters in their domains, which is
all the model can do). Only the formulas of BMC from the initial states are translated: induction and Houdini
start from arbitrary states, whose slots no interval bounds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import z3

Interval = tuple[int, int]


def hull(a: Interval, b: Interval) -> Interval:
    """The smallest interval holding both."""
    return (min(a[0], b[0]), max(a[1], b[1]))


# One node of a formula, read through Z3's C API (``nodes``): what it is and its children, as indices into the
# list. The API's own walk (``ExprRef.children``) makes and frees a Python object per child and was most of the
# time of ranging and translating a query.
Node = tuple[int, tuple[int, ...], object]  # kind (Z3_OP_*), children, the numeral / constant name / sort


class Nodes:
    """The nodes of some formulas in topological order (children first), shared subterms once; ``index``
    maps a Z3 AST id to its node. Grows as formulas are added."""

    INT = z3.Z3_INT_SORT

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.index: dict[int, int] = {}
        self.keep: list[z3.ExprRef] = []  # the roots: their ASTs (and so every child's) stay alive

    def add(self, e: z3.ExprRef) -> int:
        """Add a formula's nodes; the index of its root."""
        self.keep.append(e)
        ctx = e.ctx.ref()
        root = e.as_ast()
        stack = [(root, False)]
        while stack:
            a, ready = stack.pop()
            aid = z3.Z3_get_ast_id(ctx, a)
            if aid in self.index:
                continue
            kind = z3.Z3_get_ast_kind(ctx, a)
            if kind == z3.Z3_NUMERAL_AST:
                self.index[aid] = len(self.nodes)
                self.nodes.append((z3.Z3_OP_ANUM, (), int(z3.Z3_get_numeral_string(ctx, a))))
                continue
            if kind != z3.Z3_APP_AST:
                raise ValueError("a quantifier or variable in a BMC formula has no bit-vector translation")
            app = z3.Z3_to_app(ctx, a)
            n = z3.Z3_get_app_num_args(ctx, app)
            args = [z3.Z3_get_app_arg(ctx, app, i) for i in range(n)]
            if not ready:
                stack.append((a, True))
                stack.extend((c, False) for c in args)
                continue
            decl = z3.Z3_get_app_decl(ctx, app)
            op = z3.Z3_get_decl_kind(ctx, decl)
            leaf: object = None
            if op == z3.Z3_OP_UNINTERPRETED:
                if n:
                    raise ValueError("a function application in a BMC formula has no bit-vector translation")
                name = z3.Z3_get_symbol_string(ctx, z3.Z3_get_decl_name(ctx, decl))
                leaf = (name, z3.Z3_get_sort_kind(ctx, z3.Z3_get_sort(ctx, a)))
            elif op not in _TRANSLATED:  # named in the error the translation raises
                leaf = z3.Z3_get_symbol_string(ctx, z3.Z3_get_decl_name(ctx, decl))
            self.index[aid] = len(self.nodes)
            self.nodes.append((op, tuple(self.index[z3.Z3_get_ast_id(ctx, c)] for c in args), leaf))
        return self.index[z3.Z3_get_ast_id(ctx, root)]


def _range(node: Node, rs: list[Interval], env: Mapping[str, Interval]) -> Interval | None:
    """The interval of an integer node from its children's (``None``: a Boolean node)."""
    op, args, leaf = node
    if op == z3.Z3_OP_ANUM:
        v = leaf
        assert isinstance(v, int)
        return (v, v)
    if op == z3.Z3_OP_UNINTERPRETED:
        assert isinstance(leaf, tuple)
        name, sort = leaf
        if sort != Nodes.INT:
            return None
        if name not in env:
            raise ValueError(f"no range for {name}: the bit-vector width cannot be bounded")
        return env[name]
    if op == z3.Z3_OP_ITE:
        a, b = rs[args[1]], rs[args[2]]
        return None if a is None else hull(a, b)
    if op == z3.Z3_OP_ADD:
        return (sum(rs[c][0] for c in args), sum(rs[c][1] for c in args))
    if op == z3.Z3_OP_SUB:
        first, rest = rs[args[0]], [rs[c] for c in args[1:]]
        return (first[0] - sum(p[1] for p in rest), first[1] - sum(p[0] for p in rest))
    if op == z3.Z3_OP_UMINUS:
        lo, hi = rs[args[0]]
        return (-hi, -lo)
    if op in _BOOLEAN:
        return None
    raise ValueError(f"the operator {leaf} has no bit-vector translation")


def _ranges_of(nodes: Nodes, env: Mapping[str, Interval], roots: Iterable[int] | None = None) -> list[Interval]:
    """The interval of every node (of every node under ``roots``, the others ``None``; a Boolean node's is
    ``None``), in one pass over the topological order."""
    under: set[int] | None = None
    if roots is not None:
        under, todo = set(), list(roots)
        while todo:
            i = todo.pop()
            if i not in under:
                under.add(i)
                todo.extend(nodes.nodes[i][1])
    rs: list[Interval] = []
    for i, node in enumerate(nodes.nodes):
        rs.append(_range(node, rs, env) if under is None or i in under else None)  # type: ignore[arg-type]
    return rs


def ranges(init: Sequence[Mapping[str, int]], next_terms: Mapping[str, z3.ArithRef],
           params: Mapping[str, Interval], depth: int, nodes: Nodes | None = None) -> dict[str, Interval]:
    """An interval holding each slot's value in every state within ``depth`` steps of an initial state.

    ``init``: the initial vectors; ``next_terms``: each slot of the next state as a term over the current
    state's slots (named ``<slot>@x``) and the step's ``params`` (selector and parameter, with their
    intervals). Each step's interval is the hull of the last and of the next-state terms evaluated over it,
    so the ranges only grow, and the ranges at ``depth`` hold every state up to it. (An If's condition is
    evaluated too, though its range is not needed: cheaper than a walk that skips it.) ``nodes``: read the
    terms into these (shared with ``width`` and ``Translation``, so each formula is read once)."""
    nodes = nodes if nodes is not None else Nodes()
    roots = {n: nodes.add(t) for n, t in next_terms.items()}
    env: dict[str, Interval] = {n: (min(v[n] for v in init), max(v[n] for v in init)) for n in init[0]}
    for _ in range(depth):
        rs = _ranges_of(nodes, {**{f"{n}@x": r for n, r in env.items()}, **params}, roots.values())
        nxt = {n: hull(env[n], rs[i]) for n, i in roots.items()}
        if nxt == env:
            break  # a fixpoint: no further step widens a range
        env = nxt
    return env


def width(formulas: Iterable[z3.ExprRef], env: Mapping[str, Interval], nodes: Nodes | None = None) -> int:
    """The bit-vector width at which every integer subterm of ``formulas`` fits signed, when each integer
    constant lies in its interval in ``env`` (by name). With shared ``nodes``, the width at which every node
    in them fits (``formulas`` added)."""
    nodes = nodes if nodes is not None else Nodes()
    for f in formulas:
        nodes.add(f)
    widest = max((max(abs(r[0]), abs(r[1])) for r in _ranges_of(nodes, env) if r is not None), default=0)
    return widest.bit_length() + 1  # the sign bit


_ARITH = {z3.Z3_OP_ANUM, z3.Z3_OP_UNINTERPRETED, z3.Z3_OP_ITE, z3.Z3_OP_ADD, z3.Z3_OP_SUB, z3.Z3_OP_UMINUS}
_BOOLEAN = {z3.Z3_OP_TRUE, z3.Z3_OP_FALSE, z3.Z3_OP_EQ, z3.Z3_OP_DISTINCT, z3.Z3_OP_AND, z3.Z3_OP_OR,
            z3.Z3_OP_NOT, z3.Z3_OP_IMPLIES, z3.Z3_OP_LE, z3.Z3_OP_LT, z3.Z3_OP_GE, z3.Z3_OP_GT}
#: every operator ``_range`` and ``Translation`` know
_TRANSLATED = _ARITH | _BOOLEAN


class Translation:
    """Integer formulas rewritten over bit-vectors of one width (``width``: no operation wraps), node by node;
    shared subterms are translated once, across calls too."""

    def __init__(self, bits: int, nodes: Nodes | None = None) -> None:
        self.bits = bits
        self.nodes = nodes if nodes is not None else Nodes()
        self.built: list[z3.ExprRef] = []  # the translation of each of ``nodes``

    def __call__(self, e: z3.ExprRef) -> z3.ExprRef:
        root = self.nodes.add(e)
        for node in self.nodes.nodes[len(self.built):]:
            self.built.append(self._make(node))
        return self.built[root]

    def _make(self, node: Node) -> z3.ExprRef:
        # through the C API (z3py's If, And, ... check and coerce every argument: most of the time here)
        op, args, leaf = node
        if op == z3.Z3_OP_ANUM:
            assert isinstance(leaf, int)
            return z3.BitVecVal(leaf, self.bits)
        if op == z3.Z3_OP_UNINTERPRETED:
            assert isinstance(leaf, tuple)
            name, sort = leaf
            return z3.BitVec(name, self.bits) if sort == Nodes.INT else z3.Bool(name)
        ctx = self.built[args[0]].ctx if args else z3.main_ctx()
        c = ctx.ref()
        ch = [self.built[i].as_ast() for i in args]
        if op in _NARY:
            out = ch[0]
            for x in ch[1:]:
                out = _NARY[op](c, out, x)
            return z3.BitVecRef(out, ctx)
        if op in _COMPARE:
            return z3.BoolRef(_COMPARE[op](c, ch[0], ch[1]), ctx)
        if op == z3.Z3_OP_UMINUS:
            return z3.BitVecRef(z3.Z3_mk_bvneg(c, ch[0]), ctx)
        if op == z3.Z3_OP_ITE:
            r = z3.Z3_mk_ite(c, ch[0], ch[1], ch[2])
            return z3.BoolRef(r, ctx) if z3.is_bool(self.built[args[1]]) else z3.BitVecRef(r, ctx)
        if op in _LOGIC:
            arr = (z3.Ast * len(ch))(*ch)
            return z3.BoolRef(_LOGIC[op](c, len(ch), arr), ctx)
        if op == z3.Z3_OP_NOT:
            return z3.BoolRef(z3.Z3_mk_not(c, ch[0]), ctx)
        if op == z3.Z3_OP_IMPLIES:
            return z3.BoolRef(z3.Z3_mk_implies(c, ch[0], ch[1]), ctx)
        if op == z3.Z3_OP_TRUE:
            return z3.BoolVal(True)
        if op == z3.Z3_OP_FALSE:
            return z3.BoolVal(False)
        raise ValueError(f"the operator {leaf} has no bit-vector translation")


# z3's signed comparisons: every integer of the formulas is a signed bit-vector of the width
_NARY = {z3.Z3_OP_ADD: z3.Z3_mk_bvadd, z3.Z3_OP_SUB: z3.Z3_mk_bvsub}
_COMPARE = {z3.Z3_OP_LE: z3.Z3_mk_bvsle, z3.Z3_OP_LT: z3.Z3_mk_bvslt, z3.Z3_OP_GE: z3.Z3_mk_bvsge,
            z3.Z3_OP_GT: z3.Z3_mk_bvsgt, z3.Z3_OP_EQ: z3.Z3_mk_eq}
_LOGIC = {z3.Z3_OP_AND: z3.Z3_mk_and, z3.Z3_OP_OR: z3.Z3_mk_or, z3.Z3_OP_DISTINCT: z3.Z3_mk_distinct}

#: Bit-blast and hand the clauses to the SAT solver, after folding every state into the actions chosen (as the
#: integer queries do, ``bmc.WITHIN_TACTIC``).
TACTIC = ("simplify", "propagate-values", "solve-eqs", "bit-blast", "sat")
