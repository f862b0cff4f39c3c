"""The image memo's fast check (``RecoveryEngine._only_appended``): after a recovery write, which appends a
record after T, image(T) is known valid without walking the journal; a write anywhere else that image(T)
reads (a record of ``seq <= T`` rewritten, B) still invalidates it."""

from __future__ import annotations

import pytest

from pitmirror.impl import MirroredSystem
from pitmirror.impl.blocks import value_of_block
from pitmirror.impl.errors import RecordChecksumError

WRITES = [(0, 1), (1, 2), (2, 3), (0, 4), (3, 5), (1, 6), (4, 7), (0, 8)]


def started() -> MirroredSystem:
    s = MirroredSystem(blocks=6, journal_capacity=32)
    for lba, v in WRITES:
        s.write(lba, v)
    s.start_recovery(3, "writethrough")
    return s


def test_a_recovery_write_keeps_the_memo_by_the_fast_check() -> None:
    s = started()
    eng = s.a.recovery
    first = eng.differing()
    s.recovery_write(first[0])
    s.stabilize()
    assert eng._only_appended(3)  # the journal only grew after T: no walk of the window needed
    assert [value_of_block(b) for b in eng.local_image()] == [1, 2, 3, 0, 0, 0]


@pytest.mark.parametrize("where", ["record", "base"])
def test_a_write_that_image_t_reads_fails_the_fast_check(where: str) -> None:
    s = started()
    eng = s.a.recovery
    s.recovery_write(eng.differing()[0])
    s.stabilize()
    eng.local_image()  # the memo is right here
    if where == "record":  # seq 2's sector flipped in J, among appends
        entry = s.a.log.entries[1]
        raw = bytearray(s.a.array.read("journal", entry.location + 1))
        raw[0] ^= 0xFF
        s.a.array.write("journal", entry.location + 1, bytes(raw))
        assert not eng._only_appended(3)
        with pytest.raises(RecordChecksumError):
            eng.local_image()
    else:
        s.a.array.write("base", 5, bytes(len(s.a.array.read("base", 5))))  # B written (zeros again)
        assert not eng._only_appended(3)
