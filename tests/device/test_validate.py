"""``trace validate`` on hand-written logs: a faithful run validates, and each kind of lie a log could tell
is rejected at the step where it diverges (so a green validation of a real run means something)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers.device_logs import D1, D2, ev, faithful, logs, write_ack
from pitmirror.checkers.traces.eventlog import LogError, validate


def test_a_faithful_log_validates(tmp_path: Path) -> None:
    v = validate(logs(tmp_path, faithful()), journal_capacity=8, concurrency=4)
    assert v.ok, v.reason
    assert v.steps == 14 and v.blocks == 1 and v.values == 3
    assert "remote_is_point_in_time" in v.trade_offs  # a write-through run: the known trade-off, shown


def test_a_write_r_never_received_is_rejected_at_the_ack(tmp_path: Path) -> None:
    events = [e for e in faithful() if not (e["array"] == "R" and e["args"]["message"]["seq"] == 3)]
    v = validate(logs(tmp_path, events), 8, 4)
    assert not v.ok and v.failed_step == 8 and v.property is None  # Deliver(MirrorAck(3)): not on the path


def test_r_storing_other_bytes_breaks_the_mirror(tmp_path: Path) -> None:
    events = faithful()
    events[1:2] = write_ack(10, 1, 4096, D1, r_digest=D2)[1:2]
    v = validate(logs(tmp_path, events), 8, 4)
    assert not v.ok and v.failed_step == 2  # the model's message carries value 1; R delivered value 2


def test_recovery_to_the_wrong_image_is_rejected(tmp_path: Path) -> None:
    events = faithful()
    events[-3]["args"]["message"]["digest"] = D2  # R applies the corrupt block again
    v = validate(logs(tmp_path, events), 8, 4)
    assert not v.ok and v.failed_step == 12


def test_ack_before_r_applied_breaks_a_property_or_the_order(tmp_path: Path) -> None:
    events = faithful()
    events[1]["t"], events[2]["t"] = 12, 11  # A hears the ack before R applied the write
    v = validate(logs(tmp_path, events), 8, 4)
    assert not v.ok and v.failed_step == 2


def test_a_step_the_model_never_takes_is_rejected(tmp_path: Path) -> None:
    events = faithful()
    events.insert(3, ev(25, "A", "FinishRecovery"))  # no recovery is running
    v = validate(logs(tmp_path, events), 8, 4)
    assert not v.ok and "not enabled" in v.reason
    assert v.failed_step == 7 and v.trace()["steps"][-1]["action"] == "Deliver"  # ends at the last enabled step


def test_a_too_small_journal_bound_is_caught(tmp_path: Path) -> None:
    v = validate(logs(tmp_path, faithful()), journal_capacity=1, concurrency=4)
    assert not v.ok  # the second record does not fit a journal of one: the model does not enable it


@pytest.mark.parametrize("line", ["not json", '{"t": 1, "array": "Q", "action": "HostWrite", "args": {}}',
                                  '{"t": 1, "array": "A", "action": "HostWrite", "args": {"lba": 0}}'])
def test_malformed_logs_are_usage_errors(tmp_path: Path, line: str) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(line + "\n")
    with pytest.raises(LogError):
        validate([p], 8, 4)


def _chunk(t: int, seq: int, lba: int, digests: list[str], r_digests: list[str] | None = None) -> list[dict[str, Any]]:
    """A host write of several blocks as the served arrays log it: one record, one message, one ack."""
    return [ev(t, "A", "HostWrite", lba=lba, length=len(digests), digests=digests),
            ev(t + 1, "R", "Deliver", message={"kind": "MirrorWrite", "seq": seq, "lba": lba, "length": len(digests),
                                               "digests": r_digests or digests}),
            ev(t + 2, "A", "Deliver", message={"kind": "MirrorAck", "seq": seq})]


D3, D4 = "cccccccccccccccc", "dddddddddddddddd"


def _chunks_then_recovery() -> list[dict[str, Any]]:
    """A chunk of three blocks, a marker, a chunk over two of them, a write-through recovery to the marker
    (one-block recovery writes of bytes the first chunk wrote)."""
    return [*_chunk(10, 1, 100, [D1, D2, D3]), ev(20, "A", "SetMarker", name="good"),
            ev(21, "R", "Deliver", message={"kind": "MirrorWrite", "seq": 2, "lba": -1, "digest": "0"}),
            ev(22, "A", "Deliver", message={"kind": "MirrorAck", "seq": 2}),
            *_chunk(30, 3, 101, [D4, D4]),
            ev(40, "A", "StartRecovery", target=2, kind="writethrough"),
            *[e for k, (lba, d) in enumerate([(101, D2), (102, D3)]) for e in (
                ev(41 + 3 * k, "A", "RecoveryWrite", lba=lba),
                ev(42 + 3 * k, "R", "Deliver", message={"kind": "MirrorWrite", "seq": 4 + k, "lba": lba, "digest": d}),
                ev(43 + 3 * k, "A", "Deliver", message={"kind": "MirrorAck", "seq": 4 + k}))],
            ev(50, "A", "FinishRecovery")]


def test_a_log_of_multi_block_writes_validates(tmp_path: Path) -> None:
    v = validate(logs(tmp_path, _chunks_then_recovery()), 8, 4)
    assert v.ok, v.reason
    assert v.blocks == 3 and v.bounds.write_blocks == 3  # the chunk's range stays a range in the model


@pytest.mark.parametrize("lie", ["a block of the chunk", "the chunk as one-block writes"])
def test_r_applying_a_chunk_other_than_a_wrote_is_rejected(tmp_path: Path, lie: str) -> None:
    events = _chunks_then_recovery()
    if lie == "a block of the chunk":
        events[1:2] = _chunk(10, 1, 100, [D1, D2, D3], r_digests=[D1, D4, D3])[1:2]
    else:  # R takes seq 1 as its first block alone: the old one-record-a-block journalling seen from R
        events[1:2] = [ev(11, "R", "Deliver", message={"kind": "MirrorWrite", "seq": 1, "lba": 100, "digest": D1})]
    v = validate(logs(tmp_path, events), 8, 4)
    assert not v.ok and v.failed_step == 2
