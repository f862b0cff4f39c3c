"""Ctrl-C is an interrupt (exit 130, partial results) whatever exception it surfaces as.

Python raises Ctrl-C as ``KeyboardInterrupt`` at the next bytecode, and ctypes turns one raised while it converts
an argument of a C call into ``ctypes.ArgumentError`` with nothing chained: a ``prove --induction`` interrupted
while it built Z3 terms ended as an internal error, exit 70 (a slow test of ``test_cli_contract`` caught it under
load). ``common.remembering_ctrl_c`` remembers the signal, so the entry point and the commands that print
partial results can tell. These tests raise the disguised form by hand: the race itself is not reproducible.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
from pathlib import Path

import pytest
from cli_helpers import run_cli

from pitmirror.checkers.cli import common
from pitmirror.checkers.cli import main as cli_main


def _ctrl_c_then(error: BaseException) -> None:
    """Ctrl-C reaches this process (its handler raises KeyboardInterrupt, swallowed here as a C call's argument
    conversion would), then ``error`` is raised in its place."""
    with contextlib.suppress(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    raise error


def _disguised() -> ctypes.ArgumentError:
    return ctypes.ArgumentError("argument 2: KeyboardInterrupt: ")


class _Group:
    """Stands in for the click group: ``main`` runs ``body``."""

    def __init__(self, body: BaseException | None, ctrl_c: bool) -> None:
        self.body, self.ctrl_c = body, ctrl_c

    def main(self, standalone_mode: bool) -> None:
        assert self.body is not None
        if self.ctrl_c:
            _ctrl_c_then(self.body)
        raise self.body


def test_ctrl_c_in_disguise_exits_130_not_as_an_internal_error(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli_main, "cli", _Group(_disguised(), ctrl_c=True))
    code, _out, err = run_cli(monkeypatch, capsys)
    assert code == 130, err
    assert "interrupted" in err and "internal error" not in err


def test_the_same_error_without_ctrl_c_is_still_an_internal_error(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli_main, "cli", _Group(_disguised(), ctrl_c=False))
    code, _out, err = run_cli(monkeypatch, capsys)
    assert code == 70, err
    assert "internal error: ArgumentError" in err


def test_an_earlier_ctrl_c_in_this_process_is_forgotten_by_the_next_command(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli_main, "cli", _Group(_disguised(), ctrl_c=True))
    assert run_cli(monkeypatch, capsys)[0] == 130
    monkeypatch.setattr(cli_main, "cli", _Group(_disguised(), ctrl_c=False))
    assert run_cli(monkeypatch, capsys)[0] == 70


def test_prove_prints_its_partial_results_when_ctrl_c_comes_in_disguise(monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str],
                                                                         tmp_path: Path) -> None:
    from pitmirror.checkers.cli import prove

    def kinds(self: prove._Run, bases: list[object], jobs: int) -> None:
        _ctrl_c_then(_disguised())

    monkeypatch.setattr(prove._Run, "kinds", kinds)
    code, out, err = run_cli(monkeypatch, capsys, "prove", "--depth", "1", "--out", str(tmp_path))
    assert code == 130, out + err
    assert "interrupted (Ctrl-C): partial results" in out
    assert "internal error" not in err


def test_a_process_that_ignores_ctrl_c_keeps_ignoring_it() -> None:
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's inheritance
    try:
        with common.remembering_ctrl_c():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)  # ignored: nothing raised
            assert not common.ctrl_c_pressed()
    finally:
        signal.signal(signal.SIGINT, old)


def test_nested_blocks_remember_for_the_outer_one_and_restore_the_handler() -> None:
    before = signal.getsignal(signal.SIGINT)
    with common.remembering_ctrl_c():
        assert not common.ctrl_c_pressed()
        with common.remembering_ctrl_c(), pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert common.ctrl_c_pressed()  # the inner block's exit does not forget it
        assert common.is_ctrl_c(_disguised())
        assert common.is_ctrl_c(KeyboardInterrupt())
    assert signal.getsignal(signal.SIGINT) is before
    with common.remembering_ctrl_c():  # a new outermost block starts afresh
        assert not common.ctrl_c_pressed()
        assert not common.is_ctrl_c(_disguised())
        assert common.is_ctrl_c(KeyboardInterrupt())


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_still_raises_keyboard_interrupt_within_the_block() -> None:
    with common.remembering_ctrl_c(), pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
