"""``pitmirror check``: the explicit-state model checker on the command line (both engines, progress, verdict
tables, counterexample traces, ``--json``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

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
    json_option,
    lit,
    make_bounds,
    out,
    results_doc,
    worst,
    write_json,
)
from pitmirror.checkers.explicit.checker import INTERRUPTED, Verdict
from pitmirror.checkers.explicit.runner import CheckJob, JobOutcome, run_jobs
from pitmirror.checkers.frontier import compiled
from pitmirror.checkers.frontier.engine import AUTO_COMPILE_AT, KERNELS, FrontierResult
from pitmirror.checkers.frontier.runner import run_frontier_jobs
from pitmirror.spec.properties import BY_NAME, PROPERTIES, Kind, not_applicable, trade_off, with_windows


@cli.command()
@bounds_options
@click.option("--recovery", type=click.Choice(sorted(KINDS)), default="both", show_default=True,
              help="recovery kind to explore; 'both' runs one exhaustive check per kind")
@click.option("--mutant", default=None, metavar="NAME", help="seed a known bug (see `pitmirror mutants`)")
@click.option("--property", "properties", multiple=True, metavar="NAME", help="check only these (repeatable)")
@click.option("--max-states", type=click.IntRange(min=1), default=None, help="stop after this many states")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("traces"),
              show_default=True, help="folder for counterexample traces")
@json_option
@click.option("--no-symmetry", is_flag=True, help="do not reduce by block and value symmetry")
@click.option("--jobs", type=click.IntRange(1, 8), default=2, show_default=True, help="worker processes")
@click.option("--engine", type=click.Choice(["frontier", "object"]), default="frontier", show_default=True,
              help="frontier: whole frontiers as arrays; object: one Python state at a time (the reference)")
@click.option("--exact", is_flag=True, help="frontier engine: keep whole states, not 64-bit fingerprints")
@click.option("--allow-unreached", is_flag=True,
              help="report a 'sometimes' witness the bounds never reach, but do not fail on it (exit 0 if all "
                   "else holds)")
@click.option("--kernel", type=click.Choice(KERNELS), default="auto", show_default=True,
              help="frontier engine: c compiles the encoding (cached per bounds), numpy evaluates it over arrays; "
                   f"auto uses a cached kernel, compiling one once a run passes {AUTO_COMPILE_AT:,} states. "
                   "Kernels are kept in $XDG_CACHE_HOME/pitmirror/kernels (~/.cache/... by default); each build "
                   f"drops those unused for {compiled.KEEP_DAYS} days and all but the {compiled.KEEP_NEWEST} most "
                   "recently used; delete the folder to clear it")
@click.option("--quiet", is_flag=True, help="no progress display")
def check(preset: str, fence: str | None, recovery: str, mutant: str | None, properties: tuple[str, ...],
          max_states: int | None, out_dir: Path, json_path: Path | None, no_symmetry: bool, jobs: int, engine: str,
          exact: bool, kernel: str, allow_unreached: bool, quiet: bool, **bounds: int | None) -> None:
    """Explore every reachable state breadth-first and check the properties (shortest counterexamples).

    The 'sometimes' properties are witnesses that the bounds are not vacuous: each is an event (a resync that
    completed, a checkpoint both arrays committed, a fault-free recovery ending in PAIR with S checked, ...)
    and its trace ends with that event's step. A witness the bounds never reach fails the check (exit 1)
    unless --allow-unreached is given; one the bounds exclude by construction (a swap witness in a
    write-through run, a marker recovery with --markers 0) is listed as not applicable."""
    check_names(mutant, properties)
    base = make_bounds(preset, fence, mutant, bounds)
    check_out_dir(out_dir)
    if engine == "frontier" and kernel == "c" and (problem := compiled.cannot_build()) is not None:
        raise UsageError(f"--kernel c: {problem}; --kernel auto runs on numpy without one")
    if json_path is not None:
        check_out_file(json_path, "--json", frozenset({out_dir}))
    # a trade-off property is checked with its window, so its label cannot hide a violation outside it
    names = with_windows(properties) if properties else tuple(p.name for p in PROPERTIES)
    # Named safety properties only: once each is violated there is nothing more to learn from this run.
    stop = names if properties and all(BY_NAME[n].kind is Kind.ALWAYS for n in names) else ()
    check_jobs = []
    skipped: dict[str, dict[str, str]] = {}  # per job: witness -> why it cannot be reached in it
    for k in KINDS[recovery]:
        kb = base.with_(recovery_kind=k)
        skipped[k.name.lower()] = {n: why for n in names if (why := not_applicable(BY_NAME[n], kb))}
        check_jobs.append(CheckJob(kb, tuple(n for n in names if n not in skipped[k.name.lower()]),
                                   symmetry=not no_symmetry, max_states=max_states, stop_when_violated=stop,
                                   label=k.name.lower()))
    started = time.perf_counter()
    with Ticker(quiet) as ticker:
        try:
            outcomes = run_with_progress(check_jobs, jobs, ticker, engine, exact, kernel)
        except (compiled.CompileError, compiled.TraceError) as e:  # --kernel c, and the kernel could not be made
            raise UsageError(f"--kernel c: {e}") from None
    runs = [_report(o, out_dir, allow_unreached, skipped.get(o.job.label, {})) for o in outcomes]
    status = worst(*(code for code, _ in runs))
    if json_path is not None:
        write_json(json_path, results_doc("check", status, time.perf_counter() - started, [r for _, r in runs]))
    sys.exit(status)


def run_with_progress(check_jobs: list[CheckJob], workers: int, ticker: Ticker, engine: str = "object",
                       exact: bool = False, kernel: str = "auto") -> list[JobOutcome]:
    """Run explicit jobs on ``engine`` with one progress line each: states, depth, frontier, states per second."""
    updates = {j.label: ticker.task(j.label) for j in check_jobs}
    started = time.perf_counter()

    def update(label: str, states: int, depth: int, frontier: int) -> None:
        rate = states / max(1e-6, time.perf_counter() - started)
        updates[label](states - frontier, states,
                       f"{states:>10,} states  depth {depth:>3}  frontier {frontier:>8,}  {rate:>9,.0f} states/s")

    if engine == "frontier":
        return run_frontier_jobs(check_jobs, update, workers=workers, exact=exact, kernel=kernel)
    return run_jobs(check_jobs, update, workers=workers)


def _trace_name(o: JobOutcome, prop: str) -> str:
    label = o.job.bounds.mutant or "correct"
    return f"{label}-{o.job.bounds.recovery_kind.name.lower()}-{prop}.json"


def _report(o: JobOutcome, out_dir: Path, allow_unreached: bool = False,
            not_applicable: dict[str, str] | None = None) -> tuple[ExitCode, dict[str, Any]]:
    """Print one job's verdicts and write its traces; its exit status and its ``--json`` run record. A witness
    not reached is a failure (the bounds are vacuous for it) unless ``allow_unreached``; the witnesses in
    ``not_applicable`` were not checked, with the reason."""
    r, b = o.result, o.job.bounds
    kind = b.recovery_kind.name.lower()
    title = f"{kind} recovery" + (f", mutant {lit(b.mutant)}" if b.mutant else "")
    out.print(f"\n[bold]{title}[/]: {r.states:,} states, {r.transitions:,} transitions, depth {r.depth}, "
              f"{r.seconds:.1f} s, {r.states_per_second:,.0f} states/s, ~{r.bytes_per_state:,.0f} bytes/state"
              f" (symmetry group {r.symmetry_group}); {lit(r.stop_reason)}")
    if isinstance(r, FrontierResult) and r.kernel:
        out.print(f"successors and properties: {lit(r.kernel)}")
    if isinstance(r, FrontierResult) and not r.exact:  # the frontier engine's fingerprints, as TLC reports them
        out.print(f"fingerprint collision probability (if 64-bit fingerprints were random): "
                  f"{r.collision_probability:.1e}; --exact rules it out")
    table = Table(show_edge=False, pad_edge=False)
    for col in ("property", "kind", "verdict", "steps"):
        table.add_column(col, no_wrap=True)
    table.add_column("note", overflow="fold")
    status = ExitCode.OK
    results: list[dict[str, Any]] = []
    traces: list[str] = []
    for name, d in r.discoveries.items():
        verdict, style, note, path, trade = d.verdict.value, "", d.note, None, False
        if d.verdict is Verdict.VIOLATED:
            path = out_dir / _trace_name(o, name)
            o.traces[name].write(path)
            reason = None if b.mutant is not None else trade_off(name, b.recovery_kind, d.path[-1][1])
            if reason is not None:
                verdict, style, trade = "violated (expected trade-off)", "yellow", True
                note = reason
            else:
                style, status = "bold red", ExitCode.VIOLATED
            traces.append(f"trace of {name}: {lit(path)}")
        elif d.verdict in (Verdict.HOLDS, Verdict.REACHED):
            style = "green"
        elif d.verdict is Verdict.NOT_REACHED:  # the bounds are vacuous for it: a failure unless allowed
            note = note or "the bounds never reach it" + (" (allowed: --allow-unreached)" if allow_unreached else "")
            style = "yellow" if allow_unreached else "bold red"
            if not allow_unreached:
                status = worst(status, ExitCode.VIOLATED)
        else:  # unknown (stopped early): nothing verified
            style, status = "yellow", worst(status, ExitCode.INCONCLUSIVE)
        steps = str(len(d.path) - 1) if d.path else ""
        table.add_row(name, d.prop.kind.value, f"[{style}]{verdict}[/]", steps, lit(note))
        results.append({"property": name, "kind": d.prop.kind.value, "verdict": d.verdict.value,
                        "expected_trade_off": trade, "steps": len(d.path) - 1 if d.path else None,
                        "trace": None if path is None else str(path), "note": note})
    for name, why in (not_applicable or {}).items():
        table.add_row(name, BY_NAME[name].kind.value, "[dim]not applicable[/]", "", lit(why))
        results.append({"property": name, "kind": BY_NAME[name].kind.value, "verdict": "not applicable",
                        "expected_trade_off": False, "steps": None, "trace": None, "note": why})
    out.print(table)
    for line in traces:  # whole, never folded or cut: a person copies the path into `trace show`
        out.print(line, soft_wrap=True)
    if r.stop_reason == INTERRUPTED:
        status = worst(status, ExitCode.INTERRUPTED)
    elif not r.complete:
        status = worst(status, ExitCode.INCONCLUSIVE)
    if not r.complete:
        out.print(f"[yellow]partial verdict: {lit(r.stop_reason)}; 'holds' is not claimed for unexplored states[/]")
    run = {"label": kind, "checker": "explicit", "bounds": b.to_json(), "seconds": round(r.seconds, 3),
           "complete": r.complete, "stop_reason": r.stop_reason,
           "counts": {"states": r.states, "transitions": r.transitions, "depth": r.depth}, "results": results}
    return status, run
