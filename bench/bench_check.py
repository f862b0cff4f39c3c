"""Benchmark of the explicit-state engines (DESIGN section 7): the object engine, the frontier engine on numpy
and the frontier engine's compiled kernel, on the same bounds, in one run.

For each recovery kind and engine, in a fresh process each (so memory figures are per run): unique states,
transitions, wall seconds, CPU seconds, states per CPU-second, and bytes per state, twice: the growth of the
process's peak resident memory, and (frontier engine) the arrays kept per state (visited keys and ids,
parents, action ids, and the liveness edges). The compiled kernel is built (or found in the cache) before
its rows, and what building it cost is printed apart. Then ``--jobs 1`` against ``--jobs 2`` for each kind
(worker threads over parts of every frontier), beside how many cores the machine actually gave two processes
just then, and ``pitmirror check``'s default run from process start (both kinds on two cores), wall time. Figures, not
assertions: compare them within one run, on an idle machine.

    python bench/bench_check.py [--preset default|small|thorough] [--no-object] [--no-numpy] [--repeat N]
                                [--no-symmetry] [--exact]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from pitmirror.checkers.explicit.checker import ExplicitChecker
from pitmirror.checkers.frontier import compiled
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.model.config import PRESETS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import PROPERTIES
from pitmirror.spec.state import RecoveryKind

Row = tuple[str, int, int, float, float, float, float]  # label, states, transitions, wall, cpu, rss B/st, kept B/st
ENGINES = {"object": None, "frontier numpy": "numpy", "frontier C": "c"}


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def one_run(engine: str, preset: str, kind: RecoveryKind, symmetry: bool, exact: bool, jobs: int = 1) -> Row:
    """One exhaustive check of every property in this (fresh) process."""
    model = MirrorModel(PRESETS[preset].with_(recovery_kind=kind))
    before = _rss_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    kernel = ENGINES[engine]
    if kernel is not None:
        r = FrontierChecker(model, PROPERTIES, symmetry=symmetry, exact=exact, kernel=kernel, jobs=jobs).run()
        kept = r.memory_bytes / max(1, r.states)
    else:
        r = ExplicitChecker(model, PROPERTIES, symmetry=symmetry).run()
        kept = float("nan")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    grown = (_rss_bytes() - before) / max(1, r.states)
    return f"{engine} {kind.name.lower()}", r.states, r.transitions, wall, cpu, grown, kept


def _spin(n: int) -> float:
    """CPU-bound work (a Python loop): its wall seconds."""
    start = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return time.perf_counter() - start


def cores_available(n: int = 3_000_000) -> float:
    """How many cores two processes got at once, just now: a CPU-bound task alone, then two side by side
    (2.0 on an idle 2-core machine, 1.0 when they had to take turns). Wall times on a shared machine only
    mean something beside this figure."""
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_spin, [1000, 1000]))  # both workers started
        alone = pool.submit(_spin, n).result()
        both = max(pool.map(_spin, [n, n]))
    return 2 * alone / both


def build_kernel(preset: str, kind: RecoveryKind, cache: str | None) -> tuple[str, float, float]:
    """Build the compiled kernel of ``preset`` (into the cache folder ``cache``, the user's when ``None``):
    the kernel note, wall seconds and CPU seconds including the compiler's."""
    if cache is not None:
        os.environ["XDG_CACHE_HOME"] = cache
    checker = FrontierChecker(MirrorModel(PRESETS[preset].with_(recovery_kind=kind)), PROPERTIES, kernel="c")
    wall, before = time.perf_counter(), os.times()
    checker.load_kernel(build=True)
    after = os.times()
    cpu = (after.user + after.system + after.children_user + after.children_system
           - before.user - before.system - before.children_user - before.children_system)
    return checker.kernel_note, time.perf_counter() - wall, cpu


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default", choices=sorted(PRESETS))
    ap.add_argument("--no-object", action="store_true", help="skip the object engine (slow at large bounds)")
    ap.add_argument("--no-symmetry", action="store_true")
    ap.add_argument("--exact", action="store_true", help="frontier engine keeps whole states")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run each frontier row N times and print the run with the least CPU time (a shared "
                         "machine's noise only ever adds time)")
    ap.add_argument("--no-numpy", action="store_true", help="skip the frontier engine's numpy path")
    args = ap.parse_args()
    symmetry = not args.no_symmetry
    have_cc = compiled.compiler() is not None
    engines = [e for e in ENGINES if not (e == "object" and args.no_object) and not (e == "frontier C" and not have_cc)
               and not (e == "frontier numpy" and args.no_numpy)]
    print(f"preset {args.preset}: {PRESETS[args.preset]}; symmetry {'on' if symmetry else 'off'}; every property")
    if have_cc:
        for kind in RecoveryKind:
            with ProcessPoolExecutor(1) as pool, tempfile.TemporaryDirectory() as empty:
                note, wall, cpu = pool.submit(build_kernel, args.preset, kind, empty).result()
            print(f"compiled kernel, {kind.name.lower()}, first run (empty cache): {note}; {wall:.1f} s wall, "
                  f"{cpu:.1f} CPU-s with the compiler")
            with ProcessPoolExecutor(1) as pool:  # into the user's cache, for the rows below
                note, wall, _ = pool.submit(build_kernel, args.preset, kind, None).result()
            print(f"compiled kernel, {kind.name.lower()}, user cache: {note}; {wall:.2f} s wall")
    else:
        print("no C compiler: the compiled kernel is not measured")
    print(f"{'run':<28}{'states':>10}{'transitions':>13}{'wall s':>8}{'cpu s':>8}{'states/cpu-s':>14}"
          f"{'rss B/st':>10}{'kept B/st':>11}")
    for kind in RecoveryKind:
        for engine in engines:
            runs = []
            for _ in range(1 if engine == "object" else args.repeat):
                with ProcessPoolExecutor(1) as pool:  # a fresh process each, so memory figures are per run
                    runs.append(pool.submit(one_run, engine, args.preset, kind, symmetry, args.exact).result())
            label, states, trans, wall, cpu, grown, kept = min(runs, key=lambda r: r[4])  # the least disturbed
            cpus = "" if len(runs) == 1 else "  (CPU-s of each run: " + ", ".join(f"{r[4]:.2f}" for r in runs) + ")"
            print(f"{label:<28}{states:>10,}{trans:>13,}{wall:>8.1f}{cpu:>8.2f}{states / cpu:>14,.0f}"
                  f"{grown:>10,.0f}{kept:>11,.0f}{cpus}")
    best = "frontier C" if have_cc else "frontier numpy"
    print(f"cores this process got while the --jobs rows ran: {cores_available():.1f} of {os.cpu_count()} "
          "(two CPU-bound processes side by side against one alone; < 2: the machine is shared)")
    for kind in RecoveryKind:
        for jobs in (1, 2):
            with ProcessPoolExecutor(1) as pool:
                row = pool.submit(one_run, best, args.preset, kind, symmetry, args.exact, jobs).result()
            print(f"{best}, {kind.name.lower()}, --jobs {jobs}: {row[3]:.2f} s wall, {row[4]:.2f} CPU-s "
                  f"(every thread of the process; CPU-s above wall: threads ran side by side)")
    print(f"cores available after the --jobs rows: {cores_available():.1f}")
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        runs = list(pool.map(one_run, [best] * 2, [args.preset] * 2, list(RecoveryKind), [symmetry] * 2,
                             [args.exact] * 2))
    print(f"{best}, both kinds on two cores (as `pitmirror check` runs them): "
          f"{sum(r[1] for r in runs):,} states in {time.perf_counter() - start:.1f} s wall")
    with tempfile.TemporaryDirectory() as traces:
        command = [sys.executable, "-m", "pitmirror", "check", "--quiet", "--preset", args.preset, "--out", traces]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    print(f"`pitmirror check --preset {args.preset}` from process start: {time.perf_counter() - start:.1f} s wall "
          f"(exit {done.returncode})")


if __name__ == "__main__":
    main()
