"""The ``pitmirror`` command line: ``check``, ``trace``, ``mutants``, ``claims``, ``demo`` (``prove`` and
``fuzz`` live in modules of their own and register on the same group, ``common.cli``).

Every command keeps one exit-code contract (``common.ExitCode``): 0 everything asked for was verified (an
expected trade-off shown as such), 1 a violation or a missed mutant, 2 a usage error, 3 inconclusive, 130
interrupted. Bad input never shows a Python traceback; set ``PITMIRROR_DEBUG=1`` to see one for an
internal error.
"""

from __future__ import annotations

import os
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
    err,
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
from pitmirror.checkers.reports import scorecard
from pitmirror.checkers.traces import diff as tracediff
from pitmirror.checkers.traces import render
from pitmirror.checkers.traces import trace as tr
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
            outcomes = _run_with_progress(check_jobs, jobs, ticker, engine, exact, kernel)
        except (compiled.CompileError, compiled.TraceError) as e:  # --kernel c, and the kernel could not be made
            raise UsageError(f"--kernel c: {e}") from None
    runs = [_report(o, out_dir, allow_unreached, skipped.get(o.job.label, {})) for o in outcomes]
    status = worst(*(code for code, _ in runs))
    if json_path is not None:
        write_json(json_path, results_doc("check", status, time.perf_counter() - started, [r for _, r in runs]))
    sys.exit(status)


def _run_with_progress(check_jobs: list[CheckJob], workers: int, ticker: Ticker, engine: str = "object",
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


@cli.group()
def trace() -> None:
    """Show and replay counterexample traces."""


def _load(path: Path) -> dict[str, Any]:
    """A trace file, schema-checked and validated against its own bounds; a usage error naming what is wrong."""
    try:
        doc = tr.load(path)
    except tr.TraceError as e:
        raise UsageError(str(e)) from None
    try:
        tr.parse(doc)
    except tr.TraceError as e:
        raise UsageError(f"{path}: {e}") from None
    return doc


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
    style = "green" if doc["verdict"] == "witness" else ("yellow" if render.expected_trade_off(doc) else "bold red")
    # the verdict first: what broke, at which step, expected against actual; then the steps that led there
    line, why = render.headline(doc)
    out.print(f"[{style}]{lit(line)}[/]", soft_wrap=True)
    if why:
        out.print(f"[bold]{lit(why)}[/]", soft_wrap=True)
    # every text from the file is escaped: a trace is data, and must not smuggle rich markup in
    out.print(f"[bold]{lit(p['name'])}[/] {lit(doc['verdict'])} ({lit(doc['source'])}, "
              f"{len(doc['steps']) - 1} steps): {lit(p['meaning'])}"
              + (f"  \\[claims {', '.join(map(str, p['claims']))}]" if p["claims"] else ""))
    cfg = doc["config"]
    if tr.is_proof_system(doc):
        # the budgets and the value range of the config do not bound the proof system: do not show them
        kept = ("blocks", "concurrency", "journal_capacity", "recovery_kind", "mutant")
        out.print("system: the unbounded proof system (no budgets; values and sequence numbers any integers), "
                  + lit(", ".join(f"{k}={_brief(cfg[k])}" for k in kept if cfg.get(k) is not None)))
    else:
        out.print("bounds: " + lit(", ".join(f"{k}={_brief(v)}" for k, v in cfg.items() if v is not None)))
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
        table.add_row(str(step["index"]), lit(step["actor"]), lit(render.action_text(step, start)),
                      lit("; ".join(shown)), lit("; ".join(ghost)))
        prev = step["state"]
    out.print(table)
    out.print(f"[{style}]{lit(line)}[/]", soft_wrap=True)
    if doc.get("note"):
        out.print(lit(doc["note"]))


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
    check_out_file(page, "-o")
    try:
        page.write_text(render.render_html(doc), encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {page}: {e.strerror}") from None
    out.print(f"wrote {lit(page)}: {len(doc['steps']) - 1} steps, {lit(render.verdict_line(doc))}")


@trace.command("diff")
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
def trace_diff(a: Path, b: Path) -> None:
    """Compare two traces: config, property, the first step whose action differs, and per step the state
    fields that differ. Exit 0 when identical but for source and note, 1 when they differ."""
    doc_a, doc_b = _load(a), _load(b)
    d = tracediff.compare(doc_a, doc_b)
    for line in tracediff.summary_lines(d):
        out.print(lit(line))
    if d.identical:
        return
    table = Table(pad_edge=False, title="A -> B: what would turn A's state into B's")
    table.add_column("step", justify="right")
    table.add_column("action (A)", overflow="fold")
    table.add_column("action (B)", overflow="fold")
    table.add_column("state fields that differ (A -> B)", overflow="fold", ratio=3)
    for sd in d.steps:
        action_b = "same" if sd.same_action else f"[bold]{lit(sd.action_b)}[/]"
        fields = "; ".join(tracediff.field_difference(f, va, vb) for f, va, vb in sd.fields)
        table.add_row(str(sd.index), lit(sd.action_a), action_b, lit(fields))
    if d.steps:
        out.print(table)
    for who, extra, n in (("A", d.extra_a, d.length_b), ("B", d.extra_b, d.length_a)):
        if extra:
            out.print(f"only {who} goes on after step {n}: " + lit(", ".join(extra)))
    sys.exit(1)


@trace.command("replay")
@click.argument("file", type=click.Path(path_type=Path))
def trace_replay(file: Path) -> None:
    """Replay a trace on the model and on the reference implementation (a fresh impl with the trace's bounds
    and mutant, every step's action applied to both): where either diverges, and which property fails at
    which step. Exit 0 when both replay clean or the only property violated is a trade-off the design
    expects (as `check` reports it), 1 otherwise."""
    from pitmirror.checkers.conformance import (
        lockstep as conformance,  # imported here: the one checker module that also imports impl/
    )

    doc = _load(file)
    try:
        report = tr.replay_on_model(doc)
        on_impl = conformance.replay_on_impl(doc)
    except tr.TraceError as e:
        raise UsageError(str(e)) from None
    trade = render.expected_trade_off(doc)
    expected = {doc["property"]["name"]} if trade is not None else set()
    status = ExitCode.OK
    for who, rep, clean in (("model", report, "no property violated"),
                            ("impl", on_impl, "impl == model after every step, no property violated")):
        if rep.diverged_at is not None:
            what = "diverges at step" if who == "model" else "diverges from the model at step"
            out.print(f"{who}: {what} {rep.diverged_at}: {lit(rep.divergence)}")
            status = ExitCode.VIOLATED
            continue
        if not rep.violated_at:
            out.print(f"{who}: {rep.steps_replayed} steps replayed, {clean}")
        for name, step in rep.violated_at.items():
            if name in expected:
                out.print(f"[yellow]{who}: {lit(name)} violated at step {step} (expected trade-off: {lit(trade)})[/]")
            else:
                out.print(f"{who}: {lit(name)} violated at step {step}")
                status = ExitCode.VIOLATED
    sys.exit(status)


@cli.command()
@click.option("--checker", type=click.Choice([*scorecard.ADAPTERS, "all"]), default="all", show_default=True,
              help="which checker's column to run; 'all' runs every registered checker")
@bounds_options
@click.option("--mutant", "only", multiple=True, metavar="NAME", help="only these mutants (repeatable)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("traces"),
              show_default=True, help="folder for counterexample traces and the scorecard files")
@click.option("--markdown", "md_path", type=click.Path(path_type=Path), default=None,
              help="write the scorecard as Markdown here (default: OUT/scorecard.md)")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="write the results (the scorecard's cells, counts, times, trace paths) as JSON here "
                   "(default: OUT/scorecard.json)")
@click.option("--jobs", type=click.IntRange(1, 8), default=2, show_default=True, help="worker processes")
@click.option("--quiet", is_flag=True, help="no progress display")
def mutants(checker: str, preset: str, fence: str | None, only: tuple[str, ...], out_dir: Path,
            md_path: Path | None, json_path: Path | None, jobs: int, quiet: bool, **bounds: int | None) -> None:
    """The scorecard: every checker against every seeded bug and the correct protocol.

    Each cell is the property violated, the trace length and the time, or why the checker misses. Exit 1
    when a checker misses a mutant it can check or reports a required property violated on the correct
    protocol; Ctrl-C writes the scorecard so far, marked partial, and exits 130."""
    for name in only:
        check_names(name, ())
    base = make_bounds(preset, fence, None, bounds)
    md_path = md_path or out_dir / "scorecard.md"
    json_path = json_path or out_dir / "scorecard.json"
    check_out_dir(out_dir)
    check_out_file(md_path, "--markdown", frozenset({out_dir}))
    check_out_file(json_path, "--json", frozenset({out_dir}))
    names = list(scorecard.ADAPTERS) if checker == "all" else [checker]
    started = time.perf_counter()
    with Ticker(quiet) as ticker:
        columns = {c: ticker.task(f"{c} column") for c in names if c != "explicit"}

        def on_row(c: str, done: int, total: int, row: str) -> None:
            columns[c](done, total, f"mutants done  (now: {row})")

        # the explicit column runs check's default engine (tests/test_frontier.py: the same verdicts and
        # shortest-trace lengths as the object engine on every mutant)
        settings = scorecard.Settings(base=base, out_dir=out_dir, workers=jobs, progress=on_row,
                                      runner=lambda js: _run_with_progress(js, jobs, ticker, "frontier"))
        card = scorecard.build(names, settings, mutants=list(only) or None)
    seconds = time.perf_counter() - started
    styles = {scorecard.Outcome.CAUGHT: "green", scorecard.Outcome.HOLDS: "green",
              scorecard.Outcome.TRADE_OFF: "yellow", scorecard.Outcome.MISSED: "bold red",
              scorecard.Outcome.FALSE_ALARM: "bold red", scorecard.Outcome.OUT_OF_SCOPE: "dim",
              scorecard.Outcome.NOT_RUN: "yellow"}
    table = Table(title="scorecard: mutants x checkers" + (" (partial: interrupted)" if card.partial else ""),
                  pad_edge=False)
    table.add_column("mutant")
    table.add_column("meant to break")
    for c in names:
        table.add_column(c, overflow="fold")
    refs, notes = card.footnotes()
    for row in card.rows:
        cells = []
        for c in names:
            cell = card.cell(row, c)
            text = f"[{styles[cell.verdict]}]{lit(cell.text())}[/]"
            if (row, c) in refs:
                text += f" \\[{refs[(row, c)]}]"
            cells.append(text)
        table.add_row(f"[bold]{row}[/]" if row == scorecard.CORRECT else row, card.expected[row], *cells)
    out.print(table)
    if card.impl_only:
        # bugs of the impl alone: the model is correct, so only conformance has a cell for them
        impl_table = Table(title="implementation-only mutants: conformance", pad_edge=False)
        impl_table.add_column("implementation-only mutant")
        impl_table.add_column(scorecard.IMPL_ONLY_COLUMN, overflow="fold")
        for name, cell in card.impl_only.items():
            text = f"[{styles[cell.verdict]}]{lit(cell.text())}[/]"
            if (name, scorecard.IMPL_ONLY_COLUMN) in refs:
                text += f" \\[{refs[(name, scorecard.IMPL_ONLY_COLUMN)]}]"
            impl_table.add_row(name, text)
        out.print(impl_table)
    for k, note in enumerate(notes, 1):
        out.print(f"[dim]\\[{k}] {lit(note)}[/]")
    for c in names:
        out.print(f"{c}: {card.caught(c)} of {len(card.rows) - 1} mutants caught"
                  + (f"; missed: {', '.join(card.missed(c))}" if card.missed(c) else ""))
    if card.impl_only:
        missed_impl = card.impl_only_missed()
        out.print(f"conformance: {card.impl_only_caught()} of {len(card.impl_only)} implementation-only mutants "
                  "caught" + (f"; missed: {', '.join(missed_impl)}" if missed_impl else ""))
    status = ExitCode.OK
    if any(card.missed(c) or card.false_alarms(c) for c in names) or card.impl_only_missed():
        status = ExitCode.VIOLATED
    elif card.partial:
        status = ExitCode.INTERRUPTED
    runs = [{"label": c, "checker": c, "bounds": base.to_json(), "seconds": round(sum(card.cell(r, c).seconds or 0
                                                                                       for r in card.rows), 3),
             "complete": not card.partial,
             "results": [{"mutant": None if r == scorecard.CORRECT else r, "property": card.cell(r, c).property,
                          "verdict": card.cell(r, c).verdict.value, "steps": card.cell(r, c).steps,
                          "seconds": card.cell(r, c).seconds, "trace": card.cell(r, c).trace,
                          "note": card.cell(r, c).note} for r in card.rows]}
            for c in names]
    try:
        card.write(md_path, None)
        write_json(json_path, results_doc("mutants", status, seconds, runs, scorecard=card.to_json()))
    except OSError as e:
        raise UsageError(f"cannot write the scorecard: {e}") from None
    out.print(("[yellow]partial scorecard[/] (interrupted) " if card.partial else "scorecard ")
              + f"written to {lit(md_path)} and {lit(json_path)}")
    sys.exit(status)


@cli.command()
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="also write the table as Markdown (docs/TRACEABILITY.md)")
@click.option("--tests", "tests_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("tests"),
              show_default=True, help="folder of the tests whose @pytest.mark.claims marks to read")
def claims(markdown_file: Path | None, tests_dir: Path) -> None:
    """The claims traceability table: each claim -> properties, model actions, tests."""
    from pitmirror.checkers.reports import traceability

    if markdown_file is not None:
        check_out_file(markdown_file, "--markdown")
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
        out.print(f"wrote {lit(markdown_file)}")


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
        err.print("interrupted", markup=False)
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as e:
        err.print(f"pitmirror: error: {e.format_message()}", markup=False)
        sys.exit(ExitCode.USAGE if isinstance(e, click.UsageError) else e.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        sys.exit(ExitCode.INTERRUPTED)
    except SystemExit:
        raise
    except Exception as e:  # an internal error: one line unless asked for the traceback
        if os.environ.get("PITMIRROR_DEBUG"):
            raise
        err.print(f"pitmirror: internal error: {type(e).__name__}: {e} (set PITMIRROR_DEBUG=1 for the traceback)",
                  markup=False)
        sys.exit(ExitCode.INTERNAL)


# Commands in other modules register themselves on ``common.cli`` when imported: one import line each.
from pitmirror.checkers.cli import fuzz, prove  # noqa: E402, F401
from pitmirror.checkers.cli.serve import build_serve  # noqa: E402

build_serve(cli, trace)  # serve, ctl, and trace validate (the served arrays' event logs)

if __name__ == "__main__":
    main()
