"""``pitmirror trace``: show, render, diff and replay counterexample traces (``trace validate``, for the
served arrays' event logs, lives with ``serve``, loaded when asked for)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from pitmirror.checkers.cli.common import ExitCode, UsageError, check_out_file, cli, lit, out
from pitmirror.checkers.traces import diff as tracediff
from pitmirror.checkers.traces import render
from pitmirror.checkers.traces import trace as tr
from pitmirror.model.config import PROOF_PARAMETERS


@cli.group(modules={"validate": "pitmirror.checkers.cli.serve"})
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
        kept = (*PROOF_PARAMETERS, "recovery_kind", "mutant")
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
