"""``pitmirror fuzz`` figures: throughput, and the catch rate of every seeded bug over many seeds.

Throughput is fuzz steps (the machine's steps, ten to a Hypothesis rule call; shrinking off) per CPU-second
of this process, so the figure is the rate on one core whatever else the machine runs; the correct protocol
with both recovery kinds, every check on (abstraction compared, enabled sets compared, every safety
property). It is printed beside the rate of reference commits
measured in the same run (``--baseline REV ...``; by default ``c0e288d``, the fuzzer before issue 16:
``git archive`` into a temporary folder, run in a subprocess on the same bounds and budget), since a
CPU-second on a shared machine is worth less under load: compare within one run.

The catch rate runs every mutant of ``model.mutants.MUTANTS`` (impl and model share the bug) and every
impl-only mutant of ``impl.mutants.IMPL_ONLY_MUTANTS`` (the model stays correct: only conformance can
catch it) at the default budget, shrinking off, for ``--seeds`` seeds, and prints per mutant how many seeds
caught it and the median steps to find it. Not a timed test; run: ``python bench/bench_fuzz.py`` (the full
catch-rate table takes several CPU-minutes; ``--seeds 5`` or ``--only NAME`` for a quick look).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pitmirror.checkers.conformance.fuzz import (
    DEFAULT_EXAMPLES,
    DEFAULT_STEPS,
    FUZZ_BOUNDS,
    FuzzConfig,
    FuzzResult,
    fuzz,
    mutant_fuzz_bounds,
)
from pitmirror.impl.mutants import IMPL_ONLY_MUTANTS, IMPL_ONLY_RECOVERY
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.state import RecoveryKind

ROOT = Path(__file__).resolve().parent.parent

#: Run in the old tree by ``baseline``: the same bounds and budget, through that commit's own fuzz().
_OLD = """
import time
from pitmirror.checkers.conformance.fuzz import FUZZ_BOUNDS, FuzzConfig, fuzz
from pitmirror.spec.state import RecoveryKind
for kind in RecoveryKind:
    c0 = time.process_time()
    r = fuzz(FuzzConfig(FUZZ_BOUNDS.with_(recovery_kind=kind), examples={examples}, seed=0, shrink=False))
    print(kind.name.lower(), r.steps, time.process_time() - c0)
"""


def throughput(examples: int) -> list[tuple[str, FuzzResult]]:
    """The correct protocol, both recovery kinds, seed 0, shrinking off."""
    out = []
    for kind in RecoveryKind:
        r = fuzz(FuzzConfig(FUZZ_BOUNDS.with_(recovery_kind=kind), examples=examples, seed=0, shrink=False))
        out.append((kind.name.lower(), r))
    return out


def baseline(rev: str, examples: int) -> list[tuple[str, int, float]] | str:
    """The fuzzer of commit ``rev`` on the same budget: (kind, steps, CPU-seconds) per recovery kind, or
    why it could not run."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True)
        if archive.returncode != 0:
            return f"git archive {rev} failed: {archive.stderr.decode().strip()}"
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        run = subprocess.run([sys.executable, "-c", _OLD.format(examples=examples)], capture_output=True,
                             text=True, cwd=tmp, env={"PYTHONPATH": tmp, "PATH": "/usr/bin:/bin"})
        if run.returncode != 0:
            return f"the fuzzer of {rev} failed: {run.stderr.strip().splitlines()[-1:]}"
        rows = []
        for line in run.stdout.split("\n"):
            if line.strip():
                kind, steps, cpu = line.split()
                rows.append((kind, int(steps), float(cpu)))
        return rows


def catch_rate(name: str, impl_only: bool, seeds: int, examples: int, steps: int) -> tuple[int, list[int], float]:
    """Seeds 0..seeds-1 at this budget: how many caught it, the fuzz steps each catch took, CPU-seconds."""
    if impl_only:
        kind = RecoveryKind[IMPL_ONLY_RECOVERY.get(name, "writethrough").upper()]
        bounds, impl_mutant = FUZZ_BOUNDS.with_(recovery_kind=kind), name
    else:
        bounds, impl_mutant = mutant_fuzz_bounds(name), None
    caught, to_find, cpu = 0, [], 0.0
    for seed in range(seeds):
        r = fuzz(FuzzConfig(bounds, examples=examples, steps=steps, seed=seed, shrink=False,
                            impl_mutant=impl_mutant))
        cpu += r.cpu_seconds
        if r.failure is not None and (impl_only or r.failure.kind == "violation"):
            caught += 1
            to_find.append(r.steps)
    return caught, to_find, cpu


def main() -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds per mutant for the catch rate")
    ap.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="examples per run")
    ap.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="steps per example")
    ap.add_argument("--throughput-examples", type=int, default=DEFAULT_EXAMPLES)
    ap.add_argument("--baseline", metavar="REV", nargs="*", default=["c0e288d"],
                    help="also run the fuzzer of these commits on the same budget (default: c0e288d, before "
                         "issue 16; none: no reference)")
    ap.add_argument("--only", nargs="*", default=None, metavar="NAME", help="catch rate of these mutants only")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--no-rates", action="store_true")
    args = ap.parse_args()

    if not args.no_throughput:
        print(f"throughput: correct protocol, seed 0, {args.throughput_examples} examples x {DEFAULT_STEPS} "
              "steps, shrinking off, every check on (steps per CPU-second of this process)")
        for label, r in throughput(args.throughput_examples):
            print(f"  today     {label:<13} {r.steps_per_cpu_second:>7,.0f} steps/CPU-s  ({r.steps:>6,} steps, "
                  f"{r.cpu_seconds:5.1f} CPU-s, {r.seconds:5.1f} s wall, {'clean' if r.clean else 'FAILED'})")
        for rev in args.baseline:
            old = baseline(rev, args.throughput_examples)
            if isinstance(old, str):
                print(f"  {rev:<9} {old}")
            else:
                for label, steps, cpu in old:
                    print(f"  {rev:<9} {label:<13} {steps / max(cpu, 1e-9):>7,.0f} steps/CPU-s  "
                          f"({steps:>6,} steps, {cpu:5.1f} CPU-s)")
    if args.no_rates:
        return
    rows = [(n, False) for n in MUTANTS] + [(n, True) for n in IMPL_ONLY_MUTANTS]
    if args.only is not None:
        rows = [(n, i) for n, i in rows if n in args.only]
    print(f"\ncatch rate: seeds 0-{args.seeds - 1}, {args.examples} examples x {args.steps} steps, shrinking off")
    started = time.process_time()
    for name, impl_only in rows:
        caught, to_find, cpu = catch_rate(name, impl_only, args.seeds, args.examples, args.steps)
        median = f"{statistics.median(to_find):>7,.0f}" if to_find else "      -"
        tag = "impl-only " if impl_only else ""
        print(f"  {tag + name:<44} {caught:>3} / {args.seeds}  median steps to find {median}  "
              f"({cpu:5.1f} CPU-s)", flush=True)
    print(f"  ({time.process_time() - started:.0f} CPU-s in all)")


if __name__ == "__main__":
    main()
