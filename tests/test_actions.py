"""spec/actions.py is the one table of what each action is: the model's classes, its dispatch and its budget
hook, the Z3 encoding's instances and budget guard, conformance's drain order and the fuzzer's step kinds all
derive from it or are checked against it here (the impl's copy of the names: tests/test_layers.py)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from helpers.z3_agree import reachable
from pitmirror.checkers.conformance import lockstep, strategy
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.terms import SV
from pitmirror.model import actions as model_actions
from pitmirror.model import protocol
from pitmirror.model.actions import ACTION_TYPES, CrashArray, HostWrite, StartRecovery
from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.actions import ACTIONS, BY_NAME, DRAIN_ORDER, FAULTS, actions_for, budget_of
from pitmirror.spec.fields import BUDGET_FIELDS
from pitmirror.spec.state import RecoveryKind, State

KINDS = list(RecoveryKind)


def test_the_model_has_a_class_per_row_in_the_tables_order_with_its_claims_actor_and_parameters() -> None:
    assert list(ACTION_TYPES) == [a.name for a in ACTIONS]
    for a in ACTIONS:
        cls = ACTION_TYPES[a.name]
        assert (cls.claims, cls.actor) == (a.claims, a.actor)
        assert tuple(f.name for f in fields(cls)) == a.params


def test_a_model_class_that_disagrees_with_the_table_fails_at_import() -> None:
    # the import-time check must be able to fail: a class missing from the model, and one with other fields
    classes = [c for n, c in ACTION_TYPES.items() if n != "Checkpoint"]
    with pytest.raises(TypeError, match=r"not spec\.actions"):
        model_actions._in_table_order(*classes)

    @dataclass(frozen=True)
    class Checkpoint(model_actions.Action):
        lba: int  # the table's Checkpoint has no parameters

    with pytest.raises(TypeError, match="Checkpoint has fields"):
        model_actions._in_table_order(*classes, Checkpoint)
    with pytest.raises(KeyError):
        type("NotAnAction", (model_actions.Action,), {})  # a class the table does not know


def test_the_models_dispatch_covers_exactly_the_table() -> None:
    assert [c.__name__ for c in protocol._HANDLERS] == [a.name for a in ACTIONS]


def test_every_budget_is_a_budget_field_of_state_and_a_bound() -> None:
    budgets = [b for a in ACTIONS for b in (a.budget, a.late_budget) if b is not None]
    assert {b.used for b in budgets} == set(BUDGET_FIELDS)
    for b in budgets:
        assert b.bound in Bounds.__dataclass_fields__, b
    assert budget_of("Deliver") is None
    assert budget_of("HostWrite") is not None and budget_of("HostWrite").bound == "host_writes"  # type: ignore[union-attr]


def test_present_and_actions_for_read_the_kind_and_mutant_columns() -> None:
    wt = [a.name for a in actions_for(RecoveryKind.WRITETHROUGH, None)]
    assert "RecoveryWrite" in wt and "SwapVolumes" not in wt and "SwapTimeout" not in wt
    assert "RemoteCheckpoint" not in wt
    assert "RemoteCheckpoint" in [a.name for a in actions_for(RecoveryKind.WRITETHROUGH, "remote_checkpoints_alone")]
    swap = [a.name for a in actions_for(RecoveryKind.SWAP, "no_remote_timeout")]
    assert "SwapVolumes" in swap and "MirrorTimeout" not in swap and "SwapTimeout" not in swap
    for a in ACTIONS:  # the mutants the table names exist
        assert a.added_by is None or a.added_by in MUTANTS, a.name
        assert set(a.removed_by) <= set(MUTANTS), a.name


# --- the budget hook ----------------------------------------------------------------------------------------


def _spent(s: State, bounds: Bounds) -> State:
    """``s`` with every budget used up."""
    return s._replace(**{a.budget.used: getattr(bounds, a.budget.bound) for a in ACTIONS if a.budget})


def test_within_budget_reads_the_budget_column() -> None:
    bounds = PRESETS["small"].with_(markers=1, message_faults=1, recoveries=1, crashes=1)
    model = MirrorModel(bounds)
    s = model.init_states()[0]
    for a in ACTIONS:
        assert model.within_budget(s, a.name), a.name
    spent = _spent(s, bounds)
    for a in ACTIONS:
        assert model.within_budget(spent, a.name) == (a.budget is None), a.name
    # an action, its class and its name are the same question
    assert model.within_budget(spent, HostWrite(0, 1)) is model.within_budget(spent, HostWrite) is False
    with pytest.raises(KeyError):
        model.within_budget(s, "NoSuchAction")


def _settle(model: MirrorModel, s: State) -> State:
    """Deliver every message on the path."""
    while (d := next((a for a in model.actions(s) if a.name == "Deliver"), None)) is not None:
        s = model.next_state(s, d)
    return s


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_the_protocol_asks_the_budget_hook_for_every_budgeted_action(monkeypatch: pytest.MonkeyPatch,
                                                                     kind: RecoveryKind) -> None:
    # with every budget spent, no budgeted action is enabled; with the hook switched off (as a proof without
    # budgets would), each of them is enabled again: the guards read budgets only through the hook
    # two-block writes: the power losses inside one (CrashMidWrite, CrashMidApply) are budgeted too, and so is
    # the power loss inside R's swap (CrashMidRemoteSwap, swap only)
    bounds = PRESETS["small"].with_(markers=1, message_faults=1, recoveries=1, crashes=1, write_blocks=2,
                                    recovery_kind=kind)
    model = MirrorModel(bounds)
    budgeted = {a.name for a in ACTIONS if a.budget is not None and a.present(kind, None)}
    # a write on its way (a message to lose or duplicate), the same write done (a recovery target), and a
    # recovery to it started (a swap's RecoverRequest on the path)
    sending = model.next_state(model.init_states()[0], HostWrite(0, 1, 2))
    done = _settle(model, sending)
    assert done.journal and not done.in_flight
    started = model.next_state(done, StartRecovery(done.next_seq - 1, kind))
    for s in (sending, done, started):
        assert not budgeted & {a.name for a in model.actions(_spent(s, bounds))}
    monkeypatch.setattr(MirrorModel, "within_budget", lambda self, s, a: True)
    enabled = {a.name for s in (sending, done, started) for a in model.actions(_spent(s, bounds))}
    assert budgeted <= enabled


def test_conformance_applies_the_models_budgets_to_the_impl() -> None:
    # the impl has no budgets: with the host-write budget spent, the impl still offers host writes and the
    # lockstep's comparison leaves them out, through the model's hook
    run = lockstep.Lockstep(PRESETS["small"].with_(host_writes=1), PRESETS["small"].fence_policies[0])
    run.step(HostWrite(0, 1))
    run.drain()  # the write is acknowledged: the impl takes host writes again
    assert not any(a.name == "HostWrite" for a in run.enabled())
    assert any(a.name == "HostWrite" for a in run.system.enabled_actions())
    run.check_enabled()  # agrees, budgets applied
    assert not run.model.within_budget(run.state, "HostWrite")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_the_encodings_budget_guard_agrees_with_the_hook_and_can_be_switched_off(kind: RecoveryKind) -> None:
    bounds = PRESETS["small"].with_(recovery_kind=kind, markers=1, message_faults=1, crashes=1)
    model = MirrorModel(bounds)
    on, off = Encoding(bounds), Encoding(bounds, budgets=False)
    for s in reachable(bounds, 400):
        vec = SV(on.lay, on.lay.encode(s))
        for a in ACTIONS:
            assert on.budget_guard(a.name, vec) == model.within_budget(s, a.name), (a.name, s)
            assert off.budget_guard(a.name, vec) is True
    spent = _spent(model.init_states()[0], bounds)
    vec = SV(on.lay, on.lay.encode(spent))
    fires_on = {i.name for i in on.instances if i.guard(vec, 0) is True}
    fires_off = {i.name for i in off.instances if i.guard(vec, 0) is True}
    assert not any(n.startswith(("HostWrite", "CrashArray", "FailPath")) for n in fires_on)
    assert {"HostWrite[0]", "CrashArray[A]", "FailPath"} <= fires_off


def test_without_budgets_the_encoding_keeps_the_instances_a_zero_budget_leaves_out() -> None:
    bounds = PRESETS["small"]
    assert bounds.message_faults == 0
    names = {i.name for i in Encoding(bounds).instances}
    assert "LoseMessage" not in names
    assert {"LoseMessage", "DuplicateMessage"} <= {i.name for i in Encoding(bounds, budgets=False).instances}


# --- the other views of the table ------------------------------------------------------------------------------


def _base_names(enc: Encoding) -> list[str]:
    out: list[str] = []
    for i in enc.instances:
        name = i.name.split("[")[0]
        if not out or out[-1] != name:
            out.append(name)
    return out


@pytest.mark.parametrize("mutant", [None, *MUTANTS])
@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_the_encoding_has_instances_for_exactly_the_tables_actions(kind: RecoveryKind, mutant: str | None) -> None:
    # in the table's order, every action the kind and mutant have and no other (a message fault needs a budget)
    # two-block writes: the power losses inside one have instances only then
    enc = Encoding(Bounds(recovery_kind=kind, mutant=mutant, message_faults=1, write_blocks=2))
    assert _base_names(enc) == [a.name for a in actions_for(kind, mutant)]


def test_the_drain_order_is_the_tables() -> None:
    assert [c.__name__ for c in lockstep.DRAIN_ORDER] == list(DRAIN_ORDER)
    assert list(DRAIN_ORDER) == ["RepairPath", "Deliver", "MirrorTimeout", "SwapTimeout", "StartResync",
                                 "FinishResync", "RecoveryWrite", "SwapVolumes", "FinishRecovery", "SwitchHostLun"]
    for name in DRAIN_ORDER:  # a drain takes no new fault and no host I/O
        assert not BY_NAME[name].fault and BY_NAME[name].budget is None
    assert FAULTS == ("LoseMessage", "DuplicateMessage", "FailPath", "CrashArray", "CrashMidWrite", "CrashMidApply",
                      "CrashMidRemoteSwap")


def test_the_fuzzers_step_kinds_are_the_tables_actions() -> None:
    kinds = [k for k in strategy.KINDS if k.action is not None]
    assert sorted(k.name for k in kinds) == sorted(a.name for a in ACTIONS)
    assert all(ACTION_TYPES[k.name] is k.action for k in kinds)
    assert CrashArray in {k.action for k in kinds}
