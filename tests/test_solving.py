"""``solving.check``: Ctrl-C during a query raises ``KeyboardInterrupt`` in the caller at once, whatever Z3 was
doing, instead of being swallowed by Z3's own handler (the query answers unknown, or sat/unsat if it was
finishing, and the run goes on)."""

from __future__ import annotations

import ast
import gc
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import z3

from pitmirror.checkers.symbolic import solving


def _pigeons(n: int) -> z3.Solver:
    """n pigeons in n - 1 holes: unsat, and seconds of search for a SAT solver at n = 11 (exponential in n)."""
    s = z3.Then("simplify", "bit-blast", "sat").solver()
    p = [[z3.Bool(f"p{i}_{j}") for j in range(n - 1)] for i in range(n)]
    for row in p:
        s.add(z3.Or(*row))
    for j in range(n - 1):
        for i in range(n):
            s.add(*[z3.Or(z3.Not(p[i][j]), z3.Not(p[k][j])) for k in range(i + 1, n)])
    return s


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals reach the main thread")
def test_ctrl_c_during_a_query_raises_at_once() -> None:
    s = _pigeons(12)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            solving.check(s)
    finally:
        timer.cancel()
    # uncancelled, the query takes far longer (n = 11 took 2 s, each pigeon more multiplies it)
    assert time.perf_counter() - started < 3, "the query was not cancelled"


def test_answers_and_errors_are_the_queries_own() -> None:
    x = z3.Int("x")
    s = z3.Solver()
    s.add(x > 2)
    assert solving.check(s) == z3.sat and s.model()[x].as_long() > 2
    assert solving.check(s, x < 1) == z3.unsat
    assert gc.isenabled()  # off only while a query runs (Z3's reference counts are not thread-safe)
    with pytest.raises(z3.Z3Exception):
        solving.check(s, x + 1)  # type: ignore[arg-type]  # an assumption must be Boolean


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="the helper thread is the main's")
def test_waiting_hears_of_a_running_query_and_may_stop_it() -> None:
    calls: list[float] = []

    def waiting() -> None:
        calls.append(time.perf_counter())
        if len(calls) == 3:
            raise RuntimeError("the progress display failed")

    with pytest.raises(RuntimeError, match="progress display failed"):
        solving.check(_pigeons(12), waiting=waiting)
    assert len(calls) == 3
    queries = [t for t in threading.enumerate() if t.name == "z3-query"]
    for t in queries:
        t.join(timeout=2)
    assert not any(t.is_alive() for t in queries), "the query ran on after its caller gave up on it"


def _check_calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == "check"]


def test_every_solver_query_goes_through_solving_check() -> None:
    """A query put with ``solver.check(...)`` directly would let Z3's handler swallow a Ctrl-C again."""
    checkers = Path(solving.__file__).resolve().parent.parent
    through, direct = 0, []
    for path in sorted(checkers.rglob("*.py")):
        if path.name == "solving.py":
            continue
        for call in _check_calls(ast.parse(path.read_text())):
            owner = call.func.value  # type: ignore[attr-defined]
            if isinstance(owner, ast.Name) and owner.id == "solving":
                through += 1
            elif not (isinstance(owner, ast.Name) and owner.id == "self"):  # a machine's own invariant check
                direct.append(f"{path.relative_to(checkers)}:{call.lineno}")
    assert not direct, f"solver queries that bypass solving.check: {direct}"
    assert through >= 9  # the scan sees the engines' queries (BMC, induction, Houdini, Spacer, symmetry)
    assert _check_calls(ast.parse("s.check()"))  # and would see a direct one
