"""Benchmark of the explicit-state engines (DESIGN section 7): the object engine and the frontier engine on the
same bounds, in one run.

For each recovery kind and engine, in a fresh process each (so memory figures are per run): unique states,
transitions, wall seconds, CPU seconds, states per CPU-second, and bytes per state, twice: the growth of the
process's peak resident memory, and (frontier engine) the arrays kept per state (visited keys and ids,
parents, action ids, and the liveness edges). Then ``pitmirror check``'s default run: both kinds on two
cores, wall time. Figures, not assertions: compare them on an idle machine.

    python bench/bench_check.py [--preset default|small|thorough] [--no-object] [--no-symmetry] [--exact]
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ProcessPoolExecutor

from pitmirror.checkers.explicit.checker import ExplicitChecker
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.model.config import PRESETS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import PROPERTIES
from pitmirror.spec.state import RecoveryKind

Row = tuple[str, int, int, float, float, float, float]  # label, states, transitions, wall, cpu, rss B/st, kept B/st


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def one_run(engine: str, preset: str, kind: RecoveryKind, symmetry: bool, exact: bool) -> Row:
    """One exhaustive check of every property in this (fresh) process."""
    model = MirrorModel(PRESETS[preset].with_(recovery_kind=kind))
    before = _rss_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    if engine == "frontier":
        r = FrontierChecker(model, PROPERTIES, symmetry=symmetry, exact=exact).run()
        kept = r.memory_bytes / max(1, r.states)
    else:
        r = ExplicitChecker(model, PROPERTIES, symmetry=symmetry).run()
        kept = float("nan")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    grown = (_rss_bytes() - before) / max(1, r.states)
    return f"{engine} {kind.name.lower()}", r.states, r.transitions, wall, cpu, grown, kept


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default", choices=sorted(PRESETS))
    ap.add_argument("--no-object", action="store_true", help="skip the object engine (slow at large bounds)")
    ap.add_argument("--no-symmetry", action="store_true")
    ap.add_argument("--exact", action="store_true", help="frontier engine keeps whole states")
    args = ap.parse_args()
    symmetry = not args.no_symmetry
    engines = ["frontier"] if args.no_object else ["object", "frontier"]
    print(f"preset {args.preset}: {PRESETS[args.preset]}; symmetry {'on' if symmetry else 'off'}; every property")
    print(f"{'run':<22}{'states':>10}{'transitions':>13}{'wall s':>8}{'cpu s':>8}{'states/cpu-s':>14}"
          f"{'rss B/st':>10}{'kept B/st':>11}")
    for kind in RecoveryKind:
        for engine in engines:
            with ProcessPoolExecutor(1) as pool:  # a fresh process each, so memory figures are per run
                label, states, trans, wall, cpu, grown, kept = pool.submit(
                    one_run, engine, args.preset, kind, symmetry, args.exact).result()
            print(f"{label:<22}{states:>10,}{trans:>13,}{wall:>8.1f}{cpu:>8.1f}{states / cpu:>14,.0f}"
                  f"{grown:>10,.0f}{kept:>11,.0f}")
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        runs = list(pool.map(one_run, ["frontier"] * 2, [args.preset] * 2, list(RecoveryKind), [symmetry] * 2,
                             [args.exact] * 2))
    print(f"frontier, both kinds on two cores (as `pitmirror check` runs them): "
          f"{sum(r[1] for r in runs):,} states in {time.perf_counter() - start:.1f} s wall")


if __name__ == "__main__":
    main()
