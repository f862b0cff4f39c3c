"""Invariant inference (``checkers.symbolic.houdini``, ``prove --infer``): the templates read in field names, the
cheap filter drops what a reachable state breaks, the fixpoint drops what a step breaks, and the whole search
proves a core property on the proof system and does not on a seeded bug."""

from __future__ import annotations

import json
import re
import typing
from enum import IntEnum
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from pitmirror.checkers.cli import infer as infer_cli
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.houdini import (
    Candidate,
    Inference,
    candidates,
    columns,
    drop_implied,
    holds_on,
    houdini,
    infer,
    minimise,
    reachable_states,
    readable,
)
from pitmirror.model.config import Bounds
from pitmirror.spec.fields import FIELDS, Content
from pitmirror.spec.state import RecoveryKind, State
from tests.cli_helpers import run_cli

ONE = Bounds(blocks=1, concurrency=1, journal_capacity=2, host_writes=2, markers=0, recoveries=1, crashes=0,
             path_failures=1)


def test_candidates_read_in_field_names() -> None:
    enc = Encoding(ONE, unbounded=True)
    cands = candidates(enc, ["mirror_consistent"])
    texts = [c.text for c in cands if c.origin != "well_formed"]
    assert any(t == "pair_state == PAIR and mirror idle (in_flight, remote_buffer empty) => primary == remote"
               for t in texts)
    # no slot index of the vector, no Z3 variable suffix, in any template's text
    assert not [t for t in texts if "@" in t or re.search(r"\.\d+\.", t)]
    assert sum(c.origin == "property" for c in cands) == 1


def test_filter_drops_what_a_reachable_state_breaks() -> None:
    enc = Encoding(ONE, unbounded=True)
    cols = columns(enc, reachable_states(ONE, limit=3000))
    rows = len(cols["base_seq"])
    by_text = {c.text: c for c in candidates(enc)}
    assert holds_on(by_text["base_seq < next_seq"], cols, rows)
    # a host write is on P before it reaches S
    assert not holds_on(by_text["primary == remote"], cols, rows)
    assert holds_on(by_text["pair_state == PAIR and mirror idle (in_flight, remote_buffer empty) => primary == remote"],
                    cols, rows)


def test_rebuild_templates_relate_the_two_arrays() -> None:
    """The template family of A's and R's images comes from the field table (each array's volumes and journals),
    and on swap's reachable states the filter keeps the rebuilds' agreement only under the phase that makes it
    true: what ``swap_rebuilds_agree`` says by hand."""
    b = ONE.with_(recovery_kind=RecoveryKind.SWAP)
    enc = Encoding(b, unbounded=True)
    cols = columns(enc, reachable_states(b, limit=3000))
    rows = len(cols["base_seq"])
    by_text = {c.text: c for c in candidates(enc)}
    agree = "rebuild(base, journal, recovery.target) == rebuild(replica_base, remote_journal, recovery.target)"
    assert holds_on(by_text[f"pair_state == PAIR and neither array swapped => {agree}"], cols, rows)
    assert not holds_on(by_text[agree], cols, rows)
    assert holds_on(by_text["A alone swapped => primary == rebuild(replica_base, remote_journal, recovery.target)"],
                    cols, rows)
    # every A-side image against every R-side one: R's volumes rebuilt from JR at each point, none of A's
    # journals on R's side
    assert "rebuild(base, journal, next_seq - 1) == rebuild(remote, remote_journal, remote_applied_seq)" in by_text
    assert not [t for t in by_text if "== rebuild(primary" in t or "rebuild(remote, journal," in t]


def test_identity_templates_relate_the_maps() -> None:
    """The identity templates come from the field table: every enum field of ``State`` equal to each of its
    values, fields of one enum type equal or not, each also under a flag. On swap's reachable states the host-LUN
    map names P's volume except while the LUN switch is pending; the seeded bug that loses the pending switch in
    a crash breaks the flag's copy, so the template can fail."""
    b = ONE.with_(recovery_kind=RecoveryKind.SWAP, crashes=1)
    enc = Encoding(b, unbounded=True)
    by_text = {c.text: c for c in candidates(enc)}
    hints = typing.get_type_hints(State)
    enums = [f.name for f in FIELDS if f.content is Content.SCALAR and isinstance(hints[f.name], type)
             and issubclass(hints[f.name], IntEnum)]
    assert {"primary_volume", "host_lun", "secondary_volume", "pair_state"} <= set(enums)
    for name in enums:
        assert all(f"{name} == {m.name}" in by_text for m in hints[name])
    same = "primary_volume == host_lun"
    guarded = f"{same} when not lun_switch_pending"
    assert {same, guarded, "primary_volume != secondary_volume", "not lun_switch_pending"} <= set(by_text)
    cols = columns(enc, reachable_states(b, limit=20_000))
    rows = len(cols["base_seq"])
    assert int(cols["lun_switch_pending"].max()) == 1  # the exploration reaches a swap between its map updates
    assert not holds_on(by_text[same], cols, rows)
    assert holds_on(by_text[guarded], cols, rows)
    assert not holds_on(by_text["primary_volume == secondary_volume"], cols, rows)  # A swapped, R not yet
    mutant = b.with_(mutant="swap_updates_lun_map_last_without_intent")
    mcols = columns(enc, reachable_states(mutant, limit=20_000))
    assert not holds_on(by_text[guarded], mcols, len(mcols["base_seq"]))
    # write-through never swaps: the maps stay on the volumes the run started with
    wt = Encoding(ONE, unbounded=True)
    wt_text = {c.text: c for c in candidates(wt)}
    wcols = columns(wt, reachable_states(ONE, limit=3000))
    for t in (same, "primary_volume == V0", "host_lun == V0", "secondary_volume == V0", "not lun_switch_pending"):
        assert holds_on(wt_text[t], wcols, len(wcols["base_seq"])), t


def _small_inference() -> Inference:
    """A real Houdini run over a few templates, guarded and not: what ``readable`` and the CLI print."""
    enc = Encoding(ONE, unbounded=True)
    by_text = {c.text: c for c in candidates(enc)}
    texts = ["primary_volume == host_lun", "primary == remote", "journaling_state == JOURNALING => no recovery",
             "no recovery => journaling_state == JOURNALING", "pair_state == PAIR => pair_state == PAIR",
             "journaling_state == JOURNALING => primary_volume == host_lun"]
    inv, queries = houdini(enc, [by_text[t] for t in texts], timeout_ms=60_000)
    res = Inference(inv, len(texts), len(texts), 0, queries, {"filter": 0.0, "houdini": 0.0})
    res.proved = {"journal_well_formed": "not proved"}
    return res


def test_readable_groups_the_invariant_by_guard() -> None:
    """One heading per guard with its facts below; what the run dropped is not there, and a guarded fact that
    holds always (or is its guard) is counted, not listed again."""
    res = _small_inference()
    kept = {c.text for c in res.invariant}
    assert "primary == remote" not in kept and "primary_volume == host_lun" in kept  # a host write breaks it
    lines = readable(res.invariant)
    assert lines == ["always (1 fact):", "  primary_volume == host_lun",
                     "when journaling_state == JOURNALING (1 fact; 1 more that hold always or are the guard):",
                     "  no recovery",
                     "when no recovery (1 fact):", "  journaling_state == JOURNALING"]


def test_prove_infer_prints_and_writes_the_readable_invariant(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``prove --infer`` prints the invariant of its run grouped by guard and writes the same lines to JSON as
    ``readable_invariant`` (the search itself replaced by a small real one: the whole search takes minutes)."""
    res = _small_inference()
    monkeypatch.setattr(infer_cli, "infer", lambda *a, **k: res)
    path = tmp_path / "infer.json"
    code, out, err = run_cli(monkeypatch, capsys, "prove", "--infer", "--recovery", "writethrough", "--property",
                             "journal_well_formed", "--json", str(path))
    assert code == 3, out + err  # not proved: inconclusive
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, json.loads(resources.files("pitmirror.checkers.reports")
                                        .joinpath("results.schema.json").read_text()))
    lines = doc["runs"][0]["readable_invariant"]
    assert lines == readable(res.invariant) and "when no recovery (1 fact):" in lines
    flat = " ".join(out.split())
    assert "when no recovery (1 fact): journaling_state == JOURNALING" in flat
    assert "primary_volume == host_lun" in flat and "primary == remote" not in flat


def test_fixpoint_drops_what_a_step_breaks() -> None:
    """``next_seq <= M`` (the largest ``next_seq`` the budgets reach) holds on every reachable state, but one more
    write breaks it: Houdini drops it and keeps the inductive ``next_seq >= 0``."""
    enc = Encoding(ONE, unbounded=True)
    cols = columns(enc, reachable_states(ONE, limit=3000))
    top = int(cols["next_seq"].max())
    keep = Candidate("next_seq >= 0", lambda s: s["next_seq"] >= 0)
    bounded = Candidate(f"next_seq <= {top}", lambda s: s["next_seq"] <= top)
    assert holds_on(bounded, cols, len(cols["base_seq"])) and holds_on(keep, cols, len(cols["base_seq"]))
    inv, queries = houdini(enc, [keep, bounded], timeout_ms=60_000)
    assert [c.text for c in inv] == ["next_seq >= 0"]
    assert queries >= 2


def test_minimise_keeps_what_the_goal_and_its_steps_need() -> None:
    """``history in seq order`` is kept by an append only because each new entry's seq is above every old one
    (``every history.seq < next_seq``): the core of the goal alone is the goal, the step's core adds the bound,
    and the unrelated conjuncts go; the weaker twin ``<=``, implied by ``<``, goes too, whether or not a core
    kept it. What is left is still inductive."""
    enc = Encoding(ONE, unbounded=True)
    by_text = {c.text: c for c in candidates(enc)}
    texts = ["every history.seq < next_seq", "every history.seq <= next_seq", "history in seq order",
             "remote_recovery_id <= recoveries_started"]
    inv, _ = houdini(enc, [by_text[t] for t in texts], timeout_ms=60_000)
    assert [c.text for c in inv] == texts  # inductive as a whole
    goal = by_text["history in seq order"]
    kept, queries = minimise(enc, inv, [goal.pred], timeout_ms=60_000)
    assert [c.text for c in kept] == ["every history.seq < next_seq", "history in seq order"]
    assert queries > 1
    again, _ = houdini(enc, kept, timeout_ms=60_000)
    assert again == kept


def test_drop_implied_drops_the_weaker_twin_and_keeps_the_structural_ones() -> None:
    """``seq <= next_seq`` follows from ``seq < next_seq`` and goes; the stronger one, which nothing else implies,
    stays, as does an unrelated conjunct; a structural conjunct stays even when another conjunct implies it. With
    the stronger one absent nothing is dropped."""
    enc = Encoding(ONE, unbounded=True)
    by_text = {c.text: c for c in candidates(enc)}
    strict, weak, order = (by_text[t] for t in ("every history.seq < next_seq", "every history.seq <= next_seq",
                                                 "history in seq order"))
    kept, queries = drop_implied(enc, [strict, weak, order], timeout_ms=60_000)
    assert kept == [strict, order] and queries == 3
    assert drop_implied(enc, [weak, order], timeout_ms=60_000)[0] == [weak, order]
    structural = Candidate(weak.text, weak.pred, origin="well_formed")
    assert drop_implied(enc, [strict, structural], timeout_ms=60_000)[0] == [strict, structural]


def test_infer_usage_errors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for extra in (["--depth", "2"], ["--values-bits", "8"], ["--induction"]):
        code, out, err = run_cli(monkeypatch, capsys, "prove", "--infer", *extra)
        assert code == 2, out + err
        assert "Traceback" not in out + err and extra[0] in err
    code, out, err = run_cli(monkeypatch, capsys, "prove", "--minimise")
    assert code == 2 and "--minimise applies to --infer" in err, out + err


#: the proof system's parameters of docs/PROOFS.md's figures; the filter explores the default budgets
PROOF = Bounds(blocks=1, concurrency=1, journal_capacity=2, recovery_kind=RecoveryKind.WRITETHROUGH)


@pytest.mark.slow
def test_infer_proves_mirror_consistent() -> None:
    """206 s on the shared 2-core machine (load average 2.5-4). The identity templates are what it needs (the
    host-LUN map names P's volume): the readable invariant lists them."""
    res = infer(PROOF, ["mirror_consistent"], timeout_ms=600_000)
    assert res.proved == {"mirror_consistent": "proved"}, res.note
    assert "mirror_consistent" in [c.text for c in res.invariant]
    lines = readable(res.invariant)
    assert "  primary_volume == host_lun" in lines and "  mirror_consistent" in lines


@pytest.mark.slow
def test_infer_does_not_prove_a_seeded_bug() -> None:
    """``skip_journal`` leaves host writes out of J: its reachable states break ``journal_well_formed``, and
    so must the inferred invariant's proof."""
    res = infer(PROOF.with_(mutant="skip_journal"), ["journal_well_formed"], timeout_ms=600_000)
    assert res.proved["journal_well_formed"] == "not proved"
