"""The driver: determinism from a seed, replay of the event log, the step API and its enabled actions,
and random runs with faults that keep the protocol's invariants."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from pitmirror.impl import ACTION_NAMES, Action, FaultPlan, MirroredSystem
from pitmirror.impl.blocks import value_of_block
from pitmirror.impl.messages import MirrorWrite
from pitmirror.impl.record import JournalRecord
from pitmirror.impl.states import PairState, RecoveryKind

HEAVY = FaultPlan(loss=1.0, duplication=1.0, path_failure=0.3, crash=0.3, recovery=0.5)


def run(seed: int, steps: int = 300, **kw: Any) -> MirroredSystem:
    s = MirroredSystem(blocks=3, journal_capacity=4, seed=seed, max_in_flight=2, **kw)
    s.run_random(steps, HEAVY)
    return s


def test_same_seed_same_event_log() -> None:
    a, b = run(11), run(11)
    assert a.events == b.events and len(a.events) == 300
    assert a.abstract_state() == b.abstract_state()
    assert run(12).events != a.events


def test_a_run_replays_exactly_in_another_process() -> None:
    code = ("from impl import MirroredSystem, FaultPlan\n"
            "s = MirroredSystem(blocks=3, journal_capacity=4, seed=5, max_in_flight=2)\n"
            "s.run_random(200, FaultPlan(loss=1.0, duplication=1.0, path_failure=0.3, crash=0.3,"
            " recovery=0.5))\n"
            "print('\\n'.join(map(repr, s.events)))\n")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                           env={**os.environ, "PYTHONHASHSEED": h}).stdout for h in ("1", "2")}
    here = MirroredSystem(blocks=3, journal_capacity=4, seed=5, max_in_flight=2)
    here.run_random(200, HEAVY)
    assert outs == {"\n".join(map(repr, here.events)) + "\n"}


@pytest.mark.parametrize("kind", ["writethrough", "swap"])
def test_the_event_log_replays_on_a_fresh_system(kind: str) -> None:
    s = run(3, recovery=kind)
    fresh = MirroredSystem(blocks=3, journal_capacity=4, seed=999, max_in_flight=2, recovery=kind)
    for event in s.events:
        fresh.apply(event)
    assert fresh.events == s.events
    assert fresh.abstract_state() == s.abstract_state()
    assert fresh.a.array.drive_images() == s.a.array.drive_images()


def test_events_and_actions_speak_the_models_words() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=4)
    s.apply("HostWrite", lba=0, value=1)
    s.apply(Action.make("Deliver", message=MirrorWrite(1, 0, s.a.array.read("primary", 0))))
    s.apply("Deliver", message={"kind": "MirrorAck", "seq": 1})
    s.apply("StartRecovery", target=0, kind="swap")
    assert [repr(e) for e in s.events] == [
        "HostWrite(lba=0, value=1)", "Deliver(message=MirrorWrite(seq=1, lba=0, value=1))",
        "Deliver(message=MirrorAck(seq=1))", "StartRecovery(target=0, kind='swap')"]
    message = {"kind": "MirrorWrite", "seq": 1, "lba": 0, "value": 1}
    assert s.events[1].to_json() == {"action": "Deliver", "args": {"message": message}}
    assert s.events[3].to_json() == {"action": "StartRecovery", "args": {"target": 0, "kind": "swap"}}


@dataclass(frozen=True)
class FakeModelMessage:
    """Shaped like spec.state.Message: a ``name`` and ``fields()``."""

    kind: str
    seq: int

    @property
    def name(self) -> str:
        return self.kind

    def fields(self) -> dict[str, int]:
        return {"seq": self.seq}


@dataclass(frozen=True)
class FakeModelAction:
    """Shaped like model.actions.Action: a ``name`` and ``args()``."""

    action: str
    arguments: tuple[tuple[str, Any], ...]

    @property
    def name(self) -> str:
        return self.action

    def args(self) -> dict[str, Any]:
        return dict(self.arguments)


def test_apply_takes_model_actions_and_messages() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=4)
    s.apply(FakeModelAction("HostWrite", (("lba", 1), ("value", 2))))
    message = {"kind": "MirrorWrite", "seq": 1, "lba": 1, "value": 2}
    s.apply(FakeModelAction("Deliver", (("message", message),)))
    s.apply(FakeModelAction("Deliver", (("message", FakeModelMessage("MirrorAck", 1)),)))
    s.apply(FakeModelAction("StartRecovery", (("target", 0), ("kind", RecoveryKind.WRITETHROUGH))))
    assert s.requests[0].done and s.a.jfmt.recovery is not None
    with pytest.raises(TypeError):
        s.apply(42)


def test_enabled_actions_order_and_every_one_applies() -> None:
    s = run(7, steps=120)
    for _ in range(5):
        actions = s.enabled_actions()
        assert actions == s.enabled_actions()
        order = [ACTION_NAMES.index(a.name) for a in actions]
        assert order == sorted(order)
        for action in actions:
            clone = copy.deepcopy(s)
            clone.apply(action)
            assert clone.events[-1] == action or action.name == "SetMarker"
        s.run_random(20, HEAVY)


def test_idle_system_enables_writes_faults_crashes_and_recoveries() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=4, values=2)
    s.write(0, 1)
    names = [repr(a) for a in s.enabled_actions()]
    assert names == ["HostWrite(lba=0, value=0)", "HostWrite(lba=0, value=1)", "HostWrite(lba=1, value=0)",
                     "HostWrite(lba=1, value=1)", "SetMarker()", "FailPath()", "CrashArray(array='A')",
                     "CrashArray(array='R')", "StartRecovery(target=0, kind='writethrough')",
                     "StartRecovery(target=1, kind='writethrough')"]
    for lba in range(3):  # J full: A checkpoints on demand
        s.write(lba % 2, 0)
    assert "Checkpoint()" in [repr(a) for a in s.enabled_actions()]


def test_enabled_actions_without_leaves_out_exactly_those_names() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=4, values=2)
    s.write(0, 1)
    every = s.enabled_actions()
    for without in ({"StartRecovery"}, {"HostWrite", "CrashArray"}, set(ACTION_NAMES)):
        assert s.enabled_actions(without=without) == [a for a in every if a.name not in without]


def check_invariants(s: MirroredSystem) -> None:
    st = s.abstract_state()
    p, r = st["primary"], st["remote"]
    swap_running = st["recovery"] is not None and st["recovery"][1] == RecoveryKind.SWAP
    quiet = not st["in_flight"] and not st["remote_buffer"] and not swap_running
    if st["pair_state"] == PairState.PAIR and quiet:
        assert p == r, "mirror_consistent"
    if st["pair_state"] != PairState.PAIR:
        assert all(x == y or d for x, y, d in zip(p, r, st["dirty"], strict=True)), "only dirty blocks differ"
    assert [x[0] for x in st["journal"]] == list(range(st["base_seq"] + 1, st["next_seq"])), "journal"
    rec = st["recovery"]
    half_swapped = swap_running and rec[3] != (st["remote_recovery_id"] >= rec[0])
    if st["pair_state"] == PairState.PAIR and not half_swapped:  # while suspended R is no mirror
        # RB may lag B by checkpoints whose Checkpointed R has not taken: JR still holds their records
        caught_up = list(st["replica_base"])
        for seq, lba, value, length in st["remote_journal"]:
            if seq <= st["base_seq"] and lba >= 0:  # a marker (lba < 0) carries no data
                caught_up[lba:lba + length] = [value] * length
        assert tuple(caught_up) == tuple(st["base"]), "bases agree"
        assert st["replica_base_seq"] <= st["base_seq"], "bases agree"
        upto = min(st["remote_applied_seq"], st["next_seq"] - 1)
        assert [x for x in st["journal"] if x[0] <= upto] == [x for x in st["remote_journal"]
                                                               if st["base_seq"] < x[0] <= upto]
    assert s.a.array.shm.volume_map.is_bijection() and s.r.array.shm.volume_map.is_bijection()
    assert s.audit() == [] and s.reported == []


@pytest.mark.claims(1, 5, 6, 10, 15)
@pytest.mark.parametrize("fence", ["never", "data"])
@pytest.mark.parametrize("kind", ["writethrough", "swap"])
def test_random_runs_with_faults_keep_the_invariants_and_recover_correctly(kind: str, fence: str) -> None:
    for seed in range(6):
        s = MirroredSystem(blocks=3, journal_capacity=4, seed=seed, max_in_flight=2, recovery=kind,
                           fence_policy=fence)
        ghost: dict[int, JournalRecord] = {}  # every record ever journaled: the history of P ...
        swapped: dict[int, list[int]] = {}  # ... and the image each swap made the new base, at its seq
        append = s.a.journal.append

        def hook(records: list[JournalRecord], next_seq: int, append: Any = append,
                 ghost: dict[int, JournalRecord] = ghost) -> Any:
            for rec in records:
                assert rec.seq not in ghost
                ghost[rec.seq] = rec
            return append(records, next_seq)

        s.a.journal.append = hook  # type: ignore[method-assign]
        for _ in range(120):
            action = s.step_random(HEAVY)
            check_invariants(s)
            if action.name == "SwapVolumes":
                swapped[s.a.jfmt.base_seq] = [value_of_block(b) for b in s.primary_blocks()]
            if action.name == "FinishRecovery":
                target = s.finished[-1].target
                img = [0, 0, 0]
                for seq in sorted(q for q in [*ghost, *swapped] if q <= target):
                    if seq in swapped:
                        img = list(swapped[seq])
                    elif not ghost[seq].is_marker:
                        img[ghost[seq].lba] = value_of_block(ghost[seq].payload)
                assert [value_of_block(b) for b in s.primary_blocks()] == img, "recovery_correct"


def test_path_counts_by_kind_and_spreads_over_links() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=8, links=3)
    for v in (1, 2, 3):
        s.write(0, v)
    assert dict(s.path.stats.sent) == {"MirrorWrite": 3, "MirrorAck": 3}
    assert dict(s.path.stats.delivered) == {"MirrorWrite": 3, "MirrorAck": 3}
    assert s.path.stats.data_blocks_sent == 3
    assert [link.carried for link in s.path.links] == [2, 2, 2]
    s.fail_path()
    s.host_write(1, 1)
    assert s.path.stats.dropped["MirrorWrite"] == 1
    assert s.path.stats.summary() == "6 messages (MirrorAck x3, MirrorWrite x3), 3 data blocks"


def test_abstract_state_has_the_specs_fields() -> None:
    s = MirroredSystem(blocks=2, journal_capacity=4)
    s.host_write(1, 2)
    st = s.abstract_state()
    assert list(st) == ["fence_policy", "primary", "base", "base_seq", "next_seq", "journal", "journal_cache",
                        "in_flight", "pair_state", "dirty", "journaling_state", "recovery", "path_up", "path",
                        "remote", "replica_base", "replica_base_seq", "remote_journal", "remote_applied_seq",
                        "remote_buffer", "remote_recovery_id", "journal_locations", "journal_next_free",
                        "journal_sectors", "primary_volume", "host_lun", "lun_switch_pending", "secondary_volume",
                        "resync_id"]
    assert st["journal_locations"] == (0,) and st["journal_next_free"] == 3 and st["journal_sectors"] == 18
    assert st["primary"] == (0, 2) and st["journal"] == ((1, 1, 2, 1),) and st["path"] == ((0, 1, 1, 2, 1),)
    assert st["in_flight"] == ((1, 1, 2, 0, False, 1),) and st["fence_policy"] == 1
