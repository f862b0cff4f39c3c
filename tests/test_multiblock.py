"""Multi-block host writes (issue 14, item 3): a write of k contiguous blocks is one record and one mirror
message, applied whole on P, J, S and in replay; a power loss in the middle of one, at A or at R, never leaves
a torn write visible, because each array's restart redoes the record from its own journal.

``--write-blocks 1`` is the one-block state space exactly (the pins of tests/test_model.py, repeated here with
the bound spelled out); the two seeded bugs that tear a write are caught only with ``--write-blocks 2`` or more.
"""

from __future__ import annotations

import pytest

from helpers.z3_agree import Coverage, agree_concrete, expected_instances, sample_reachable
from pitmirror.checkers.explicit.checker import ExplicitChecker, Verdict
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.terms import Layout
from pitmirror.model.actions import CrashMidApply, CrashMidWrite, Deliver, HostWrite, action_from_json
from pitmirror.model.config import PRESETS, Bounds, BoundsError
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, PROPERTIES, SAFETY, primary_is_latest_image
from pitmirror.spec.state import MirrorWrite, Record, RecoveryKind, image, message_from_fields

#: the least bounds that show a torn write: two blocks, one host write, a crash
TORN = Bounds(blocks=2, values=2, host_writes=1, concurrency=1, journal_capacity=2, path_failures=0, crashes=1,
              recoveries=0, write_blocks=2)
TORN_MUTANTS = {"torn_multiblock_write": "CrashMidWrite", "torn_remote_apply": "CrashMidApply"}


@pytest.mark.parametrize(("kind", "states", "transitions", "depth"), [
    (RecoveryKind.WRITETHROUGH, 5949, 9216, 24),
    (RecoveryKind.SWAP, 8658, 16334, 18),
])
def test_one_block_writes_are_todays_state_space_exactly(kind: RecoveryKind, states: int, transitions: int,
                                                         depth: int) -> None:
    """``write_blocks=1`` (the default) is the one-block protocol: the pinned counts did not move, and its vector
    has no length slot (the compiled kernels of one-block bounds are what they were)."""
    b = PRESETS["small"].with_(recovery_kind=kind, write_blocks=1)
    r = ExplicitChecker(MirrorModel(b), SAFETY).run()
    assert (r.states, r.transitions, r.depth) == (states, transitions, depth)
    assert not any(n.endswith(".length") or n.endswith(".d") for n in Layout(b).names)


@pytest.mark.parametrize(("kind", "states", "transitions", "depth"), [
    (RecoveryKind.WRITETHROUGH, 42953, 72011, 24),
    (RecoveryKind.SWAP, 36858, 70006, 18),
])
def test_two_block_writes_grow_the_space_and_every_property_still_holds(kind: RecoveryKind, states: int,
                                                                        transitions: int, depth: int) -> None:
    b = PRESETS["small"].with_(recovery_kind=kind, write_blocks=2)
    r = ExplicitChecker(MirrorModel(b), SAFETY).run()
    assert (r.states, r.transitions, r.depth) == (states, transitions, depth)
    bad = {n for n, d in r.discoveries.items() if d.verdict is Verdict.VIOLATED}
    assert bad <= ({"remote_is_point_in_time"} if kind == RecoveryKind.WRITETHROUGH else set())  # the trade-off


@pytest.mark.claims(1, 2, 5, 15, 16, 19)
def test_a_multi_block_write_is_one_record_one_message_and_lands_whole() -> None:
    m = MirrorModel(TORN.with_(crashes=0))
    s = m.init_states()[0]
    assert HostWrite(0, 1, 2) in m.actions(s) and HostWrite(1, 1, 2) not in m.actions(s)  # within the volume
    s = m.next_state(s, HostWrite(0, 1, 2))
    assert s.primary == (1, 1) and s.journal == (Record(1, 0, 1, 2),)
    assert s.path == (MirrorWrite(1, 0, 1, 2),) and len(s.in_flight) == 1
    s = m.next_state(s, Deliver(MirrorWrite(1, 0, 1, 2)))
    assert s.remote == (1, 1) and s.remote_journal == (Record(1, 0, 1, 2),)  # whole, in one step
    assert image(s, 1) == (1, 1)


@pytest.mark.claims(1, 8, 15, 22)
def test_a_power_loss_mid_write_is_redone_from_the_journal() -> None:
    """The correct protocol: A journals first, so its restart redoes the record and P holds all of it (the host
    had no answer); R journals first too, so S holds all of the message it was applying."""
    m = MirrorModel(TORN)
    s0 = m.init_states()[0]
    s = m.next_state(s0, CrashMidWrite(0, 1, 2))
    assert s.primary == (1, 1) and s.journal == (Record(1, 0, 1, 2),) and s.path == ()
    assert not s.history[-1].acked and primary_is_latest_image(s)
    s = m.next_state(m.next_state(s0, HostWrite(0, 1, 2)), CrashMidApply(MirrorWrite(1, 0, 1, 2)))
    assert s.remote == (1, 1) and s.remote_applied_seq == 1 and s.path == ()  # no ack: R lost power first
    assert all(p.predicate(s) for p in SAFETY)


@pytest.mark.parametrize("name", sorted(TORN_MUTANTS))
def test_a_torn_write_is_caught_only_with_multi_block_writes(name: str) -> None:
    """Each mutant is caught by its property with a shortest trace whose last step is the power loss inside the
    multi-block write; with one-block writes (the same bounds otherwise) nothing can tear and it holds."""
    m = MUTANTS[name]
    assert dict(m.needs)["write_blocks"] == 2
    prop = BY_NAME[m.breaks]
    r = ExplicitChecker(MirrorModel(TORN.with_(mutant=name)), [prop]).run()
    d = r.discoveries[prop.name]
    assert d.verdict is Verdict.VIOLATED
    steps = [type(a).__name__ for a, _ in d.path if a is not None]
    assert steps[-1] == TORN_MUTANTS[name], steps
    assert len(steps) == (1 if name == "torn_multiblock_write" else 2)
    one = ExplicitChecker(MirrorModel(TORN.with_(mutant=name, write_blocks=1)), [prop]).run()
    assert one.complete and one.discoveries[prop.name].verdict is Verdict.HOLDS


@pytest.mark.parametrize("name", sorted(TORN_MUTANTS))
def test_the_frontier_engine_catches_a_torn_write_too(name: str) -> None:
    m = MUTANTS[name]
    model = MirrorModel(TORN.with_(mutant=name))
    ours = FrontierChecker(model, PROPERTIES, kernel="numpy").run()
    theirs = ExplicitChecker(model, PROPERTIES).run()
    assert (ours.states, ours.transitions) == (theirs.states, theirs.transitions)
    assert ours.discoveries[m.breaks].verdict is Verdict.VIOLATED
    assert len(ours.discoveries[m.breaks].path) == len(theirs.discoveries[m.breaks].path)


@pytest.mark.parametrize("kind", list(RecoveryKind), ids=lambda k: k.name.lower())
def test_the_encoding_agrees_with_the_model_on_multi_block_writes(kind: RecoveryKind) -> None:
    """Every instance (the multi-block HostWrites and both mid-write power losses included) is compared with
    the model on sampled reachable states, with every property and invariant."""
    b = PRESETS["small"].with_(recovery_kind=kind, write_blocks=2, crashes=1, host_writes=1, concurrency=2,
                               markers=1, message_faults=1)
    cov = Coverage()
    _n, problems = agree_concrete(b, cov=cov, states=sample_reachable(b, 120, 6, search=6000))
    assert not problems, "\n".join(problems)
    missing = expected_instances(Encoding(b)) - cov.fired
    assert not missing, f"never compared: {sorted(missing)}"
    assert {"CrashMidWrite[0+2]", "CrashMidApply", "HostWrite[0+2]"} <= cov.fired


@pytest.mark.parametrize("name", sorted(TORN_MUTANTS))
def test_the_encoding_takes_each_torn_write_branch(name: str) -> None:
    b = TORN.with_(mutant=name, host_writes=2, concurrency=2)
    cov = Coverage()
    _n, problems = agree_concrete(b, cov=cov, states=sample_reachable(b, 150, 6, search=3000))
    assert not problems, "\n".join(problems)
    assert name in cov.branches


def test_lengths_in_traces_and_bounds() -> None:
    """A one-block write reads as it always did in traces; a longer one names its length; a write longer than
    the volume is a usage error."""
    assert HostWrite(0, 1).args() == {"lba": 0, "value": 1} and repr(HostWrite(0, 1)) == "HostWrite(lba=0, value=1)"
    assert action_from_json("HostWrite", {"lba": 0, "value": 1}) == HostWrite(0, 1, 1)
    assert action_from_json("HostWrite", {"lba": 0, "value": 1, "length": 2}) == HostWrite(0, 1, 2)
    mw = MirrorWrite(3, 0, 1, 2)
    assert repr(mw) == "MirrorWrite(seq=3, lba=0, value=1, length=2)"
    assert message_from_fields(mw.name, mw.fields()) == mw
    assert MirrorWrite(3, 0, 1).fields() == {"seq": 3, "lba": 0, "value": 1}
    assert message_from_fields("MirrorWrite", {"seq": 3, "lba": 0, "value": 1}) == MirrorWrite(3, 0, 1)
    with pytest.raises(BoundsError, match="write_blocks"):
        Bounds(blocks=2, write_blocks=3)
