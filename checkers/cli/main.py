"""The ``pitmirror`` command line.

Exit codes: 0 when every checked property holds (an expected trade-off shown as such), 1 when a property is
violated, 2 for a usage error (bad bounds, unknown mutant or property, a malformed or foreign trace file),
130 when Ctrl-C ended the run before any violation was found (the partial verdict is printed).
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
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from pitmirror.checkers.explicit.checker import INTERRUPTED, Verdict
from pitmirror.checkers.explicit.runner import CheckJob, JobOutcome, run_jobs
from pitmirror.checkers.frontier.engine import FrontierResult
from pitmirror.checkers.frontier.runner import run_frontier_jobs
from pitmirror.checkers.reports import scorecard
from pitmirror.checkers.traces import diff as tracediff
from pitmirror.checkers.traces import render
from pitmirror.checkers.traces import trace as tr
from pitmirror.model.config import PRESETS, RANGES, Bounds, BoundsError
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import BY_NAME, PROPERTIES, Kind, trade_off, with_windows
from pitmirror.spec.state import FencePolicy, RecoveryKind

# Piped output (CI logs, files) gets a wide console so tables do not wrap at 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # errors stay one line

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
@click.option("--engine", type=click.Choice(["frontier", "object"]), default="frontier", show_default=True,
              help="frontier: whole frontiers as arrays; object: one Python state at a time (the reference)")
@click.option("--exact", is_flag=True, help="frontier engine: keep whole states, not 64-bit fingerprints")
@click.option("--quiet", is_flag=True, help="no progress display")
def check(preset: str, fence: str | None, recovery: str, mutant: str | None, properties: tuple[str, ...],
          max_states: int | None, out_dir: Path, no_symmetry: bool, jobs: int, engine: str, exact: bool,
          quiet: bool, **bounds: int | None) -> None:
    """Explore every reachable state breadth-first and check the properties (shortest counterexamples)."""
    _check_names(mutant, properties)
    base = make_bounds(preset, fence, mutant, bounds)
    # a trade-off property is checked with its window, so its label cannot hide a violation outside it
    names = with_windows(properties) if properties else tuple(p.name for p in PROPERTIES)
    # Named safety properties only: once each is violated there is nothing more to learn from this run.
    stop = names if properties and all(BY_NAME[n].kind is Kind.ALWAYS for n in names) else ()
    check_jobs = [CheckJob(base.with_(recovery_kind=k), names, symmetry=not no_symmetry, max_states=max_states,
                           stop_when_violated=stop, label=k.name.lower()) for k in KINDS[recovery]]
    outcomes = _run_with_progress(check_jobs, jobs, quiet, engine, exact)
    status = 0
    for o in outcomes:
        status = max(status, _report(o, out_dir))
    if status == 0 and any(o.result.stop_reason == INTERRUPTED for o in outcomes):
        status = 130  # interrupted: not "all holds"
    sys.exit(status)


def _run_with_progress(check_jobs: list[CheckJob], workers: int, quiet: bool, engine: str = "object",
                       exact: bool = False) -> list[JobOutcome]:
    view = _ProgressView([j.label for j in check_jobs], quiet)
    with view.progress:
        if engine == "frontier":
            return run_frontier_jobs(check_jobs, view.update, workers=workers, exact=exact)
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
              f"{r.seconds:.1f} s, {r.states_per_second:,.0f} states/s, ~{r.bytes_per_state:,.0f} bytes/state"
              f" (symmetry group {r.symmetry_group}); {r.stop_reason}")
    if isinstance(r, FrontierResult) and not r.exact:  # the frontier engine's fingerprints, as TLC reports them
        out.print(f"fingerprint collision probability (if 64-bit fingerprints were random): "
                  f"{r.collision_probability:.1e}; --exact rules it out")
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
            reason = None if b.mutant is not None else trade_off(name, b.recovery_kind, d.path[-1][1])
            if reason is not None:
                verdict, style = "violated (expected trade-off)", "yellow"
                where = f"{path}: {reason}"
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
    """A JSON value in the protocol's words (shared with the page and the diff: ``checkers.traces.render``)."""
    return render.brief(v)


def _args_text(step: dict[str, Any]) -> str:
    """A step's arguments, ``lba=0, value=1``."""
    return ", ".join(f"{k}={render.brief(v, k)}" for k, v in step["args"].items())


@trace.command("show")
@click.argument("file", type=click.Path(path_type=Path))
def trace_show(file: Path) -> None:
    """A trace as a table, one row per step: who, action, what changed.

    Lists show what was added and removed (``J +{seq=3 lba=0 value=0}``, ``path -MirrorWrite(..)
    +MirrorAck(seq=1)``), volumes before and after (``P (1,0)->(0,0)``); the spec's ghost fields and the
    crash budget are dimmed in a column of their own."""
    doc = _load(file)
    p = doc["property"]
    # every text from the file is escaped: a trace is data, and must not smuggle rich markup in
    out.print(f"[bold]{escape(p['name'])}[/] {escape(doc['verdict'])} ({escape(doc['source'])}, "
              f"{len(doc['steps']) - 1} steps): {escape(p['meaning'])}"
              + (f"  \\[claims {', '.join(map(str, p['claims']))}]" if p["claims"] else ""))
    cfg = doc["config"]
    out.print("bounds: " + escape(", ".join(f"{k}={_brief(v)}" for k, v in cfg.items() if v is not None)))
    table = Table(show_lines=False, pad_edge=False)
    table.add_column("step", justify="right")
    table.add_column("who")
    table.add_column("action", overflow="fold")
    table.add_column("what changed", overflow="fold", ratio=3)
    table.add_column("ghost (spec only)", overflow="fold", style="dim", ratio=1)
    prev: dict[str, Any] | None = None
    start = render.start_label(doc)
    for step in doc["steps"]:
        changes = render.state_changes(prev, step["state"])
        shown = [render.change_text(f, b, a) for f, (b, a) in changes.items() if render.lane_of(f) != render.GHOST]
        ghost = [render.change_text(f, b, a) for f, (b, a) in changes.items() if render.lane_of(f) == render.GHOST]
        table.add_row(str(step["index"]), escape(step["actor"]), escape(render.action_text(step, start)),
                      escape("; ".join(shown)), escape("; ".join(ghost)))
        prev = step["state"]
    out.print(table)
    style = "green" if doc["verdict"] == "witness" else ("yellow" if render.expected_trade_off(doc) else "bold red")
    out.print(f"[{style}]{escape(render.verdict_line(doc))}[/]")
    if doc.get("note"):
        out.print(escape(doc["note"]))


@trace.command("render")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="the HTML page to write (default: FILE with the suffix .html)")
def trace_render(file: Path, output: Path | None) -> None:
    """A trace as one self-contained HTML page: host, A, path and R as lanes, one row per step, messages as
    arrows, the volumes and tables after each step with the changes highlighted, and the verdict."""
    doc = _load(file)
    page = output if output is not None else file.with_suffix(".html")
    if page.resolve() == file.resolve():
        raise UsageError(f"the page would overwrite the trace {file}; name it with -o")
    try:
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(render.render_html(doc), encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {page}: {e.strerror}") from None
    out.print(f"wrote {escape(str(page))}: {len(doc['steps']) - 1} steps, {escape(render.verdict_line(doc))}")


@trace.command("diff")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
def trace_diff(a: Path, b: Path) -> None:
    """Compare two traces: config, property, the first step whose action differs, and per step the state
    fields that differ. Exit 0 when identical but for source and note, 1 when they differ."""
    doc_a, doc_b = _load(a), _load(b)
    d = tracediff.compare(doc_a, doc_b)
    for line in tracediff.summary_lines(d):
        out.print(escape(line))
    if d.identical:
        return
    table = Table(pad_edge=False, title="A -> B: what would turn A's state into B's")
    table.add_column("step", justify="right")
    table.add_column("action (A)", overflow="fold")
    table.add_column("action (B)", overflow="fold")
    table.add_column("state fields that differ (A -> B)", overflow="fold", ratio=3)
    for sd in d.steps:
        action_b = "same" if sd.same_action else f"[bold]{escape(sd.action_b)}[/]"
        fields = "; ".join(tracediff.field_difference(f, va, vb) for f, va, vb in sd.fields)
        table.add_row(str(sd.index), escape(sd.action_a), action_b, escape(fields))
    if d.steps:
        out.print(table)
    for who, extra, n in (("A", d.extra_a, d.length_b), ("B", d.extra_b, d.length_a)):
        if extra:
            out.print(f"only {who} goes on after step {n}: " + escape(", ".join(extra)))
    sys.exit(1)


@trace.command("replay")
@click.argument("file", type=click.Path(path_type=Path))
def trace_replay(file: Path) -> None:
    """Replay a trace on the model and on the reference implementation (a fresh impl with the trace's bounds
    and mutant, every step's action applied to both): where either diverges, and which property fails at
    which step. Exit 0 when both replay clean, 1 otherwise."""
    from pitmirror.checkers.conformance import (
        lockstep as conformance,  # imported here: the one checker module that also imports impl/
    )

    doc = _load(file)
    try:
        report = tr.replay_on_model(doc)
        on_impl = conformance.replay_on_impl(doc)
    except tr.TraceError as e:
        raise UsageError(str(e)) from None
    status = 0
    if report.diverged_at is not None:
        out.print(f"model: diverges at step {report.diverged_at}: {escape(report.divergence)}")
        status = 1
    elif report.violated_at:
        for name, step in report.violated_at.items():
            out.print(f"model: {name} violated at step {step}")
        status = 1
    else:
        out.print(f"model: {report.steps_replayed} steps replayed, no property violated")
    if on_impl.diverged_at is not None:
        out.print(f"impl: diverges from the model at step {on_impl.diverged_at}: {escape(on_impl.divergence)}")
        status = 1
    elif on_impl.violated_at:
        for name, step in on_impl.violated_at.items():
            out.print(f"impl: {name} violated at step {step}")
        status = 1
    else:
        out.print(f"impl: {on_impl.steps_replayed} steps replayed, impl == model after every step, "
                  "no property violated")
    sys.exit(status)


@cli.command()
@click.option("--checker", type=click.Choice([*scorecard.ADAPTERS, "all"]), default="all", show_default=True,
              help="which checker's column to run; 'all' runs every registered checker (one not in this build "
                   "shows as an explained miss)")
@_bounds_options
@click.option("--mutant", "only", multiple=True, metavar="NAME", help="only these mutants (repeatable)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("traces"),
              show_default=True, help="folder for counterexample traces and the scorecard files")
@click.option("--markdown", "md_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the scorecard as Markdown here (default: OUT/scorecard.md)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the scorecard as JSON here (default: OUT/scorecard.json)")
@click.option("--jobs", type=click.IntRange(1, 8), default=2, show_default=True, help="worker processes")
@click.option("--quiet", is_flag=True, help="no progress display")
def mutants(checker: str, preset: str, fence: str | None, only: tuple[str, ...], out_dir: Path,
            md_path: Path | None, json_path: Path | None, jobs: int, quiet: bool, **bounds: int | None) -> None:
    """The scorecard: every checker against every seeded bug and the correct protocol.

    Each cell is the property violated, the trace length and the time, or why the checker misses. Exit 1
    when the explicit checker misses a mutant or reports a required property violated on the correct
    protocol."""
    for name in only:
        _check_names(name, ())
    base = make_bounds(preset, fence, None, bounds)
    names = list(scorecard.ADAPTERS) if checker == "all" else [checker]
    settings = scorecard.Settings(base=base, out_dir=out_dir, workers=jobs,
                                  runner=lambda js: _run_with_progress(js, jobs, quiet))
    card = scorecard.build(names, settings, mutants=list(only) or None)
    try:
        card.write(md_path or out_dir / "scorecard.md", json_path or out_dir / "scorecard.json")
    except OSError as e:
        raise UsageError(f"cannot write the scorecard: {e}") from None
    styles = {scorecard.Outcome.CAUGHT: "green", scorecard.Outcome.HOLDS: "green",
              scorecard.Outcome.TRADE_OFF: "yellow", scorecard.Outcome.MISSED: "bold red",
              scorecard.Outcome.FALSE_ALARM: "bold red", scorecard.Outcome.UNAVAILABLE: "dim"}
    table = Table(title="scorecard: mutants x checkers", pad_edge=False)
    table.add_column("mutant")
    table.add_column("meant to break")
    for c in names:
        table.add_column(c, overflow="fold")
    refs, notes = card.footnotes()
    for row in card.rows:
        cells = []
        for c in names:
            cell = card.cell(row, c)
            text = f"[{styles[cell.verdict]}]{escape(cell.text())}[/]"
            if (row, c) in refs:
                text += f" \\[{refs[(row, c)]}]"
            cells.append(text)
        table.add_row(f"[bold]{row}[/]" if row == scorecard.CORRECT else row, card.expected[row], *cells)
    out.print(table)
    for k, note in enumerate(notes, 1):
        out.print(f"[dim]\\[{k}] {escape(note)}[/]")
    for c in names:
        if all(card.cell(r, c).verdict is scorecard.Outcome.UNAVAILABLE for r in card.rows):
            out.print(f"{c}: not available in this build")
        else:
            out.print(f"{c}: {len(card.rows) - 1 - len(card.missed(c))} of {len(card.rows) - 1} mutants caught")
    out.print(f"scorecard written to {escape(str(md_path or out_dir / 'scorecard.md'))} and "
              f"{escape(str(json_path or out_dir / 'scorecard.json'))}")
    failed = "explicit" in names and (card.missed("explicit") or card.false_alarms("explicit"))
    sys.exit(1 if failed else 0)


@cli.command()
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write the table as Markdown (docs/TRACEABILITY.md)")
@click.option("--tests", "tests_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("tests"),
              show_default=True, help="folder of the tests whose @pytest.mark.claims marks to read")
def claims(markdown_file: Path | None, tests_dir: Path) -> None:
    """The claims traceability table: each claim -> properties, model actions, tests."""
    from pitmirror.checkers.reports import traceability

    rows = traceability.build(tests_dir)
    table = Table(pad_edge=False)
    for col in ("claim", "about", "properties", "model actions", "tests"):
        table.add_column(col, overflow="fold")
    for r in rows:
        about = traceability.CLAIM_TOPICS[r.claim]
        table.add_row(str(r.claim), about if r.covered else f"[yellow]{about} (not covered)[/]",
                      ", ".join(r.properties), ", ".join(r.actions), str(len(r.tests)))
    out.print(table)
    if markdown_file is not None:
        markdown_file.write_text(traceability.markdown(rows))
        out.print(f"wrote {markdown_file}")


@cli.command()
def demo() -> None:
    """A narrated scenario on real data: host writes, a marker, a logical corruption, and recovery to the
    marker by each method; ends by checking P == S == image(marker) and printing what crossed the path."""
    from pitmirror.impl.demo import run_demo  # the reference arrays only; the demo never consults the model

    ok = run_demo(lambda line: out.print(line, markup=False))
    sys.exit(0 if ok else 1)


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
from pitmirror.checkers.cli.fuzz import build_fuzz; cli.add_command(build_fuzz(sys.modules[__name__]))  # noqa: E402, E702, I001
from pitmirror.checkers.cli.prove import build_prove; cli.add_command(build_prove(sys.modules[__name__]))  # noqa: E402, E702, I001

if __name__ == "__main__":
    main()
from pitmirror.checkers.cli.serve import build_serve; build_serve(sys.modules[__name__])  # noqa: E402, E702, I001
