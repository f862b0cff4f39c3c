"""``pitmirror prove``: Z3 bounded model checking and k-induction of the safety properties.

Exit codes as ``check``: 0 when every property holds up to the depth (or is proved), an expected trade-off
shown as such; 1 when a property is violated; 2 for a usage error. A property that k-induction cannot prove
is reported (with its counterexample to induction, verdict ``possibly-unreachable``) but is no violation.

The command is built by ``build_prove(cli_module)``: this module does not import ``checkers.cli.main`` (under
``python -m pitmirror`` the running module is ``__main__``, and an import would load a second copy and a
cycle), it takes the shared bound options and helpers from the module that registers it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pitmirror.checkers.symbolic.bmc import DecodeError, DepthReport, Outcome, Unroller, bmc_all
from pitmirror.checkers.symbolic.induction import Discharged, Discharger
from pitmirror.checkers.symbolic.induction import induction as k_induction
from pitmirror.checkers.traces.trace import Trace
from pitmirror.model.config import Bounds
from pitmirror.spec.invariants import support as invariant_support
from pitmirror.spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, SAFETY, Kind, Property


def build_prove(cli: ModuleType) -> click.Command:
    """The ``prove`` command, using ``cli``'s bound options, ``make_bounds``, name checks and console."""
    kinds: dict[str, Any] = cli.KINDS
    usage_error: type[click.UsageError] = cli.UsageError
    out = cli.out
    bounds_options: Callable[[Callable[..., Any]], Callable[..., Any]] = cli._bounds_options

    @bounds_options
    @click.option("--depth", type=click.IntRange(0, 60), default=None,
                  help="BMC: transitions to unroll (default 8); --induction: the largest k to try (default 1)")
    @click.option("--induction", is_flag=True, help="prove by k-induction (every depth) instead of bounded checking")
    @click.option("--recovery", type=click.Choice(sorted(kinds)), default="both", show_default=True,
                  help="recovery kind; 'both' proves each kind")
    @click.option("--mutant", default=None, metavar="NAME", help="seed a known bug (see `pitmirror mutants`)")
    @click.option("--property", "properties", multiple=True, metavar="NAME",
                  help="prove only these safety properties (repeatable)")
    @click.option("--values-bits", type=click.IntRange(1, 62), default=None,
                  help="symbolic block values of this many bits (2^N values per block) instead of --values")
    @click.option("--timeout", "timeout_s", type=click.IntRange(min=0), default=0,
                  help="seconds per solver call (0: none)")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("traces"),
                  show_default=True, help="folder for counterexample traces")
    @click.option("--jobs", type=click.IntRange(1, 8), default=2, show_default=True,
                  help="--induction: worker processes for the step case's proof obligations")
    @click.option("--quiet", is_flag=True, help="no per-depth progress")
    def _prove(preset: str, fence: str | None, depth: int | None, induction: bool, recovery: str, mutant: str | None,
              properties: tuple[str, ...], values_bits: int | None, timeout_s: int, out_dir: Path, jobs: int,
              quiet: bool, **bounds: int | None) -> None:
        """Bounded model checking (or k-induction) of every safety property with Z3, over the same model."""
        cli._check_names(mutant, properties)
        for name in properties:
            if BY_NAME[name].kind is not Kind.ALWAYS:
                raise usage_error(f"{name} is a {BY_NAME[name].kind.value} property; prove handles safety (always) "
                                 "properties")
        props = [BY_NAME[n] for n in properties] if properties else list(SAFETY)
        base = cli.make_bounds(preset, fence, mutant, bounds)
        if depth is None:
            depth = 1 if induction else 8
        if induction and depth == 0:
            raise usage_error("--induction needs --depth 1 or more (k of k-induction)")
        mode = f"{depth}-induction" if induction else f"BMC to depth {depth}"
        with Discharger(jobs if induction else 1) as discharger:
            status = _prove_kinds(b0=base, depth=depth, induction=induction, recovery=recovery, props=props,
                                  values_bits=values_bits, timeout_s=timeout_s, out_dir=out_dir, quiet=quiet,
                                  mode=mode, discharger=discharger)
        sys.exit(status)

    def _prove_kinds(b0: Bounds, depth: int, induction: bool, recovery: str, props: list[Property],
                     values_bits: int | None, timeout_s: int, out_dir: Path, quiet: bool, mode: str,
                     discharger: Discharger) -> int:
        base, status = b0, 0
        for kind in kinds[recovery]:
            b = base.with_(recovery_kind=kind)
            kname = kind.name.lower()
            values = f"2^{values_bits}" if values_bits else str(b.values)
            out.print(f"[bold]{kname} recovery[/]" + (f", mutant {b.mutant}" if b.mutant else "")
                      + f": {mode}, {b.blocks} blocks x {values} values")
            started = time.perf_counter()
            un = Unroller(b, values_bits)
            sym = un.enc.properties()
            if not quiet:
                out.print(f"  encoding: {len(un.lay.names)} slots per state, {len(un.enc.instances)} action instances "
                          f"({time.perf_counter() - started:.1f}s)")

            def report(r: DepthReport) -> None:
                if not quiet:
                    note = f"  {r.note}" if r.note else ""
                    out.print(f"  {r.prop:<24} depth {r.depth:>2}  {r.result:<12} {r.seconds:7.2f}s{note}")

            outcomes: list[Outcome] = []
            try:
                if induction:
                    for p in props:
                        support = invariant_support(p.name, kind)
                        with _obligation_progress(out, p.name, quiet) as on_obligation:
                            outcomes.append(k_induction(un, p, support, depth, report, timeout_s * 1000, discharger,
                                                        on_obligation))
                else:  # every property on one solver, depth by depth (``bmc_all``)
                    together = bmc_all(un, props, sym, depth, report, timeout_s * 1000)
                    outcomes = [together[p.name] for p in props]
            except DecodeError as e:
                out.print(f"[bold red]internal disagreement between the Z3 encoding and the model: {e}[/]")
                sys.exit(70)
            table = Table(title=f"{kname} recovery" + (f", mutant {b.mutant}" if b.mutant else "") + f" ({mode})",
                          pad_edge=False)
            for col in ("property", "verdict", "depth", "seconds", "trace / note"):
                table.add_column(col)
            for o in outcomes:
                verdict, style, where = o.verdict, "green", o.note
                if o.verdict == "violated":
                    path = out_dir / f"z3-{b.mutant or 'correct'}-{kname}-{o.prop.name}.json"
                    Trace("z3", o.bounds or b, o.prop, "violated", o.steps, note=o.note).write(path)
                    where = str(path) + (f" (replays at values={o.bounds.values})"
                                         if o.bounds is not None and o.bounds.values != b.values else "")
                    if (o.prop.name, kind) in EXPECTED_TRADE_OFFS and b.mutant is None:
                        verdict, style = "violated (expected trade-off)", "yellow"
                        where = f"{path}: {EXPECTED_TRADE_OFFS[(o.prop.name, kind)]}"
                    else:
                        style, status = "bold red", 1
                elif o.verdict == "not proved":
                    path = out_dir / f"z3-cti-{b.mutant or 'correct'}-{kname}-{o.prop.name}.json"
                    Trace("z3", b, o.prop, "possibly-unreachable", o.steps, note=o.note).write(path)
                    verdict, style, where = "not proved (possibly-unreachable CTI)", "yellow", f"{path}: {o.note}"
                elif o.verdict == "holds":
                    verdict = f"holds to depth {o.depth}"
                elif o.verdict == "proved":
                    verdict = f"proved (every depth, k={o.depth})"
                else:
                    style = "yellow"
                steps = str(len(o.steps) - 1) if o.steps else str(o.depth)
                table.add_row(o.prop.name, f"[{style}]{verdict}[/]", steps, f"{o.seconds:.1f}", where)
            out.print(table)
        return status

    return click.command("prove")(_prove)


@contextmanager
def _obligation_progress(console: Console, prop: str, quiet: bool) -> Iterator[Callable[[Discharged, int, int], None]]:
    """A transient progress bar over the step case's proof obligations (nothing when quiet)."""
    if quiet:
        yield lambda d, n, total: None
        return
    with Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(f"{prop} step obligations", total=None)

        def update(d: Discharged, n: int, total: int) -> None:
            bar.update(task, completed=n, total=total, description=f"{prop} step k={d.k}: {d.obligation}")

        yield update
