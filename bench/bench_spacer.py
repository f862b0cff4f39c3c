"""Z3's Spacer (constrained Horn clauses) on the proof system (issue 15): what it answers, and in what time.

For each property asked (default: the three core properties) and each recovery kind, ``spacer.spacer`` poses
Init => Inv, Inv & T => Inv', Inv => P & well_formed over the one transition relation of
``checkers.symbolic.encoding`` and prints Spacer's verdict (proved / refuted / unknown), its time and the
invariant it found, if any. ``--sanity`` also asks two plain facts: ``next_seq <= 2`` (false: three host writes
break it, a shallow counterexample) and ``base_seq < next_seq`` (true), to tell "the property is hard" from "the
encoding is too large for the engine". Not a timed test: figures depend on the machine (2 cores, shared).

    python bench/bench_spacer.py --recovery writethrough --property journal_well_formed --timeout 300
    python bench/bench_spacer.py --sanity --timeout 60
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from pitmirror.checkers.symbolic.spacer import SpacerResult, spacer
from pitmirror.model.config import Bounds
from pitmirror.spec.state import RecoveryKind

CORE = ("mirror_consistent", "journal_well_formed", "replay_is_point_in_time")


def main() -> None:
    """Ask Spacer for each property and kind; print the table (and any invariant found)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--journal-capacity", type=int, default=2)
    ap.add_argument("--recovery", choices=["writethrough", "swap", "both"], default="writethrough")
    ap.add_argument("--property", action="append", dest="props", help="default: the three core properties")
    ap.add_argument("--sanity", action="store_true", help="ask two plain facts instead (see above)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per property")
    args = ap.parse_args()
    kinds = list(RecoveryKind) if args.recovery == "both" else [RecoveryKind[args.recovery.upper()]]
    console = Console(width=200)
    table = Table(title=f"Spacer on the proof system, blocks {args.blocks}, concurrency {args.concurrency}, "
                        f"journal capacity {args.journal_capacity}, {args.timeout} s each")
    for col in ("recovery", "property", "verdict", "seconds", "invariant (conjuncts)", "reason"):
        table.add_column(col)
    for kind in kinds:
        b = Bounds(blocks=args.blocks, concurrency=args.concurrency, journal_capacity=args.journal_capacity,
                   recovery_kind=kind)
        results: list[SpacerResult] = []
        if args.sanity:
            results.append(spacer(b, lambda s: s["next_seq"] <= 2, args.timeout * 1000, "next_seq <= 2 (false)"))
            results.append(spacer(b, lambda s: s["base_seq"] < s["next_seq"], args.timeout * 1000,
                                  "base_seq < next_seq (true)"))
        else:
            results = [spacer(b, p, args.timeout * 1000) for p in args.props or CORE]
        for r in results:
            table.add_row(kind.name.lower(), r.prop, r.verdict, f"{r.seconds:.1f}",
                          str(r.invariant_size) if r.verdict == "proved" else "-", r.reason)
            console.print(f"{kind.name.lower()} {r.prop}: {r.verdict} in {r.seconds:.1f} s {r.reason}",
                          highlight=False)
            if r.invariant:
                console.print(r.invariant, highlight=False)
    console.print(table)


if __name__ == "__main__":
    main()
