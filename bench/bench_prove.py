"""Time to verdict per property: ``prove`` (Z3 BMC) against ``check`` (explicit BFS) on the same bounds, each
BMC strategy against the others and against an older commit's BMC.

For every mutant (the property it breaks, at its recovery kind) and for the correct protocol (every safety
property to a fixed depth), the explicit checker and today's BMC run in this process, one after the other,
once per strategy (``--strategy``, default both): ``up`` within ``--mutant-depth`` steps (default the
scorecard's 12: the depth of the violation not known), ``down`` from the explicit checker's length (known:
one sat and one unsat query) for the mutants, and from ``--depth`` for the correct protocol. ``--baseline
REV`` (default: the commit before the stutter-step search, issue 15) runs that commit's own ``bmc`` on the
same bounds and depths in a subprocess (``git archive`` into a temporary folder), row by row right after
today's, so the old and new figures of a row come from one run at about the same load. Times are
CPU-seconds of the process (the machine is shared, so wall time says more about the neighbours than about
the solver). The queries are over bit-vectors (``bmc_all``'s default); ``--integers`` also runs each
strategy over integers (``bitvectors=False``, the queries before the translation) right after, in the same
process. The issue-15 goal is each mutant's shortest violation in at most 3x the explicit time. Not a timed
test.

    python bench/bench_prove.py                       # the one-block bounds the tests use, old beside new
    python bench/bench_prove.py --baseline ''         # today's figures only
    python bench/bench_prove.py --only recovery_off_by_one replay_out_of_order --strategy up
    python bench/bench_prove.py --baseline '' --strategy down --integers   # bit-vectors against integers
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pitmirror.checkers.explicit.checker import ExplicitChecker
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.checkers.symbolic.bmc import SCORECARD_DEPTH, STRATEGIES, Unroller, bmc, bmc_all
from pitmirror.model.config import RANGES, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, SAFETY
from pitmirror.spec.state import RecoveryKind

ROOT = Path(__file__).resolve().parent.parent
#: The last commit before stutter steps and the search over depths (issue 15): one solve-eqs solver per
#: depth, each asking for a violation at exactly that depth, from 0 up (584ad18, before that: one incremental
#: solver for every depth and the initial states a disjunction of whole vectors).
DEFAULT_BASELINE = "db52bfb"

#: Run in the old tree: that commit's bmc(), per mutant at the depth given, then every safety property of
#: the correct protocol per kind asked (with bmc_all where the commit has it, as its ``prove`` did; else one
#: by one); one JSON line per row, CPU-seconds.
_OLD = """
import json, sys, time
from pitmirror.checkers.symbolic import bmc as B
from pitmirror.checkers.symbolic.bmc import Unroller, bmc
from pitmirror.model.config import Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import BY_NAME, SAFETY
from pitmirror.spec.state import RecoveryKind
import inspect
job = json.loads(sys.argv[1])
base = Bounds(**job["bounds"])
# from the stutter steps on, bmc needs them (the search order 'up', its default, as the scorecard uses)
kw = {"stutter": True} if "stutter" in inspect.signature(Unroller).parameters else {}
for name, depth in job["mutants"]:
    m = MUTANTS[name]
    c0 = time.process_time()
    un = Unroller(m.exposed_in(base), **kw)
    o = bmc(un, BY_NAME[m.breaks], un.enc.properties()[m.breaks], depth)
    print(json.dumps([name, len(o.steps) - 1 if o.steps else -1, time.process_time() - c0]), flush=True)
for kind in (RecoveryKind[k] for k in job["kinds"]):
    c0 = time.process_time()
    un = Unroller(base.with_(recovery_kind=kind), **kw)
    sym = un.enc.properties()
    if hasattr(B, "bmc_all"):
        B.bmc_all(un, SAFETY, sym, job["depth"])
    else:
        for p in SAFETY:
            bmc(un, p, sym[p.name], job["depth"])
    print(json.dumps(["correct " + kind.name.lower(), -1, time.process_time() - c0]), flush=True)
"""


class Baseline:
    """Commit ``rev``'s tree, extracted once (``git archive``); ``run`` times its BMC on some rows in a
    subprocess. The bench asks it row by row, right after today's BMC of the same row, so both see about the
    same load on the shared machine."""

    def __init__(self, rev: str, bounds: Bounds, depth: int, timeout_s: float) -> None:
        self.rev, self.depth, self.timeout_s = rev, depth, timeout_s
        self.bounds = {k: getattr(bounds, k) for k in ("blocks", "values", "host_writes", "concurrency",
                                                       "journal_capacity", "crashes", "path_failures", "recoveries")}
        self._tmp = tempfile.TemporaryDirectory()
        self.notes: list[str] = []
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True)
        if archive.returncode != 0:
            raise SystemExit(f"git archive {rev} failed: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", self._tmp.name], input=archive.stdout, check=True)

    def run(self, mutants: list[tuple[str, int]], kinds: list[RecoveryKind]) -> dict[str, float]:
        """CPU-seconds of the old BMC per row (a mutant's name, or ``correct <kind>``); what could not run is
        left out and said in ``notes``."""
        job = {"bounds": self.bounds, "mutants": mutants, "kinds": [k.name for k in kinds], "depth": self.depth}
        tmp = self._tmp.name
        try:
            run = subprocess.run([sys.executable, "-c", _OLD, json.dumps(job)], capture_output=True, text=True,
                                 cwd=tmp, env={"PYTHONPATH": tmp, "PATH": "/usr/bin:/bin"}, timeout=self.timeout_s)
            stdout = run.stdout
            if run.returncode != 0:
                self.notes.append(f"the BMC of {self.rev} failed: {run.stderr.strip().splitlines()[-1:]}")
        except subprocess.TimeoutExpired as e:
            stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            self.notes.append(f"the BMC of {self.rev} stopped after {self.timeout_s:.0f} s (--old-timeout)")
        rows: dict[str, float] = {}
        for line in stdout.splitlines():
            if line.strip():
                name, _, cpu = json.loads(line)
                rows[name] = cpu
        return rows

    def close(self) -> None:
        """Remove the extracted tree."""
        self._tmp.cleanup()


def _bmc_row(b: Bounds, prop: str, depth: int, strategy: str, bitvectors: bool = True) -> tuple[int, float]:
    """Steps of the violation BMC finds (-1: none) and its CPU-seconds, building the encoding included."""
    c0 = time.process_time()
    un = Unroller(b, stutter=True)
    o = bmc(un, BY_NAME[prop], un.enc.properties()[prop], depth, strategy=strategy, bitvectors=bitvectors)
    return (len(o.steps) - 1 if o.steps else -1), time.process_time() - c0


def main() -> None:
    """Run the comparison and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="BOUND=N",
                    help="raise or lower one more bound of the base bounds (repeatable), e.g. --set concurrency=3")
    ap.add_argument("--engine", choices=("object", "frontier"), default="object",
                    help="the explicit engine to compare with: the object engine (the earlier tables) or the "
                         "frontier engine (pitmirror check's default, compiled kernel)")
    ap.add_argument("--depth", type=int, default=4, help="BMC depth for the correct protocol")
    ap.add_argument("--mutant-depth", type=int, default=SCORECARD_DEPTH,
                    help=f"the depth of strategy up (and of the baseline) for a mutant (default {SCORECARD_DEPTH})")
    ap.add_argument("--strategy", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    ap.add_argument("--skip", default="", help="comma-separated mutants to leave out")
    ap.add_argument("--only", nargs="*", default=None, metavar="NAME", help="these mutants only")
    ap.add_argument("--baseline", metavar="REV", default=DEFAULT_BASELINE,
                    help=f"also time this commit's BMC ('' for none; default {DEFAULT_BASELINE})")
    ap.add_argument("--old-timeout", type=float, default=900, help="seconds for the baseline's BMC of one row")
    ap.add_argument("--integers", action="store_true",
                    help="also run each strategy with the queries over integers (bmc_all(bitvectors=False)), "
                         "right after the bit-vector ones")
    args = ap.parse_args()
    # each column: a strategy, over bit-vectors (the default) or integers
    columns = [(st, True) for st in args.strategy] + ([(st, False) for st in args.strategy] if args.integers else [])
    label = {c: c[0] if c[1] else f"{c[0]} int" for c in columns}
    base = Bounds(blocks=args.blocks, values=2, host_writes=2, concurrency=1, journal_capacity=2, crashes=1,
                  path_failures=0, recoveries=1)
    try:
        base = base.with_(**{k: int(v) for k, v in (o.split("=", 1) for o in args.overrides)})
    except (ValueError, TypeError) as e:
        ap.error(f"--set: {e}")
    checker = FrontierChecker if args.engine == "frontier" else ExplicitChecker
    skip = set(args.skip.split(",")) if args.skip else set()
    bl = Baseline(args.baseline, base, args.depth, args.old_timeout) if args.baseline else None
    old: dict[str, float] = {}
    # name, property, explicit, s, {strategy: (result, s)}
    rows: list[tuple[str, str, str, float, dict[str, tuple[str, float]]]] = []
    for name, m in MUTANTS.items():
        if name == "no_remote_timeout" or name in skip or (args.only is not None and name not in args.only):
            continue  # a liveness mutant: BMC of safety properties cannot show it
        b = m.exposed_in(base)  # the bounds the mutant needs (two blocks for a mixed image, ...)
        c0 = time.process_time()
        r = checker(MirrorModel(b), SAFETY, stop_when_violated=(m.breaks,)).run()
        te = time.process_time() - c0
        d = r.discoveries[m.breaks]
        elen = len(d.path) - 1 if d.path else -1
        z: dict[str, tuple[str, float]] = {}
        for strategy, bits in columns:
            zlen, tz = _bmc_row(b, m.breaks, args.mutant_depth if strategy == "up" else max(elen, 1), strategy, bits)
            z[label[strategy, bits]] = (f"{zlen} steps", tz)
        rows.append((name, m.breaks, f"{elen} steps", te, z))
        if bl is not None:  # the old BMC stops at the first violation: the depth is only its bound
            old.update(bl.run([(name, args.mutant_depth)], []))
        print(f"{name}: explicit {elen} steps {te:.2f}s, "
              + ", ".join(f"z3 {k} {v[0]} {v[1]:.2f}s" for k, v in z.items())
              + (f", z3 {args.baseline} {old[name]:.2f}s" if name in old else ""), flush=True)
    if args.only is None:
        for kind in (RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP):
            b = base.with_(recovery_kind=kind)
            c0 = time.process_time()
            r = checker(MirrorModel(b), SAFETY).run()
            te = time.process_time() - c0
            z = {}
            for strategy, bits in columns:
                c0 = time.process_time()
                un = Unroller(b, stutter=True)
                outcomes = bmc_all(un, SAFETY, un.enc.properties(), args.depth, strategy=strategy, bitvectors=bits)
                held = sum(o.verdict == "holds" for o in outcomes.values())
                z[label[strategy, bits]] = (f"{held} hold to {args.depth}", time.process_time() - c0)
            row = f"correct {kind.name.lower()}"
            rows.append((row, f"all {len(SAFETY)} safety", f"all {r.states} states", te, z))
            if bl is not None:
                old.update(bl.run([], [kind]))
            print(f"{row}: explicit {te:.2f}s, " + ", ".join(f"z3 {k} {v[1]:.2f}s" for k, v in z.items())
                  + (f", z3 {args.baseline} {old[row]:.2f}s" if row in old else ""), flush=True)
    table = Table(title=f"CPU-seconds to verdict, prove (z3) vs check ({args.engine} engine), "
                        f"{' '.join(f'{k}={getattr(base, k)}' for k in RANGES)}; "
                        f"up within {args.mutant_depth} steps, down from the explicit length")
    cols = ["mutant", "property", "explicit", "explicit s"]
    if args.baseline:
        cols += [f"z3 {args.baseline} s"]
    for c in columns:
        cols += [f"z3 {label[c]}", f"{label[c]} s", f"{label[c]}/explicit"]
    if args.integers:
        cols += [f"{st} int/{st}" for st in args.strategy]
    if args.baseline and "up" in args.strategy:
        cols += ["old/up"]
    for col in cols:
        table.add_column(col)
    for name, prop, ex, te, z in rows:
        cells = [name, prop, ex, f"{te:.2f}"]
        if args.baseline:
            cells.append(f"{old[name]:.2f}" if name in old else "-")
        for c in columns:
            res, tz = z[label[c]]
            cells += [res, f"{tz:.2f}", f"{tz / max(te, 1e-3):.1f}x"]
        if args.integers:
            cells += [f"{z[st + ' int'][1] / max(z[st][1], 1e-3):.1f}x" for st in args.strategy]
        if args.baseline and "up" in args.strategy:
            cells.append(f"{old[name] / max(z['up'][1], 1e-3):.2f}x" if name in old else "-")
        table.add_row(*cells)
    Console(width=220).print(table)
    if bl is not None:
        for note in bl.notes:
            print(note)
        bl.close()


if __name__ == "__main__":
    main()
