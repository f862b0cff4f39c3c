"""``pitmirror fuzz``: Hypothesis runs the reference implementation against the model (``checkers.conformance.fuzz``).

Exit codes as every command (``common.ExitCode``): 0 clean, 1 a violation or divergence, 2 usage error, 130
interrupted. A run is reproduced from its seed: no Hypothesis example database unless ``--database DIR``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from pitmirror.checkers.cli.common import (
    KINDS,
    ExitCode,
    Ticker,
    UsageError,
    bounds_options,
    check_names,
    check_out_dir,
    check_out_file,
    cli,
    ctrl_c_pressed,
    is_ctrl_c,
    json_option,
    lit,
    make_bounds,
    out,
    remembering_ctrl_c,
    results_doc,
    worst,
    write_json,
)
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
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import TRADE_OFF_WINDOWS
from pitmirror.spec.state import RecoveryKind


def _run_one(config: FuzzConfig, ticker: Ticker, label: str) -> FuzzResult:
    update = ticker.task(label, total=config.examples)
    started = time.perf_counter()

    def progress(examples: int, steps: int) -> None:
        if ctrl_c_pressed():
            raise KeyboardInterrupt  # again: the first may have been dropped in a finalizer (``remembering_ctrl_c``)
        # Hypothesis also runs examples it discards and, after a failure, shrinking runs: the budget is the
        # total until the runs pass it, then the total grows with them (a bar must not sit at 150/150
        # while the run goes on)
        rate = steps / max(1e-6, time.perf_counter() - started)
        phase = "runs" if examples <= config.examples else "runs (beyond the examples: discarded or shrinking)"
        update(examples, max(examples, config.examples), f"{phase}  {steps:>8,} steps  {rate:>6,.0f} steps/s")

    with remembering_ctrl_c():  # already so under ``main``; also when the command is invoked on its own
        return fuzz(config, progress=progress)


def _report(result: FuzzResult, label: str, out_dir: Path) -> tuple[ExitCode, dict[str, Any]]:
    b = result.config.bounds
    for p, reason in result.excluded:
        window = TRADE_OFF_WINDOWS.get(p.name)
        out.print(f"[yellow]{label}: {p.name} not checked: the documented trade-off of "
                  f"{b.recovery_kind.name.lower()} recovery ({lit(reason)})"
                  + (f"; its window, {window}, is checked" if window else "") + "[/]")
    summary = (f"{result.examples} runs (examples, discarded and shrinking ones included), {result.steps:,} steps "
               f"in {result.seconds:.1f} s "
               f"({result.steps_per_second:,.0f} steps/s)")
    f = result.failure
    if f is None:
        out.print(f"[green]{label}: clean[/]: impl == model and every checked property held after every step; "
                  + summary)
        return ExitCode.OK, _run_record(result, label, None)
    what = {"violation": f"{f.prop.name if f.prop else '?'} violated", "divergence": "impl and model diverge",
            "error": "the impl raised an untyped error"}[f.kind]
    out.print(f"[bold red]{label}: {lit(what)}[/] ({summary})")
    out.print(lit(f.message))
    if f.program:
        shrunk = "shrunk" if result.config.shrink else "unshrunk (--shrinks 0)"
        out.print(f"[bold]Hypothesis's {shrunk} reproduction:[/]")
        for line in f.program:
            out.print(lit(line))
    if f.fields:
        out.print(f"first divergent field{'s' if len(f.fields) > 1 else ''}: {lit(', '.join(f.fields))}")
    if f.actions:
        out.print(f"[bold]the shrunk run in the protocol's words ({len(f.actions)} steps):[/]")
        for line in f.script():
            out.print(lit(line))
    if f.trace is not None:
        who = result.config.impl_mutant or b.mutant or "correct"
        name = f"fuzz-{who}-{b.recovery_kind.name.lower()}-{f.prop.name if f.prop else 'divergence'}"
        path = out_dir / f"{name}.json"
        try:
            f.trace.write(path)
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror}") from None
        out.print(f"trace written to {lit(path)} (pitmirror trace show / replay / render)", soft_wrap=True)
        return ExitCode.VIOLATED, _run_record(result, label, path)
    return ExitCode.VIOLATED, _run_record(result, label, None)


def _run_record(result: FuzzResult, label: str, path: Path | None) -> dict[str, Any]:
    """One recovery kind's run for ``--json``."""
    f = result.failure
    results: list[dict[str, Any]] = [
        {"property": p.name, "kind": p.kind.value, "verdict": "not checked", "expected_trade_off": True,
         "note": reason} for p, reason in result.excluded]
    if f is None:
        results.append({"property": None, "verdict": "clean", "note": "impl == model, every checked property held"})
    else:
        results.append({"property": f.prop.name if f.prop else None, "verdict": f.kind, "step": f.step,
                        "steps": None if f.trace is None else len(f.trace.steps) - 1,
                        "trace": None if path is None else str(path), "note": f.message})
    c = result.config
    return {"label": label, "checker": "fuzz", "bounds": c.bounds.to_json(), "seconds": round(result.seconds, 3),
            "complete": True, "seed": c.seed,
            "counts": {"runs": result.examples, "steps": result.steps, "examples": c.examples}, "results": results}


@cli.command("fuzz")
@click.option("--examples", type=click.IntRange(1, 1_000_000), default=DEFAULT_EXAMPLES, show_default=True,
              help="Hypothesis examples (generated runs) per recovery kind")
@click.option("--steps", type=click.IntRange(1, 10_000), default=DEFAULT_STEPS, show_default=True,
              help="steps per example")
@click.option("--seed", type=int, default=0, show_default=True, help="the run's seed: same seed, same run")
@click.option("--mutant", default=None, metavar="NAME", help="run a seeded bug (impl and model get the same)")
@click.option("--recovery", type=click.Choice(sorted(KINDS)), default=None,
              help="recovery kind(s) [default: the mutant's kind; both for the correct protocol]")
@bounds_options
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("traces"),
              show_default=True, help="folder for the trace of a failing run")
@json_option
@click.option("--database", "database", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="keep Hypothesis's example database in DIR (default: none, so a seed always gives the same run)")
@click.option("--shrinks", type=click.IntRange(0, 100_000), default=DEFAULT_SHRINKS, show_default=True,
              help="shrink budget: successful shrinks of a failure (0: no shrinking); a count, not a "
                   "clock, so a seed gives the same trace on every machine")
@click.option("--shrink-seconds", type=click.IntRange(0, 3600), default=None,
              help="also cap shrinking by wall-clock seconds (0: no shrinking) [default: no cap]")
@click.option("--impl-mutant", default=None, metavar="NAME",
              help="run a bug of the implementation alone against the correct model: " + ", ".join(IMPL_ONLY_MUTANTS))
@click.option("--no-enabled-check", is_flag=True,
              help="do not require the impl's enabled actions to equal the model's after each step")
@click.option("--quiet", is_flag=True, help="no progress display")
def fuzz_command(examples: int, steps: int, seed: int, mutant: str | None, recovery: str | None, preset: str,
                 fence: str | None, out_dir: Path, json_path: Path | None, database: Path | None,
                 shrinks: int, shrink_seconds: int | None, impl_mutant: str | None, no_enabled_check: bool,
                 quiet: bool, **bounds: int | None) -> None:
    """Stateful fuzzing: Hypothesis runs impl against model.

    Every step is one the model enables, taken on both; after each, abstraction(impl) == model state and
    every safety property holds (the same predicates, on the model's state and the impl's). Host reads, bad
    requests (a typed SCSI refusal that changes nothing) and drains (a host write still pending with the
    path up is stuck forever) are rules too. Bounds start from the fuzz defaults (larger budgets than
    check's) unless --preset is given."""
    check_names(mutant, ())
    if impl_mutant is not None and impl_mutant not in IMPL_ONLY_MUTANTS:
        raise UsageError(f"unknown impl-only mutant {impl_mutant!r}; valid: {', '.join(IMPL_ONLY_MUTANTS)}")
    if impl_mutant is not None and mutant is not None:
        raise UsageError("--impl-mutant runs against the correct model: give it without --mutant")
    ctx = click.get_current_context()
    # a fuzz run is a walk, not a search: it starts from FUZZ_BOUNDS unless a preset is named
    start = FUZZ_BOUNDS if ctx.get_parameter_source("preset") == ParameterSource.DEFAULT else None
    base = make_bounds(preset, fence, mutant, bounds, start=start)
    check_out_dir(out_dir)
    if json_path is not None:
        check_out_file(json_path, "--json", frozenset({out_dir}))
    if database is not None:
        check_out_dir(database, "--database")
    kinds: tuple[RecoveryKind, ...]
    if recovery is None and impl_mutant is not None:
        kinds = (RecoveryKind[IMPL_ONLY_RECOVERY.get(impl_mutant, "writethrough").upper()],)
    elif recovery is None:
        kinds = (MUTANTS[mutant].recovery_kind,) if mutant else (RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP)
    else:
        kinds = KINDS[recovery]
    status = ExitCode.OK
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for kind in kinds:
            label = kind.name.lower()
            config = FuzzConfig(base.with_(recovery_kind=kind), examples=examples, steps=steps, seed=seed,
                                check_enabled=not no_enabled_check, shrink=shrinks > 0 and shrink_seconds != 0,
                                shrinks=shrinks, shrink_seconds=shrink_seconds, impl_mutant=impl_mutant,
                                database=None if database is None else str(database))
            with Ticker(quiet) as ticker:
                result = _run_one(config, ticker, label)
            code, run = _report(result, label, out_dir)
            status = worst(status, code)
            runs.append(run)
    except BaseException as e:
        if not is_ctrl_c(e):
            raise
        out.print("[yellow]interrupted (Ctrl-C)[/]: " + (f"{len(runs)} of {len(kinds)} recovery kinds done"))
        status = worst(status, ExitCode.INTERRUPTED)
    if json_path is not None:
        write_json(json_path, results_doc("fuzz", status, time.perf_counter() - started, runs))
    sys.exit(status)
