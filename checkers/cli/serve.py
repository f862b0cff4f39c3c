"""``pitmirror serve``, ``pitmirror ctl ...`` and ``pitmirror trace validate``: the served arrays
(impl/device/) and the check of their event logs against the model (checkers/traces/eventlog.py).

Imported when one of them is asked for (``common.COMMAND_MODULES``, the ``trace`` group's ``modules``), it
registers all three with one call, ``build_serve(cli, trace)``. Exit codes:
0 done (a log that validates), 1 a log the model rejects or a refused control command, 2 usage error.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import click

from pitmirror.checkers.cli.common import cli
from pitmirror.checkers.cli.trace import trace
from pitmirror.checkers.traces.eventlog import LogError, validate
from pitmirror.impl.device.control import ControlError, call
from pitmirror.impl.device.serve import ServeConfig, ServeError, Supervisor, power_loss, saved_config
from pitmirror.impl.device.storage import DEVICE_MUTANTS

_SIZE = re.compile(r"^(\d+)([KMG]i?B?|B)?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``64M``, ``4K``, ``4096``: bytes (binary units)."""
    m = _SIZE.match(text.strip())
    if m is None:
        raise click.BadParameter(f"{text!r} is not a size like 64M, 4K or 4096")
    unit = (m.group(2) or "B")[0].upper()
    return int(m.group(1)) * {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[unit]


def build_serve(group: click.Group, trace: click.Group) -> None:
    """Add ``serve`` and ``ctl`` to ``group`` and ``validate`` to its ``trace`` group."""

    @group.command()
    @click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="folder for the drives (sparse files), tables and event logs; reused on restart")
    @click.option("--size", default="64M", show_default=True, help="volume size (P and S)")
    @click.option("--block-size", default="4K", show_default=True, help="block size")
    @click.option("--journal-capacity", type=int, default=4096, show_default=True,
                  help="journal records before a host write makes A checkpoint")
    @click.option("--atomic-write", default="64K", show_default=True,
                  help="the atomic write: a host write is journalled and mirrored in chunks of at most this "
                       "(a power of two from the block size to 4M), each all-or-none across a power loss")
    @click.option("--fence", type=click.Choice(["never", "data"]), default="never", show_default=True)
    @click.option("--host", default="127.0.0.1", show_default=True, help="loopback address for NBD and the path")
    @click.option("--port", "nbd_port", type=int, default=10809, show_default=True,
                  help="NBD port of P (S is served read-only on the next port)")
    @click.option("--path-port", type=int, default=10900, show_default=True, help="TCP port of the A-R path")
    @click.option("--mutant", type=click.Choice(DEVICE_MUTANTS), default=None, hidden=True,
                  help="a seeded bug of the served arrays (tests: acknowledge before the journal is synced)")
    def serve(folder: Path, size: str, block_size: str, journal_capacity: int, atomic_write: str, fence: str,
              host: str, nbd_port: int, path_port: int, mutant: str | None) -> None:
        """Serve array A (P, read-write) and array R (S, read-only) over NBD until interrupted."""
        cfg = ServeConfig(folder.resolve(), parse_size(size), parse_size(block_size), journal_capacity, fence,
                          host, nbd_port, path_port, mutant=mutant, atomic_write=parse_size(atomic_write))
        sup = Supervisor(cfg)
        try:
            sup.start()
        except ServeError as e:
            raise click.UsageError(str(e)) from None
        click.echo(f"P: nbd://{host}:{nbd_port}   S (read-only): nbd://{host}:{nbd_port + 1}   "
                   f"{cfg.blocks} blocks of {cfg.block_size} bytes, atomic writes of {cfg.atomic_write} bytes; "
                   f"ctl --dir {folder}")
        sup.watch()

    @group.group()
    def ctl() -> None:
        """Control a served pair (while clients write)."""

    def _call(folder: Path, command: str, site: str = "A", **args: Any) -> None:
        try:
            answer = call(folder, command, site, **args)
        except ControlError as e:
            raise click.UsageError(str(e)) from None
        click.echo(json.dumps(answer, indent=2))
        if not answer.get("ok"):
            sys.exit(1)

    folder_opt = click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
                              required=True, help="the folder given to serve")

    @ctl.command()
    @folder_opt
    @click.argument("name")
    def marker(folder: Path, name: str) -> None:
        """Set a named consistency point."""
        _call(folder, "marker", name=name)

    @ctl.command()
    @folder_opt
    @click.option("--to", "to", required=True, help="marker name or sequence number")
    @click.option("--method", type=click.Choice(["writethrough", "swap"]), default="writethrough",
                  show_default=True)
    def recover(folder: Path, to: str, method: str) -> None:
        """Recover P and S to a marker or sequence number."""
        _call(folder, "recover", to=int(to) if to.isdigit() else to, method=method)

    @ctl.command()
    @folder_opt
    @click.option("--site", type=click.Choice(["A", "R"]), default="A", show_default=True)
    def status(folder: Path, site: str) -> None:
        """The pair, the journal window, the path."""
        _call(folder, "status", site)

    @ctl.command("fail-path")
    @folder_opt
    def fail_path(folder: Path) -> None:
        """Cut the path (R answers what it already read)."""
        _call(folder, "fail-path")

    @ctl.command("repair-path")
    @folder_opt
    def repair_path(folder: Path) -> None:
        """Restore the path (A reconnects and resynchronizes)."""
        _call(folder, "repair-path")

    @ctl.command("delay-path")
    @folder_opt
    @click.argument("ms", type=click.FloatRange(0, 60_000))
    def delay_path(folder: Path, ms: float) -> None:
        """Delay every message on the path by MS milliseconds, each way, in order (0 clears it)."""
        answers = {}
        for site in ("A", "R"):
            try:
                answers[site] = call(folder, "delay-path", site, ms=ms)
            except ControlError as e:
                raise click.UsageError(str(e)) from None
        click.echo(json.dumps(answers, indent=2))
        if not all(a.get("ok") for a in answers.values()):
            sys.exit(1)

    @ctl.command("power-loss")
    @folder_opt
    @click.argument("site", type=click.Choice(["A", "R"]))
    def power_loss_cmd(folder: Path, site: str) -> None:
        """Cut an array's power: it dies at once and restarts with only what it had synced (its unflushed
        writes are dropped); the journal replays, the pair resynchronizes."""
        try:
            pid = power_loss(folder, site)
        except ServeError as e:
            raise click.UsageError(str(e)) from None
        click.echo(json.dumps({"ok": True, "site": site, "killed": pid,
                               "restart": "drops every write the array had not synced"}, indent=2))

    @trace.command("validate")
    @click.argument("logs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--journal-capacity", type=int, default=None,
                  help="A's journal capacity (default: from serve.json next to the logs)")
    @click.option("--concurrency", type=int, default=None, help="A's in-flight limit (default: from serve.json)")
    @click.option("--fence", type=click.Choice(["never", "data"]), default=None)
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="where to write the trace of a rejected log")
    def trace_validate(logs: tuple[Path, ...], journal_capacity: int | None, concurrency: int | None,
                       fence: str | None, output: Path | None) -> None:
        """Replay served arrays' event logs on the model: every step enabled, every property holding."""
        saved = saved_config(logs[0].resolve().parent)
        cap = journal_capacity or (saved.journal_capacity if saved else None)
        conc = concurrency or (saved.max_in_flight if saved else None)
        if cap is None or conc is None:
            raise click.UsageError("no serve.json next to the logs: give --journal-capacity and --concurrency")
        try:
            v = validate(list(logs), cap, conc, fence or (saved.fence if saved else "never"))
        except LogError as e:
            raise click.UsageError(str(e)) from None
        for name, why in v.trade_offs.items():
            click.echo(f"{name}: not checked, an expected trade-off of this run's recoveries ({why})")
        if v.ok:
            click.echo(f"valid: {v.steps} steps replayed on the model ({v.blocks} blocks written, at most "
                       f"{v.values - 1} contents per block); every step enabled, every safety property held")
            return
        click.echo(f"REJECTED: {v.reason}", err=True)
        first = max(len(v.taken) - 6, 0)
        for i, (action, _) in enumerate(v.taken[first:], first):
            click.echo(f"  {i:>6}  {action!r}", err=True)
        click.echo(f"  {v.failed_step:>6}  <- the step the model rejects", err=True)
        if output is not None:
            output.write_text(json.dumps(v.trace(), indent=1) + "\n")
            click.echo(f"trace written to {output}", err=True)
        sys.exit(1)


build_serve(cli, trace)
