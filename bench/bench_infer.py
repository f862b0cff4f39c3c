"""Invariant inference against the hand-written invariants (issue 15): time and size, on the proof system.

For each recovery kind: one Houdini search (``checkers.symbolic.houdini.infer``) for the asked properties, its
time per stage, the number of conjuncts of the inferred invariant and of the subset minimised for the properties
proved (``houdini.minimise``, unsat cores; printed too); beside it, for each property, the
number of hand-written strengthening invariants its k-induction uses (``spec.invariants.support``) and, with
``--hand``, the time of that induction (k = 1, the same parameters). Not a timed test: figures depend on the
machine (2 cores, shared) and its load.

    python bench/bench_infer.py --recovery writethrough --property journal_well_formed
    python bench/bench_infer.py --hand            # the three core properties, both kinds, both ways (long)
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from pitmirror.checkers.symbolic.bmc import Unroller
from pitmirror.checkers.symbolic.houdini import infer
from pitmirror.checkers.symbolic.induction import Discharger, induction
from pitmirror.model.config import Bounds
from pitmirror.spec.invariants import support
from pitmirror.spec.properties import BY_NAME
from pitmirror.spec.state import RecoveryKind

CORE = ("mirror_consistent", "journal_well_formed", "replay_is_point_in_time")


def main() -> None:
    """Run the searches (and the hand-written proofs) and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--journal-capacity", type=int, default=2)
    ap.add_argument("--host-writes", type=int, default=3, help="budget of the filter's explicit exploration")
    ap.add_argument("--recovery", choices=["writethrough", "swap", "both"], default="both")
    ap.add_argument("--property", action="append", dest="props", help="default: the three core properties")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per solver call")
    ap.add_argument("--hand", action="store_true", help="also time k-induction with the hand-written invariants")
    ap.add_argument("--minimise", action="store_true", help="also minimise the invariant by unsat cores")
    args = ap.parse_args()
    props = args.props or list(CORE)
    kinds = list(RecoveryKind) if args.recovery == "both" else [RecoveryKind[args.recovery.upper()]]
    console = Console(width=200)
    table = Table(title=f"inferred vs hand-written invariants, blocks {args.blocks}, concurrency {args.concurrency}, "
                        f"journal capacity {args.journal_capacity}")
    for col in ("recovery", "property", "inferred: verdict", "conjuncts (templates + structural)",
                "minimised for what is proved", "seconds", "hand-written: invariants", "seconds"):
        table.add_column(col)
    for kind in kinds:
        b = Bounds(blocks=args.blocks, concurrency=args.concurrency, journal_capacity=args.journal_capacity,
                   host_writes=args.host_writes, recovery_kind=kind)
        t0 = time.perf_counter()
        res = infer(b, props, timeout_ms=args.timeout * 1000, minimal=args.minimise,
                    progress=lambda m: console.print(f"  {m}", highlight=False))
        took = time.perf_counter() - t0
        wf = sum(c.origin == "well_formed" for c in res.invariant)
        console.print(f"{kind.name.lower()}: {res.generated} candidates, {res.filtered} after the filter on "
                      f"{res.states} states, {len(res.invariant)} inductive after {res.rounds} queries; "
                      f"{ {k: round(v, 1) for k, v in res.seconds.items()} } {res.note}", highlight=False)
        for p in props:
            if p in res.dropped_by:  # what a reader of a "not proved" row asks first
                console.print(f"  {p}: its candidate was dropped by {res.dropped_by[p]}", highlight=False)
            hand = support(p, kind)
            hand_s = "-"
            if args.hand:
                t1 = time.perf_counter()
                with Discharger(1) as d:
                    o = induction(Unroller(b.with_(host_writes=3, markers=0), unbounded=True), BY_NAME[p], hand, 1,
                                  timeout_ms=args.timeout * 1000, discharger=d)
                hand_s = f"{time.perf_counter() - t1:.1f} ({o.verdict})"
            mwf = sum(c.origin == "well_formed" for c in res.minimal)
            mini = f"{len(res.minimal) - mwf} + {mwf}" if res.minimal else "-"
            table.add_row(kind.name.lower(), p, res.proved[p], f"{len(res.invariant) - wf} + {wf}", mini,
                          f"{took:.1f}",
                          f"{len(hand)} + well_formed + the property", hand_s)
        if res.minimal:
            console.print(f"minimised invariant ({kind.name.lower()}, {res.minimise_queries} queries):",
                          highlight=False)
            for c in res.minimal:
                if c.origin != "well_formed":
                    console.print(f"  {c.text}", highlight=False)
    console.print(table)


if __name__ == "__main__":
    main()
