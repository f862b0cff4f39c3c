"""``pitmirror prove --infer``: invariant inference (``checkers.symbolic.houdini``) on the proof system.

Exit codes as every command: 0 only when every property asked for follows from the inferred invariant (a
proof for any number of writes, on the proof system of docs/PROOFS.md); 3 when one does not (nothing is
shown violated: inference only fails to find a strong enough invariant) or the solver gave up; 130 on Ctrl-C.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.table import Table

from pitmirror.checkers.cli.common import (
    ExitCode,
    Ticker,
    is_ctrl_c,
    lit,
    out,
    proof_system_shape,
    results_doc,
    worst,
    write_json,
)
from pitmirror.checkers.symbolic.houdini import REACHED, Inference, infer, readable
from pitmirror.model.config import Bounds
from pitmirror.spec.state import RecoveryKind

#: What ``prove --infer`` proves when no ``--property`` is given: the three core properties of issue 15.
CORE = ("mirror_consistent", "journal_well_formed", "replay_is_point_in_time")


def run_infer(base: Bounds, kinds: tuple[RecoveryKind, ...], props: list[str], timeout_s: int, limit: int,
              quiet: bool, json_path: Path | None, minimise: bool = False) -> ExitCode:
    """Infer an invariant per recovery kind, print it and the verdict of each property; the exit status. With
    ``minimise``, also the subset of it the proofs need (``houdini.minimise``), printed instead of the whole."""
    status = ExitCode.OK
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for kind in kinds:
            b = base.with_(recovery_kind=kind)
            kname = kind.name.lower()
            out.print(f"[bold]{kname} recovery[/]" + (f", mutant {lit(b.mutant)}" if b.mutant else "")
                      + f": invariant inference (Houdini), {proof_system_shape(b)}")
            with Ticker(quiet) as ticker:
                update = ticker.task(f"inference ({kname})")

                def progress(msg: str, update: Any = update) -> None:
                    update(None, None, msg)
                    if not quiet and msg.startswith(("filter", "inductive")):
                        out.print(f"  {lit(msg)}")

                res = infer(b, props, filter_bounds=b, limit=limit, timeout_ms=timeout_s * 1000, progress=progress,
                            minimal=minimise)
            status = worst(status, _report(res, kname, props, quiet))
            runs.append({"label": kname, "checker": "z3", "bounds": b.to_json(), "mode": "houdini inference",
                         "seconds": round(sum(res.seconds.values()), 3), "complete": True,
                         "invariant": [c.text for c in res.invariant],
                         "minimised_invariant": [c.text for c in res.minimal],
                         # what the text output prints: grouped by guard (the minimised one with --minimise)
                         "readable_invariant": readable(res.minimal or res.invariant),
                         "results": [{"property": p, "kind": "always", "verdict": res.proved[p],
                                      "seconds": round(sum(res.seconds.values()), 3), "note": res.note}
                                     for p in props]})
    except BaseException as e:
        if not is_ctrl_c(e):  # Ctrl-C may surface in disguise: raised inside a Z3 call's ctypes conversion
            raise
        out.print("[yellow]interrupted (Ctrl-C): partial results[/]")
        status = worst(status, ExitCode.INTERRUPTED)
    if json_path is not None:
        write_json(json_path, results_doc("prove", status, time.perf_counter() - started, runs))
    return status


def _report(res: Inference, kname: str, props: list[str], quiet: bool) -> ExitCode:
    """Print the invariant found and the verdicts; the status they make."""
    structural = [c for c in res.invariant if c.origin == "well_formed"]
    shown = [c for c in res.invariant if c.origin != "well_formed"]
    out.print(f"  {res.generated} candidates from templates, {res.filtered} hold on {res.states} reachable "
              f"states, {len(res.invariant)} conjuncts inductive after {res.rounds} solver queries "
              f"(filter {res.seconds.get('filter', 0):.1f}s, fixpoint {res.seconds.get('houdini', 0):.1f}s)")
    if res.minimal:
        # what the proofs need: a subset of the invariant, still inductive, found by unsat cores (minimise)
        shown = [c for c in res.minimal if c.origin != "well_formed"]
        out.print(f"  minimised for the properties proved: {len(shown)} conjuncts and the {len(structural)} "
                  f"structural ones ({res.minimise_queries} queries, {res.seconds.get('minimise', 0):.1f}s)")
    if not quiet:
        which = "minimised" if res.minimal else "inferred"
        out.print(f"  {which} invariant ({kname}): {len(shown)} conjuncts, and {len(structural)} structural ones "
                  "(bmc.well_formed: ranges, lengths within capacity)"
                  + ("" if res.minimal else "; --minimise keeps only what the proofs need"))
        # one heading per guard, its facts below (the structural ones counted, not listed)
        for line in readable(shown):
            out.print(f"    {lit(line)}", soft_wrap=True)
    table = Table(title=f"{kname} recovery (invariant inference)", pad_edge=False)
    for col in ("property", "verdict", "note"):
        table.add_column(col)
    status = ExitCode.OK
    for p in props:
        verdict = res.proved[p]
        style = "green" if verdict == "proved" else "yellow"
        if verdict != "proved":
            status = ExitCode.INCONCLUSIVE
        if verdict == "proved":
            note = "from the inferred invariant alone"
        elif res.dropped_by.get(p) == REACHED:
            note = ("false on a state the model reaches at these budgets: `pitmirror check` shows the violation "
                    "(nothing proved)")
        elif res.note:
            note = res.note
        elif p in res.dropped_by:
            note = (f"not inductive with what the templates give: a step {res.dropped_by[p]} from a state of the "
                    "invariant breaks it (nothing is violated, nothing proved)")
        else:
            note = "the inferred invariant does not imply it (nothing is violated, nothing proved)"
        table.add_row(p, f"[{style}]{verdict}[/]", lit(note))
    out.print(table)
    return status


__all__ = ["CORE", "run_infer"]
