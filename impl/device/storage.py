"""Drives and shared memory that survive the process: a served array's hardware in files.

- ``FileDrive``: a ``DiskDrive`` whose sectors live in a sparse file (``<array>-drive<i>.img``). Writes are
  held in a write-back buffer until ``flush`` so the array decides the order in which they reach the file:
  journal sectors first, then the tables, then the data volumes (see ``ArrayStore.commit``).
- ``ArrayStore``: one array's drives and its battery-backed shared memory, kept as a pickle of the
  ``SharedMemory`` tables in two slot files (``<array>-shm.0`` / ``.1``), written alternately, each with a
  header (magic, generation, length, CRC32): a restart takes the newest slot whose CRC matches, so a write
  torn by a kill leaves the other slot, one commit older. (A rename per commit, the obvious alternative,
  measured 3.3 ms on this machine's file system: most of a host write's time.) The pickle is this array's
  own memory image, read back only by the same array from its own folder: never an exchange format. Next
  to the tables it holds how many lines of the event log are committed, so the tables and the log move
  together: a ``kill -9`` between the two leaves the log truncated back to the committed state.

The commit order for one batch of controller steps (a host request, a delivered message, a recovery
step) is the order of ``Ready``'s contract, made durable against ``kill -9``:

1. the journal sectors reach the drive files;
2. the event lines of the batch are appended to the log;
3. the tables are committed (the slot write) with ``written_seq`` held back to its value before the batch;
4. the data-volume sectors reach the drive files.

A kill before 3 leaves the old tables: the new journal sectors are garbage nobody points at, the data
volumes are untouched (their writes were still in the buffer). A kill after 3 is the power loss the impl
already handles: restart redoes every record newer than ``written_seq`` (``Journal.redo``), in sequence
order, so a block written again ends as the newest record says. The true ``written_seq`` goes out with the
next commit; until then a restart merely redoes a batch that was already on the volumes. Only after 4
does the array send messages or answer the host. Checkpoint and swap batches change B or the
volume map; a kill inside one of those batches is not covered by a test (see impl/device/README in the
module docstring of ``node``).
"""

from __future__ import annotations

import os
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

from pitmirror.impl.array import StorageArray
from pitmirror.impl.blocks import BLOCK_SIZE
from pitmirror.impl.hardware import DiskDrive, PowerSupply
from pitmirror.impl.states import FencePolicy
from pitmirror.impl.tables import SharedMemory

_SLOT = struct.Struct(">4sQQI")  # magic, generation, length, crc32 of the payload
_SLOT_MAGIC = b"PMSM"


class FileDrive(DiskDrive):
    """A drive of ``sectors`` blocks in a sparse file, with a write-back buffer flushed on demand."""

    def __init__(self, path: Path, drive_id: int, sectors: int, power: PowerSupply) -> None:
        # DiskDrive.__init__ would allocate the whole medium in memory: a file stands in for it.
        self.drive_id = drive_id
        self.sectors = sectors
        self.power = power
        self.reads = 0
        self.writes = 0
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(self.fd).st_size < sectors * BLOCK_SIZE:
            os.ftruncate(self.fd, sectors * BLOCK_SIZE)  # sparse: unwritten sectors read as zeros
        self.pending: dict[int, bytes] = {}

    def read(self, sector: int) -> bytes:
        """One sector (the buffered copy if it has not reached the file yet)."""
        self._check(sector)
        self.reads += 1
        data = self.pending.get(sector)
        if data is not None:
            return data
        return os.pread(self.fd, BLOCK_SIZE, sector * BLOCK_SIZE)

    def write(self, sector: int, block: bytes) -> None:
        """One sector, into the write-back buffer."""
        self._check(sector)
        if len(block) != BLOCK_SIZE:
            raise ValueError(f"drive {self.drive_id}: a sector is {BLOCK_SIZE} bytes, got {len(block)}")
        self.power.before_write()
        self.writes += 1
        self.pending[sector] = bytes(block)

    def flush(self, only: set[int] | None = None) -> int:
        """Write buffered sectors to the file (those in ``only``, if given); returns how many."""
        chosen = sorted(s for s in self.pending if only is None or s in only)
        for sector in chosen:
            os.pwrite(self.fd, self.pending.pop(sector), sector * BLOCK_SIZE)
        return len(chosen)

    def image(self) -> bytes:
        """The whole medium (small drives only: tests)."""
        out = bytearray(os.pread(self.fd, self.sectors * BLOCK_SIZE, 0))
        for sector, data in self.pending.items():
            out[sector * BLOCK_SIZE : (sector + 1) * BLOCK_SIZE] = data
        return bytes(out)

    def close(self) -> None:
        """Close the file (buffered sectors are dropped: flush first)."""
        os.close(self.fd)


class ArrayStore:
    """One array's drives and tables in ``folder``; ``restarted`` tells whether they were there already."""

    def __init__(self, folder: Path, site: str, blocks: int, journal_capacity: int,
                 fence_policy: FencePolicy = FencePolicy.NEVER) -> None:
        self.folder = folder
        self.site = site
        self.slots = [folder / f"{site}-shm.{i}" for i in (0, 1)]
        self.generation = 0
        saved = self._load()
        self.restarted = saved is not None
        self.drives: list[FileDrive] = []

        def factory(i: int, sectors: int, power: PowerSupply) -> DiskDrive:
            drive = FileDrive(folder / f"{site}-drive{i}.img", i, sectors, power)
            self.drives.append(drive)
            return drive

        if site == "A":
            self.array = StorageArray.main_site(blocks, journal_capacity, fence_policy, drive_factory=factory)
        else:
            self.array = StorageArray.remote_site(blocks, journal_capacity, drive_factory=factory)
        self.meta: dict[str, Any] = {"events": 0}
        if saved is not None:
            shm, self.meta = saved["shm"], saved["meta"]
            if not isinstance(shm, SharedMemory) or saved.get("blocks") != blocks \
                    or saved.get("block_size") != BLOCK_SIZE:
                raise ValueError(f"{self.slots[0]} is not array {site}'s memory for {blocks} blocks of "
                                 f"{BLOCK_SIZE} bytes")
            self.array.shm = shm
        # The journal LDEV never changes role (swaps exchange P, B and the spare only): its sectors,
        # per drive, are the ones flushed before the tables are committed.
        ldev = self.array.interconnect.ldevs[self.array.shm.volume_map.ldev(self.array.shm.jfmt.roles[1])]
        self.journal_sectors: dict[int, set[int]] = {}
        for ext in ldev.extents:
            self.journal_sectors.setdefault(ext.drive_id, set()).update(range(ext.start, ext.start + ext.count))

    def _save(self, written_seq: int | None) -> None:
        log = self.array.shm.log
        true_written = log.written_seq
        if written_seq is not None:
            log.written_seq = written_seq
        try:
            data = pickle.dumps({"shm": self.array.shm, "meta": self.meta, "blocks": self.array.blocks,
                                 "block_size": BLOCK_SIZE}, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            log.written_seq = true_written
        self.generation += 1
        slot = self.slots[self.generation % 2]
        fd = os.open(slot, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, _SLOT.pack(_SLOT_MAGIC, self.generation, len(data), zlib.crc32(data)) + data, 0)
        finally:
            os.close(fd)

    def _load(self) -> dict[str, Any] | None:
        """The newest intact slot's contents (None: a fresh array)."""
        best: tuple[int, bytes] | None = None
        for slot in self.slots:
            try:
                raw = slot.read_bytes()
                magic, gen, length, crc = _SLOT.unpack_from(raw)
            except (OSError, struct.error):
                continue
            payload = raw[_SLOT.size : _SLOT.size + length]
            if magic == _SLOT_MAGIC and len(payload) == length and zlib.crc32(payload) == crc \
                    and (best is None or gen > best[0]):
                best = (gen, payload)
        if best is None:
            return None
        self.generation = best[0]
        saved: dict[str, Any] = pickle.loads(best[1])
        return saved

    def commit(self, written_seq_before: int, write_events: Any = None) -> None:
        """Make a batch durable in the order of the module docstring. ``write_events()`` appends the
        batch's event lines and returns the committed line count."""
        for d in self.drives:
            d.flush(self.journal_sectors.get(d.drive_id, set()))
        if write_events is not None:
            self.meta["events"] = write_events()
        self._save(written_seq_before)
        for d in self.drives:
            d.flush()

    def sync(self) -> None:
        """A host FLUSH: everything committed is forced to stable storage."""
        for d in self.drives:
            os.fsync(d.fd)
        for slot in self.slots:
            if slot.exists():
                fd = os.open(slot, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def close(self) -> None:
        """Close the drive files."""
        for d in self.drives:
            d.close()
