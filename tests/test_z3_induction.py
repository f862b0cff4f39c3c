"""k-induction: the strengthening invariants are true, and with them the core properties are proved for every
depth; without them the counterexample to induction is reported as possibly unreachable (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from checkers.symbolic import Unroller, induction
from checkers.z3_agree import reachable
from model.config import PRESETS, Bounds
from spec.invariants import INVARIANTS, SUPPORT
from spec.properties import BY_NAME
from spec.state import RecoveryKind

ONE_BLOCK = Bounds(blocks=1, values=2, host_writes=2, concurrency=1, journal_capacity=2, crashes=1,
                   path_failures=1, recoveries=1)


@pytest.mark.parametrize("kind", [RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP], ids=lambda k: k.name.lower())
def test_every_invariant_holds_on_every_reachable_state(kind: RecoveryKind) -> None:
    for s in reachable(PRESETS["small"].with_(recovery_kind=kind), 5000):
        for inv in INVARIANTS:
            assert inv(s), f"{inv.__name__} fails on {s!r}"


def test_invariants_are_documented_and_supported() -> None:
    names = {f.__name__ for f in INVARIANTS}
    assert all(f.__doc__ for f in INVARIANTS)
    assert all(set(v) <= names for v in SUPPORT.values())


def prove(b: Bounds, name: str, k: int, with_invariants: bool = True) -> str:
    un = Unroller(b)
    invs = {n: f for n, f in un.enc.invariants().items() if with_invariants and n in SUPPORT.get(name, ())}
    return induction(un, BY_NAME[name], un.enc.properties()[name], invs, k).verdict


def test_journal_well_formed_is_proved_one_block() -> None:
    assert prove(ONE_BLOCK, "journal_well_formed", 1) == "proved"


@pytest.mark.parametrize("name", ["mirror_consistent", "replay_is_point_in_time"])
def test_core_properties_are_proved_one_block(name: str) -> None:
    assert prove(ONE_BLOCK, name, 1) == "proved"


def test_without_invariants_induction_reports_a_cti(tmp_path: Path) -> None:
    assert prove(ONE_BLOCK, "journal_well_formed", 1, with_invariants=False) == "not proved"


def test_cli_induction_labels_proved_and_possibly_unreachable(tmp_path: Path) -> None:
    common = ["prove", "--preset", "small", "--blocks", "1", "--recovery", "writethrough", "--induction",
              "--depth", "1", "--quiet", "--out", str(tmp_path)]
    r = subprocess.run([sys.executable, "-m", "checkers.cli", *common, "--property", "journal_well_formed"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "proved" in r.stdout and "not proved" not in r.stdout
    r = subprocess.run([sys.executable, "-m", "checkers.cli", *common, "--property", "bases_agree"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "possibly-unreachable" in r.stdout
    doc = json.loads((tmp_path / "z3-cti-correct-writethrough-bases_agree.json").read_text())
    assert doc["verdict"] == "possibly-unreachable" and doc["source"] == "z3"


# mirror_consistent is proved at one block (above); at the default bounds its 1-induction step did not finish
# within 25 minutes on this machine, so it is not claimed here.
@pytest.mark.slow
@pytest.mark.parametrize("name", ["journal_well_formed", "replay_is_point_in_time"])
def test_core_properties_are_proved_at_default_bounds(name: str) -> None:
    assert prove(Bounds(), name, 1) == "proved"
