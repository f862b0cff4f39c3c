"""The journal record format: round trip, markers, torn writes, bad checksums, misplaced headers."""

from __future__ import annotations

import struct
import zlib

import pytest

from pitmirror.impl.blocks import BLOCK_SIZE, block_of_value, text_block
from pitmirror.impl.errors import RecordChecksumError, RecordMismatchError, SenseKey, TornRecordError
from pitmirror.impl.record import MARKER, JournalRecord, decode, encode, sectors_for


@pytest.mark.claims(2, 4)
def test_round_trip_data_record() -> None:
    rec = JournalRecord(seq=7, lba=3, payload=text_block("payroll"), timestamp=42)
    sectors = encode(rec)
    assert len(sectors) == rec.nsectors == sectors_for(BLOCK_SIZE) == 3
    assert all(len(s) == BLOCK_SIZE for s in sectors)
    assert decode(sectors, "test", expect_seq=7) == rec


@pytest.mark.claims(3, 4)
def test_round_trip_marker() -> None:
    rec = JournalRecord(seq=9, lba=MARKER, payload=b"", timestamp=1, name="end-of-day")
    sectors = encode(rec)
    assert len(sectors) == 2 and rec.is_marker
    assert decode(sectors, "test") == rec


def test_multi_block_record_round_trip() -> None:
    payload = block_of_value(1) + block_of_value(2) + b"tail"
    rec = JournalRecord(1, 0, payload)
    assert rec.nblocks == 3
    assert decode(encode(rec), "test") == rec


def test_header_layout_is_as_documented() -> None:
    rec = JournalRecord(seq=5, lba=2, payload=block_of_value(1), timestamp=11)
    header = encode(rec)[0]
    magic, version, name_len, seq, lba, length, nblocks, ts, crc = struct.unpack_from(">4sHHQqIIQI", header)
    assert (magic, version, name_len, seq, lba, length, nblocks, ts) == (b"PMJR", 1, 0, 5, 2, 512, 1, 11)
    assert crc == zlib.crc32(rec.payload, zlib.crc32(b"", zlib.crc32(header[:40])))
    assert encode(rec)[-1][:4] == b"PMJT"


@pytest.mark.claims(4, 5)
def test_torn_multi_block_write_is_detected() -> None:
    """Sectors land in order: a tear leaves the header without the trailer (stale or never written)."""
    new = encode(JournalRecord(2, 0, block_of_value(2) * 2))
    old = encode(JournalRecord(1, 0, block_of_value(1) * 2))
    for written in (1, 2, 3):  # header only, header + 1 block, header + 2 blocks; trailer missing
        torn = new[:written] + old[written:]
        with pytest.raises(TornRecordError, match="torn") as e:
            decode(torn, "J sector 0", expect_seq=2)
        assert e.value.sense_key is SenseKey.MEDIUM_ERROR


@pytest.mark.claims(4, 5)
def test_bad_checksum_is_detected() -> None:
    sectors = encode(JournalRecord(3, 1, block_of_value(4)))
    flipped = bytearray(sectors[1])
    flipped[17] ^= 0x40
    with pytest.raises(RecordChecksumError, match="CRC32") as e:
        decode([sectors[0], bytes(flipped), sectors[2]], "J (LDEV 0x02) sector 6")
    assert "J (LDEV 0x02) sector 6" in str(e.value)
    assert e.value.sense == "MEDIUM ERROR / JOURNAL RECORD CHECKSUM MISMATCH"


def test_header_that_is_not_the_logged_record() -> None:
    sectors = encode(JournalRecord(3, 1, block_of_value(4)))
    with pytest.raises(RecordMismatchError, match="log table says 4"):
        decode(sectors, "x", expect_seq=4)
    with pytest.raises(RecordMismatchError, match="no journal record header"):
        decode([bytes(BLOCK_SIZE)] * 3, "x")


def test_marker_name_limit() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode(JournalRecord(1, MARKER, b"", name="x" * 65))
