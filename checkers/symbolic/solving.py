"""Every solver query of the symbolic engines goes through ``check``, so that Ctrl-C stops a run at once, always.

Z3 installs a Ctrl-C handler of its own during each query (its ``ctrl_c`` parameter, on by default): a Ctrl-C
then cancels the query, which answers unknown, and the interrupt is gone unless the caller notices the reason
(as ``bmc.gave_up`` once did). When the signal arrives as the query is finishing, it answers sat or unsat and
the Ctrl-C is lost: the run goes on as if nothing was pressed. Seen with ``prove --induction``, whose main process asks
hundreds of short queries (tests/test_cli_contract.py's Ctrl-C test failed once in ten on a loaded machine).

So in the main thread of the main process a query runs in a helper thread with Z3's handler off, while the main
thread waits in Python, where Ctrl-C raises ``KeyboardInterrupt`` whenever it comes; the query is then cancelled
(``Context.interrupt``) and the interrupt raised again. Elsewhere (a worker process, whose parent stops it, or
another thread, which Python's signals never reach) the query runs as it is.

Worker processes ignore Ctrl-C altogether (``ignore_ctrl_c_in_worker``; the parent stops them) and are started
with it ignored (``starting_workers``), so one that comes while a worker is still starting cannot print a
traceback there.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import z3

#: How often the main thread looks up from a query it waits for (``waiting``); Ctrl-C needs no polling.
POLL_SECONDS = 0.25


def check(solver: z3.Solver, *assumptions: z3.BoolRef,
          waiting: Callable[[], None] | None = None) -> z3.CheckSatResult:
    """``solver.check(*assumptions)``, stopped by Ctrl-C at any moment (``KeyboardInterrupt``). ``waiting`` is
    called every ``POLL_SECONDS`` while the query runs in the main thread (a progress line for a log)."""
    if threading.current_thread() is not threading.main_thread() or mp.parent_process() is not None:
        return solver.check(*assumptions)
    solver.set("ctrl_c", False)
    answer: dict[str, Any] = {}
    done = threading.Event()

    def ask() -> None:
        try:
            answer["result"] = solver.check(*assumptions)
        except BaseException as e:  # raised again in the caller's thread
            answer["error"] = e
        finally:
            done.set()

    # Z3's reference counts are not thread-safe: while the query runs, this thread must not free Z3 objects, which
    # only the cycle collector could do here (nothing in this loop or ``waiting`` drops a Z3 reference)
    collecting = gc.isenabled()
    gc.disable()
    threading.Thread(target=ask, name="z3-query", daemon=True).start()
    try:
        while not done.wait(POLL_SECONDS):
            if waiting is not None:
                waiting()
    except BaseException:  # Ctrl-C, or ``waiting`` failed: the query must not run on unwatched
        solver.ctx.interrupt()  # it answers unknown at its next check of the limit (thread-safe, by design)
        done.wait()
        raise
    finally:
        if collecting:
            gc.enable()
    if "error" in answer:
        raise answer["error"]
    result: z3.CheckSatResult = answer["result"]
    return result


def ignore_ctrl_c_in_worker() -> None:
    """A worker process's first step: Ctrl-C reaches the whole process group, and the parent stops its workers;
    Z3's own handler must not act on it either (it would cancel a query even where the parent ignores Ctrl-C,
    as a background job does)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    z3.set_param("ctrl_c", False)


@contextmanager
def starting_workers() -> Iterator[None]:
    """Start worker processes inside this: they begin with Ctrl-C ignored (an ignored signal stays ignored
    across exec), before ``ignore_ctrl_c_in_worker`` runs in them; the parent's handler is back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
