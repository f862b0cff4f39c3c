"""What every ``pitmirror`` command shares: the exit-code contract, the consoles, the bound options, output
checks, progress and the ``--json`` results file.

Commands register on the group ``cli`` defined here (``@cli.command()``). Each command module is imported
only when its command runs (``COMMAND_MODULES``; a new command joins with one line there): ``pitmirror check``
need not load Z3, Hypothesis and the served arrays before it starts (about 0.4 s of a 1 s start). Command
modules import this module, never ``main``: under ``python -m pitmirror`` the running module is
``__main__``, and importing ``main`` from a command would load a second copy of the group.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from enum import IntEnum
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskID, TextColumn, TimeElapsedColumn

from pitmirror.model.config import PRESETS, PROOF_PARAMETERS, RANGES, Bounds, BoundsError
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import BY_NAME
from pitmirror.spec.state import FencePolicy, RecoveryKind


class ExitCode(IntEnum):
    """The one exit-code contract of every command."""

    OK = 0  # everything asked for was verified (an expected trade-off shown as such)
    VIOLATED = 1  # a property is violated, a witness not reached, a trace diverges, or a checker missed a mutant
    USAGE = 2  # bad options, an unknown name, an unusable output path, a malformed or foreign trace
    INCONCLUSIVE = 3  # --max-states, a timeout, the solver gave up or was cancelled, an unproved obligation
    INTERNAL = 70  # a bug of pitmirror itself (never bad input)
    INTERRUPTED = 130  # Ctrl-C ended the run before a violation was found (partial results are printed)


def worst(*codes: ExitCode) -> ExitCode:
    """The status of a run made of parts: a violation outranks an interrupt, which outranks an inconclusive
    part, which outranks success (a violation found before Ctrl-C is still a violation)."""
    rank = [ExitCode.OK, ExitCode.INCONCLUSIVE, ExitCode.INTERRUPTED, ExitCode.VIOLATED]
    return max(codes, key=rank.index, default=ExitCode.OK)


# --- Ctrl-C, remembered ----------------------------------------------------------------------------------------

class _CtrlC:
    pressed = False  # Ctrl-C came within the latest outermost block
    depth = 0  # how many blocks are open


@contextlib.contextmanager
def remembering_ctrl_c() -> Iterator[None]:
    """Within the block Ctrl-C raises ``KeyboardInterrupt`` as usual and is also remembered (``ctrl_c_pressed``,
    ``is_ctrl_c``), because Python can lose or disguise that exception: raised while a finalizer runs, it is
    printed and dropped (a fuzz run then went on); raised while ctypes converts an argument of a C call (any Z3
    call), it comes out as ``ctypes.ArgumentError`` with nothing chained (``prove --induction`` then ended as an
    internal error, exit 70). A process that ignores Ctrl-C (a background job) keeps ignoring it, and so does a
    block outside the main thread, where no handler can be set."""
    old = signal.getsignal(signal.SIGINT)
    ours = callable(old) and threading.current_thread() is threading.main_thread()

    def on_sigint(signum: int, frame: Any) -> None:
        _CtrlC.pressed = True
        if callable(old):
            old(signum, frame)  # Python's own handler raises KeyboardInterrupt
        raise KeyboardInterrupt  # an outer handler that did not

    if _CtrlC.depth == 0:  # the outermost block starts with nothing remembered (an earlier run in-process)
        _CtrlC.pressed = False
    _CtrlC.depth += 1
    if ours:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        if ours:
            signal.signal(signal.SIGINT, old)
        _CtrlC.depth -= 1


def ctrl_c_pressed() -> bool:
    """Whether Ctrl-C came within the latest outermost ``remembering_ctrl_c`` block."""
    return _CtrlC.pressed


def is_ctrl_c(e: BaseException) -> bool:
    """Whether ``e`` stands for Ctrl-C: a ``KeyboardInterrupt``, or any error raised after Ctrl-C came
    (``remembering_ctrl_c``), which is then Ctrl-C in disguise (ctypes' ``ArgumentError``)."""
    return isinstance(e, KeyboardInterrupt) or (isinstance(e, Exception) and ctrl_c_pressed())


#: how a run's header names a parameter of the proof system whose field name says something else there
_PARAMETER_LABEL = {"message_faults": "channel slack (--message-faults)"}


def proof_system_shape(b: Bounds) -> str:
    """What a proof on the proof system holds for, as the header of ``prove --induction`` and ``--infer`` says
    it: every parameter (``model.config.PROOF_PARAMETERS``) and nothing else, ``2 blocks x any values,
    concurrency 2, journal capacity 2, write blocks 1, fence policies never/data, ..., no budgets``."""
    cfg = b.to_json()

    def value(v: Any) -> str:
        return "/".join(map(str, v)) if isinstance(v, list) else str(v)

    return ", ".join([f"{b.blocks} block{'s' if b.blocks != 1 else ''} x any values",
                      *(f"{_PARAMETER_LABEL.get(k, k.replace('_', ' '))} {value(cfg[k])}"
                        for k in PROOF_PARAMETERS if k != "blocks"), "no budgets"])


EXIT_CODES_HELP = ("\b\nExit codes: 0 everything asked for was verified (an expected trade-off shown as such),\n"
                   "1 a violation or a missed mutant (check: or a witness not reached), 2 usage error,\n"
                   "3 inconclusive (--max-states, a timeout, the solver gave up or was cancelled, an\n"
                   "unproved obligation), 130 interrupted.")


class Group(click.Group):
    """A command group that puts the exit-code contract in the ``--help`` epilog of every command, and loads a
    command's module when the command is first asked for (``modules``: command name -> module that registers
    it on this group when imported)."""

    group_class = type  # subgroups (``trace``) are Groups too

    def __init__(self, *args: Any, modules: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modules = dict(modules or {})

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Register ``cmd`` with the exit codes in its help."""
        if not cmd.epilog:
            cmd.epilog = EXIT_CODES_HELP
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, loaded or not."""
        return sorted(set(self.commands) | set(self.modules))

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        """The command, importing its module first if it is not loaded yet."""
        if cmd_name not in self.commands and cmd_name in self.modules:
            importlib.import_module(self.modules[cmd_name])
        return self.commands.get(cmd_name)

    def load_all(self) -> dict[str, click.Command]:
        """Every command, each module imported (``--help`` lists them; tests walk them)."""
        for name in self.list_commands(click.Context(self)):
            self.get_command(None, name)
        return dict(self.commands)


#: Which module registers each top-level command (imported when the command runs): the one list of commands.
COMMAND_MODULES = {
    "check": "pitmirror.checkers.cli.check",
    "trace": "pitmirror.checkers.cli.trace",
    "mutants": "pitmirror.checkers.cli.mutants",
    "prove": "pitmirror.checkers.cli.prove",
    "fuzz": "pitmirror.checkers.cli.fuzz",
    "serve": "pitmirror.checkers.cli.serve",
    "ctl": "pitmirror.checkers.cli.serve",
    "claims": "pitmirror.checkers.cli.main",
    "demo": "pitmirror.checkers.cli.main",
}


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
             epilog=EXIT_CODES_HELP, modules=COMMAND_MODULES)
@click.version_option(package_name="pitmirror")
def cli() -> None:
    """Verify a synchronous mirror with point-in-time journal recovery (US 7,139,851).

    Start with `pitmirror check`; `pitmirror mutants` shows what the checkers catch.
    """


# Piped output (CI logs, files) gets a wide console so tables do not wrap at 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # errors stay one line

KINDS = {"writethrough": (RecoveryKind.WRITETHROUGH,), "swap": (RecoveryKind.SWAP,),
         "both": (RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP)}
FENCES = {"never": (FencePolicy.NEVER,), "data": (FencePolicy.DATA,), "both": (FencePolicy.NEVER, FencePolicy.DATA)}


class UsageError(click.UsageError):
    """A usage error with a one-line message (exit 2)."""


def lit(value: object) -> str:
    """A path, name or any text from outside, escaped so rich prints it literally (``x[/]y`` stays)."""
    return escape(str(value))


def bounds_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every bound (``--blocks`` ...), ``--preset`` and ``--fence``."""
    for name in reversed(list(RANGES)):
        lo, hi = RANGES[name]
        f = click.option(f"--{name.replace('_', '-')}", name, type=int, default=None,
                         help=f"{name.replace('_', ' ')} ({lo}..{hi}; default from the preset)")(f)
    f = click.option("--preset", type=click.Choice(sorted(PRESETS)), default="default", show_default=True,
                     help="named bounds to start from")(f)
    f = click.option("--fence", type=click.Choice(sorted(FENCES)), default=None,
                     help="fence policy of the pair (default: both)")(f)
    return f


def bound_changes(fence: str | None, mutant: str | None, overrides: dict[str, int | None]) -> dict[str, Any]:
    """The command line's changes to a starting set of bounds."""
    changes: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if fence is not None:
        changes["fence_policies"] = FENCES[fence]
    changes["mutant"] = mutant
    return changes


def make_bounds(preset: str, fence: str | None, mutant: str | None, overrides: dict[str, int | None],
                start: Bounds | None = None) -> Bounds:
    """Bounds from a preset (or ``start``) and command-line overrides; a usage error when out of range."""
    try:
        bounds = (start if start is not None else PRESETS[preset]).with_(**bound_changes(fence, mutant, overrides))
    except BoundsError as e:
        raise UsageError(str(e)) from None
    return bounds if mutant is None else raised_to_show(bounds, mutant, overrides)


def raised_to_show(bounds: Bounds, mutant: str, overrides: dict[str, int | None]) -> Bounds:
    """``bounds`` with every bound the command line left to the preset raised to what the mutant needs to
    show (``Mutant.needs``: a torn-write mutant is dead code at one-block writes, and a check that cannot
    reach it would report "holds"). A bound given on the command line is kept, with a warning when the
    mutant cannot show under it. Both are said on stderr."""
    raised: dict[str, int] = {}
    for name, least in MUTANTS[mutant].needs:
        if getattr(bounds, name) >= least:
            continue
        flag = "--" + name.replace("_", "-")
        if overrides.get(name) is not None:
            err.print(f"[yellow]warning[/]: mutant {lit(mutant)} needs {name} >= {least} to show; {flag} "
                      f"{getattr(bounds, name)} keeps it from showing")
        else:
            raised[name] = least
    if raised:
        said = ", ".join(f"{k} {getattr(bounds, k)} -> {v}" for k, v in raised.items())
        err.print(f"note: mutant {lit(mutant)} needs more than the preset's bounds to show: {said} "
                  "(give the option to choose)")
    return bounds.with_(**raised)


def check_names(mutant: str | None, properties: tuple[str, ...]) -> None:
    """A usage error for an unknown mutant or property name."""
    if mutant is not None and mutant not in MUTANTS:
        raise UsageError(f"unknown mutant {mutant!r}; valid: {', '.join(MUTANTS)}")
    for p in properties:
        if p not in BY_NAME:
            raise UsageError(f"unknown property {p!r}; valid: {', '.join(BY_NAME)}")


def _writable_folder(folder: Path, what: str, path: Path) -> None:
    if not folder.is_dir():
        raise UsageError(f"{what} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: the folder {folder} is not writable")


def check_out_dir(path: Path, what: str = "--out") -> None:
    """Before any work: ``path`` is a writable folder, or one that can be made in an existing writable folder.
    Creates nothing (a run that fails later must not leave folders behind, and a finished run must not be
    lost to a bad folder)."""
    if path.exists():
        _writable_folder(path, what, path)
        return
    parent = path.absolute().parent
    if not parent.exists():
        raise UsageError(f"{what} {path}: the parent folder {parent} does not exist")
    _writable_folder(parent, what, path)


def check_out_file(path: Path, what: str, will_exist: frozenset[Path] = frozenset()) -> None:
    """Before any work: ``path`` can be written as a file (an existing file, or a new one in an existing
    writable folder, or in one of ``will_exist``, folders already checked that the command will make)."""
    if path.is_dir():
        raise UsageError(f"{what} {path}: is a folder, a file is wanted")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(f"{what} {path}: the file is not writable")
        return
    parent = path.absolute().parent
    if parent in {p.absolute() for p in will_exist}:
        return
    if not parent.exists():
        raise UsageError(f"{what} {path}: the folder {parent} does not exist")
    _writable_folder(parent, what, path)


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write a ``--json`` results file (its folder was checked before the run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--json FILE``: the results as JSON (``checkers/reports/results.schema.json``)."""
    return click.option("--json", "json_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
                        help="also write the results as JSON (verdicts, counts, times, trace paths)")(f)


def progress_interval() -> float:
    """Seconds between plain progress lines when stderr is not a terminal (a CI log): a few seconds, so a
    long run shows it is alive without flooding the log. ``PITMIRROR_PROGRESS_SECONDS`` overrides it."""
    try:
        return max(0.0, float(os.environ.get("PITMIRROR_PROGRESS_SECONDS", "5")))
    except ValueError:
        return 5.0


class Ticker:
    """Progress of one long phase: a rich display in a terminal, plain lines at most every few seconds
    otherwise (CI logs, pipes), nothing when quiet. ``task(label)`` gives a function
    ``update(completed, total, info)``."""

    def __init__(self, quiet: bool, bar: bool = True) -> None:
        self.quiet = quiet
        self.live = not quiet and err.is_terminal
        self.interval = progress_interval()
        columns: list[ProgressColumn] = [TextColumn("[bold]{task.fields[label]:<13}")]
        if bar:
            columns += [BarColumn(bar_width=None), MofNCompleteColumn()]
        self.progress = Progress(*columns, TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                 console=err, transient=True, disable=not self.live)
        self._last: dict[str, float] = {}
        self.started = time.perf_counter()

    def __enter__(self) -> Ticker:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def task(self, label: str, total: int | None = None, info: str = "starting") -> Callable[..., None]:
        """A new line of progress; returns its ``update(completed=None, total=None, info="")``."""
        task: TaskID = self.progress.add_task("", total=total, label=lit(label), info=lit(info))
        self._last[label] = time.perf_counter()

        def update(completed: int | None = None, total: int | None = None, info: str = "") -> None:
            if self.quiet:
                return
            if self.live:
                kw: dict[str, Any] = {"info": lit(info)}
                if completed is not None:
                    kw["completed"] = completed
                if total is not None:
                    kw["total"] = total
                self.progress.update(task, **kw)
                return
            now = time.perf_counter()
            if now - self._last[label] >= self.interval:
                self._last[label] = now
                count = "" if completed is None else f" {completed:,}" + ("" if total is None else f"/{total:,}")
                err.print(f"progress {lit(label)}:{count} {lit(info)} ({now - self.started:.0f} s)",
                          markup=True, soft_wrap=True)

        return update



def results_doc(command: str, status: ExitCode, seconds: float, runs: list[dict[str, Any]],
                **extra: Any) -> dict[str, Any]:
    """The ``--json`` document of a command (``checkers/reports/results.schema.json``): the exit status and
    what it means, the wall time, and one record per run (bounds, counts, per-property verdicts, traces)."""
    return {"format": "pitmirror-results", "version": 1, "command": command, "exit_code": int(status),
            "status": status.name.lower(), "partial": status is ExitCode.INTERRUPTED, "seconds": round(seconds, 3),
            "runs": runs, **extra}
