"""Helpers shared by the tests that drive the command line in-process."""

from __future__ import annotations

import sys

import pytest

from pitmirror.checkers.cli import main as cli


def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``pitmirror ARGS`` in this process through the real entry point (one-line errors, exit codes)."""
    monkeypatch.setattr(sys, "argv", ["pitmirror", *args])
    code = 0
    try:
        cli.main()
    except SystemExit as e:
        code = int(e.code or 0)
    got = capsys.readouterr()
    return code, got.out, got.err
