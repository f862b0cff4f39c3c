"""The hardware of one array, as claims 8-9 say: disk drives holding fixed-size blocks, back-end
controllers over them, logical volumes (LDEVs) carved out of the drives, and an interconnect that carries
every block transfer between the controllers and the back end.

A ``PowerSupply`` shared by an array's drives can be told to fail after N more sector writes: the way
tests tear a multi-block journal write or cut a host write between the journal and P.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pitmirror.impl.blocks import BLOCK_SIZE


class PowerLoss(Exception):
    """The array lost power in the middle of an I/O; the controller must be restarted."""


@dataclass
class PowerSupply:
    """``fail_after``: how many more sector writes succeed before the power fails (None: never)."""

    fail_after: int | None = None

    def before_write(self) -> None:
        """Called before each sector write; raises ``PowerLoss`` when the budget is spent."""
        if self.fail_after is None:
            return
        if self.fail_after <= 0:
            raise PowerLoss("power lost during a sector write")
        self.fail_after -= 1

    def check(self) -> None:
        """Called before a shared-memory update that follows sector writes it depends on (R's swap: the role
        map's swap after the rebuild, the commit after the copy). Once the budget is spent the power is taken
        to have failed already: a cut after the n-th sector write stops the update right after it too, so a
        cut after a rebuild's last record lands before the role map moves."""
        if self.fail_after is not None and self.fail_after <= 0:
            raise PowerLoss("power lost before a shared-memory update")


class DiskDrive:
    """A drive of ``sectors`` blocks of ``BLOCK_SIZE`` bytes. A sector write is atomic; a multi-sector
    write is not (it can be torn by a power loss between sectors)."""

    def __init__(self, drive_id: int, sectors: int, power: PowerSupply) -> None:
        self.drive_id = drive_id
        self.sectors = sectors
        self.power = power
        self._data = bytearray(sectors * BLOCK_SIZE)
        self.reads = 0
        self.writes = 0

    def read(self, sector: int) -> bytes:
        """One sector."""
        self._check(sector)
        self.reads += 1
        return bytes(self._data[sector * BLOCK_SIZE : (sector + 1) * BLOCK_SIZE])

    def write(self, sector: int, block: bytes) -> None:
        """One sector, atomically (or not at all, when the power fails first)."""
        self._check(sector)
        if len(block) != BLOCK_SIZE:
            raise ValueError(f"drive {self.drive_id}: a sector is {BLOCK_SIZE} bytes, got {len(block)}")
        self.power.before_write()
        self.writes += 1
        self._data[sector * BLOCK_SIZE : (sector + 1) * BLOCK_SIZE] = block

    def image(self) -> bytes:
        """The whole medium (for snapshots in tests)."""
        return bytes(self._data)

    def _check(self, sector: int) -> None:
        if not 0 <= sector < self.sectors:
            raise IndexError(f"drive {self.drive_id}: sector {sector} out of range 0..{self.sectors - 1}")


class BackEndController:
    """Interfaces the storage controller with its drives (claim 8)."""

    def __init__(self, be_id: int, drives: Iterable[DiskDrive]) -> None:
        self.be_id = be_id
        self.drives = {d.drive_id: d for d in drives}

    def read(self, drive_id: int, sector: int) -> bytes:
        """One sector of one of this controller's drives."""
        return self.drives[drive_id].read(sector)

    def write(self, drive_id: int, sector: int, block: bytes) -> None:
        """One sector of one of this controller's drives."""
        self.drives[drive_id].write(sector, block)


@dataclass(frozen=True)
class Extent:
    """``count`` sectors of drive ``drive_id`` starting at ``start``."""

    drive_id: int
    start: int
    count: int


@dataclass(frozen=True)
class LDEV:
    """A logical volume supported by the drives (claim 9): its blocks, mapped onto extents in order."""

    ldev_id: int
    nblocks: int
    extents: tuple[Extent, ...]

    @property
    def label(self) -> str:
        """``LDEV 0x01``."""
        return f"LDEV 0x{self.ldev_id:02x}"

    def locate(self, lba: int) -> tuple[int, int]:
        """(drive, sector) holding block ``lba``."""
        if not 0 <= lba < self.nblocks:
            raise IndexError(f"{self.label}: lba {lba} out of range 0..{self.nblocks - 1}")
        for ext in self.extents:
            if lba < ext.count:
                return ext.drive_id, ext.start + lba
            lba -= ext.count
        raise AssertionError("extents shorter than the LDEV")  # carve() never builds one


def carve(drives: list[DiskDrive], sizes: list[tuple[int, int]]) -> dict[int, LDEV]:
    """Carve LDEVs of the given ``(ldev_id, nblocks)`` out of the drives, in order, filling each drive
    before the next: an LDEV may span two drives."""
    out: dict[int, LDEV] = {}
    d, used = 0, 0
    for ldev_id, nblocks in sizes:
        extents: list[Extent] = []
        need = nblocks
        while need:
            if d >= len(drives):
                raise ValueError("the drives are too small for the LDEVs")
            take = min(need, drives[d].sectors - used)
            if take:
                extents.append(Extent(drives[d].drive_id, used, take))
            need -= take
            used += take
            if used == drives[d].sectors:
                d, used = d + 1, 0
        out[ldev_id] = LDEV(ldev_id, nblocks, tuple(extents))
    return out


class Interconnect:
    """Connects the front end, the back-end controllers and the shared memory (claim 8). Every block
    transfer between a controller and an LDEV goes through here, and is counted: in all, and the writes per
    block (``block_writes``, so an observer can tell which blocks changed since it last read them) and per
    LDEV (``ldev_writes``)."""

    def __init__(self, backends: list[BackEndController], ldevs: dict[int, LDEV]) -> None:
        self.ldevs = ldevs
        self._backend_of = {drive_id: be for be in backends for drive_id in be.drives}
        self.transfers = 0
        self.block_writes: dict[tuple[int, int], int] = {}  # (ldev_id, lba) -> writes that reached it
        self.ldev_writes: dict[int, int] = {}  # ldev_id -> writes that reached it (one look-up per volume)
        self.writes = 0  # writes that reached a drive; a drive's own count beyond it bypassed the interconnect

    def read(self, ldev_id: int, lba: int) -> bytes:
        """Block ``lba`` of LDEV ``ldev_id``."""
        drive_id, sector = self.ldevs[ldev_id].locate(lba)
        self.transfers += 1
        return self._backend_of[drive_id].read(drive_id, sector)

    def write(self, ldev_id: int, lba: int, block: bytes) -> None:
        """Block ``lba`` of LDEV ``ldev_id``."""
        drive_id, sector = self.ldevs[ldev_id].locate(lba)
        self.transfers += 1
        self._backend_of[drive_id].write(drive_id, sector, block)
        key = (ldev_id, lba)
        self.block_writes[key] = self.block_writes.get(key, 0) + 1
        self.ldev_writes[ldev_id] = self.ldev_writes.get(ldev_id, 0) + 1
        self.writes += 1

    def read_all(self, ldev_id: int) -> list[bytes]:
        """Every block of an LDEV, in LBA order."""
        return [self.read(ldev_id, lba) for lba in range(self.ldevs[ldev_id].nblocks)]
