"""Time to verdict per property: ``prove`` (Z3 BMC) against ``check`` (explicit BFS) on the same bounds.

For every mutant (the property it breaks, at its recovery kind) and for the correct protocol (every safety
property to a fixed depth), both checkers run in this process, one after the other, and the table shows
seconds, counterexample length and the ratio z3 / explicit measured in the same run. Not a timed test.

    python bench/bench_prove.py                 # the one-block bounds the tests use
    python bench/bench_prove.py --blocks 2      # the default block count
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from pitmirror.checkers.explicit.checker import ExplicitChecker
from pitmirror.checkers.symbolic.bmc import Unroller, bmc
from pitmirror.model.config import Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, SAFETY
from pitmirror.spec.state import RecoveryKind


def main() -> None:
    """Run the comparison and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--depth", type=int, default=4, help="BMC depth for the correct protocol")
    ap.add_argument("--skip", default="", help="comma-separated mutants to leave out")
    args = ap.parse_args()
    base = Bounds(blocks=args.blocks, values=2, host_writes=2, concurrency=1, journal_capacity=2, crashes=1,
                  path_failures=0, recoveries=1)
    table = Table(title=f"time to verdict, prove (z3) vs check (explicit), blocks={args.blocks}")
    for col in ("mutant", "property", "explicit steps", "explicit s", "z3 steps", "z3 s", "z3/explicit"):
        table.add_column(col)
    skip = set(args.skip.split(",")) if args.skip else set()
    for name, m in MUTANTS.items():
        if name == "no_remote_timeout" or name in skip:
            continue  # a liveness mutant: BMC of safety properties cannot show it
        b = base.with_(mutant=name, recovery_kind=m.recovery_kind)
        t0 = time.perf_counter()
        r = ExplicitChecker(MirrorModel(b), SAFETY, stop_when_violated=(m.breaks,)).run()
        te = time.perf_counter() - t0
        d = r.discoveries[m.breaks]
        elen = len(d.path) - 1 if d.path else -1
        t0 = time.perf_counter()
        un = Unroller(b)
        o = bmc(un, BY_NAME[m.breaks], un.enc.properties()[m.breaks], max(elen, 1))
        tz = time.perf_counter() - t0
        zlen = len(o.steps) - 1 if o.steps else -1
        table.add_row(name, m.breaks, str(elen), f"{te:.2f}", str(zlen), f"{tz:.2f}", f"{tz / max(te, 1e-3):.0f}x")
        print(f"{name}: explicit {elen} steps {te:.2f}s, z3 {zlen} steps {tz:.2f}s", flush=True)
    for kind in (RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP):
        b = base.with_(recovery_kind=kind)
        t0 = time.perf_counter()
        r = ExplicitChecker(MirrorModel(b), SAFETY).run()
        te = time.perf_counter() - t0
        un = Unroller(b)
        sym = un.enc.properties()
        for p in SAFETY:
            t0 = time.perf_counter()
            o = bmc(un, p, sym[p.name], args.depth)
            tz = time.perf_counter() - t0
            verdict = r.discoveries[p.name].verdict.value
            table.add_row(f"correct ({kind.name.lower()})", p.name, f"{verdict} (all {r.states} states)",
                          f"{te:.2f}", f"{o.verdict} to {o.depth}", f"{tz:.2f}", f"{tz / max(te, 1e-3):.0f}x")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
