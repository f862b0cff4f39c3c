"""Throughput of ``pitmirror fuzz``: Hypothesis steps per second, impl and model in lockstep with every check
on (abstraction compared, enabled sets compared, every safety property on both sides). The correct protocol
for both recovery kinds, and a few mutants (shrinking off: the time to find, not to shrink). Not a timed
test; run: ``python bench/bench_fuzz.py``."""

from __future__ import annotations

from pitmirror.checkers.conformance.fuzz import FUZZ_BOUNDS, FuzzConfig, FuzzResult, fuzz
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.state import RecoveryKind


def bench(mutant: str | None, kind: RecoveryKind, examples: int = 100, check_enabled: bool = True) -> FuzzResult:
    """One seeded run at the fuzz default bounds."""
    bounds = FUZZ_BOUNDS.with_(mutant=mutant, recovery_kind=kind)
    return fuzz(FuzzConfig(bounds, examples=examples, seed=0, shrink=False, check_enabled=check_enabled))


def main() -> None:
    """Print the numbers."""
    rows: list[tuple[str, FuzzResult]] = []
    for kind in RecoveryKind:
        rows.append((f"correct, {kind.name.lower()}", bench(None, kind)))
    rows.append(("correct, writethrough, no enabled-set check", bench(None, RecoveryKind.WRITETHROUGH,
                                                                       check_enabled=False)))
    for name in ("recovery_off_by_one", "rebuild_from_primary", "no_remote_timeout"):
        rows.append((f"mutant {name}", bench(name, MUTANTS[name].recovery_kind)))
    for label, r in rows:
        found = "clean" if r.failure is None else f"found {r.failure.prop.name if r.failure.prop else 'divergence'}"
        print(f"{label:<45} {r.steps_per_second:>6,.0f} steps/s  ({r.steps:>6,} steps, {r.examples:>4} runs, "
              f"{r.seconds:5.1f} s, {found})")


if __name__ == "__main__":
    main()
