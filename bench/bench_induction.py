"""Time to a proof: k-induction (``prove --induction``) against exhaustive exploration (``check``), same bounds.

For each recovery kind, the explicit checker explores every reachable state once (all safety properties), then
k-induction proves the three core properties one by one; the table shows seconds for each, the number of
proof obligations of the step case and the slowest, and the ratio induction / explicit measured in this run.
Not a timed test: figures depend on the machine (2 cores here).

    python bench/bench_induction.py                 # the default bounds, both kinds (about 10 minutes)
    python bench/bench_induction.py --blocks 1      # a quick look
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from pitmirror.checkers.explicit.checker import ExplicitChecker
from pitmirror.checkers.symbolic.bmc import Unroller
from pitmirror.checkers.symbolic.induction import Discharged, Discharger, induction
from pitmirror.model.config import Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.invariants import support
from pitmirror.spec.properties import BY_NAME, SAFETY
from pitmirror.spec.state import RecoveryKind

CORE = ("mirror_consistent", "journal_well_formed", "replay_is_point_in_time")


def _collect(into: list[Discharged]) -> Callable[[Discharged, int, int], None]:
    return lambda d, n, total: into.append(d)


def main() -> None:
    """Run the comparison and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the obligations")
    ap.add_argument("--recovery", choices=["writethrough", "swap", "both"], default="both")
    args = ap.parse_args()
    kinds = list(RecoveryKind) if args.recovery == "both" else [RecoveryKind[args.recovery.upper()]]
    table = Table(title=f"k-induction vs explicit check, Bounds(blocks={args.blocks}), {args.jobs} workers")
    for col in ("recovery", "property", "explicit s (all states)", "induction", "induction s", "obligations",
                "slowest obligation", "induction/explicit"):
        table.add_column(col)
    console = Console(width=180)
    with Discharger(args.jobs) as discharger:
        for kind in kinds:
            b = Bounds(blocks=args.blocks, recovery_kind=kind)
            t0 = time.perf_counter()
            r = ExplicitChecker(MirrorModel(b), SAFETY).run()
            te = time.perf_counter() - t0
            console.print(f"{kind.name.lower()}: explicit {r.states} states in {te:.1f}s")
            for name in CORE:
                seen: list[Discharged] = []
                t0 = time.perf_counter()
                o = induction(Unroller(b), BY_NAME[name], support(name, kind), 1, discharger=discharger,
                              on_obligation=_collect(seen))
                ti = time.perf_counter() - t0
                slow = max(seen, key=lambda d: d.seconds) if seen else None
                console.print(f"  {name}: {o.verdict} in {ti:.1f}s")
                table.add_row(kind.name.lower(), name, f"{te:.1f} ({r.states})", o.verdict, f"{ti:.1f}",
                              str(len(seen)), f"{slow.obligation} {slow.seconds:.1f}s" if slow else "-",
                              f"{ti / max(te, 1e-3):.1f}x")
    console.print(table)


if __name__ == "__main__":
    main()
