"""The scorecard: every seeded bug (and the correct protocol) against every checker (DESIGN section 3).

A verification package proves its worth by what it catches, so the scorecard is part of the product. A
row is a mutant of ``model.mutants.MUTANTS`` or the correct protocol; a column is a checker; a cell says
what that checker found there. Every cell must be either a catch (or, for the correct protocol, "holds"
or an expected trade-off) or an *explained* miss: a miss without a reason is a bug in the scorecard.

Checkers join through a small registry, ``ADAPTERS``: name -> adapter class, where an adapter is a
callable ``(mutant | None) -> Cell`` (``None`` is the correct protocol) with a batch method ``cells`` so
that a checker can run its rows in parallel. The explicit checker runs here; the Z3 column calls
``checkers.symbolic.bmc.scorecard_cell`` and the fuzz column ``checkers.conformance.fuzz.scorecard_cell``.

The bugs of the implementation alone (``impl.mutants.IMPL_ONLY_MUTANTS``) have a table of their own with one
column, ``conformance (fuzz)``: the model stays correct for them, so no model checker has a row to run, and
only conformance (abstraction(impl) == model after every step) can catch one; its cell names the first
divergent field (``checkers.conformance.fuzz.impl_only_cell``). They run with the fuzz column.

Ctrl-C ends the scorecard with what it has: the cells computed so far, the rest ``not run``, and the
scorecard marked partial (``Scorecard.partial``), so an aborted run still writes its files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from pitmirror.checkers.conformance import fuzz as fuzz_checker
from pitmirror.checkers.conformance.fuzz import IMPL_ONLY_MUTANTS  # reports/ reads impl/ only through conformance
from pitmirror.checkers.explicit.checker import INTERRUPTED, Verdict
from pitmirror.checkers.explicit.runner import CheckJob, JobOutcome, run_jobs
from pitmirror.checkers.symbolic import bmc
from pitmirror.model.config import Bounds
from pitmirror.model.mutants import MUTANTS, Mutant
from pitmirror.spec.properties import BY_NAME, PROPERTIES, Kind, not_applicable, trade_off
from pitmirror.spec.state import RecoveryKind

CORRECT = "correct protocol"  # the row label of the protocol without a mutant
IMPL_ONLY_COLUMN = "conformance (fuzz)"  # the one column of the implementation-only mutants' table


class Outcome(Enum):
    """What a checker found in one row."""

    CAUGHT = "caught"  # a mutant: a property is violated, with a trace
    MISSED = "missed"  # a mutant: nothing violated within the checker's bounds (the note says why)
    HOLDS = "holds"  # the correct protocol: every property holds
    TRADE_OFF = "expected trade-off"  # the correct protocol: only the trade-offs the design expects fail
    FALSE_ALARM = "false alarm"  # the correct protocol: a property the design requires fails
    OUT_OF_SCOPE = "out of scope"  # the mutant breaks a kind of property this checker does not check (note)
    NOT_RUN = "not run"  # Ctrl-C ended the scorecard before this cell


GOOD = frozenset({Outcome.CAUGHT, Outcome.HOLDS, Outcome.TRADE_OFF})
#: Not a verdict on the row: a checker that cannot express the property, or a cell Ctrl-C left out.
NO_VERDICT = frozenset({Outcome.OUT_OF_SCOPE, Outcome.NOT_RUN})


@dataclass(frozen=True)
class Cell:
    """One checker's result for one row."""

    verdict: Outcome
    property: str | None = None  # the violated property (or the trade-off shown)
    steps: int | None = None  # length of the counterexample, initial state excluded
    seconds: float | None = None
    note: str = ""
    trace: str | None = None  # path of the trace file written

    def explained(self) -> bool:
        """A catch, or a miss that says why: the scorecard's invariant."""
        return self.verdict in GOOD or bool(self.note)

    def text(self) -> str:
        """The cell in one short line: ``caught ack_durable, 1 step, 0.0 s``."""
        parts = [self.verdict.value + (f" {self.property}" if self.property else "")]
        if self.steps is not None:
            parts.append(f"{self.steps} step" + ("" if self.steps == 1 else "s"))
        if self.seconds is not None:
            parts.append(f"{self.seconds:.1f} s")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """The cell as JSON data."""
        d = asdict(self)
        d["verdict"] = self.verdict.value
        return d

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> Cell:
        """A cell from a plugged-in checker's mapping (``verdict`` by value or name)."""
        v = m["verdict"]
        verdict = v if isinstance(v, Outcome) else next(o for o in Outcome if str(v) in (o.value, o.name))
        return cls(verdict, m.get("property"), m.get("steps"), m.get("seconds"), str(m.get("note", "")),
                   m.get("trace"))


JobRunner = Callable[[list[CheckJob]], list[JobOutcome]]
RowProgress = Callable[[str, int, int, str], None]  # (checker, rows done, rows, the row now running)


@dataclass
class Settings:
    """What every adapter needs: the base bounds (preset and overrides; the recovery kind and mutant are
    set per row), where traces go, and how to run explicit jobs (the command line passes one with a
    progress display)."""

    base: Bounds = field(default_factory=Bounds)
    out_dir: Path = Path("traces")
    workers: int = 2
    runner: JobRunner | None = None
    progress: RowProgress | None = None  # the columns that run row by row report each row

    def run(self, jobs: list[CheckJob]) -> list[JobOutcome]:
        """Run explicit jobs with the configured runner (default: ``run_jobs`` on ``workers`` cores)."""
        if self.runner is not None:
            return self.runner(jobs)
        return run_jobs(jobs, None, workers=self.workers)


Target = Mutant | None


def row_label(target: Target) -> str:
    """The row's name: the mutant's, or ``correct protocol``."""
    return CORRECT if target is None else target.name


class CheckerAdapter:
    """A checker as the scorecard sees it: a callable from a row to a cell."""

    name: ClassVar[str] = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.interrupted = False  # Ctrl-C ended this column early (its remaining cells are ``not run``)

    def __call__(self, target: Target) -> Cell:
        """The cell for one row."""
        return self.cells([target])[0]

    def cells(self, targets: Sequence[Target]) -> list[Cell]:
        """The cells for many rows; override to run them together (in parallel)."""
        return [self(t) for t in targets]


def trace_file_name(bounds: Bounds, prop: str) -> str:
    """The file name `pitmirror check` and `pitmirror mutants` give a trace."""
    return f"{bounds.mutant or 'correct'}-{bounds.recovery_kind.name.lower()}-{prop}.json"


class ExplicitAdapter(CheckerAdapter):
    """The breadth-first explicit checker: shortest counterexamples, exhaustive within the bounds.

    A mutant runs one job on the recovery kind that exposes it and stops as soon as the property it is
    meant to break is violated (keeps the scorecard fast); the correct protocol runs every property on
    both recovery kinds to the end."""

    name = "explicit"
    ALL: ClassVar[tuple[str, ...]] = tuple(p.name for p in PROPERTIES)

    def _jobs(self, target: Target) -> list[CheckJob]:
        base = self.settings.base
        if target is None:  # every property, but a witness the run's bounds exclude by construction
            runs = [base.with_(mutant=None, recovery_kind=k) for k in (RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP)]
            return [CheckJob(b, tuple(n for n in self.ALL if not not_applicable(BY_NAME[n], b)),
                             label=f"correct/{b.recovery_kind.name.lower()}") for b in runs]
        b = target.exposed_in(base)  # the mutant, its recovery kind, and a bound it needs (a crash) if zero
        props = tuple(p.name for p in PROPERTIES if p.kind is not Kind.SOMETIMES)
        return [CheckJob(b, props, stop_when_violated=(target.breaks,), label=target.name)]

    def cells(self, targets: Sequence[Target]) -> list[Cell]:
        """All rows' jobs in one batch, so both cores stay busy."""
        # The correct protocol's runs explore everything and take longest: submitted first, they overlap
        # with the short mutant runs on the other core instead of finishing alone at the end.
        order = sorted(range(len(targets)), key=lambda k: targets[k] is not None)
        per_target = {k: self._jobs(targets[k]) for k in order}
        outcomes = iter(self.settings.run([j for k in order for j in per_target[k]]))
        got = {k: [next(outcomes) for _ in per_target[k]] for k in order}
        cells = []
        for k, t in enumerate(targets):
            cells.append(self._correct_cell(got[k]) if t is None else self._mutant_cell(t, got[k][0]))
        return cells

    def _write(self, o: JobOutcome, prop: str) -> str:
        path = self.settings.out_dir / trace_file_name(o.job.bounds, prop)
        o.traces[prop].write(path)
        return str(path)

    def _mutant_cell(self, m: Mutant, o: JobOutcome) -> Cell:
        r = o.result
        violated = [n for n, d in r.discoveries.items() if d.verdict is Verdict.VIOLATED]
        prop = m.breaks if m.breaks in violated else (violated[0] if violated else None)
        if prop is None and r.stop_reason == INTERRUPTED:
            self.interrupted = True
            return Cell(Outcome.NOT_RUN, None, None, r.seconds, "interrupted (Ctrl-C) before a violation was found")
        if prop is None:
            d = r.discoveries[m.breaks]
            why = (f"{m.breaks} {d.verdict.value} within these bounds ({r.states:,} states, {r.stop_reason})"
                   + ("; widen the bounds (e.g. --concurrency 2) to reach the bug" if r.complete else ""))
            return Cell(Outcome.MISSED, None, None, r.seconds, why)
        d = r.discoveries[prop]
        notes = []
        if prop != m.breaks:
            notes.append(f"meant to break {m.breaks}, which {r.discoveries[m.breaks].verdict.value} here")
        also = [n for n in violated if n != prop]
        if also:
            notes.append("also violated: " + ", ".join(also))
        return Cell(Outcome.CAUGHT, prop, len(d.path) - 1, r.seconds, "; ".join(notes), self._write(o, prop))

    def _correct_cell(self, outs: list[JobOutcome]) -> Cell:
        seconds = sum(o.result.seconds for o in outs)
        expected: list[tuple[JobOutcome, str, str]] = []
        unexpected: list[tuple[JobOutcome, str]] = []
        notes = []
        for o in outs:
            kind = o.job.bounds.recovery_kind
            for n, d in o.result.discoveries.items():
                if d.verdict is Verdict.VIOLATED:
                    reason = trade_off(n, kind, d.path[-1][1])
                    if reason is None:
                        unexpected.append((o, n))
                    else:
                        expected.append((o, n, reason))
                elif d.verdict in (Verdict.NOT_REACHED, Verdict.UNKNOWN):
                    notes.append(f"{n} {d.verdict.value} ({kind.name.lower()})")
            if not o.result.complete:
                notes.append(f"{kind.name.lower()}: partial, {o.result.stop_reason}")
            if o.result.stop_reason == INTERRUPTED:
                self.interrupted = True
        if unexpected:
            o, n = unexpected[0]
            more = [f"{x}" for _, x in unexpected[1:]]
            note = "; ".join([f"{o.job.bounds.recovery_kind.name.lower()} recovery"]
                             + (["also: " + ", ".join(more)] if more else []) + notes)
            return Cell(Outcome.FALSE_ALARM, n, len(o.result.discoveries[n].path) - 1, seconds, note,
                        self._write(o, n))
        if expected:
            o, n, reason = expected[0]
            note = "; ".join([f"{o.job.bounds.recovery_kind.name.lower()} recovery: {reason}", *notes])
            return Cell(Outcome.TRADE_OFF, n, len(o.result.discoveries[n].path) - 1, seconds, note,
                        self._write(o, n))
        if self.interrupted:
            return Cell(Outcome.NOT_RUN, None, None, seconds, "; ".join(notes))
        return Cell(Outcome.HOLDS, None, None, seconds, "; ".join(notes))


Hook = Callable[[str | None, Bounds], Mapping[str, Any]]


class RowByRowAdapter(CheckerAdapter):
    """A checker whose module gives one cell per row through a ``scorecard_cell(mutant, bounds)`` hook.
    Checks only safety (``always``) properties unless ``liveness``; a mutant breaking another kind is out
    of its scope, said so, rather than a miss."""

    liveness: ClassVar[bool] = False

    def hook(self) -> Hook:
        """The checker's ``scorecard_cell``."""
        raise NotImplementedError

    def cells(self, targets: Sequence[Target]) -> list[Cell]:
        """One hook call per row, with progress; Ctrl-C leaves the rest of the column ``not run``."""
        hook = self.hook()
        out: list[Cell] = []
        for k, t in enumerate(targets):
            if self.settings.progress is not None:
                self.settings.progress(self.name, k, len(targets), row_label(t))
            if self.interrupted:
                out.append(Cell(Outcome.NOT_RUN, note="interrupted (Ctrl-C) before this cell"))
                continue
            if t is not None and not self.liveness and BY_NAME[t.breaks].kind is not Kind.ALWAYS:
                out.append(Cell(Outcome.OUT_OF_SCOPE, note=f"{t.breaks} is a {BY_NAME[t.breaks].kind.value} "
                                f"property; the {self.name} checker checks safety (always) properties"))
                continue
            b = self.settings.base.with_(mutant=None if t is None else t.name,
                                         recovery_kind=RecoveryKind.WRITETHROUGH if t is None else t.recovery_kind)
            started = time.perf_counter()
            try:
                got = hook(None if t is None else t.name, b)
                cell = got if isinstance(got, Cell) else Cell.from_mapping(got)
            except KeyboardInterrupt:
                self.interrupted = True
                out.append(Cell(Outcome.NOT_RUN, note="interrupted (Ctrl-C) before this cell"))
                continue
            if cell.seconds is None:
                cell = Cell(cell.verdict, cell.property, cell.steps, time.perf_counter() - started, cell.note,
                            cell.trace)
            out.append(cell)
        if self.settings.progress is not None:
            self.settings.progress(self.name, len(targets), len(targets), "done")
        return out


class SymbolicAdapter(RowByRowAdapter):
    """Z3 bounded model checking (`pitmirror prove`)."""

    name = "z3"

    def hook(self) -> Hook:
        """``checkers.symbolic.bmc.scorecard_cell``."""
        return bmc.scorecard_cell


class FuzzAdapter(RowByRowAdapter):
    """Hypothesis stateful testing of impl against model (`pitmirror fuzz`): its drains show a write that
    can never complete, so it covers liveness too."""

    name = "fuzz"
    liveness = True

    def hook(self) -> Hook:
        """``checkers.conformance.fuzz.scorecard_cell``."""
        return fuzz_checker.scorecard_cell

    def impl_only_hook(self) -> Callable[[str], Mapping[str, Any]]:
        """``checkers.conformance.fuzz.impl_only_cell``: a bug of the impl alone against the correct model."""
        return fuzz_checker.impl_only_cell

    def impl_only_cells(self, names: Sequence[str]) -> list[Cell]:
        """The conformance cell of each implementation-only mutant, with progress; Ctrl-C leaves the rest
        ``not run``."""
        hook = self.impl_only_hook()
        out: list[Cell] = []
        for k, name in enumerate(names):
            if self.settings.progress is not None:
                self.settings.progress(self.name, k, len(names), f"impl-only {name}")
            if self.interrupted:
                out.append(Cell(Outcome.NOT_RUN, note="interrupted (Ctrl-C) before this cell"))
                continue
            started = time.perf_counter()
            try:
                got = hook(name)
            except KeyboardInterrupt:
                self.interrupted = True
                out.append(Cell(Outcome.NOT_RUN, note="interrupted (Ctrl-C) before this cell"))
                continue
            cell = Cell.from_mapping(got)
            if cell.seconds is None:
                cell = Cell(cell.verdict, cell.property, cell.steps, time.perf_counter() - started, cell.note)
            out.append(cell)
        if self.settings.progress is not None:
            self.settings.progress(self.name, len(names), len(names), "done")
        return out


#: The registry: checker name -> adapter. A new checker adds one line here.
ADAPTERS: dict[str, type[CheckerAdapter]] = {a.name: a for a in (ExplicitAdapter, SymbolicAdapter, FuzzAdapter)}


@dataclass
class Scorecard:
    """Rows (mutants, then the correct protocol) x checker columns."""

    checkers: list[str]
    rows: list[str]
    expected: dict[str, str]  # row -> the property its mutant is meant to break ("" for the correct protocol)
    cells: dict[tuple[str, str], Cell]  # (row, checker) -> cell
    bounds: Bounds
    partial: bool = False  # Ctrl-C ended the run: some cells are ``not run``
    impl_only: dict[str, Cell] = field(default_factory=dict)  # implementation-only mutant -> conformance cell

    def impl_only_missed(self) -> list[str]:
        """Implementation-only mutants conformance ran on and did not catch."""
        return [n for n, c in self.impl_only.items() if c.verdict not in {Outcome.CAUGHT, *NO_VERDICT}]

    def impl_only_caught(self) -> int:
        """Implementation-only mutants conformance caught."""
        return sum(c.verdict is Outcome.CAUGHT for c in self.impl_only.values())

    def cell(self, row: str, checker: str) -> Cell:
        """One cell."""
        return self.cells[(row, checker)]

    def missed(self, checker: str) -> list[str]:
        """Mutants this checker ran on and did not catch (out-of-scope and not-run cells are no misses)."""
        return [r for r in self.rows if r != CORRECT
                and self.cell(r, checker).verdict not in {Outcome.CAUGHT, *NO_VERDICT}]

    def caught(self, checker: str) -> int:
        """Mutants this checker caught."""
        return sum(self.cell(r, checker).verdict is Outcome.CAUGHT for r in self.rows if r != CORRECT)

    def false_alarms(self, checker: str) -> bool:
        """The checker reports a property the design requires as violated on the correct protocol."""
        return self.cell(CORRECT, checker).verdict is Outcome.FALSE_ALARM

    def unexplained(self) -> list[tuple[str, str]]:
        """Cells that are neither a catch nor an explained miss (should be none)."""
        return [k for k, c in self.cells.items() if not c.explained()] + \
            [(n, IMPL_ONLY_COLUMN) for n, c in self.impl_only.items() if not c.explained()]

    def to_json(self) -> dict[str, Any]:
        """The scorecard as JSON data."""
        return {
            "bounds": self.bounds.to_json(), "checkers": self.checkers,
            "rows": [{"row": r, "expected": self.expected[r] or None,
                      "cells": {c: self.cell(r, c).to_json() for c in self.checkers}} for r in self.rows],
            "caught": {c: self.caught(c) for c in self.checkers},
            "missed": {c: self.missed(c) for c in self.checkers},
            "mutants": len(self.rows) - 1, "partial": self.partial,
            "impl_only": [{"row": n, "bug": IMPL_ONLY_MUTANTS[n], "cells": {IMPL_ONLY_COLUMN: c.to_json()}}
                          for n, c in self.impl_only.items()],
            "impl_only_caught": self.impl_only_caught(), "impl_only_missed": self.impl_only_missed(),
        }

    def footnotes(self) -> tuple[dict[tuple[str, str], int], list[str]]:
        """Numbered notes of the cells, the same note of one checker numbered once (an unavailable
        checker explains itself once, not in every row): (row, checker) -> number, and the notes."""
        numbers: dict[str, int] = {}
        refs: dict[tuple[str, str], int] = {}
        for r in self.rows:
            for c in self.checkers:
                note = self.cell(r, c).note
                if note:
                    text = f"{c}: {note}" if self.cell(r, c).verdict is Outcome.NOT_RUN else f"{r} / {c}: {note}"
                    refs[(r, c)] = numbers.setdefault(text, len(numbers) + 1)
        for n, cell in self.impl_only.items():
            if cell.note:
                text = f"{n} / {IMPL_ONLY_COLUMN}: {cell.note}"
                refs[(n, IMPL_ONLY_COLUMN)] = numbers.setdefault(text, len(numbers) + 1)
        return refs, list(numbers)

    def to_markdown(self) -> str:
        """The scorecard as a Markdown table, with the notes of the cells as footnotes."""
        head = ["mutant", "meant to break", *self.checkers]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        refs, notes = self.footnotes()
        for r in self.rows:
            row = [f"`{r}`" if r != CORRECT else f"**{r}**", f"`{self.expected[r]}`" if self.expected[r] else ""]
            for c in self.checkers:
                text = self.cell(r, c).text().replace("|", "\\|")
                if (r, c) in refs:
                    text += f" [{refs[(r, c)]}]"
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
        caught = ", ".join(f"{c}: {self.caught(c)} of {len(self.rows) - 1}" for c in self.checkers)
        b = ", ".join(f"{k}={v}" for k, v in self.bounds.to_json().items() if k not in ("mutant", "recovery_kind"))
        title = "# pitmirror scorecard: mutants x checkers" + (" (PARTIAL: interrupted by Ctrl-C)" if self.partial
                                                               else "")
        out = [title, "", f"Bounds: {b}.", "", *lines, "",
               f"Mutants caught: {caught}.", ""]
        if self.impl_only:
            out += ["## Implementation-only mutants", "",
                    "Bugs of the implementation alone (`impl.mutants.IMPL_ONLY_MUTANTS`): the model stays correct, "
                    "so no model checker has anything to catch; conformance (abstraction(impl) == model after every "
                    "fuzz step, at the fuzz column's bounds and budget) catches each and names the first divergent "
                    "field.",
                    "", f"| implementation-only mutant | the bug | {IMPL_ONLY_COLUMN} |", "|---|---|---|"]
            for n, cell in self.impl_only.items():
                text = cell.text().replace("|", "\\|")
                if (n, IMPL_ONLY_COLUMN) in refs:
                    text += f" [{refs[(n, IMPL_ONLY_COLUMN)]}]"
                out.append(f"| `{n}` | {IMPL_ONLY_MUTANTS[n]} | {text} |")
            out += ["", f"Implementation-only mutants caught by conformance: {self.impl_only_caught()} of "
                        f"{len(self.impl_only)}.", ""]
        if notes:
            out += ["Notes:", "", *(f"{i}. {n.replace(chr(10), ' ')}" for i, n in enumerate(notes, 1)), ""]
        return "\n".join(out)

    def write(self, markdown: Path | None, json_path: Path | None) -> None:
        """Write the Markdown and JSON files (creating folders)."""
        for path, text in ((markdown, self.to_markdown()), (json_path, json.dumps(self.to_json(), indent=1))):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text + "\n")


def build(checkers: Sequence[str], settings: Settings, mutants: Sequence[str] | None = None) -> Scorecard:
    """Run every named checker on every mutant (all of ``MUTANTS`` unless ``mutants`` names some) and on
    the correct protocol; with the fuzz column and no ``mutants`` named, also every implementation-only
    mutant (its own table, one conformance column)."""
    targets: list[Target] = [MUTANTS[n] for n in (mutants if mutants is not None else MUTANTS)] + [None]
    rows = [row_label(t) for t in targets]
    cells: dict[tuple[str, str], Cell] = {}
    impl_only: dict[str, Cell] = {}
    partial = False
    for name in checkers:
        adapter = None if partial else ADAPTERS[name](settings)  # Ctrl-C ends the whole scorecard, not one column
        if adapter is None:
            got = [Cell(Outcome.NOT_RUN, note="interrupted (Ctrl-C) before this column") for _ in targets]
        else:
            got = adapter.cells(targets)
            partial = adapter.interrupted
        for t, cell in zip(targets, got, strict=True):
            cells[(row_label(t), name)] = cell
        if name == FuzzAdapter.name and mutants is None:
            names = list(IMPL_ONLY_MUTANTS)
            if isinstance(adapter, FuzzAdapter) and not partial:
                impl_only = dict(zip(names, adapter.impl_only_cells(names), strict=True))
                partial = adapter.interrupted
            else:
                impl_only = {n: Cell(Outcome.NOT_RUN, note="interrupted (Ctrl-C) before this column") for n in names}
    expected = {row_label(t): "" if t is None else t.breaks for t in targets}
    return Scorecard(list(checkers), rows, expected, cells, settings.base, partial, impl_only)
