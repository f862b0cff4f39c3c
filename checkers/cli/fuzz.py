"""``pitmirror fuzz``: Hypothesis runs the reference implementation against the model (``checkers.conformance.fuzz``).

``checkers/cli.py`` registers it with one line, passing itself: ``build_fuzz(cli_module)`` builds the command
on that module's shared options (``_bounds_options``, ``make_bounds``, ``UsageError``, the consoles). This
module does not import ``checkers.cli.main``: under ``python -m pitmirror`` the running module is
``__main__``, and an import would load a second copy (and a cycle) instead of registering on the group
that runs. Exit codes as for every command: 0 clean, 1 a violation or divergence, 2 usage error.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pitmirror.checkers.conformance.fuzz import (
    DEFAULT_EXAMPLES,
    DEFAULT_SHRINKS,
    DEFAULT_STEPS,
    FUZZ_BOUNDS,
    FuzzConfig,
    FuzzResult,
    fuzz,
)
from pitmirror.impl.mutants import IMPL_ONLY_MUTANTS, IMPL_ONLY_RECOVERY
from pitmirror.model.config import BoundsError
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import TRADE_OFF_WINDOWS
from pitmirror.spec.state import RecoveryKind


def _run_one(config: FuzzConfig, quiet: bool, label: str, err: Console) -> FuzzResult:
    progress = Progress(TextColumn(f"[bold]{label:<13}"), BarColumn(bar_width=30), MofNCompleteColumn(),
                        TextColumn("examples  {task.fields[info]}"), TimeElapsedColumn(),
                        console=err, transient=True, disable=quiet)
    started = time.perf_counter()
    with progress:
        task = progress.add_task("", total=config.examples, info="")

        def update(examples: int, steps: int) -> None:
            # Hypothesis also runs examples it discards (a precondition it cannot meet) and, after a failure,
            # shrinking runs: the bar counts every run, capped at the budget; the runs are shown as they are
            rate = steps / max(1e-6, time.perf_counter() - started)
            info = f"({examples:,} runs)  {steps:>8,} steps  {rate:>6,.0f} steps/s"
            progress.update(task, completed=min(examples, config.examples), info=info)

        return fuzz(config, progress=update)


def _report(result: FuzzResult, label: str, out_dir: Path, out: Console, usage_error: Any) -> int:
    b = result.config.bounds
    for p, reason in result.excluded:
        window = TRADE_OFF_WINDOWS.get(p.name)
        out.print(f"[yellow]{label}: {p.name} not checked: the documented trade-off of "
                  f"{b.recovery_kind.name.lower()} recovery ({escape(reason)})"
                  + (f"; its window, {window}, is checked" if window else "") + "[/]")
    summary = (f"{result.examples} runs (examples, discarded and shrinking ones included), {result.steps:,} steps "
               f"in {result.seconds:.1f} s "
               f"({result.steps_per_second:,.0f} steps/s)")
    f = result.failure
    if f is None:
        out.print(f"[green]{label}: clean[/]: impl == model and every checked property held after every step; "
                  + summary)
        return 0
    what = {"violation": f"{f.prop.name if f.prop else '?'} violated", "divergence": "impl and model diverge",
            "error": "the impl raised an untyped error"}[f.kind]
    out.print(f"[bold red]{label}: {escape(what)}[/] ({summary})")
    out.print(escape(f.message))
    if f.program:
        shrunk = "shrunk" if result.config.shrink else "unshrunk (--shrinks 0)"
        out.print(f"[bold]Hypothesis's {shrunk} reproduction:[/]")
        for line in f.program:
            out.print(escape(line))
    if f.fields:
        out.print(f"first divergent field{'s' if len(f.fields) > 1 else ''}: {', '.join(f.fields)}")
    if f.actions:
        out.print(f"[bold]the shrunk run in the protocol's words ({len(f.actions)} steps):[/]")
        for line in f.script():
            out.print(escape(line))
    if f.trace is not None:
        who = result.config.impl_mutant or b.mutant or "correct"
        name = f"fuzz-{who}-{b.recovery_kind.name.lower()}-{f.prop.name if f.prop else 'divergence'}"
        path = out_dir / f"{name}.json"
        try:
            f.trace.write(path)
        except OSError as e:
            raise usage_error(f"cannot write {path}: {e.strerror}") from None
        out.print(f"trace written to {escape(str(path))} (pitmirror trace show / replay / render)")
    return 1


def build_fuzz(m: ModuleType) -> click.Command:
    """The ``fuzz`` command, built on the shared options and helpers of the cli module ``m``."""
    bounds_options: Callable[[Callable[..., Any]], Callable[..., Any]] = m._bounds_options

    @click.command("fuzz")
    @click.option("--examples", type=click.IntRange(1, 1_000_000), default=DEFAULT_EXAMPLES, show_default=True,
                  help="Hypothesis examples (generated runs) per recovery kind")
    @click.option("--steps", type=click.IntRange(1, 10_000), default=DEFAULT_STEPS, show_default=True,
                  help="steps per example")
    @click.option("--seed", type=int, default=0, show_default=True, help="the run's seed: same seed, same run")
    @click.option("--mutant", default=None, metavar="NAME", help="run a seeded bug (impl and model get the same)")
    @click.option("--recovery", type=click.Choice(sorted(m.KINDS)), default=None,
                  help="recovery kind(s) [default: the mutant's kind; both for the correct protocol]")
    @bounds_options
    @click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("traces"),
                  show_default=True, help="folder for the trace of a failing run")
    @click.option("--shrinks", type=click.IntRange(0, 100_000), default=DEFAULT_SHRINKS, show_default=True,
                  help="shrink budget: successful shrinks of a failure (0: no shrinking); a count, not a "
                       "clock, so a seed gives the same trace on every machine")
    @click.option("--shrink-seconds", type=click.IntRange(0, 3600), default=None,
                  help="also cap shrinking by wall-clock seconds (0: no shrinking) [default: no cap]")
    @click.option("--impl-mutant", default=None, metavar="NAME",
                  help="run a bug of the implementation alone against the correct model: "
                       + ", ".join(IMPL_ONLY_MUTANTS))
    @click.option("--no-enabled-check", is_flag=True,
                  help="do not require the impl's enabled actions to equal the model's after each step")
    @click.option("--quiet", is_flag=True, help="no progress display")
    def fuzz_command(examples: int, steps: int, seed: int, mutant: str | None, recovery: str | None, preset: str,
                     fence: str | None, out_dir: Path, shrinks: int, shrink_seconds: int | None,
                     impl_mutant: str | None, no_enabled_check: bool, quiet: bool, **bounds: int | None) -> None:
        """Stateful fuzzing: Hypothesis runs impl against model.

        Every step is one the model enables, taken on both; after each, abstraction(impl) == model state and
        every safety property holds (the same predicates, on the model's state and the impl's). Host reads, bad
        requests (a typed SCSI refusal that changes nothing) and drains (a host write still pending with the
        path up is stuck forever) are rules too. Bounds start from the fuzz defaults (larger budgets than
        check's) unless --preset is given. Exit 0 clean, 1 violation or divergence, 2 usage error."""
        m._check_names(mutant, ())
        if impl_mutant is not None and impl_mutant not in IMPL_ONLY_MUTANTS:
            raise m.UsageError(f"unknown impl-only mutant {impl_mutant!r}; valid: {', '.join(IMPL_ONLY_MUTANTS)}")
        if impl_mutant is not None and mutant is not None:
            raise m.UsageError("--impl-mutant runs against the correct model: give it without --mutant")
        ctx = click.get_current_context()
        if ctx.get_parameter_source("preset") == ParameterSource.DEFAULT:
            # a fuzz run is a walk, not a search: start from FUZZ_BOUNDS, with the same overrides make_bounds takes
            changes = {k: v for k, v in bounds.items() if v is not None}
            if fence is not None:
                changes["fence_policies"] = m.FENCES[fence]
            try:
                start = FUZZ_BOUNDS.with_(mutant=mutant, **changes)
            except BoundsError as e:
                raise m.UsageError(str(e)) from None
        else:
            start = m.make_bounds(preset, fence, mutant, bounds)
        kinds: tuple[RecoveryKind, ...]
        if recovery is None and impl_mutant is not None:
            kinds = (RecoveryKind[IMPL_ONLY_RECOVERY.get(impl_mutant, "writethrough").upper()],)
        elif recovery is None:
            kinds = (MUTANTS[mutant].recovery_kind,) if mutant else (RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP)
        else:
            kinds = m.KINDS[recovery]
        status = 0
        for kind in kinds:
            label = kind.name.lower()
            config = FuzzConfig(start.with_(recovery_kind=kind), examples=examples, steps=steps, seed=seed,
                                check_enabled=not no_enabled_check, shrink=shrinks > 0 and shrink_seconds != 0,
                                shrinks=shrinks, shrink_seconds=shrink_seconds, impl_mutant=impl_mutant)
            result = _run_one(config, quiet, label, m.err)
            status = max(status, _report(result, label, out_dir, m.out, m.UsageError))
        sys.exit(status)

    return fuzz_command
