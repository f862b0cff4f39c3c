"""Benchmark of the explicit checker (DESIGN section 7): states per second and bytes per state.

Prints, for the default bounds (or ``--preset``): each recovery kind alone, both kinds on two cores as
``pitmirror check`` runs them, and a baseline measured in the same run: a plain breadth-first search over
integer tuples in a set, the yardstick DESIGN section 7 names. Figures, not assertions: run it on an idle
machine.

    python bench/bench_check.py [--preset default|small|thorough]
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ProcessPoolExecutor

from pitmirror.checkers.explicit.checker import ExplicitChecker
from pitmirror.model.config import PRESETS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import PROPERTIES
from pitmirror.spec.state import RecoveryKind


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def one_kind(preset: str, kind: RecoveryKind) -> tuple[str, int, int, float, float]:
    """Run one exhaustive check in a fresh process; return (kind, states, transitions, seconds, bytes/state)."""
    before = _rss_kib()
    r = ExplicitChecker(MirrorModel(PRESETS[preset].with_(recovery_kind=kind)), PROPERTIES).run()
    grown = (_rss_kib() - before) * 1024
    return kind.name.lower(), r.states, r.transitions, r.seconds, grown / max(1, r.states)


def baseline(n_states: int) -> tuple[int, float, float]:
    """A plain BFS over 12-int tuples in a set (a counter machine), for the per-state yardstick."""
    before = _rss_kib()
    start = time.perf_counter()
    init = (0,) * 12
    seen = {init}
    frontier = [init]
    i = 0
    while i < len(frontier) and len(seen) < n_states:
        s = frontier[i]
        i += 1
        for k in range(12):
            if s[k] < 3:
                t = (*s[:k], s[k] + 1, *s[k + 1 :])
                if t not in seen:
                    seen.add(t)
                    frontier.append(t)
    secs = time.perf_counter() - start
    return len(seen), secs, (_rss_kib() - before) * 1024 / max(1, len(seen))


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="default", choices=sorted(PRESETS))
    args = ap.parse_args()
    kinds = list(RecoveryKind)
    print(f"explicit checker, preset {args.preset}: {PRESETS[args.preset]}")
    print(f"{'run':<28}{'states':>10}{'transitions':>13}{'seconds':>9}{'states/s':>10}{'bytes/state':>13}")
    rates = []
    for kind in kinds:
        with ProcessPoolExecutor(1) as pool:  # a fresh process each, so memory figures are per run
            name, states, trans, secs, bps = pool.submit(one_kind, args.preset, kind).result()
        rates.append(states / secs)
        print(f"{name + ' (one core)':<28}{states:>10,}{trans:>13,}{secs:>9.1f}{states / secs:>10,.0f}{bps:>13,.0f}")
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(one_kind, [args.preset] * len(kinds), kinds))
    wall = time.perf_counter() - start
    total = sum(r[1] for r in results)
    print(f"{'both kinds, two cores':<28}{total:>10,}{sum(r[2] for r in results):>13,}{wall:>9.1f}"
          f"{total / wall:>10,.0f}{'':>13}")
    with ProcessPoolExecutor(1) as pool:
        n, secs, bps = pool.submit(baseline, 300_000).result()
    print(f"{'baseline: tuples in a set':<28}{n:>10,}{'':>13}{secs:>9.1f}{n / secs:>10,.0f}{bps:>13,.0f}")
    print(f"ratio checker/baseline states per second (one core, mean of kinds): "
          f"{sum(rates) / len(rates) / (n / secs):.3f}")


if __name__ == "__main__":
    main()
