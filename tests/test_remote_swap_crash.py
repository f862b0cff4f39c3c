"""Power loss in the middle of R's half of a swap (issue 14, ``CrashMidRemoteSwap``): R's restart finds its
swap's intent record and redoes the swap whole, so the step is R's swap followed by R's crash; without the
intent record (``remote_swap_not_redone``) RB keeps the rebuild's first record and the arrays' bases part,
which ``bases_agree`` reports with a shortest trace ending in the power loss."""

from __future__ import annotations

import pytest

from helpers.z3_agree import Coverage, agree_concrete, expected_instances, sample_reachable
from pitmirror.checkers.explicit.checker import ExplicitChecker, Verdict
from pitmirror.checkers.frontier.engine import FrontierChecker
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.model.actions import CrashArray, CrashMidRemoteSwap, Deliver, HostWrite, StartRecovery
from pitmirror.model.config import Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec import actions as spec_actions
from pitmirror.spec.properties import BY_NAME, PROPERTIES, SAFETY
from pitmirror.spec.state import MirrorAck, MirrorWrite, RecoverRequest, RecoveryKind, State, SwapDone

#: the least bounds that show the mutant: one block, one host write, a swap recovery and a crash
SWAP_CRASH = Bounds(blocks=1, values=2, host_writes=1, concurrency=1, journal_capacity=2, path_failures=0,
                    crashes=1, recoveries=1, recovery_kind=RecoveryKind.SWAP)
NAME = "remote_swap_not_redone"


def _requested(m: MirrorModel) -> State:
    """A write mirrored and acknowledged (JR holds it, RB does not), then a swap recovery to it started."""
    s = m.init_states()[0]
    for a in (HostWrite(0, 1), Deliver(MirrorWrite(1, 0, 1)), Deliver(MirrorAck(1)),
              StartRecovery(1, RecoveryKind.SWAP)):
        assert a in m.actions(s), a
        s = m.next_state(s, a)
    return s


@pytest.mark.claims(8, 14, 22, 28)
def test_the_restart_redoes_the_swap_so_the_step_is_the_swap_then_the_crash() -> None:
    m = MirrorModel(SWAP_CRASH)
    s = _requested(m)
    rr = RecoverRequest(1, 1)
    assert CrashMidRemoteSwap(rr) in m.actions(s)
    cut = m.next_state(s, CrashMidRemoteSwap(rr))
    assert cut == m.next_state(m.next_state(s, Deliver(rr)), CrashArray("R"))
    assert cut.remote == cut.replica_base == (1,) and cut.remote_recovery_id == 1
    assert cut.secondary_volume != s.secondary_volume and SwapDone(1) in cut.path and cut.crashes == 1
    assert all(p.predicate(cut) for p in SAFETY)


def test_only_a_request_r_would_act_on_with_the_path_up_and_a_crash_left_can_be_cut() -> None:
    m = MirrorModel(SWAP_CRASH)
    s = _requested(m)
    rr = RecoverRequest(1, 1)
    for later in (s._replace(remote_recovery_id=1), s._replace(path_up=False), s._replace(crashes=1)):
        assert not any(isinstance(a, CrashMidRemoteSwap) for a in m.actions(later))
    assert CrashMidRemoteSwap(rr) in m.actions(s)
    assert spec_actions.BY_NAME["CrashMidRemoteSwap"].kinds == {RecoveryKind.SWAP}
    assert CrashMidRemoteSwap.claims == (14, 28) and CrashMidRemoteSwap.actor == "fault"


def test_the_mutant_leaves_rb_with_the_first_record_and_nothing_else_moved() -> None:
    m = MirrorModel(SWAP_CRASH.with_(mutant=NAME))
    s = _requested(m)
    cut = m.next_state(s, CrashMidRemoteSwap(RecoverRequest(1, 1)))
    assert cut.replica_base == (1,) and cut.remote == s.remote and cut.replica_base_seq == s.replica_base_seq
    assert (cut.remote_journal, cut.remote_recovery_id, cut.secondary_volume) == (
        s.remote_journal, s.remote_recovery_id, s.secondary_volume)
    assert not any(msg.kind == SwapDone(1).kind for msg in cut.path)  # no answer
    assert not BY_NAME["bases_agree"].predicate(cut)


def test_the_mutant_is_caught_by_bases_agree_with_a_shortest_trace_ending_in_the_cut() -> None:
    mutant = MUTANTS[NAME]
    assert mutant.breaks == "bases_agree" and mutant.recovery_kind is RecoveryKind.SWAP
    prop = BY_NAME[mutant.breaks]
    r = ExplicitChecker(MirrorModel(SWAP_CRASH.with_(mutant=NAME)), [prop]).run()
    d = r.discoveries[prop.name]
    assert d.verdict is Verdict.VIOLATED
    steps = [type(a).__name__ for a, _ in d.path if a is not None]
    # the write mirrored and acknowledged (a recovery starts with nothing in flight), the request, the cut
    assert steps == ["HostWrite", "Deliver", "Deliver", "StartRecovery", "CrashMidRemoteSwap"], steps
    # without a crash the cut cannot happen, and the mutant changes nothing
    none = ExplicitChecker(MirrorModel(SWAP_CRASH.with_(mutant=NAME, crashes=0)), [prop]).run()
    assert none.complete and none.discoveries[prop.name].verdict is Verdict.HOLDS


def test_the_correct_protocol_holds_with_the_cut_and_the_frontier_engine_agrees() -> None:
    model = MirrorModel(SWAP_CRASH)
    theirs = ExplicitChecker(model, PROPERTIES).run()
    assert not [n for n, d in theirs.discoveries.items() if d.verdict is Verdict.VIOLATED]
    ours = FrontierChecker(model, PROPERTIES, kernel="numpy").run()
    assert (ours.states, ours.transitions) == (theirs.states, theirs.transitions)
    bad = FrontierChecker(MirrorModel(SWAP_CRASH.with_(mutant=NAME)), PROPERTIES, kernel="numpy").run()
    assert bad.discoveries["bases_agree"].verdict is Verdict.VIOLATED


def test_the_encoding_agrees_with_the_model_on_the_cut() -> None:
    """The instance fires (guard and effect compared with the model) on sampled reachable states, correct and
    under the mutant, whose branch is taken."""
    for mutant in (None, NAME):
        b = SWAP_CRASH.with_(mutant=mutant, host_writes=2)
        cov = Coverage()
        _n, problems = agree_concrete(b, cov=cov, states=sample_reachable(b, 200, 8, search=4000))
        assert not problems, "\n".join(problems)
        assert "CrashMidRemoteSwap" in expected_instances(Encoding(b)) and "CrashMidRemoteSwap" in cov.fired
        assert mutant is None or mutant in cov.branches
    assert "CrashMidRemoteSwap" not in {i.name for i in Encoding(SWAP_CRASH.with_(crashes=0)).instances}
    wt = SWAP_CRASH.with_(recovery_kind=RecoveryKind.WRITETHROUGH)
    assert "CrashMidRemoteSwap" not in {i.name for i in Encoding(wt).instances}
