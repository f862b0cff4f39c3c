"""A journal volume (J at A, JR at R): records in ``record.py``'s format, laid out as a ring of sectors on
the journal LDEV and indexed by the journal log table (claim 4).

Appending writes every sector of every record first and then commits the log-table entries, the free
location and ``next_seq`` in one shared-memory update: a power loss before the commit leaves no trace
(the sectors past ``next_free`` are garbage nobody points at); after it, the records are durable. Data
volumes are written after the commit, so ``redo`` at restart re-applies any record the volume missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pitmirror.impl.array import StorageArray
from pitmirror.impl.blocks import split_blocks
from pitmirror.impl.errors import JournalRecordError, ProtocolViolation, RecordMismatchError
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.record import MARKER, JournalRecord, decode, encode
from pitmirror.impl.tables import JournalLogTable, LogEntry


class Journal:
    """The journal of one array, reached through its controller's interconnect."""

    def __init__(self, array: StorageArray, mutant: Mutant | None = None) -> None:
        self.array = array
        self.mutant = mutant if mutant is not None else Mutant(None)
        # entry -> (what its sectors were when last read, the record verified there): a record is read and
        # checked again only once a sector of it has been written (the guards and the resync read the same
        # records at nearly every step)
        self._verified: dict[LogEntry, tuple[tuple[object, ...], JournalRecord]] = {}

    @property
    def log(self) -> JournalLogTable:
        """The journal log table in shared memory."""
        return self.array.shm.log

    @property
    def role(self) -> str:
        """``journal`` at A, ``remote_journal`` at R."""
        return self.array.shm.jfmt.roles[1]

    @property
    def label(self) -> str:
        """``J (LDEV 0x02)``."""
        return self.array.volume_label(self.role)

    def append(self, records: list[JournalRecord], next_seq: int) -> list[LogEntry]:
        """Persist ``records`` (stamped with the logical clock) and commit them with ``next_seq``."""
        log = self.log
        loc, clock, used = log.next_free, log.clock, log.used_sectors
        entries: list[LogEntry] = []
        for rec in records:
            clock += 1
            stamped = replace(rec, timestamp=clock)
            if used + stamped.nsectors > log.size:
                raise ProtocolViolation(f"{self.label} has no room for seq {rec.seq}: capacity checks failed")
            # MUTANT record_crc_omits_marker_name: the encoder's CRC leaves the marker name out
            sectors = encode(stamped, name_in_crc=not self.mutant("record_crc_omits_marker_name"))
            for i, sector in enumerate(sectors):
                self.array.write(self.role, (loc + i) % log.size, sector)
            entries.append(LogEntry(rec.seq, loc, rec.lba, len(rec.payload), stamped.nsectors))
            # MUTANT journal_location_ignores_header: the location moves by the payload sectors alone
            step = stamped.nblocks if self.mutant("journal_location_ignores_header") else stamped.nsectors
            loc, used = (loc + step) % log.size, used + stamped.nsectors
        log.commit(entries, loc, next_seq)  # the commit point: one shared-memory update
        log.clock = clock
        return entries

    def has_room(self, records: list[JournalRecord]) -> bool:
        """Whether ``records`` fit in the free sectors of the ring."""
        return self.log.used_sectors + sum(r.nsectors for r in records) <= self.log.size

    def read(self, entry: LogEntry) -> JournalRecord:
        """The record an entry points at, verified (``JournalRecordError`` if it cannot be trusted). Read
        from the drives again only when a sector of it was written since it was last read and found good:
        through the interconnect (which counts the writes reaching each block) or around it (a drive's own
        count beyond the interconnect's: a sector corrupted in place)."""
        array, size = self.array, self.log.size
        ic = array.interconnect
        ldev, writes = array.shm.volume_map.ldev(self.role), ic.block_writes
        seen = (ldev, size, sum(d.writes for d in array.drives) - ic.writes,
                *(writes.get((ldev, (entry.location + i) % size), 0) for i in range(entry.nsectors)))
        memo = self._verified.get(entry)
        if memo is not None and memo[0] == seen:
            return memo[1]
        rec = self._read(entry, size)
        if len(self._verified) > 4096:
            self._verified.clear()  # entries of freed records pile up otherwise
        self._verified[entry] = (seen, rec)
        return rec

    def _read(self, entry: LogEntry, size: int) -> JournalRecord:
        sectors = [self.array.read(self.role, (entry.location + i) % size) for i in range(entry.nsectors)]
        rec = decode(sectors, f"{self.label} sector {entry.location}", expect_seq=entry.seq)
        if rec.lba != entry.lba:
            raise RecordMismatchError(f"READ journal record at {self.label} sector {entry.location}",
                                      f"header holds lba {rec.lba}, the log table says {entry.lba}")
        return rec

    def records(self, upto: int | None = None) -> list[JournalRecord]:
        """Every live record (of ``seq <= upto``, if given), oldest first, verified: a replay reads only
        what it needs, so a bad record blocks only the recoveries that would replay it."""
        return [self.read(e) for e in self.log.entries if upto is None or e.seq <= upto]

    def oldest(self) -> JournalRecord | None:
        """The oldest live record, verified."""
        return self.read(self.log.entries[0]) if self.log.entries else None

    def free_oldest(self) -> JournalRecord:
        """Verify and free the oldest record (a checkpoint has applied it)."""
        rec = self.read(self.log.entries[0])
        self.log.pop_oldest()
        return rec

    def truncate(self, keep: int) -> None:
        """Drop every record after the first ``keep`` (R replacing a journal tail A does not have)."""
        log = self.log
        if keep < len(log.entries):
            log.next_free = log.entries[keep].location
            del log.entries[keep:]

    def audit(self) -> list[JournalRecordError]:
        """Every record that cannot be trusted, reported (a scrub; nothing is changed)."""
        errors: list[JournalRecordError] = []
        for e in self.log.entries:
            try:
                self.read(e)
            except JournalRecordError as err:
                errors.append(err)
        return errors

    def redo(self, write: Callable[[int, bytes], None],
             skip_multiblock: bool = False) -> tuple[list[int], list[JournalRecordError]]:
        """After a restart: re-apply to the data volume every record newer than ``written_seq`` (a power
        loss between the journal commit and the volume write, or in the middle of a multi-block write: the
        record is applied whole, every block of it). A record that cannot be trusted is reported, not
        replayed. ``skip_multiblock``: the torn-write mutants' wrong step, a multi-block record is not redone.
        Returns the LBAs re-written and the errors."""
        redone: list[int] = []
        errors: list[JournalRecordError] = []
        for e in self.log.entries:
            if e.seq <= self.log.written_seq:
                continue
            try:
                rec = self.read(e)
            except JournalRecordError as err:
                errors.append(err)
                continue
            if rec.lba != MARKER and not (skip_multiblock and rec.nblocks > 1):  # MUTANT: torn write kept
                for i, block in enumerate(split_blocks(rec.payload)):
                    write(rec.lba + i, block)
                    redone.append(rec.lba + i)
            self.log.written_seq = e.seq
        return redone, errors
