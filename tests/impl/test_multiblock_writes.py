"""The impl's multi-block host writes (issue 14, item 3): a write of k contiguous blocks is one journal record
and one MirrorWrite, applied whole on P, J, S, B, RB and in replay; a power loss inside it at A or at R is
redone whole from that array's journal at restart."""

from __future__ import annotations

import pytest

from pitmirror.impl import MirroredSystem
from pitmirror.impl.blocks import BLOCK_SIZE, block_of_value, text_block, value_of_block
from pitmirror.impl.errors import InvalidParameter, LbaOutOfRange
from pitmirror.impl.hardware import PowerLoss
from pitmirror.impl.messages import MirrorWrite
from pitmirror.impl.record import sectors_for
from pitmirror.impl.states import PairState


def values(blocks: list[bytes]) -> list[int]:
    return [value_of_block(b) for b in blocks]


def system(**kw: object) -> MirroredSystem:
    return MirroredSystem(blocks=4, journal_capacity=4, write_blocks=3, **kw)  # type: ignore[arg-type]


@pytest.mark.claims(1, 2, 4, 15)
def test_a_multi_block_write_is_one_record_and_one_message_applied_whole() -> None:
    s = system()
    req = s.host_write(1, 5, 3)
    (msg,) = s.path.messages
    assert isinstance(msg, MirrorWrite) and msg.nblocks == 3 and msg.fields() == {
        "seq": 1, "lba": 1, "value": 5, "length": 3}
    (entry,) = s.a.log.entries
    assert entry.nsectors == sectors_for(3 * BLOCK_SIZE) == 5  # header, three payload sectors, trailer
    assert values(s.primary_blocks()) == [0, 5, 5, 5] and values(s.remote_blocks()) == [0, 0, 0, 0]
    s.stabilize()
    assert req.done and values(s.remote_blocks()) == [0, 5, 5, 5]
    (rec,) = s.remote_journal_records()
    assert (rec.seq, rec.lba, rec.nblocks) == (1, 1, 3)
    assert s.events[0].to_json() == {"action": "HostWrite", "args": {"lba": 1, "value": 5, "length": 3}}
    st = s.abstract_state()
    assert st["journal"] == ((1, 1, 5, 3),) and st["journal_next_free"] == 5


def test_host_text_of_several_blocks_is_one_write() -> None:
    s = system()
    data = text_block("first") + text_block("second")
    s.write(2, data)
    assert s.read(2) == text_block("first") and s.read(3) == text_block("second")
    assert s.remote_blocks()[2:] == [text_block("first"), text_block("second")]


@pytest.mark.parametrize(("lba", "value", "length", "error"), [
    (0, 1, 4, InvalidParameter),  # longer than the ring's records allow
    (2, 1, 3, LbaOutOfRange),  # ends past the last block
    (0, 1, 0, InvalidParameter),
])
def test_a_write_the_array_cannot_take_is_refused_and_changes_nothing(lba: int, value: int, length: int,
                                                                      error: type[Exception]) -> None:
    s = system()
    before = s.snapshot()
    with pytest.raises(error):
        s.host_write(lba, value, length)
    assert s.snapshot() == before


def test_one_block_arrays_refuse_a_multi_block_write() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=4)
    with pytest.raises(InvalidParameter, match="a block is"):
        s.host_write(0, 1, 2)


@pytest.mark.claims(8, 22)
def test_power_loss_inside_a_write_at_a_is_redone_whole_at_restart() -> None:
    s = system()
    s.write(0, 1)
    s.a.power_fail_after(sectors_for(2 * BLOCK_SIZE) + 1)  # the record, then P's first block only
    with pytest.raises(PowerLoss):
        s.host_write(0, 2, 2)
    s.a.power_fail_after(None)
    assert values(s.primary_blocks())[:2] == [2, 0]  # torn on the drives, until the restart
    s.crash_array("A")
    assert values(s.primary_blocks())[:2] == [2, 2]  # redone from J: the whole write


@pytest.mark.claims(8, 22)
def test_crash_mid_write_fails_the_host_and_leaves_the_write_whole() -> None:
    s = system()
    req = s.crash_mid_write(1, 3, 2)
    assert req.error is not None and not s.path.messages  # nothing was sent to R
    assert values(s.primary_blocks()) == [0, 3, 3, 0] and s.pair_state == PairState.SUSPENDED
    s.resync()
    assert values(s.remote_blocks()) == [0, 3, 3, 0]


@pytest.mark.claims(8, 22)
def test_crash_mid_apply_at_r_is_redone_whole_and_unacknowledged() -> None:
    s = system()
    req = s.host_write(0, 4, 3)
    (msg,) = s.path.messages
    s.crash_mid_apply(msg)
    assert values(s.remote_blocks()) == [4, 4, 4, 0] and s.r.applied_seq == 1
    assert not s.path.messages and not req.done  # no ack: A times the write out
    s.stabilize()
    assert req.done and s.pair_state == PairState.SUSPENDED


def test_crash_mid_apply_needs_the_next_multi_block_write() -> None:
    s = system()
    s.host_write(0, 4)
    (msg,) = s.path.messages
    with pytest.raises(InvalidParameter):
        s.crash_mid_apply(msg)


@pytest.mark.claims(5, 6, 10, 24)
def test_checkpoint_and_replay_apply_a_multi_block_record_whole() -> None:
    s = MirroredSystem(blocks=4, journal_capacity=2, write_blocks=3)
    s.write(0, 1)
    s.host_write(1, 2, 3)
    s.stabilize()
    assert values(s.image(2)) == [1, 2, 2, 2] and values(s.image(1)) == [1, 0, 0, 0]
    s.checkpoint()  # J full: A checkpoints on demand
    s.host_write(0, 1)  # J full again
    s.stabilize()
    s.checkpoint()
    s.stabilize()  # R's half of both
    assert values(s.base_blocks()) == [1, 2, 2, 2] == values(s.replica_base_blocks())
    s.host_write(0, 3, 2)
    s.stabilize()
    s.recover(to=2)
    assert values(s.primary_blocks()) == [1, 2, 2, 2] == values(s.remote_blocks())


@pytest.mark.claims(12, 13, 14)
def test_swap_recovery_replays_multi_block_records_at_both_arrays() -> None:
    s = system(recovery="swap")
    s.host_write(0, 1, 3)
    s.stabilize()
    s.host_write(2, 2, 2)
    s.stabilize()
    s.recover(to=1)
    assert values(s.primary_blocks()) == [1, 1, 1, 0] == values(s.remote_blocks())
    assert s.read(0) == block_of_value(1)
