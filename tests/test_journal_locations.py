"""Journal locations in the model (issue 14 item 5): A's journal log table places every record of J on the journal
LDEV, a ring of sectors, in the impl's units; allocation wraps at the end of the ring, a checkpoint frees, and
conformance compares the table with the impl's after every step."""

from __future__ import annotations

import pytest

from pitmirror.checkers.conformance.lockstep import Lockstep
from pitmirror.checkers.explicit.checker import Verdict
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.model.actions import Action, Checkpoint, HostWrite, SetMarker, StartRecovery, SwapVolumes
from pitmirror.model.config import Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, SAFETY, journal_records_at_their_locations
from pitmirror.spec.state import FencePolicy, RecoveryKind, journal_ring_sectors

PROPERTY = "journal_records_at_their_locations"
MUTANT = "journal_location_ignores_header"


def _settle_and_take(run: Lockstep, a: Action) -> None:
    """Take ``a`` on both sides, then let the protocol settle (every message delivered), comparing the impl with
    the model after each step (the three journal log table fields among the rest)."""
    run.step(a)
    run.check_conforms()
    run.drain()
    assert journal_records_at_their_locations(run.state)


@pytest.mark.claims(2, 3, 4, 16, 17, 18)
def test_allocation_wraps_and_a_record_straddles_the_end_of_the_ring_alike_in_model_and_impl() -> None:
    bounds = Bounds(blocks=2, values=3, journal_capacity=2, host_writes=5, markers=1, recoveries=0)
    run = Lockstep(bounds, FencePolicy.NEVER)
    size = journal_ring_sectors(2, 2)
    assert run.state.journal_sectors == size == run.system.a.log.size == 12
    # a marker (2 sectors) shifts the 3-sector data records off the ring's grid: the fourth record straddles
    # its end (sectors 11, 0, 1) and the fifth starts at 2
    _settle_and_take(run, SetMarker())
    _settle_and_take(run, HostWrite(0, 1))
    assert run.state.journal_locations == (0, 2) and run.state.journal_next_free == 5
    _settle_and_take(run, Checkpoint())  # J full: A checkpoints on demand, freeing the marker's entry
    assert run.state.journal_locations == (2,) and run.state.journal_next_free == 5  # the next free stays
    _settle_and_take(run, HostWrite(1, 1))
    _settle_and_take(run, Checkpoint())
    _settle_and_take(run, HostWrite(0, 2))
    _settle_and_take(run, Checkpoint())
    _settle_and_take(run, HostWrite(1, 2))
    assert run.state.journal_locations == (8, 11) and run.state.journal_next_free == 2
    _settle_and_take(run, Checkpoint())
    _settle_and_take(run, HostWrite(0, 1))
    assert run.state.journal_locations == (11, 2) and run.state.journal_next_free == 5
    # the impl reads every live record back from where its table says (a torn one would be left out of its view)
    assert [e.location for e in run.system.a.log.entries] == [11, 2]
    assert [r.seq for r in run.system.a.journal.records()] == [r.seq for r in run.state.journal]


def test_a_swap_restarts_the_table_and_keeps_the_next_free_location() -> None:
    bounds = Bounds(recovery_kind=RecoveryKind.SWAP)
    run = Lockstep(bounds, FencePolicy.NEVER)
    _settle_and_take(run, HostWrite(0, 1))
    _settle_and_take(run, HostWrite(1, 1))
    run.step(StartRecovery(1, RecoveryKind.SWAP))
    run.step(SwapVolumes())
    run.check_conforms()
    assert run.state.journal_locations == () and run.state.journal_next_free == 6


@pytest.mark.parametrize("kind", list(RecoveryKind), ids=lambda k: k.name.lower())
def test_the_mutant_is_exposed_by_the_location_property_alone(kind: RecoveryKind) -> None:
    """The model's journal keeps its records whatever their locations, so only the journal log table shows
    the mutant: every other safety property holds on its whole state space, and the property holds there
    without the mutant. (Explored by check's engine, the frontier one, on numpy: 42 k states in a second, a
    quarter of the object engine's time; tests/test_frontier.py shows the two give the same verdicts.)"""
    bounds = Bounds(blocks=2, host_writes=2, concurrency=1, crashes=0, markers=1, recovery_kind=kind)
    for mutant in (MUTANT, None):
        r = FrontierChecker(MirrorModel(bounds.with_(mutant=mutant)), SAFETY, kernel="numpy").run()
        assert r.complete
        broken = {name for name, d in r.discoveries.items() if d.verdict is Verdict.VIOLATED
                  and (name, kind) not in EXPECTED_TRADE_OFFS}
        assert broken == ({PROPERTY} if mutant else set()), (mutant, broken)
    assert MUTANTS[MUTANT].breaks == PROPERTY and BY_NAME[PROPERTY].claims[:3] == (2, 3, 4)
