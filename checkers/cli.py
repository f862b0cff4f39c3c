"""The ``pitmirror`` command line.

Exit codes: 0 when every checked property holds (an expected trade-off shown as such), 1 when a property is
violated, 2 for a usage error (bad bounds, unknown mutant or property, a malformed or foreign trace file).
Bad input never shows a Python traceback; set ``PITMIRROR_DEBUG=1`` to see one for an internal error.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from checkers import trace as tr
from checkers.explicit import Verdict
from checkers.runner import CheckJob, JobOutcome, run_jobs
from model.config import PRESETS, RANGES, Bounds, BoundsError
from model.mutants import MUTANTS
from spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, PROPERTIES, Kind
from spec.state import FencePolicy, RecoveryKind

# Piped output (CI logs, files) gets a wide console so tables do not wrap at 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False)

KINDS = {"writethrough": (RecoveryKind.WRITETHROUGH,), "swap": (RecoveryKind.SWAP,),
         "both": (RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP)}
FENCES = {"never": (FencePolicy.NEVER,), "data": (FencePolicy.DATA,), "both": (FencePolicy.NEVER, FencePolicy.DATA)}


class UsageError(click.UsageError):
    """A usage error with a one-line message (exit 2)."""


def _bounds_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for name in reversed(list(RANGES)):
        lo, hi = RANGES[name]
        f = click.option(f"--{name.replace('_', '-')}", name, type=int, default=None,
                         help=f"{name.replace('_', ' ')} ({lo}..{hi}; default from the preset)")(f)
    f = click.option("--preset", type=click.Choice(sorted(PRESETS)), default="default", show_default=True,
                     help="named bounds to start from")(f)
    f = click.option("--fence", type=click.Choice(sorted(FENCES)), default=None,
                     help="fence policy of the pair (default: both)")(f)
    return f


def make_bounds(preset: str, fence: str | None, mutant: str | None, overrides: dict[str, int | None]) -> Bounds:
    """Bounds from a preset and command-line overrides; a usage error when out of range or unknown."""
    changes: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if fence is not None:
        changes["fence_policies"] = FENCES[fence]
    changes["mutant"] = mutant
    try:
        return PRESETS[preset].with_(**changes)
    except BoundsError as e:
        raise UsageError(str(e)) from None


def _check_names(mutant: str | None, properties: tuple[str, ...]) -> None:
    if mutant is not None and mutant not in MUTANTS:
        raise UsageError(f"unknown mutant {mutant!r}; valid: {', '.join(MUTANTS)}")
    for p in properties:
        if p not in BY_NAME:
            raise UsageError(f"unknown property {p!r}; valid: {', '.join(BY_NAME)}")


class _ProgressView:
    """A rich progress display with one line per job: states, depth, frontier, states per second."""

    def __init__(self, labels: list[str], quiet: bool) -> None:
        self.progress = Progress(TextColumn("[bold]{task.fields[label]:<13}"), BarColumn(bar_width=None),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                 console=err, transient=True, disable=quiet)
        self.tasks: dict[str, TaskID] = {}
        self.started = time.perf_counter()
        for label in labels:
            self.tasks[label] = self.progress.add_task("", total=None, label=label, info="starting")

    def update(self, label: str, states: int, depth: int, frontier: int) -> None:
        rate = states / max(1e-6, time.perf_counter() - self.started)
        done = states - frontier
        self.progress.update(self.tasks[label], total=states, completed=done,
                             info=f"{states:>10,} states  depth {depth:>3}  frontier {frontier:>8,}  "
                                  f"{rate:>9,.0f} states/s")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="pitmirror")
def cli() -> None:
    """Verify a synchronous mirror with point-in-time journal recovery (US 7,139,851).

    Start with `pitmirror check`; `pitmirror mutants` shows what the checkers catch.
    """


@cli.command()
@_bounds_options
@click.option("--recovery", type=click.Choice(sorted(KINDS)), default="both", show_default=True,
              help="recovery kind to explore; 'both' runs one exhaustive check per kind")
@click.option("--mutant", default=None, metavar="NAME", help="seed a known bug (see `pitmirror mutants`)")
@click.option("--property", "properties", multiple=True, metavar="NAME", help="check only these (repeatable)")
@click.option("--max-states", type=click.IntRange(min=1), default=None, help="stop after this many states")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("traces"),
              show_default=True, help="folder for counterexample traces")
@click.option("--no-symmetry", is_flag=True, help="do not reduce by block and value symmetry")
@click.option("--jobs", type=click.IntRange(1, 8), default=2, show_default=True, help="worker processes")
@click.option("--quiet", is_flag=True, help="no progress display")
def check(preset: str, fence: str | None, recovery: str, mutant: str | None, properties: tuple[str, ...],
          max_states: int | None, out_dir: Path, no_symmetry: bool, jobs: int, quiet: bool,
          **bounds: int | None) -> None:
    """Explore every reachable state breadth-first and check the properties (shortest counterexamples)."""
    _check_names(mutant, properties)
    base = make_bounds(preset, fence, mutant, bounds)
    names = properties or tuple(p.name for p in PROPERTIES)
    check_jobs = [CheckJob(base.with_(recovery_kind=k), names, symmetry=not no_symmetry, max_states=max_states,
                           label=k.name.lower()) for k in KINDS[recovery]]
    outcomes = _run_with_progress(check_jobs, jobs, quiet)
    status = 0
    for o in outcomes:
        status = max(status, _report(o, out_dir))
    sys.exit(status)


def _run_with_progress(check_jobs: list[CheckJob], workers: int, quiet: bool) -> list[JobOutcome]:
    view = _ProgressView([j.label for j in check_jobs], quiet)
    with view.progress:
        return run_jobs(check_jobs, view.update, workers=workers)


def _trace_name(o: JobOutcome, prop: str) -> str:
    label = o.job.bounds.mutant or "correct"
    return f"{label}-{o.job.bounds.recovery_kind.name.lower()}-{prop}.json"


def _report(o: JobOutcome, out_dir: Path) -> int:
    """Print one job's verdicts and write its traces; return its exit status."""
    r, b = o.result, o.job.bounds
    kind = b.recovery_kind.name.lower()
    title = f"{kind} recovery" + (f", mutant {b.mutant}" if b.mutant else "")
    out.print(f"\n[bold]{title}[/]: {r.states:,} states, {r.transitions:,} transitions, depth {r.depth}, "
              f"{r.seconds:.1f} s, {r.states_per_second:,.0f} states/s"
              f" (symmetry group {r.symmetry_group}); {r.stop_reason}")
    table = Table(show_edge=False, pad_edge=False)
    for col in ("property", "kind", "verdict", "steps", "trace / note"):
        table.add_column(col)
    status = 0
    for name, d in r.discoveries.items():
        verdict, style, where = d.verdict.value, "", d.note
        if d.verdict is Verdict.VIOLATED:
            path = out_dir / _trace_name(o, name)
            o.traces[name].write(path)
            where = f"{path}" + (f" ({d.note})" if d.note else "")
            if (name, b.recovery_kind) in EXPECTED_TRADE_OFFS and b.mutant is None:
                verdict, style = "violated (expected trade-off)", "yellow"
                where = f"{path}: {EXPECTED_TRADE_OFFS[(name, b.recovery_kind)]}"
            else:
                style, status = "bold red", 1
        elif d.verdict in (Verdict.HOLDS, Verdict.REACHED):
            style = "green"
        else:
            style = "yellow"
        steps = str(len(d.path) - 1) if d.path else ""
        table.add_row(name, d.prop.kind.value, f"[{style}]{verdict}[/]", steps, where)
    out.print(table)
    if not r.complete:
        out.print(f"[yellow]partial verdict: {r.stop_reason}; 'holds' is not claimed for unexplored states[/]")
    return status


@cli.group()
def trace() -> None:
    """Show and replay counterexample traces."""


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = tr.load(path)
        tr.parse(doc)
        return doc
    except tr.TraceError as e:
        raise UsageError(str(e)) from None


def _brief(v: Any) -> str:
    if isinstance(v, dict) and "kind" in v and len(v) <= 4:
        return f"{v['kind']}(" + ", ".join(f"{k}={x}" for k, x in v.items() if k != "kind") + ")"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_brief(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        if v and all(isinstance(x, int) for x in v):
            return "(" + ", ".join(map(str, v)) + ")"
        return "[" + ", ".join(_brief(x) for x in v) + "]"
    return str(v)


def _args_text(step: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_brief(v)}" for k, v in step["args"].items())


@trace.command("show")
@click.argument("file", type=click.Path(path_type=Path))
def trace_show(file: Path) -> None:
    """A trace as a table: step, who, action, arguments, what changed."""
    doc = _load(file)
    p = doc["property"]
    out.print(f"[bold]{p['name']}[/] {doc['verdict']} ({doc['source']}, {len(doc['steps']) - 1} steps): "
              f"{p['meaning']}" + (f"  [claims {', '.join(map(str, p['claims']))}]" if p["claims"] else ""))
    cfg = doc["config"]
    out.print("bounds: " + ", ".join(f"{k}={_brief(v)}" for k, v in cfg.items() if v is not None))
    table = Table(show_lines=False, pad_edge=False)
    for col in ("step", "who", "action", "what changed"):
        table.add_column(col, overflow="fold")
    for step in doc["steps"]:
        action = "(initial state)" if step["action"] is None else f"{step['action']}({_args_text(step)})"
        changes = "; ".join(f"{k}: {_brief(b)} -> [bold]{_brief(a)}[/]" for k, (b, a) in step["changed"].items())
        table.add_row(str(step["index"]), step["actor"], action, changes)
    out.print(table)
    if doc.get("note"):
        out.print(doc["note"])


@trace.command("replay")
@click.argument("file", type=click.Path(path_type=Path))
def trace_replay(file: Path) -> None:
    """Replay a trace on the model: where it diverges, and which property fails at which step."""
    doc = _load(file)
    try:
        report = tr.replay_on_model(doc)
    except tr.TraceError as e:
        raise UsageError(str(e)) from None
    if report.diverged_at is not None:
        out.print(f"model: diverges at step {report.diverged_at}: {report.divergence}")
        sys.exit(1)
    if report.violated_at:
        for name, step in report.violated_at.items():
            out.print(f"model: {name} violated at step {step}")
        sys.exit(1)
    out.print(f"model: {report.steps_replayed} steps replayed, no property violated")


@cli.command()
@click.option("--checker", type=click.Choice(["explicit"]), default="explicit", show_default=True)
@_bounds_options
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("traces"),
              show_default=True, help="folder for counterexample traces")
@click.option("--jobs", type=click.IntRange(1, 8), default=2, show_default=True, help="worker processes")
@click.option("--quiet", is_flag=True, help="no progress display")
def mutants(checker: str, preset: str, fence: str | None, out_dir: Path, jobs: int, quiet: bool,
            **bounds: int | None) -> None:
    """Run the checker against every seeded bug: the property each violates, trace length and time."""
    all_props = tuple(p.name for p in PROPERTIES if p.kind is not Kind.SOMETIMES)
    check_jobs = []
    for name, m in MUTANTS.items():
        b = make_bounds(preset, fence, name, bounds).with_(recovery_kind=m.recovery_kind)
        check_jobs.append(CheckJob(b, all_props, stop_when_violated=(m.breaks,), label=name))
    outcomes = _run_with_progress(check_jobs, jobs, quiet)
    table = Table(title=f"mutants x {checker} checker", pad_edge=False)
    for col in ("mutant", "recovery", "violates", "steps", "states", "seconds", "also violated", "trace"):
        table.add_column(col)
    missed = 0
    for o in outcomes:
        m = MUTANTS[o.job.bounds.mutant or ""]
        d = o.result.discoveries[m.breaks]
        also = [n for n, x in o.result.discoveries.items() if x.verdict is Verdict.VIOLATED and n != m.breaks]
        if d.verdict is Verdict.VIOLATED:
            path = out_dir / _trace_name(o, m.breaks)
            o.traces[m.breaks].write(path)
            table.add_row(m.name, m.recovery_kind.name.lower(), f"[red]{m.breaks}[/]", str(len(d.path) - 1),
                          f"{o.result.states:,}", f"{o.result.seconds:.1f}", ", ".join(also), str(path))
        else:
            missed += 1
            table.add_row(m.name, m.recovery_kind.name.lower(), f"[yellow]MISSED ({m.breaks} {d.verdict.value})[/]",
                          "", f"{o.result.states:,}", f"{o.result.seconds:.1f}", ", ".join(also), "")
    out.print(table)
    out.print(f"{len(outcomes) - missed} of {len(outcomes)} mutants caught")
    sys.exit(1 if missed else 0)


def main() -> None:
    """Entry point: usage errors exit 2 with one line, never a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        err.print("aborted")
        sys.exit(130)
    except click.ClickException as e:
        err.print(f"pitmirror: error: {e.format_message()}")
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # an internal error: one line unless asked for the traceback
        if os.environ.get("PITMIRROR_DEBUG"):
            raise
        err.print(f"pitmirror: internal error: {type(e).__name__}: {e} (set PITMIRROR_DEBUG=1 for the traceback)")
        sys.exit(70)


# Commands contributed by other modules register here, one line each.

if __name__ == "__main__":
    main()
