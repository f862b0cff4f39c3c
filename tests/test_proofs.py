"""The proof system (docs/PROOFS.md): the encoding without budgets agrees with the model, every invariant its
proofs use holds on every reachable state at small bounds, the properties are proved for any number of writes,
checkpoints, faults and recoveries, and each seeded safety mutant makes its property unprovable, the failing
obligations naming the step the mutant changed (issue 15)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from helpers.z3_agree import Coverage, check_state, predicates, reachable
from pitmirror.checkers.symbolic.bmc import Outcome, Unroller, well_formed
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.induction import Discharger, induction
from pitmirror.checkers.symbolic.terms import RECOVERY_TOP, SCALAR_TOP
from pitmirror.model.config import PRESETS, PROOF_PARAMETERS, RANGES, Bounds
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.actions import ACTIONS, BUDGET_COUNTERS
from pitmirror.spec.invariants import (
    INVARIANTS,
    checkpoints_below_late_requests,
    resync_answer_holds_the_copy,
    support,
)
from pitmirror.spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, SAFETY, Kind
from pitmirror.spec.state import RecoveryKind

KINDS = [RecoveryKind.WRITETHROUGH, RecoveryKind.SWAP]
#: The proof system's parameters in these tests: one block, one write in flight, a journal of two records.
PROOF = Bounds(blocks=1, concurrency=1, journal_capacity=2)


def used_invariants(kinds: Sequence[RecoveryKind] = KINDS) -> set[str]:
    """Every conjunct any proof of the proof system uses, for any property, under the given recovery kinds."""
    return {n for p in SAFETY for k in kinds for n in support(p.name, k)}


def test_every_invariant_used_is_a_checked_predicate() -> None:
    # each is in INVARIANTS (checked on reachable states below and compared with the encoding by the agreement
    # tests) or a safety property (checked by `check` and the agreement tests)
    known = {f.__name__ for f in INVARIANTS} | {p.name for p in SAFETY}
    assert used_invariants() <= known
    assert all(f.__doc__ for f in INVARIANTS)
    # a property false by design under a kind (its expected trade-off) supports no proof under that kind
    assert not {(n, k) for k in KINDS for n in used_invariants((k,))} & set(EXPECTED_TRADE_OFFS)


#: Markers, two crashes and a message fault: more than 200 k states, so a breadth-first prefix of it.
FAULTY = Bounds(blocks=1, host_writes=2, concurrency=1, markers=1, crashes=2, message_faults=1)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
# with a premature timeout, late messages stay on the path after the pair suspends (20 k states in all)
@pytest.mark.parametrize(("b", "limit"), [(PRESETS["small"], None),
                                          (PRESETS["small"].with_(premature_timeouts=1), None),
                                          (FAULTY, 15_000)], ids=["small", "premature-timeout", "faulty-prefix"])
def test_every_invariant_holds_on_every_reachable_state(kind: RecoveryKind, b: Bounds, limit: int | None) -> None:
    states = reachable(b.with_(recovery_kind=kind), limit)
    assert len(states) > 5000  # the small preset: its whole state space (the slow tests: the default bounds)
    # a property supports another's proof only under the kinds where it holds (remote_is_point_in_time: swap)
    safety = [p.predicate for p in SAFETY if p.name in used_invariants((kind,))]
    for s in states:
        for inv in (*INVARIANTS, *safety):
            assert inv(s), f"{getattr(inv, '__name__', inv)} fails on {s!r}"


def test_an_invariant_that_is_false_somewhere_is_caught() -> None:
    # the check above can fail: a plausible but wrong invariant (R is never behind A) is false on a reachable state
    states = reachable(PRESETS["small"], 3000)
    assert not all(s.remote_applied_seq == s.next_seq - 1 for s in states)


def test_a_checkpoint_past_a_requested_swap_breaks_checkpoints_below_late_requests() -> None:
    # the invariant can fail: when a checkpoint may pass a running recovery's target, a Checkpointed above the
    # target of the RecoverRequest R has still to act on is reachable (and none is in the correct protocol,
    # checked above)
    b = PRESETS["small"].with_(recovery_kind=RecoveryKind.SWAP, mutant="checkpoint_during_recovery")
    assert not all(checkpoints_below_late_requests(s) for s in reachable(b))


def test_a_resync_that_leaves_rb_behind_breaks_resync_answer_holds_the_copy() -> None:
    # the invariant can fail: when R's half of a resync keeps its RB (checkpoint_not_redone), a state with A in
    # COPY and the answer of its resync on the path while RB is not B is reachable
    b = PRESETS["small"].with_(mutant="checkpoint_not_redone", crashes=1)
    assert not all(resync_answer_holds_the_copy(s) for s in reachable(b))


def _prove_without(name: str, kind: RecoveryKind, invariant: str) -> Outcome:
    """k-induction of ``name`` on the proof system with ``invariant`` left out of its support."""
    b = PROOF.with_(recovery_kind=kind)
    without = tuple(n for n in support(name, kind) if n != invariant)
    with Discharger(2) as discharger:
        return induction(Unroller(b, unbounded=True), BY_NAME[name], without, 1, discharger=discharger)


@pytest.mark.slow  # 10 s
def test_without_resync_answer_holds_the_copy_a_resync_answer_breaks_the_pair() -> None:
    # the CTI that made it necessary: A's half of a resync (Deliver of Resynced) enters PAIR, so every PAIR
    # invariant needs R to hold A's copy while the answer is in transit
    o = _prove_without("mirror_consistent", RecoveryKind.WRITETHROUGH, "resync_answer_holds_the_copy")
    assert o.verdict != "proved" and "Deliver[RESYNCED] / mirror_consistent" in o.note, o.note


@pytest.mark.slow  # 15 s
def test_without_checkpoints_below_late_requests_a_late_checkpointed_breaks_the_swap() -> None:
    # the CTI that made it necessary: R's half of a Checkpointed above a late RecoverRequest's target (or over an
    # unordered JR) folds into RB records R's rebuild of that target must leave out
    o = _prove_without("remote_is_point_in_time", RecoveryKind.SWAP, "checkpoints_below_late_requests")
    assert o.verdict != "proved" and "Deliver[CHECKPOINTED] / swap_remote_tracked" in o.note, o.note


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_the_proof_system_agrees_with_the_model_without_budgets(kind: RecoveryKind) -> None:
    # the proof system is the same encoding with the budgets switched off: on states reachable at small bounds it
    # must enable exactly the model's actions when every budget is at its largest, with the same successors, and
    # its properties (replay relative to the journal base) and invariants must agree with the predicates
    small = PRESETS["small"].with_(recovery_kind=kind)
    big = small.with_(**{k: RANGES[k][1] for k in BUDGET_COUNTERS})
    enc = Encoding(big, unbounded=True)
    first = enc.lay.concrete(reachable(small, 1)[0])
    assert enc.unbounded and not enc.budgets
    assert all(enc.budget_guard(a.name, first) is True and enc.late_budget_guard(a.name, first) is True
               for a in ACTIONS)
    preds = predicates(enc)
    cov = Coverage()
    problems: list[str] = []
    for s in reachable(small, 800):
        problems += check_state(enc, s, preds, cov)
        if len(problems) > 3:
            break
    assert not problems, "\n".join(problems)
    assert "StartRecovery" in cov.fired and any(n.startswith("HostWrite") for n in cov.fired)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_the_proof_system_depends_on_its_parameters_alone(kind: RecoveryKind) -> None:
    # a proof holds for PROOF_PARAMETERS (what `prove --induction` prints and a CTI shows) and nothing else: any
    # other bound, at either end of its range, leaves the same action instances and the same state vector
    b = PROOF.with_(blocks=2, recovery_kind=kind)

    def shape(b: Bounds) -> tuple[list[str], list[str], dict[str, int]]:
        enc = Encoding(b, unbounded=True, canonical_path=False)
        return [i.name for i in enc.instances], list(enc.lay.names), dict(enc.lay.caps)

    others = [f for f in RANGES if f not in PROOF_PARAMETERS]
    assert "host_writes" in others and "values" in others
    for f in others:
        for v in RANGES[f]:
            assert shape(b.with_(**{f: v})) == shape(b), f"{f}={v} changes the proof system"
    # and the check can fail: a parameter does change it
    assert shape(b.with_(message_faults=1)) != shape(b) and shape(b.with_(write_blocks=2)) != shape(b)


def prove(b: Bounds, name: str, jobs: int = 2) -> Outcome:
    """k-induction (k = 1) of one property on the proof system at ``b``'s parameters."""
    with Discharger(jobs) as discharger:
        return induction(Unroller(b, unbounded=True), BY_NAME[name], support(name, b.recovery_kind), 1,
                         discharger=discharger)


@pytest.mark.slow  # 17 s; the CLI test below proves the same in CI
def test_journal_well_formed_is_proved_for_any_number_of_writes() -> None:
    o = prove(PROOF, "journal_well_formed")
    assert o.verdict == "proved", o.note


@pytest.mark.slow  # 16 s
def test_without_the_capacity_invariants_the_history_overflows() -> None:
    # the capacities are obligations, not assumptions: without the invariants that bound the ghost history and the
    # in-flight table, a step from an arbitrary state outgrows one (well_formed after it is broken)
    with Discharger(2) as discharger:
        o = induction(Unroller(PROOF, unbounded=True), BY_NAME["journal_well_formed"], ("counters_ordered",), 1,
                      discharger=discharger)
    assert o.verdict == "not proved" and "/ well_formed" in o.note


#: The proof system with multi-block host writes: a power loss inside one at A and at R is a step too.
MULTI = PROOF.with_(blocks=2, write_blocks=2)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name.lower())
def test_journal_well_formed_is_proved_with_multi_block_writes(kind: RecoveryKind) -> None:
    o = prove(MULTI.with_(recovery_kind=kind), "journal_well_formed")
    assert o.verdict == "proved", o.note


def test_without_mirrored_writes_below_next_seq_a_torn_write_breaks_the_path() -> None:
    # the CTI that made it necessary: a power loss inside a multi-block host write takes back, by its seq, what
    # the write put on the path and in flight; from a state with another MirrorWrite at that seq it takes that one
    # back too, and the path's slots no longer hold well-formed messages
    b = MULTI.with_(recovery_kind=RecoveryKind.WRITETHROUGH)
    without = tuple(n for n in support("journal_well_formed", b.recovery_kind)
                    if n != "mirrored_writes_below_next_seq")
    with Discharger(2) as discharger:
        o = induction(Unroller(b, unbounded=True), BY_NAME["journal_well_formed"], without, 1, discharger=discharger)
    assert o.verdict == "not proved" and "CrashMidWrite" in o.note and "/ well_formed" in o.note, o.note


#: Every safety property of the catalogue, both kinds, but the trade-off that is false by design.
PROVABLE = [(p.name, k) for p in SAFETY for k in KINDS if (p.name, k) not in EXPECTED_TRADE_OFFS]


# about 15 s (journal, replay) to 2 minutes (recoveries, acknowledgements, S a point in time) each on two cores
@pytest.mark.slow
@pytest.mark.parametrize(("name", "kind"), PROVABLE, ids=[f"{n}-{k.name.lower()}" for n, k in PROVABLE])
def test_every_provable_property_is_proved(name: str, kind: RecoveryKind) -> None:
    o = prove(PROOF.with_(recovery_kind=kind), name)
    assert o.verdict == "proved", o.note


# multi-block writes (two blocks): about as long again
@pytest.mark.slow
@pytest.mark.parametrize(("name", "kind"), PROVABLE, ids=[f"{n}-{k.name.lower()}" for n, k in PROVABLE])
def test_every_provable_property_is_proved_with_multi_block_writes(name: str, kind: RecoveryKind) -> None:
    o = prove(MULTI.with_(recovery_kind=kind), name)
    assert o.verdict == "proved", o.note


#: For each seeded safety mutant, the instances (by name prefix) whose step the mutant changes: an obligation of
#: one of them must fail (or the base case reach the violation).
CHANGED_STEP: dict[str, tuple[str, ...]] = {
    "ack_before_remote": ("HostWrite",),
    "skip_journal": ("HostWrite",),
    "reuse_sequence_number": ("HostWrite", "Deliver[MIRROR_ACK]", "MirrorTimeout", "CrashArray"),
    "recovery_bypasses_mirror": ("StartRecovery", "RecoveryWrite"),
    "recovery_off_by_one": ("StartRecovery", "RecoveryWrite", "FinishRecovery"),
    "replay_out_of_order": ("StartRecovery", "RecoveryWrite", "FinishRecovery"),
    "checkpoint_drops_record": ("Checkpoint",),
    "checkpoint_during_recovery": ("Checkpoint",),
    "remote_applies_in_arrival_order": ("Deliver[MIRROR_WRITE]",),
    "swap_without_freeze": ("HostWrite", "SetMarker"),
    "remote_checkpoints_alone": ("RemoteCheckpoint",),
    "rebuild_from_primary": ("SwapVolumes", "Deliver[RECOVER_REQUEST]"),
    "journal_not_persisted_before_ack": ("HostWrite", "SetMarker", "PersistJournal", "CrashArray"),
    "crash_restores_blocks_from_base": ("CrashArray",),
    "remote_accepts_stale_messages": ("Deliver[MIRROR_WRITE]", "Deliver[RECOVER_REQUEST]"),
    "remote_writes_ahead_of_gap": ("Deliver[MIRROR_WRITE]",),
    "journal_location_ignores_header": ("HostWrite", "SetMarker", "RecoveryWrite", "PersistJournal"),
    "swap_updates_lun_map_last_without_intent": ("CrashArray",),
    "torn_multiblock_write": ("CrashMidWrite",),
    "torn_remote_apply": ("CrashMidApply",),
    "remote_swap_not_redone": ("CrashMidRemoteSwap",),
    "checkpoint_not_redone": ("FinishResync",),
    "resync_accepts_stale_answer": ("Deliver[RESYNCED]",),
}
SAFETY_MUTANTS = [m for m in MUTANTS.values() if BY_NAME[m.breaks].kind is Kind.ALWAYS]
CHEAP = {"skip_journal"}  # 20 s: runs in CI (checkpoint_drops_record too, through the CLI test below)


def test_every_safety_mutant_names_its_step() -> None:
    assert {m.name for m in SAFETY_MUTANTS} == set(CHANGED_STEP)


@pytest.mark.parametrize("mutant", [pytest.param(m.name, marks=() if m.name in CHEAP else pytest.mark.slow)
                                    for m in SAFETY_MUTANTS])
def test_a_seeded_mutant_makes_its_property_unprovable(mutant: str) -> None:
    m = MUTANTS[mutant]
    # a torn write needs two blocks and multi-block writes (its ``needs``); the other mutants show as they are
    wider = {k: max(getattr(PROOF, k), v) for k, v in m.needs if k in ("blocks", "write_blocks")}
    o = prove(PROOF.with_(mutant=mutant, recovery_kind=m.recovery_kind, **wider), m.breaks)
    assert o.verdict in ("not proved", "violated"), o.note
    if o.verdict == "violated":  # the base case reached it: a real trace that the model replays
        assert not o.prop.predicate(o.steps[-1][1])
        return
    failing = o.note.split("failing obligations (action / conjunct): ")[1]
    actions = {ob.split(" / ")[0] for ob in failing.split(". ")[0].split(", ")}
    assert any(a.startswith(CHANGED_STEP[mutant]) for a in actions), failing


PROVE = [sys.executable, "-m", "pitmirror", "prove", "--induction", "--blocks", "1", "--concurrency", "1",
         "--journal-capacity", "2", "--recovery", "writethrough", "--quiet"]


@pytest.mark.parametrize("extra", [[], ["--no-symmetry"]], ids=["slot-0-for-all", "every-slot"])
def test_cli_proves_on_the_proof_system_and_exits_0(extra: list[str], tmp_path: Path) -> None:
    r = subprocess.run([*PROVE, "--property", "journal_well_formed", "--out", str(tmp_path), *extra],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unbounded" in r.stdout and "no budgets" in r.stdout and "proved (every depth" in r.stdout
    # the header names what the proof holds for (model.config.PROOF_PARAMETERS)
    assert "write blocks 1" in r.stdout and "fence policies never/data" in r.stdout, r.stdout


def test_cli_an_unprovable_mutant_is_inconclusive_with_its_cti(tmp_path: Path) -> None:
    r = subprocess.run([*PROVE, "--mutant", "checkpoint_drops_record", "--property", "replay_is_point_in_time",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 3, r.stdout + r.stderr
    assert (tmp_path / "z3-cti-checkpoint_drops_record-writethrough-replay_is_point_in_time.json").exists()


@pytest.mark.parametrize("flag", ["--bounded", "--no-symmetry"])
def test_cli_an_induction_option_needs_induction(flag: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "pitmirror", "prove", flag, "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr and flag in r.stdout + r.stderr
    assert not any(tmp_path.iterdir())


def test_well_formed_holds_on_reachable_states_and_bounds_every_scalar() -> None:
    # well_formed's domains are derived from State's annotations: it holds on every reachable state, and a value
    # out of any scalar's domain (below 0, or above a flag's or enum's largest member) breaks it, so a field added
    # to the state cannot slip through unconstrained
    b = PRESETS["small"].with_(recovery_kind=RecoveryKind.SWAP)
    enc = Encoding(b)
    states = reachable(b, 2000)
    assert all(well_formed(enc, enc.lay.concrete(s)) is True for s in states)
    late = next(s for s in states if s.recovery is not None)
    scalars = [*SCALAR_TOP.items(), *((f"recovery.{f}", t) for f, t in RECOVERY_TOP.items() if f != "kind")]
    assert "swap_timed_out" in SCALAR_TOP and "recovery.remote_status" in dict(scalars)
    for name, hi in scalars:
        for bad in (-1, *(() if hi is None else (hi + 1,))):
            sv = enc.lay.concrete(late)
            sv[name] = bad
            assert not well_formed(enc, sv), f"{name}={bad} is accepted"
