"""Time to a proof on the proof system (``prove --induction``, docs/PROOFS.md): every safety property, both kinds.

For each recovery kind and property, k-induction (k = 1) on the proof system (no budgets; the parameters below)
with the property's strengthening invariants; the table shows the verdict, seconds, the number of invariants, the
proof obligations asked of the solver out of all (the others were discharged for an earlier property with fewer
invariants, ``HeldObligations``), and the slowest obligation. With ``--bounded-baseline`` it also times the
bounded system's induction of the three core properties at the same parameters (the budgets of ``Bounds()``), with
the same invariants.
Not a timed test: figures depend on the machine (2 cores here) and its load.

    python bench/bench_induction.py                      # everything at prove's defaults (about 80 s)
    python bench/bench_induction.py --core               # the three core properties only
    python bench/bench_induction.py --blocks 1 --concurrency 1   # one block, one write in flight
    python bench/bench_induction.py --write-blocks 2             # multi-block host writes and torn ones
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from pitmirror.checkers.symbolic.bmc import Unroller
from pitmirror.checkers.symbolic.induction import Discharged, Discharger, induction
from pitmirror.model.config import Bounds
from pitmirror.spec.invariants import support
from pitmirror.spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, SAFETY
from pitmirror.spec.state import RecoveryKind

CORE = ("mirror_consistent", "journal_well_formed", "replay_is_point_in_time")


def _collect(into: list[Discharged], total: list[int]) -> Callable[[Discharged, int, int], None]:
    def on(d: Discharged, n: int, of: int) -> None:
        into.append(d)
        total[:] = [of]
    return on


def main() -> None:
    """Run the proofs and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # prove --induction's defaults (the default preset's): what a user running the command gets
    ap.add_argument("--blocks", type=int, default=Bounds().blocks)
    ap.add_argument("--concurrency", type=int, default=Bounds().concurrency)
    ap.add_argument("--journal-capacity", type=int, default=Bounds().journal_capacity)
    ap.add_argument("--write-blocks", type=int, default=Bounds().write_blocks,
                    help="2 or more: multi-block host writes, and a power loss inside one at A and at R")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes for the obligations")
    ap.add_argument("--recovery", choices=["writethrough", "swap", "both"], default="both")
    ap.add_argument("--core", action="store_true", help="only the three core properties")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per obligation")
    ap.add_argument("--bounded-baseline", action="store_true",
                    help="also the bounded system's induction of the core properties")
    args = ap.parse_args()
    kinds = list(RecoveryKind) if args.recovery == "both" else [RecoveryKind[args.recovery.upper()]]
    names = list(CORE) if args.core else [p.name for p in SAFETY]
    params = dict(blocks=args.blocks, concurrency=args.concurrency, journal_capacity=args.journal_capacity,
                  write_blocks=args.write_blocks)
    table = Table(title=f"k-induction on the proof system, {params}, {args.jobs} workers")
    for col in ("recovery", "property", "system", "verdict", "seconds", "invariants", "obligations asked/all",
                "slowest"):
        table.add_column(col)
    console = Console(width=200)
    totals: dict[str, float] = {}
    started = time.perf_counter()
    with Discharger(args.jobs) as discharger:
        for kind in kinds:
            for unbounded in (True, False) if args.bounded_baseline else (True,):
                b = Bounds(recovery_kind=kind, **params)
                system = "unbounded" if unbounded else "bounded (default budgets)"
                un = Unroller(b, unbounded=unbounded)  # one per kind and system, as `prove` does
                # fewest invariants first, as `prove` does: their obligations are reused by the larger proofs
                for name in sorted(names, key=lambda n: len(support(n, kind))):
                    if not unbounded and name not in CORE:
                        continue
                    if (name, kind) in EXPECTED_TRADE_OFFS:
                        table.add_row(kind.name.lower(), name, system, "expected trade-off", "-", "-", "-", "-")
                        continue
                    seen: list[Discharged] = []
                    of: list[int] = []
                    inv = support(name, kind)
                    t0 = time.perf_counter()
                    o = induction(un, BY_NAME[name], inv, 1, discharger=discharger,
                                  timeout_ms=args.timeout * 1000, on_obligation=_collect(seen, of))
                    ti = time.perf_counter() - t0
                    totals[system] = totals.get(system, 0.0) + ti
                    if name in CORE:
                        totals[f"{system}, core"] = totals.get(f"{system}, core", 0.0) + ti
                    slow = max(seen, key=lambda d: d.seconds) if seen else None
                    console.print(f"{kind.name.lower()} {name} ({system}): {o.verdict} in {ti:.1f}s", highlight=False)
                    table.add_row(kind.name.lower(), name, system, o.verdict, f"{ti:.1f}", str(len(inv)),
                                  f"{len(seen)}/{of[0] if of else 0}",
                                  f"{slow.obligation} {slow.seconds:.1f}s" if slow else "-")
    console.print(table)
    for system, seconds in totals.items():
        console.print(f"total {system}: {seconds:.1f}s wall")
    console.print(f"whole run, worker start-up and encoding included: {time.perf_counter() - started:.1f}s wall")


if __name__ == "__main__":
    main()
