"""spec/fields.py is the one table of what each State field is: it covers every field, what derives from it
(symmetry, conformance's compared fields, the trace page's lanes and labels, the Z3 layout's slots) agrees by
construction, and the one table that must stay by hand (the Z3 layout's capacities, which need the bounds) is
checked against it here."""

from __future__ import annotations

from collections import deque

import pytest

from pitmirror.checkers.symbolic.terms import Layout
from pitmirror.model.actions import CrashArray
from pitmirror.model.config import Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.model.symmetry import apply_perm, symmetry_group
from pitmirror.spec.fields import CONSTANT_FIELDS, FIELDS, Content, Lane
from pitmirror.spec.state import RecoveryKind, State

QUEUES = (Content.RECORDS, Content.RECORD_MULTISET, Content.IN_FLIGHT, Content.MESSAGES, Content.HISTORY,
          Content.LOCATIONS)


def test_every_state_field_is_described_once_in_order() -> None:
    assert tuple(f.name for f in FIELDS) == State._fields


def test_a_field_is_at_most_one_of_ghost_budget_volatile() -> None:
    for f in FIELDS:
        assert f.ghost + f.budget + f.volatile <= 1, f.name
        assert not f.ghost or f.lane is Lane.GHOST, f"{f.name}: a ghost variable belongs to no array"


def test_the_z3_layout_gives_every_field_its_slots_and_a_capacity_to_every_sequence() -> None:
    lay = Layout(Bounds())
    # the capacities are kept by hand (they need the bounds): exactly the bounded sequences, in the state's order
    assert set(lay.caps) == {f.name for f in FIELDS if f.content in QUEUES}
    for f in FIELDS:
        assert any(n == f.name or n.startswith(f"{f.name}.") for n in lay.names), f"{f.name} has no slot"
    # a vector decodes to the state it encodes, for every kind of content
    bounds = Bounds(crashes=1, host_writes=2, mutant="journal_not_persisted_before_ack")
    lay = Layout(bounds)
    for s in _reachable(MirrorModel(bounds), 2_000):
        assert lay.decode(lay.encode(s)) == s


def _reachable(model: MirrorModel, limit: int) -> list[State]:
    # a plain BFS, capped: enough states with journals, buffers and writes in flight to crash in
    seen, todo = dict.fromkeys(model.init_states()), deque(model.init_states())
    while todo and len(seen) < limit:
        s = todo.popleft()
        for a in model.actions(s):
            t = model.next_state(s, a)
            if t not in seen:
                seen[t] = None
                todo.append(t)
    return list(seen)


@pytest.mark.parametrize("array", ["A", "R"])
def test_a_crash_loses_exactly_the_volatile_fields_of_its_array(array: str) -> None:
    # A's journal cache fills only under journal_not_persisted_before_ack, which changes no crash behaviour
    model = MirrorModel(Bounds(crashes=1, host_writes=2, mutant="journal_not_persisted_before_ack"))
    lane = Lane(array)
    queues = [f for f in FIELDS if f.lane is lane and f.content in QUEUES]
    assert [f for f in queues if f.volatile] and [f for f in queues if not f.volatile]
    lost = {f.name: False for f in queues if f.volatile}
    crash = CrashArray(array)
    for s in _reachable(model, 4_000):
        if crash not in model.actions(s):
            continue
        t = model.next_state(s, crash)
        for f in queues:
            before, after = getattr(s, f.name), getattr(t, f.name)
            if f.volatile:
                assert after == (), f"{f.name} survived a crash of {array}"
                lost[f.name] |= bool(before)
            else:
                assert after == before, f"{f.name} is not volatile but a crash of {array} changed it"
    assert all(lost.values()), f"no reachable state had something to lose in {[n for n, x in lost.items() if not x]}"


@pytest.mark.parametrize("kind", list(RecoveryKind), ids=lambda k: k.name.lower())
def test_the_symmetry_derived_from_the_fields_maps_reachable_states_to_reachable_states(kind: RecoveryKind) -> None:
    # model.symmetry renames each field by what spec.fields says it holds; a field described wrongly (the dirty
    # bitmap as a volume of values, say) renames a reachable state into one no run can reach
    bounds = Bounds(blocks=2, values=3, host_writes=1, concurrency=1, journal_capacity=2, path_failures=1,
                    crashes=1, recovery_kind=kind)
    reachable = set(_reachable(MirrorModel(bounds), 50_000))
    assert len(reachable) < 50_000  # the whole space, not a capped prefix
    group = symmetry_group(bounds.blocks, bounds.values)
    for s in reachable:
        for perm in group:
            assert apply_perm(s, perm) in reachable, f"renaming {perm} leaves the reachable states"


@pytest.mark.parametrize("kind", list(RecoveryKind), ids=lambda k: k.name.lower())
def test_no_step_changes_a_constant_field(kind: RecoveryKind) -> None:
    # the proofs pin a constant field to its initial value (well_formed): that is sound only if no step moves it
    assert CONSTANT_FIELDS
    model = MirrorModel(Bounds(crashes=1, host_writes=2, markers=1, recovery_kind=kind))
    init = model.init_states()[0]
    for s in _reachable(model, 4_000):
        for f in CONSTANT_FIELDS:
            assert getattr(s, f) == getattr(init, f), f"{f} changed in {s!r}"
