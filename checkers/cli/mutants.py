"""``pitmirror mutants``: the scorecard, every checker against every seeded bug and the correct protocol."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.table import Table

from pitmirror.checkers.cli.check import run_with_progress
from pitmirror.checkers.cli.common import (
    ExitCode,
    Ticker,
    UsageError,
    bounds_options,
    check_names,
    check_out_dir,
    check_out_file,
    cli,
    lit,
    make_bounds,
    out,
    results_doc,
    write_json,
)
from pitmirror.checkers.reports import scorecard


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
                                      runner=lambda js: run_with_progress(js, jobs, ticker, "frontier"))
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
