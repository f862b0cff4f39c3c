"""The ``pitmirror`` command line: the entry point ``main`` and the two small commands ``claims`` and ``demo``.
Every other command lives in a module of its own (``check``, ``trace``, ``mutants``, ``prove``, ``fuzz``,
``serve``), registers on the one group ``common.cli``, and is imported only when it runs
(``common.COMMAND_MODULES``).

Every command keeps one exit-code contract (``common.ExitCode``): 0 everything asked for was verified (an
expected trade-off shown as such), 1 a violation or a missed mutant, 2 a usage error, 3 inconclusive, 130
interrupted. Bad input never shows a Python traceback; set ``PITMIRROR_DEBUG=1`` to see one for an
internal error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.table import Table

from pitmirror.checkers.cli.common import (
    ExitCode,
    check_out_file,
    cli,
    err,
    is_ctrl_c,
    lit,
    out,
    remembering_ctrl_c,
)


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
    """Entry point: usage errors exit 2 with one line, never a traceback; Ctrl-C exits 130 whatever exception
    it surfaced as (``common.remembering_ctrl_c``)."""
    with remembering_ctrl_c():
        _run()


def _run() -> None:
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
        if is_ctrl_c(e):  # Ctrl-C in disguise: a command that did not see it as one printed nothing partial
            err.print("interrupted", markup=False)
            sys.exit(ExitCode.INTERRUPTED)
        if os.environ.get("PITMIRROR_DEBUG"):
            raise
        err.print(f"pitmirror: internal error: {type(e).__name__}: {e} (set PITMIRROR_DEBUG=1 for the traceback)",
                  markup=False)
        sys.exit(ExitCode.INTERNAL)


if __name__ == "__main__":
    main()
