"""The journal record: its binary format on the journal LDEV (J at A, JR at R).

A record is written as consecutive sectors: a header sector, ``nblocks`` payload sectors, and a trailer
sector, in that order::

    header sector (big-endian; unused bytes are zero)
      offset size  field
       0      4    magic      b"PMJR"
       4      2    version    1
       6      2    name_len   bytes of marker name that follow the fixed header (0 for a data record)
       8      8    seq        sequence number (unsigned)
      16      8    lba        signed; -1 (MARKER) for a marker, which carries no data
      24      4    length     payload bytes (512 for a one-block write, 0 for a marker)
      28      4    nblocks    payload sectors
      32      8    timestamp  the writing array's logical clock (deterministic: no wall clock)
      40      4    crc32      zlib.crc32 of bytes 0..39 of the header, the name and the payload
      44      n    name       marker name, UTF-8, at most 64 bytes
    payload sectors: the data, ``length`` bytes, zero-padded to whole sectors
    trailer sector: magic b"PMJT" (4), seq (8), crc32 (4), then zeros

Why a trailer: sectors are written in order and each is atomic, so a torn multi-block write leaves a
header without its trailer (or with the stale trailer of an older record): ``TornRecordError``. A record
whose header and trailer agree but whose CRC does not match its bytes is ``RecordChecksumError``. A header
that is not the record the journal log table points at is ``RecordMismatchError``. None is ever replayed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from pitmirror.impl.blocks import BLOCK_SIZE
from pitmirror.impl.errors import RecordChecksumError, RecordMismatchError, TornRecordError

#: ``lba`` of a marker record (the model's ``MARKER``).
MARKER = -1
MAGIC = b"PMJR"
TRAILER_MAGIC = b"PMJT"
VERSION = 1
MAX_NAME = 64

_HEADER = struct.Struct(">4sHHQqIIQ")  # everything before the CRC
_CRC = struct.Struct(">I")
_TRAILER = struct.Struct(">4sQI")


@dataclass(frozen=True)
class JournalRecord:
    """One journal record: a write (``lba``, ``payload``) or a marker (``lba == MARKER``, ``name``)."""

    seq: int
    lba: int
    payload: bytes
    timestamp: int = 0
    name: str = ""

    @property
    def is_marker(self) -> bool:
        """True for a named consistency point."""
        return self.lba == MARKER

    @property
    def nblocks(self) -> int:
        """Payload sectors."""
        return -(-len(self.payload) // BLOCK_SIZE)

    @property
    def nsectors(self) -> int:
        """Sectors the record takes on the journal LDEV: header, payload, trailer."""
        return self.nblocks + 2


def sectors_for(payload_len: int) -> int:
    """Sectors a record with ``payload_len`` bytes of data takes."""
    return -(-payload_len // BLOCK_SIZE) + 2


def encode(rec: JournalRecord, name_in_crc: bool = True) -> list[bytes]:
    """The record as the sectors to write, in write order (header first, trailer last). ``name_in_crc``
    is False only under the ``record_crc_omits_marker_name`` impl-only mutant (a wrong CRC for markers)."""
    name = rec.name.encode()
    if len(name) > MAX_NAME:
        raise ValueError(f"marker name of {len(name)} bytes exceeds {MAX_NAME}")
    fixed = _HEADER.pack(MAGIC, VERSION, len(name), rec.seq, rec.lba, len(rec.payload), rec.nblocks,
                         rec.timestamp)
    crc = zlib.crc32(rec.payload, zlib.crc32(name if name_in_crc else b"", zlib.crc32(fixed)))
    header = (fixed + _CRC.pack(crc) + name).ljust(BLOCK_SIZE, b"\0")
    padded = rec.payload.ljust(rec.nblocks * BLOCK_SIZE, b"\0")
    payload = [padded[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE] for i in range(rec.nblocks)]
    trailer = _TRAILER.pack(TRAILER_MAGIC, rec.seq, crc).ljust(BLOCK_SIZE, b"\0")
    return [header, *payload, trailer]


def decode(sectors: list[bytes], where: str, expect_seq: int | None = None) -> JournalRecord:
    """Read a record back from its sectors, verifying it; ``where`` names the location in errors.

    Raises ``RecordMismatchError`` (no such header here), ``TornRecordError`` (trailer missing or stale)
    or ``RecordChecksumError`` (CRC mismatch)."""
    request = f"READ journal record at {where}"
    header = sectors[0]
    magic, version, name_len, seq, lba, length, nblocks, ts = _HEADER.unpack_from(header)
    if magic != MAGIC or version != VERSION or name_len > MAX_NAME:
        raise RecordMismatchError(request, "no journal record header there")
    if expect_seq is not None and seq != expect_seq:
        raise RecordMismatchError(request, f"header holds seq {seq}, the log table says {expect_seq}")
    if len(sectors) != nblocks + 2 or length > nblocks * BLOCK_SIZE:
        raise RecordMismatchError(request, f"header says {nblocks} payload sectors, log table says "
                                           f"{len(sectors) - 2}")
    (crc,) = _CRC.unpack_from(header, _HEADER.size)
    t_magic, t_seq, t_crc = _TRAILER.unpack_from(sectors[-1])
    if t_magic != TRAILER_MAGIC or t_seq != seq or t_crc != crc:
        raise TornRecordError(request, f"seq {seq}: trailer missing or stale, the write was torn")
    fixed = header[: _HEADER.size]
    name = header[_HEADER.size + _CRC.size : _HEADER.size + _CRC.size + name_len]
    payload = b"".join(sectors[1:-1])[:length]
    if zlib.crc32(payload, zlib.crc32(name, zlib.crc32(fixed))) != crc:
        raise RecordChecksumError(request, f"seq {seq}: CRC32 does not match the record's bytes")
    return JournalRecord(seq, lba, payload, ts, name.decode(errors="replace"))
