"""``pitmirror prove``: Z3 bounded model checking and k-induction of the safety properties.

Exit codes as ``check``: 0 when every property holds up to the depth (or is proved), an expected trade-off
shown as such; 1 when a property is violated; 2 for a usage error. A property that k-induction cannot prove
is reported (with its counterexample to induction, verdict ``possibly-unreachable``) but is no violation.

The command is built by ``build_prove(cli_module)``: this module does not import ``checkers.cli`` (under
``python -m checkers.cli`` the running module is ``__main__``, and an import would load a second copy and a
cycle), it takes the shared bound options and helpers from the module that registers it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import click
from rich.table import Table

from checkers.symbolic import DecodeError, DepthReport, Outcome, Unroller, bmc
from checkers.symbolic import induction as k_induction
from checkers.trace import Trace
from spec.invariants import SUPPORT
from spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, SAFETY, Kind


def build_prove(cli: ModuleType) -> click.Command:
    """The ``prove`` command, using ``cli``'s bound options, ``make_bounds``, name checks and console."""
    kinds: dict[str, Any] = cli.KINDS
    usage_error: type[click.UsageError] = cli.UsageError
    out = cli.out
    bounds_options: Callable[[Callable[..., Any]], Callable[..., Any]] = cli._bounds_options

    @bounds_options
    @click.option("--depth", type=click.IntRange(0, 60), default=8, show_default=True,
                  help="BMC: transitions to unroll; --induction: the largest k to try")
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
    @click.option("--quiet", is_flag=True, help="no per-depth progress")
    def _prove(preset: str, fence: str | None, depth: int, induction: bool, recovery: str, mutant: str | None,
              properties: tuple[str, ...], values_bits: int | None, timeout_s: int, out_dir: Path, quiet: bool,
              **bounds: int | None) -> None:
        """Bounded model checking (or k-induction) of every safety property with Z3, over the same model."""
        cli._check_names(mutant, properties)
        for name in properties:
            if BY_NAME[name].kind is not Kind.ALWAYS:
                raise usage_error(f"{name} is a {BY_NAME[name].kind.value} property; prove handles safety (always) "
                                 "properties")
        props = [BY_NAME[n] for n in properties] if properties else list(SAFETY)
        base = cli.make_bounds(preset, fence, mutant, bounds)
        status = 0
        mode = f"{depth}-induction" if induction else f"BMC to depth {depth}"
        for kind in kinds[recovery]:
            b = base.with_(recovery_kind=kind)
            kname = kind.name.lower()
            values = f"2^{values_bits}" if values_bits else str(b.values)
            out.print(f"[bold]{kname} recovery[/]" + (f", mutant {b.mutant}" if b.mutant else "")
                      + f": {mode}, {b.blocks} blocks x {values} values")
            started = time.perf_counter()
            un = Unroller(b, values_bits)
            sym = un.enc.properties()
            invariants = un.enc.invariants()
            if not quiet:
                out.print(f"  encoding: {len(un.lay.names)} slots per state, {len(un.enc.instances)} action instances "
                          f"({time.perf_counter() - started:.1f}s)")

            def report(r: DepthReport) -> None:
                if not quiet:
                    out.print(f"  {r.prop:<24} depth {r.depth:>2}  {r.result:<12} {r.seconds:7.2f}s")

            outcomes: list[Outcome] = []
            for p in props:
                try:
                    if induction:
                        support = {n: f for n, f in invariants.items() if n in SUPPORT.get(p.name, ())}
                        o = k_induction(un, p, sym[p.name], support, depth, report, timeout_s * 1000)
                    else:
                        o = bmc(un, p, sym[p.name], depth, report, timeout_s * 1000)
                except DecodeError as e:
                    out.print(f"[bold red]internal disagreement between the Z3 encoding and the model: {e}[/]")
                    sys.exit(70)
                outcomes.append(o)
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
        sys.exit(status)

    return click.command("prove")(_prove)
