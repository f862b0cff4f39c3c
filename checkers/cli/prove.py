"""``pitmirror prove``: Z3 bounded model checking and k-induction of the safety properties.

Exit codes as every command (``common.ExitCode``): 0 when every property holds up to the depth (or is
proved), an expected trade-off shown as such; 1 when a property is violated; 2 for a usage error; 3 when a
property is not proved by k-induction (its counterexample to induction, verdict ``possibly-unreachable``,
is no violation but nothing was proved) or the solver gave up (a timeout); 130 when Ctrl-C stopped the run
(the query in flight is cancelled, ``solving.check``, and the whole run stops there).
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    is_ctrl_c,
    json_option,
    lit,
    make_bounds,
    out,
    proof_system_shape,
    results_doc,
    worst,
    write_json,
)
from pitmirror.checkers.cli.infer import CORE as INFER_CORE
from pitmirror.checkers.cli.infer import run_infer
from pitmirror.checkers.symbolic import solving
from pitmirror.checkers.symbolic.bmc import CapacityError, DecodeError, DepthReport, Outcome, Unroller, bmc_all
from pitmirror.checkers.symbolic.induction import Discharged, Discharger
from pitmirror.checkers.symbolic.induction import induction as k_induction
from pitmirror.checkers.traces.trace import Trace
from pitmirror.model.config import Bounds
from pitmirror.spec.invariants import support as invariant_support
from pitmirror.spec.properties import (
    BY_NAME,
    EXPECTED_TRADE_OFFS,
    SAFETY,
    TRADE_OFF_WINDOWS,
    Kind,
    Property,
    trade_off,
    with_windows,
)
from pitmirror.spec.state import RecoveryKind


@cli.command("prove")
@bounds_options
@click.option("--depth", type=click.IntRange(0, 60), default=None,
              help="BMC: transitions to unroll (default 8); --induction: the largest k to try (default 1)")
@click.option("--induction", is_flag=True, help="prove by k-induction (every depth) instead of bounded checking")
@click.option("--bounded", is_flag=True,
              help="--induction: prove at the given budgets, not on the proof system without budgets "
                   "(docs/PROOFS.md)")
@click.option("--infer", is_flag=True,
              help="infer an inductive invariant (Houdini over templates) on the proof system and prove the "
                   "properties from it alone (default: the three core properties; docs/PROOFS.md)")
@click.option("--minimise", is_flag=True,
              help="--infer: also reduce the inferred invariant, by unsat cores, to what the proofs need (readable, "
                   "but about one and a half times the search's time again)")
@click.option("--recovery", type=click.Choice(sorted(KINDS)), default="both", show_default=True,
              help="recovery kind; 'both' proves each kind")
@click.option("--mutant", default=None, metavar="NAME", help="seed a known bug (see `pitmirror mutants`)")
@click.option("--property", "properties", multiple=True, metavar="NAME",
              help="prove only these safety properties (repeatable)")
@click.option("--values-bits", type=click.IntRange(1, 62), default=None,
              help="symbolic block values of this many bits (2^N values per block) instead of --values")
@click.option("--timeout", "timeout_s", type=click.IntRange(min=0), default=0,
              help="seconds per solver call (0: none)")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("traces"),
              show_default=True, help="folder for counterexample traces")
@json_option
@click.option("--jobs", type=click.IntRange(1, 8), default=2, show_default=True,
              help="worker processes: BMC proves the two recovery kinds side by side (2 or more), --induction "
                   "spreads the step case's proof obligations over them")
@click.option("--no-symmetry", "no_symmetry", is_flag=True,
              help="--induction: ask a message's delivery, loss or duplication at every path slot, not at slot 0 "
                   "alone (which stands for all where Z3 proves the path's order immaterial; docs/PROOFS.md)")
@click.option("--quiet", is_flag=True, help="no per-depth progress")
def prove(preset: str, fence: str | None, depth: int | None, induction: bool, bounded: bool, infer: bool,
          minimise: bool, recovery: str,
          mutant: str | None,
          properties: tuple[str, ...], values_bits: int | None, timeout_s: int, out_dir: Path,
          json_path: Path | None, jobs: int, no_symmetry: bool, quiet: bool, **bounds: int | None) -> None:
    """Bounded model checking (or k-induction) of every safety property with Z3, over the same model.

    BMC asks whether any property fails within --depth steps, over bit-vectors wide enough that no term can
    wrap within them (the same answers as over integers, faster); a violation is shortened to a shortest one.
    With --induction the proofs are on the proof system (docs/PROOFS.md): no budget of host writes, markers,
    checkpoints, faults or recoveries, sequence numbers and values any integer; --blocks, --concurrency,
    --journal-capacity, --write-blocks and --fence are its parameters, and --message-faults the slack of its
    bounded channel. Exit 0 only when every property asked for is proved."""
    check_names(mutant, properties)
    if bounded and not induction:
        raise UsageError("--bounded applies to --induction (BMC is always bounded)")
    if no_symmetry and not induction:
        raise UsageError("--no-symmetry applies to --induction (BMC and --infer take every path slot)")
    for name in properties:
        if BY_NAME[name].kind is not Kind.ALWAYS:
            raise UsageError(f"{name} is a {BY_NAME[name].kind.value} property; prove handles safety (always) "
                             "properties")
    # a trade-off property is proved with its window, so its label cannot hide a violation outside it
    props = [BY_NAME[n] for n in with_windows(properties)] if properties else list(SAFETY)
    base = make_bounds(preset, fence, mutant, bounds)
    if minimise and not infer:
        raise UsageError("--minimise applies to --infer")
    if infer:
        _usage_of_infer("--infer", induction, bounded, depth, values_bits, out_dir)
        if json_path is not None:
            check_out_file(json_path, "--json", frozenset())
        names = [p.name for p in props] if properties else list(INFER_CORE)
        sys.exit(run_infer(base, KINDS[recovery], names, timeout_s, INFER_STATES, quiet, json_path, minimise))
    if depth is None:
        depth = 1 if induction else 8
    if induction and depth == 0:
        raise UsageError("--induction needs --depth 1 or more (k of k-induction)")
    check_out_dir(out_dir)
    if json_path is not None:
        check_out_file(json_path, "--json", frozenset({out_dir}))
    unbounded = induction and not bounded
    if unbounded and values_bits is not None:
        raise UsageError("--values-bits applies to the bounded system: the proof system's values are any integer")
    mode = f"BMC to depth {depth}"
    if induction:
        mode = f"{depth}-induction, " + ("unbounded" if unbounded else "bounded")
    run = _Run(depth, induction, props, values_bits, timeout_s, out_dir, quiet, mode,
               pairs=len(props) * len(KINDS[recovery]), unbounded=unbounded, symmetry=not no_symmetry)
    started = time.perf_counter()
    try:
        run.kinds([base.with_(recovery_kind=kind) for kind in KINDS[recovery]], jobs)
    except BaseException as e:
        if not is_ctrl_c(e):  # Ctrl-C may surface in disguise: raised inside a Z3 call's ctypes conversion
            raise
        # the query in flight was cancelled (``solving.check``) and the run stopped there (workers are killed
        # by the Discharger or ``_bmc_side_by_side``); what was decided so far is printed, marked partial
        run.interrupted = True
        run.table()
        out.print(f"[yellow]interrupted (Ctrl-C): partial results, {run.position()}[/]")
        run.status = worst(run.status, ExitCode.INTERRUPTED)
    if json_path is not None:
        write_json(json_path, results_doc("prove", run.status, time.perf_counter() - started, run.runs))
    sys.exit(run.status)


#: How many explicitly reachable states (at the given budgets) ``--infer`` filters its candidates on.
INFER_STATES = 60_000


def _usage_of_infer(mode: str, induction: bool, bounded: bool, depth: int | None, values_bits: int | None,
                    out_dir: Path) -> None:
    """``--infer`` and ``--spacer`` prove on the proof system from an invariant they find: options of the other
    modes are errors."""
    for given, name in ((induction, "--induction"), (bounded, "--bounded"), (depth is not None, "--depth"),
                        (values_bits is not None, "--values-bits"), (out_dir != Path("traces"), "--out")):
        if given:
            raise UsageError(f"{name} does not apply to {mode} (it proves on the proof system from an invariant "
                             "it finds, and writes no trace)")


def _encoding_error(names: str, e: DecodeError | CapacityError) -> str:
    """What a run that ends with exit 70 says: the encoding disagrees with the model, or a capacity is too small
    for a step (an error, never a pruned transition), and ``names`` get no verdict."""
    if isinstance(e, DecodeError):
        return f"internal disagreement between the Z3 encoding and the model: {e}"
    return f"no verdict for {names}: {e}"


@contextmanager
def _no_verdict_on_encoding_errors(names: str) -> Iterator[None]:
    """An encoding error (``_encoding_error``) ends the run with exit 70 and no verdict for ``names``."""
    try:
        yield
    except (DecodeError, CapacityError) as e:
        out.print(f"[bold red]{lit(_encoding_error(names, e))}[/]")
        sys.exit(ExitCode.INTERNAL)


@dataclass(frozen=True)
class _BmcKind:
    """One recovery kind's BMC of every property asked, as sent to a worker process."""

    bounds: Bounds
    props: tuple[str, ...]
    depth: int
    values_bits: int | None
    timeout_ms: int
    quiet: bool


def _bmc_kind(job: _BmcKind, emit: Callable[[str, Any], None]) -> None:
    """BMC of every property at once (``bmc_all``: one query asks for any of them within d steps, and each still
    gets its own shortest violation), told as messages as it goes: ``("line", text)``, ``("asking", (label,
    depth))``, ``("tick", None)`` (a query still running, in this process) and ``("report", DepthReport)``; then
    ``("done", (outcomes, seconds))`` (the outcomes in the order asked, the kind's wall time) or ``("error",
    text)`` when the encoding and the model disagree or a capacity is too small (no verdict)."""
    started = time.perf_counter()
    b = job.bounds
    # stutter steps: a run of d steps covers every shorter one
    un = Unroller(b, job.values_bits, stutter=True)
    sym = un.enc.properties()
    props = [BY_NAME[n] for n in job.props]
    if not job.quiet:
        emit("line", f"encoding: {len(un.lay.names)} slots per state, {len(un.enc.instances)} action instances "
                     f"({time.perf_counter() - started:.1f}s)")
        # bmc_all's own width (the ranges are cached): what the queries are over, and why they are exact
        bits = un.bit_width(job.depth, [(p.name, sym[p.name]) for p in props])
        emit("line", f"queries over {bits}-bit vectors: no term can wrap within {job.depth} steps")
    # a seeded bug is expected to show, at a depth not known: up depth by depth; the protocol itself is expected
    # to hold: one query at the full depth (the outcomes are the same either way, bmc_all)
    strategy = "up" if b.mutant is not None else "down"
    try:
        together = bmc_all(un, props, sym, job.depth, lambda r: emit("report", r), job.timeout_ms, strategy,
                           asking=lambda label, d: emit("asking", (label, d)), waiting=lambda: emit("tick", None))
    except (DecodeError, CapacityError) as e:
        emit("error", _encoding_error(", ".join(job.props), e))
        return
    emit("done", ([together[p.name] for p in props], time.perf_counter() - started))


def _bmc_kind_in_worker(job: _BmcKind, messages: Any) -> None:
    """A worker process's whole life: one kind's BMC, every message put on ``messages`` with the kind."""
    solving.ignore_ctrl_c_in_worker()  # the parent stops the workers on Ctrl-C
    kind = job.bounds.recovery_kind
    try:
        _bmc_kind(job, lambda tag, x: messages.put((kind, tag, x)))
    except BaseException:  # the parent reports it: a worker has no console of its own
        messages.put((kind, "crash", traceback.format_exc()))


class _KindProgress:
    """One recovery kind's BMC progress line: each query as it is put, each answer (also printed as a line, after
    the kind's name when kinds run side by side), and on a tick the latest of them again, so a log gets its
    periodic line while a query runs."""

    def __init__(self, run: _Run, ticker: Ticker, kind: RecoveryKind, where: str, prefix: bool) -> None:
        kname = kind.name.lower()
        self.where = where
        self.latest = f"{where}: starting"
        self._update = ticker.task(f"{len(run.props)} properties ({kname})")
        self.report = run._depth_reporter(ticker, self._set, where, f"{kname}: " if prefix else "")

    def _set(self, completed: int | None = None, total: int | None = None, info: str = "") -> None:
        self.latest = info
        self._update(completed, total, info)

    def ask(self, label: str, depth: int) -> None:
        """A query is put: ``label`` within ``depth`` steps."""
        self._set(info=f"{self.where}: asking within {depth} steps ({label})")

    def tick(self) -> None:
        """Still waiting: the latest news again (a log prints it once per period)."""
        self._update(None, None, self.latest)


class _Run:
    """One ``prove`` run: the property x kind pairs in order, their outcomes, tables and exit status."""

    def __init__(self, depth: int, induction: bool, props: list[Property], values_bits: int | None,
                 timeout_s: int, out_dir: Path, quiet: bool, mode: str, pairs: int, unbounded: bool = False,
                 symmetry: bool = True) -> None:
        self.depth, self.induction, self.props, self.values_bits = depth, induction, props, values_bits
        self.unbounded = unbounded
        self.symmetry = symmetry
        self.timeout_s, self.out_dir, self.quiet, self.mode = timeout_s, out_dir, quiet, mode
        self.status = ExitCode.OK
        self.runs: list[dict[str, Any]] = []
        self.outcomes: list[Outcome] = []
        self.bounds: Bounds | None = None
        self.pairs_done = 0
        self.pairs_total = pairs
        self.interrupted = False
        # BMC's outcomes per kind and the kind's seconds, until its table is printed
        self.finished: dict[RecoveryKind, tuple[list[Outcome], float]] = {}

    def position(self) -> str:
        """Where the run is among its property x kind pairs."""
        return f"{self.pairs_done} of {self.pairs_total} property x kind pairs decided"

    def header(self, b: Bounds) -> None:
        """The line that opens a recovery kind's part of the run: the mode and the shape of the system."""
        kname = b.recovery_kind.name.lower()
        values = "any" if self.unbounded else f"2^{self.values_bits}" if self.values_bits else str(b.values)
        blocks = f"{b.blocks} block{'s' if b.blocks != 1 else ''}"
        shape = proof_system_shape(b) if self.unbounded else f"{blocks} x {values} values"
        out.print(f"[bold]{kname} recovery[/]" + (f", mutant {lit(b.mutant)}" if b.mutant else "")
                  + f": {self.mode}, {shape}")

    def kinds(self, bases: list[Bounds], jobs: int) -> None:
        """Prove every property for each recovery kind and print a table per kind. BMC runs the kinds side by
        side, one worker process each, when ``jobs`` allows (``_bmc_side_by_side``); induction runs them one
        after the other, its obligations spread over the ``jobs`` workers."""
        if not self.induction and jobs > 1 and len(bases) > 1:
            self._bmc_side_by_side(bases)
            return
        with Discharger(jobs if self.induction else 1) as discharger:
            for b in bases:
                self.kind(b, discharger)

    def kind(self, b: Bounds, discharger: Discharger) -> None:
        """Prove every property for one recovery kind, in this process, and print its table."""
        self.bounds, self.outcomes = b, []
        kname = b.recovery_kind.name.lower()
        self.header(b)
        if not self.induction:
            with Ticker(self.quiet) as ticker:
                on = self._bmc_printer(ticker, [b.recovery_kind], prefix=False)
                _bmc_kind(self.job(b), lambda tag, x: on(b.recovery_kind, tag, x))
            self.outcomes, seconds = self.finished.pop(b.recovery_kind)
            self.table(seconds)
            return
        started = time.perf_counter()
        # induction keeps the plain relation (BMC's has stutter steps: a run of d steps covers every shorter one)
        un = Unroller(b, self.values_bits, self.unbounded, stutter=False)
        if not self.quiet:
            out.print(f"  encoding: {len(un.lay.names)} slots per state, {len(un.enc.instances)} action instances "
                      f"({time.perf_counter() - started:.1f}s)")
        with Ticker(self.quiet) as ticker:
            # fewest invariants first: the obligations they discharge are reused by the proofs whose Q contains
            # theirs (``HeldObligations``); the table keeps the catalogue's order
            order = sorted(self.props, key=lambda p: len(invariant_support(p.name, b.recovery_kind)))
            for p in order:
                update = ticker.task(f"{p.name} ({kname})")
                where = f"pair {self.pairs_done + 1} of {self.pairs_total}"
                report = self._depth_reporter(ticker, update, where)

                def on_obligation(d: Discharged, n: int, total: int, update: Callable[..., None] = update,
                                  where: str = where) -> None:
                    update(n, total, f"{where}: step k={d.k} obligations ({d.obligation})")

                reason = EXPECTED_TRADE_OFFS.get((p.name, b.recovery_kind))
                if reason is not None and b.mutant is None:
                    # false by design under this kind: no proof target; its window property is proved instead
                    window = TRADE_OFF_WINDOWS.get(p.name)
                    o = Outcome(p, "expected trade-off", 0, 0.0,
                                note=f"{reason}; not a proof target" + (f" ({window} is)" if window else ""))
                else:
                    with _no_verdict_on_encoding_errors(p.name):
                        support = invariant_support(p.name, b.recovery_kind)
                        o = k_induction(un, p, support, self.depth, report, self.timeout_s * 1000, discharger,
                                        on_obligation, symmetry=self.symmetry)
                self.outcomes.append(o)
                self.pairs_done += 1
        self.outcomes.sort(key=lambda o: self.props.index(o.prop))
        self.table(time.perf_counter() - started)

    def job(self, b: Bounds) -> _BmcKind:
        """What one kind's BMC needs, in a form a worker process can be sent."""
        return _BmcKind(b, tuple(p.name for p in self.props), self.depth, self.values_bits, self.timeout_s * 1000,
                        self.quiet)

    def _bmc_printer(self, ticker: Ticker, kinds: list[RecoveryKind],
                     prefix: bool) -> Callable[[RecoveryKind, str, Any], None]:
        """What to do with each message of a kind's BMC (``_bmc_kind``): print its lines and depths (after the
        kind's name when kinds run side by side), move its progress line, keep its outcomes in ``finished``
        and end the run with exit 70 on an encoding error. A ``("tick", None)`` repeats a kind's last progress,
        so a log gets its periodic line while a query runs."""
        first = self.pairs_done
        progress: dict[RecoveryKind, _KindProgress] = {}
        for i, kind in enumerate(kinds):
            lo = first + i * len(self.props) + 1
            where = f"pairs {lo}-{lo + len(self.props) - 1} of {self.pairs_total}"
            progress[kind] = _KindProgress(self, ticker, kind, where, prefix)

        def on(kind: RecoveryKind, tag: str, x: Any) -> None:
            lead = f"{kind.name.lower()}: " if prefix else ""
            if tag == "line":
                if not self.quiet:
                    (ticker.progress.print if ticker.live else out.print)(f"  {lead}{x}")
            elif tag == "report":
                progress[kind].report(x)
            elif tag == "tick":
                progress[kind].tick()
            elif tag == "asking":
                progress[kind].ask(*x)
            elif tag == "done":
                self.finished[kind] = x
                self.pairs_done += len(x[0])
            elif tag == "error":
                out.print(f"[bold red]{lead}{lit(x)}[/]")
                sys.exit(ExitCode.INTERNAL)
            else:
                raise RuntimeError(f"a BMC worker for {kind.name.lower()} recovery failed:\n{x}")

        return on

    def _bmc_side_by_side(self, bases: list[Bounds]) -> None:
        """BMC of the recovery kinds at once, one spawned worker process each (each builds its own Z3 context);
        their lines and depths are printed as they come, after the kind's name, and the tables in the kinds'
        order once all are done. Ctrl-C stops the workers at once and prints the tables of the kinds done."""
        for b in bases:
            self.header(b)
        if not self.quiet:
            out.print(f"  the {len(bases)} kinds side by side, one worker process each (--jobs 1: one after the other)")
        ctx = mp.get_context("spawn")
        messages = ctx.Queue()
        workers = []
        with solving.starting_workers():
            for b in bases:
                w = ctx.Process(target=_bmc_kind_in_worker, args=(self.job(b), messages), daemon=True)
                w.start()
                workers.append(w)
        done = False
        try:
            with Ticker(self.quiet) as ticker:
                on = self._bmc_printer(ticker, [b.recovery_kind for b in bases], prefix=True)
                while len(self.finished) < len(bases):
                    try:
                        kind, tag, x = messages.get(timeout=0.5)
                    except queue.Empty:
                        for b in bases:
                            if b.recovery_kind not in self.finished:
                                on(b.recovery_kind, "tick", None)
                        dead = [b.recovery_kind.name.lower() for b, w in zip(bases, workers, strict=True)
                                if w.exitcode is not None and b.recovery_kind not in self.finished]
                        if dead and messages.empty():
                            raise RuntimeError(f"the BMC worker for {', '.join(dead)} recovery ended without "
                                               "a result") from None
                        continue
                    on(kind, tag, x)
            done = True
        except BaseException as e:
            self.interrupted = is_ctrl_c(e)
            raise
        finally:
            for w in workers:
                if w.is_alive():
                    w.terminate()
                w.join()
            # the tables of the kinds done (all of them unless interrupted), in the kinds' order
            for b in bases if done or self.interrupted else ():
                if b.recovery_kind in self.finished:
                    self.bounds = b
                    self.outcomes, seconds = self.finished.pop(b.recovery_kind)
                    self.table(seconds)

    def _depth_reporter(self, ticker: Ticker, update: Callable[..., None], where: str,
                        lead: str = "") -> Callable[[DepthReport], None]:
        """Print each depth's time (a result, above a live display) and move the ticker's line."""

        def report(r: DepthReport) -> None:
            if not self.quiet:
                note = f"  {r.note}" if r.note else ""
                line = f"  {lead}{r.prop:<24} depth {r.depth:>2}  {r.result:<12} {r.seconds:7.2f}s{lit(note)}"
                (ticker.progress.print if ticker.live else out.print)(line)
            update(None, None, f"{where}: depth {r.depth} {r.result} ({r.seconds:.1f}s)")

        return report

    def table(self, seconds: float | None = None) -> None:
        """Print the current kind's outcomes, write their traces, and fold them into the exit status; ``seconds``
        is the kind's wall time (by default the sum of its outcomes', right when they were decided one after
        the other, as induction's are; BMC's are decided together, each outcome timed from the same start)."""
        b = self.bounds
        if b is None or not self.outcomes:
            return
        kind = b.recovery_kind
        kname = kind.name.lower()
        table = Table(title=f"{kname} recovery" + (f", mutant {lit(b.mutant)}" if b.mutant else "")
                      + f" ({self.mode})" + (" (partial)" if self.interrupted else ""), pad_edge=False)
        for col in ("property", "verdict", "depth", "seconds"):
            table.add_column(col, no_wrap=True)
        table.add_column("note", overflow="fold")
        results: list[dict[str, Any]] = []
        traces: list[str] = []
        for o in self.outcomes:
            verdict, style, note, path, trade = o.verdict, "green", o.note, None, False
            if o.verdict == "violated":
                path = self.out_dir / f"z3-{b.mutant or 'correct'}-{kname}-{o.prop.name}.json"
                Trace("z3", o.bounds or b, o.prop, "violated", o.steps, note=o.note).write(path)
                if o.bounds is not None and o.bounds.values != b.values:
                    note = f"replays at values={o.bounds.values}"
                reason = None if b.mutant is not None else trade_off(o.prop.name, kind, o.steps[-1][1])
                if reason is not None:
                    verdict, style, trade = "violated (expected trade-off)", "yellow", True
                    note = reason
                else:
                    style, self.status = "bold red", ExitCode.VIOLATED
            elif o.verdict == "not proved":
                path = self.out_dir / f"z3-cti-{b.mutant or 'correct'}-{kname}-{o.prop.name}.json"
                Trace("z3", b, o.prop, "possibly-unreachable", o.steps, note=o.note,
                      system="proof" if self.unbounded else "checked").write(path)
                verdict, style = "not proved (possibly-unreachable CTI)", "yellow"
                self.status = worst(self.status, ExitCode.INCONCLUSIVE)
            elif o.verdict == "holds":
                verdict = f"holds to depth {o.depth}"
            elif o.verdict == "proved":
                verdict = f"proved (every depth, k={o.depth})"
            elif o.verdict == "expected trade-off":
                style, trade = "yellow", True
            else:  # the solver gave up (a timeout): nothing decided
                style = "yellow"
                self.status = worst(self.status, ExitCode.INCONCLUSIVE)
            if path is not None:
                traces.append(f"trace of {o.prop.name}: {lit(path)}")
            steps = str(len(o.steps) - 1) if o.steps else str(o.depth)
            table.add_row(o.prop.name, f"[{style}]{verdict}[/]", steps, f"{o.seconds:.1f}", lit(note))
            results.append({"property": o.prop.name, "kind": o.prop.kind.value, "verdict": o.verdict,
                            "expected_trade_off": trade, "depth": o.depth,
                            "steps": len(o.steps) - 1 if o.steps else None, "seconds": round(o.seconds, 3),
                            "trace": None if path is None else str(path), "note": o.note})
        out.print(table)
        for line in traces:
            out.print(line, soft_wrap=True)
        self.runs.append({"label": kname, "checker": "z3", "bounds": b.to_json(), "mode": self.mode,
                          "seconds": round(sum(o.seconds for o in self.outcomes) if seconds is None else seconds, 3),
                          "complete": not self.interrupted, "results": results})
        self.outcomes = []
