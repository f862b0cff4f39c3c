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

Power loss. A ``kill -9`` keeps what the process wrote (the kernel's page cache survives it); a power loss
keeps only what was synced. Every file of an array (drives, slots, event log) is a ``VolatileFile``:
before a write first overwrites bytes that were synced, it saves them in ``<file>.unsynced`` (with the
synced length), and a sync (``fdatasync``) empties that file. ``drop_unsynced`` puts every saved byte back
and cuts the file to its synced length: what the platters held when the power failed. ``ctl power-loss``
leaves ``<array>.power-lost`` and kills the array; the restart drops what was not synced first.

The durability points, so that a power loss never loses an acknowledged write: each commit syncs the
drives (the journal sectors of this batch, the data of the batch before, whose ``written_seq`` this commit
records) and the journal log table's ring (``LogRing``), side by side, then the slot, before any message
or host answer goes out (the protocol: the journal record is durable before the mirrored write is sent and
before the host ack; at R, before the ack to A). The event log is synced every ``EVENT_TAIL_BYTES``; the
slot carries its unsynced tail, which a restart after a power loss puts back. A batch that only takes R's
acknowledgements at A is committed without a sync: what it answers was synced when the write was sent.
Data-volume writes that the journal can redo (P at A, S at R) stay volatile until the next
commit; every other write of the batch (B or RB at a checkpoint, a rebuilt volume at a swap, S at a
resync) is synced before the slot that depends on it (``commit(full=True)`` for a batch whose primary
writes the journal cannot redo). The switch ``journal_not_persisted_before_ack`` (``serve --mutant``)
skips these syncs, syncing only on the host's FLUSH, as a write cache left on would: a power loss then
loses acknowledged writes (tests/device/test_power_loss.py shows it caught).
"""

from __future__ import annotations

import collections
import os
import pickle
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pitmirror.impl.array import StorageArray
from pitmirror.impl.blocks import BLOCK_SIZE
from pitmirror.impl.hardware import DiskDrive, PowerSupply
from pitmirror.impl.states import FencePolicy
from pitmirror.impl.tables import LogEntry, SharedMemory

_SLOT = struct.Struct(">4sQQI")  # magic, generation, length, crc32 of the payload
_SLOT_MAGIC = b"PMSM"
_ENTRY = struct.Struct(">5q")  # a journal log table entry: seq, location, lba, length, nsectors
_UNDO_HEAD = struct.Struct(">QQ")  # the episode (writes since one sync), the synced length of the file or CLEAN
_UNDO_REC = struct.Struct(">QQI")  # episode, offset, length, then the synced bytes that were there
_CLEAN = (1 << 64) - 1
#: the event log is synced when this much of it is not (until then, the tables carry its unsynced tail)
EVENT_TAIL_BYTES = 64 << 10
#: the one device-level seeded bug: acknowledge without syncing (see the module docstring)
DEVICE_MUTANTS = ("journal_not_persisted_before_ack",)


class VolatileFile:
    """A file whose writes since the last ``sync`` would not survive a power loss: the synced bytes a write
    overwrites are saved first (once per ``granule`` bytes, or the whole synced file when ``granule`` is
    None), so ``drop_unsynced`` can put them back.

    ``<file>.unsynced`` is opened once and rewritten in place (a header: the episode's number and the
    synced length, or CLEAN; then the saved spans, each with its episode's number): creating and removing
    it at every sync made each ``fdatasync`` commit the file system's journal."""

    def __init__(self, path: Path, granule: int | None = None) -> None:
        self.path = path
        self.undo_path = path.with_name(path.name + ".unsynced")
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.granule = granule
        self.size = os.fstat(self.fd).st_size
        self.synced_size: int | None = None  # None: nothing written since the last sync
        self.saved: set[int] = set()
        self.undo_fd = os.open(self.undo_path, os.O_RDWR | os.O_CREAT, 0o644)
        head = os.pread(self.undo_fd, _UNDO_HEAD.size, 0)
        # episodes go on from the last process's: its spans further on in the file must never pass as ours
        self.episode = _UNDO_HEAD.unpack(head)[0] if len(head) == _UNDO_HEAD.size else 0
        self.undo_at = _UNDO_HEAD.size
        self.dirty = True  # whatever a killed process left in the page cache: synced now
        self.sync()  # after a restart, whatever the page cache kept is as good as synced

    def pwrite(self, data: bytes, offset: int) -> None:
        """Write ``data`` at ``offset``, saving the synced bytes it overwrites first."""
        if self.synced_size is None:
            self.synced_size = self.size
            self.episode += 1
            os.pwrite(self.undo_fd, _UNDO_HEAD.pack(self.episode, self.synced_size), 0)
            self.undo_at = _UNDO_HEAD.size
        end = min(offset + len(data), self.synced_size)
        if offset < end:
            if self.granule is None:
                spans = [] if 0 in self.saved else [(0, self.synced_size)]
                self.saved.add(0)
            else:
                g = self.granule
                spans = [(k * g, min(g, self.synced_size - k * g)) for k in range(offset // g, -(-end // g))
                         if k not in self.saved]
                self.saved.update(range(offset // g, -(-end // g)))
            for at, n in spans:
                rec = _UNDO_REC.pack(self.episode, at, n) + os.pread(self.fd, n, at)
                os.pwrite(self.undo_fd, rec, self.undo_at)
                self.undo_at += len(rec)
        os.pwrite(self.fd, data, offset)
        self.size = max(self.size, offset + len(data))
        self.dirty = True

    def append(self, data: bytes) -> None:
        """Write ``data`` at the end."""
        self.pwrite(data, self.size)

    def truncate(self, size: int) -> None:
        """Cut the file (a restart's own repair: synced at once)."""
        os.ftruncate(self.fd, size)
        self.size = size
        self.dirty = True
        self.sync()

    def sync(self) -> None:
        """A durability point: everything written so far survives a power loss."""
        if not self.dirty:
            return  # nothing was written since the last sync
        os.fdatasync(self.fd)
        self.dirty = False
        os.pwrite(self.undo_fd, _UNDO_HEAD.pack(self.episode, _CLEAN), 0)
        self.synced_size = None
        self.saved = set()

    def close(self) -> None:
        """Close the file (its unsynced bytes stay unsynced: a power loss may still drop them)."""
        os.close(self.undo_fd)
        os.close(self.fd)


def drop_unsynced(path: Path) -> int:
    """A power loss for one file: the synced bytes its unsynced writes overwrote are put back and the file
    cut to its synced length. Returns how many saved spans were put back."""
    undo = path.with_name(path.name + ".unsynced")
    try:
        raw = undo.read_bytes()
    except FileNotFoundError:
        return 0
    if len(raw) < _UNDO_HEAD.size:  # killed before a header was written: nothing was overwritten yet
        return 0
    episode, synced = _UNDO_HEAD.unpack_from(raw)
    if synced == _CLEAN:
        return 0
    pos, spans = _UNDO_HEAD.size, 0
    fd = os.open(path, os.O_RDWR)
    try:
        while pos + _UNDO_REC.size <= len(raw):
            ep, at, n = _UNDO_REC.unpack_from(raw, pos)
            old = raw[pos + _UNDO_REC.size : pos + _UNDO_REC.size + n]
            if ep != episode or len(old) < n:
                break  # an older episode's span, or one cut short by the kill: its write had not started
            os.pwrite(fd, old, at)
            pos += _UNDO_REC.size + n
            spans += 1
        os.ftruncate(fd, synced)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    undo.write_bytes(_UNDO_HEAD.pack(episode, _CLEAN))
    return spans


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
        self.file = VolatileFile(path, BLOCK_SIZE)
        self.fd = self.file.fd
        if self.file.size < sectors * BLOCK_SIZE:
            self.file.truncate(sectors * BLOCK_SIZE)  # sparse: unwritten sectors read as zeros
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

    def flush(self, only: set[int] | None = None, but: set[int] | None = None) -> int:
        """Write buffered sectors to the file (those in ``only`` if given, except those in ``but``);
        returns how many. They are in the page cache: ``sync`` makes them survive a power loss."""
        chosen = sorted(s for s in self.pending if (only is None or s in only) and (but is None or s not in but))
        for sector in chosen:
            self.file.pwrite(self.pending.pop(sector), sector * BLOCK_SIZE)
        return len(chosen)

    def sync(self) -> None:
        """What reached the file survives a power loss."""
        self.file.sync()

    def image(self) -> bytes:
        """The whole medium (small drives only: tests)."""
        out = bytearray(os.pread(self.fd, self.sectors * BLOCK_SIZE, 0))
        for sector, data in self.pending.items():
            out[sector * BLOCK_SIZE : (sector + 1) * BLOCK_SIZE] = data
        return bytes(out)

    def close(self) -> None:
        """Close the file (buffered sectors are dropped: flush first)."""
        self.file.close()


class ArrayStore:
    """One array's drives, tables and event log file in ``folder``; ``restarted`` tells whether they were
    there already, ``power_lost`` whether the restart dropped what was not synced (``ctl power-loss``)."""

    def __init__(self, folder: Path, site: str, blocks: int, journal_capacity: int,
                 fence_policy: FencePolicy = FencePolicy.NEVER, mutant: str | None = None,
                 write_blocks: int = 1) -> None:
        if mutant is not None and mutant not in DEVICE_MUTANTS:
            raise ValueError(f"unknown device mutant {mutant!r}: {', '.join(DEVICE_MUTANTS)}")
        self.folder = folder
        self.site = site
        self.durable_commits = mutant != "journal_not_persisted_before_ack"
        marker = power_loss_marker(folder, site)
        self.power_lost = marker.exists()
        self.dropped_spans = 0  # how many unsynced writes (spans of synced bytes overwritten) were undone
        if self.power_lost:  # before anything is read: the files as the platters held them
            for undo in sorted(folder.glob(f"{site}-*.unsynced")):
                self.dropped_spans += drop_unsynced(undo.with_name(undo.name[: -len(".unsynced")]))
            marker.unlink()
        self.slots = [VolatileFile(folder / f"{site}-shm.{i}") for i in (0, 1)]
        self.events_file = VolatileFile(folder / f"{site}-events.jsonl")
        self.ring = LogRing(folder / f"{site}-log.bin")
        self.generation = 0
        saved = self._load()
        self.restarted = saved is not None
        self.drives: list[FileDrive] = []

        def factory(i: int, sectors: int, power: PowerSupply) -> DiskDrive:
            drive = FileDrive(folder / f"{site}-drive{i}.img", i, sectors, power)
            self.drives.append(drive)
            return drive

        if site == "A":
            self.array = StorageArray.main_site(blocks, journal_capacity, fence_policy, drive_factory=factory,
                                                write_blocks=write_blocks)
        else:
            self.array = StorageArray.remote_site(blocks, journal_capacity, drive_factory=factory,
                                                  write_blocks=write_blocks)
        self.meta: dict[str, Any] = {"events": 0}
        if saved is not None:
            shm, self.meta = saved["shm"], saved["meta"]
            # the journal LDEV is sized for records of ``write_blocks`` blocks, so the drives' layout depends
            # on it: an array made with another size (1 before it was a setting) must be served with that size
            if not isinstance(shm, SharedMemory) or saved.get("blocks") != blocks \
                    or saved.get("block_size") != BLOCK_SIZE or saved.get("write_blocks", 1) != write_blocks:
                raise ValueError(f"{self.slots[0].path} is not array {site}'s memory for {blocks} blocks of "
                                 f"{BLOCK_SIZE} bytes with writes of at most {write_blocks} blocks a record")
            if "log_ring" in self.meta:  # the entries are in the ring, not the pickle
                shm.log.entries = self.ring.load(self.meta["log_ring"])
            self.array.shm = shm
            self._restore_event_tail()
        self._primary: tuple[int, dict[int, set[int]]] | None = None
        self._syncer = ThreadPoolExecutor(4, thread_name_prefix=f"sync-{site}")

    def _restore_event_tail(self) -> None:
        """The event lines committed since the log file was last synced are kept in the tables too (the
        log is synced every ``EVENT_TAIL_BYTES``, not per commit): after a power loss, put them back."""
        at, tail = self.meta.get("event_tail", (0, b""))
        ef = self.events_file
        if ef.size >= at + len(tail):
            return  # nothing was lost (a longer log is cut back to the tables by the event log itself)
        if ef.size < at:
            raise ValueError(f"{ef.path} is shorter than its synced part: it was changed by hand")
        ef.truncate(at)
        ef.append(tail)
        ef.sync()

    def sectors_of(self, role: str) -> dict[int, set[int]]:
        """The sectors, per drive, of the LDEV playing ``role`` now."""
        ldev = self.array.interconnect.ldevs[self.array.shm.volume_map.ldev(role)]
        out: dict[int, set[int]] = {}
        for ext in ldev.extents:
            out.setdefault(ext.drive_id, set()).update(range(ext.start, ext.start + ext.count))
        return out

    def primary_sectors(self) -> dict[int, set[int]]:
        """The sectors of P (S at R), per drive: the writes the journal can redo (cached per LDEV)."""
        ldev = self.array.shm.volume_map.ldev(self.array.shm.jfmt.roles[0])
        if self._primary is None or self._primary[0] != ldev:
            self._primary = (ldev, self.sectors_of(self.array.shm.jfmt.roles[0]))
        return self._primary[1]

    def _save(self, written_seq: int | None, durable: bool = True) -> None:
        log = self.array.shm.log
        true_written, entries = log.written_seq, log.entries
        if written_seq is not None:
            log.written_seq = written_seq
        self.meta["log_ring"] = self.ring.state()
        log.entries = []  # in the ring (already written by commit)
        try:
            data = pickle.dumps({"shm": self.array.shm, "meta": self.meta, "blocks": self.array.blocks,
                                 "block_size": BLOCK_SIZE, "write_blocks": self.array.write_blocks},
                                protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            log.written_seq, log.entries = true_written, entries
        self.generation += 1
        slot = self.slots[self.generation % 2]
        slot.pwrite(_SLOT.pack(_SLOT_MAGIC, self.generation, len(data), zlib.crc32(data)) + data, 0)
        if durable:
            slot.sync()  # the commit point

    def _load(self) -> dict[str, Any] | None:
        """The newest intact slot's contents (None: a fresh array)."""
        best: tuple[int, bytes] | None = None
        for slot in self.slots:
            try:
                raw = slot.path.read_bytes()
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

    def commit(self, written_seq_before: int, write_events: Any = None, full: bool = False,
               durable: bool = True) -> None:
        """Make a batch durable in the order of the module docstring. ``write_events()`` appends the
        batch's event lines (to ``events_file``) and returns the committed line count. ``full``: every
        write of the batch is synced before the tables, the primary's too (the journal cannot redo them).
        ``durable=False``: nothing is synced (a batch whose answers depend on nothing it wrote: A taking
        R's acknowledgements, whose records were synced when they were sent); a power loss may undo it,
        which the restart's crash handles as it handles a kill before the commit."""
        durable = durable and self.durable_commits
        redoable = {} if full else self.primary_sectors()
        for d in self.drives:
            d.flush(but=redoable.get(d.drive_id, set()))
        if write_events is not None:
            self.meta["events"] = write_events()
        self.ring.write(self.array.shm.log.entries)
        ef = self.events_file
        if durable:
            # this batch's journal and other volumes, the data of the batch before, the new log table
            # entries: synced side by side (each fdatasync waits for the disk; together they wait once)
            files = [d.file for d in self.drives if d.file.dirty] + [self.ring.file]
            if ef.synced_size is not None and ef.size - ef.synced_size > EVENT_TAIL_BYTES:
                files.append(ef)
            list(self._syncer.map(VolatileFile.sync, files))
        since = ef.size if ef.synced_size is None else ef.synced_size
        self.meta["event_tail"] = (since, os.pread(ef.fd, ef.size - since, since))
        self._save(written_seq_before, durable)
        for d in self.drives:
            d.flush()

    def sync(self) -> None:
        """A host FLUSH: everything written so far is forced to stable storage."""
        for d in self.drives:
            d.flush()
            d.sync()
        self.ring.file.sync()
        self.events_file.sync()
        for slot in self.slots:
            slot.sync()

    def close(self) -> None:
        """Close the files."""
        for d in self.drives:
            d.close()
        for f in (self.events_file, self.ring.file, *self.slots):
            f.close()
        self._syncer.shutdown()


class LogRing:
    """The journal log table's entries, kept apart from the tables' pickle so that a commit costs what the
    batch changed, not the journal window: ``<array>-log.bin`` is a ring of fixed-size entries (``_ENTRY``)
    numbered from the array's first; the slot records the number of the oldest live entry, how many are live
    and the ring's size. A batch that appends records and frees the oldest (host writes, checkpoints) writes
    only the new entries; any other change (R truncating JR at a resync, a swap emptying the journal, a
    mutant freeing the newest) rewrites the ring, as does outgrowing it.

    Which entries are new is read off the list itself: the store keeps the entry objects it last committed
    (``shadow``), and a batch that only appended and freed from the front leaves the oldest live one and the
    newest committed one where they were, as the same objects.

    A kill between the ring and the slot leaves the slot before the batch, so a batch never writes where an
    entry live in that slot lies: new entries go only to free ring positions (else the ring is rewritten),
    and a rewrite goes to a region of the file apart from the current one (``base``)."""

    def __init__(self, path: Path) -> None:
        self.file = VolatileFile(path, 4096)
        self.first = 0  # the number of the oldest live entry
        self.size = 0  # entries the ring holds (0: not written yet)
        self.base = 0  # byte offset of the ring in the file
        self.shadow: collections.deque[LogEntry] = collections.deque()

    def state(self) -> dict[str, int]:
        """What the slot records of the ring."""
        return {"first": self.first, "count": len(self.shadow), "size": self.size, "base": self.base}

    def load(self, state: dict[str, int]) -> list[LogEntry]:
        """The live entries the slot's ``state`` names, read back."""
        self.first, self.size, self.base = int(state["first"]), int(state["size"]), int(state["base"])
        count = int(state["count"])
        if count == 0:
            self.shadow = collections.deque()
            return []
        start = self.first % self.size
        head = min(count, self.size - start)  # up to the ring's end, then from its start
        raw = os.pread(self.file.fd, head * _ENTRY.size, self.base + start * _ENTRY.size) \
            + os.pread(self.file.fd, (count - head) * _ENTRY.size, self.base)
        out = [LogEntry(*fields) for fields in _ENTRY.iter_unpack(raw)]
        self.shadow = collections.deque(out)
        return out

    def write(self, entries: list[LogEntry]) -> None:
        """Bring the ring up to ``entries`` (the table's live list, oldest first)."""
        shadow = self.shadow
        committed = len(shadow)  # live in the slot on disk: their positions must not be written
        if entries and shadow:  # freed from the front: the shadow's oldest are gone from the list
            dropped = 0
            while shadow and shadow[0] is not entries[0]:
                shadow.popleft()
                dropped += 1
            self.first += dropped
        elif not entries:
            self.first += len(shadow)
            shadow.clear()
        n = len(shadow)
        appended_only = n <= len(entries) and (n == 0 or (entries[0] is shadow[0] and entries[n - 1] is shadow[-1]))
        new = entries[n:]
        if not appended_only or committed + len(new) > self.size:
            self._rewrite(entries)
            return
        if not new:
            return
        at = (self.first + n) % self.size
        head = min(len(new), self.size - at)  # up to the ring's end, then from its start
        for part, pos in ((new[:head], at), (new[head:], 0)):
            if part:
                self.file.pwrite(_pack(part), self.base + pos * _ENTRY.size)
        shadow.extend(new)

    def _rewrite(self, entries: list[LogEntry]) -> None:
        size = max(1024, 1 << (2 * len(entries)).bit_length())
        # apart from the current region: before it if there is room, else right after it
        base = 0 if size * _ENTRY.size <= self.base else self.base + self.size * _ENTRY.size
        # the whole region at once, zeros beyond the entries: later appends land in allocated blocks, so
        # syncing them does not have to commit the file system's journal
        self.file.pwrite(_pack(entries).ljust(size * _ENTRY.size, b"\0"), base)
        self.size, self.base, self.first = size, base, 0
        self.shadow = collections.deque(entries)


def _pack(entries: list[LogEntry]) -> bytes:
    return b"".join(_ENTRY.pack(e.seq, e.location, e.lba, e.length, e.nsectors) for e in entries)


def power_loss_marker(folder: Path, site: str) -> Path:
    """The file ``ctl power-loss`` leaves for the array's restart: drop what was not synced first."""
    return folder / f"{site}.power-lost"
