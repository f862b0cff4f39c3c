"""One storage array, built as claim 8 says, with its LDEVs carved out of its drives (claim 9).

Array A holds P (``primary``), J (``journal``), B (``base``) and a ``spare`` LDEV for swap recovery;
array R holds S (``remote``), JR (``remote_journal``), RB (``replica_base``) and its own ``spare``. J is
sized for ``journal_capacity`` records plus the recovery reserve of one record per block (docs/PROTOCOL.md),
each of the longest host write the array takes (``write_blocks`` blocks: header + data + trailer); JR, which
cannot refuse what A mirrors, for eight times that.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from pitmirror.impl.blocks import BLOCK_SIZE, split_blocks
from pitmirror.impl.errors import InvalidParameter, LbaOutOfRange, ScsiError
from pitmirror.impl.hardware import BackEndController, DiskDrive, Interconnect, PowerSupply, carve
from pitmirror.impl.record import sectors_for
from pitmirror.impl.states import FencePolicy
from pitmirror.impl.tables import JournalFunctionManagementTable, JournalLogTable, PairTable, SharedMemory, VolumeMap

#: role -> the name a storage engineer uses for that volume.
VOLUME_NAMES = {
    "primary": "P", "journal": "J", "base": "B", "spare": "spare",
    "remote": "S", "remote_journal": "JR", "replica_base": "RB",
}

#: builds drive ``i`` of ``sectors`` blocks: in memory by default, file-backed for a served array (impl/device/)
DriveFactory = Callable[[int, int, PowerSupply], DiskDrive]

A_LDEVS = {"primary": 0x01, "journal": 0x02, "base": 0x03, "spare": 0x04}
R_LDEVS = {"remote": 0x11, "remote_journal": 0x12, "replica_base": 0x13, "spare": 0x14}


@functools.cache
def _volume_label(role: str, ldev: int) -> str:
    # every refusal names its volume, and the guards build refusals many times per step: formatted once
    return f"{VOLUME_NAMES.get(role, role)} (LDEV 0x{ldev:02x})"


class FrontEndController:
    """Host port and remote-copy port (claim 8). The host port resolves a LUN through the volume map and
    checks every request's LBA and block size before anything reaches a controller core."""

    def __init__(self, array: StorageArray, host_port: str, remote_copy_port: str) -> None:
        self.array = array
        self.host_port = host_port
        self.remote_copy_port = remote_copy_port

    def check_host_io(self, op: str, lba: int, data: bytes | None = None, lun: int = 0) -> ScsiError | None:
        """The typed refusal for a malformed host ``op`` (``READ``/``WRITE``), or None; changes nothing."""
        vmap = self.array.shm.volume_map
        if lun not in vmap.luns:
            return InvalidParameter(f"{op} lba={lba} on LUN {lun}", f"no LUN {lun} on port {self.host_port}")
        label = self.array.volume_label(vmap.role_of(vmap.luns[lun]))
        request = f"{op} lba={lba} {'to' if op == 'WRITE' else 'from'} {label}"
        nblocks, most = self.array.blocks, self.array.write_blocks
        if isinstance(lba, bool) or not isinstance(lba, int) or not 0 <= lba < nblocks:
            return LbaOutOfRange(request, f"LBA out of range 0..{nblocks - 1}")
        if data is not None and (not data or len(data) % BLOCK_SIZE or len(data) > most * BLOCK_SIZE):
            if most == 1:
                return InvalidParameter(request, f"a block is {BLOCK_SIZE} bytes, got {len(data)}")
            # the journal ring is sized for records of at most ``most`` blocks
            return InvalidParameter(request, f"a write is 1..{most} whole blocks of {BLOCK_SIZE} bytes, got "
                                             f"{len(data)} bytes")
        if data is not None and lba + len(data) // BLOCK_SIZE > nblocks:
            return LbaOutOfRange(request, f"a write of {len(data) // BLOCK_SIZE} blocks from LBA {lba} ends past "
                                          f"the last LBA {nblocks - 1}")
        return None


class StorageArray:
    """Drives, back-end controllers, LDEVs, the interconnect, shared memory and the front end of one site."""

    def __init__(self, name: str, ldev_ids: dict[str, int], blocks: int, journal_capacity: int,
                 shm_roles: tuple[str, str, str], pair: PairTable | None, drives: int = 2,
                 drive_factory: DriveFactory = DiskDrive, write_blocks: int = 1) -> None:
        self.name = name
        self.blocks = blocks
        self.write_blocks = write_blocks  # the most blocks one host write (one journal record) covers
        self.power = PowerSupply()
        records = journal_capacity + blocks
        if shm_roles[1] == "remote_journal":
            # R cannot refuse what A mirrors; its JR gets room to spare (a mutant may outrun A's checks)
            records = max(8 * records, 64)
        journal_sectors = records * sectors_for(write_blocks * BLOCK_SIZE)
        sizes = [(ldev_ids[r], journal_sectors if r in ("journal", "remote_journal") else blocks)
                 for r in ldev_ids]
        per_drive = -(-sum(n for _, n in sizes) // drives)
        self.drives = [drive_factory(i, per_drive, self.power) for i in range(drives)]
        self.backends = [BackEndController(i, [d]) for i, d in enumerate(self.drives)]
        self.interconnect = Interconnect(self.backends, carve(self.drives, sizes))
        log = JournalLogTable(size=journal_sectors)
        vmap = VolumeMap(roles=dict(ldev_ids), luns={0: ldev_ids[shm_roles[0]]})
        jfmt = JournalFunctionManagementTable(log, vmap, journal_capacity, shm_roles)
        self.shm = SharedMemory(log, vmap, jfmt, pair)
        self.front_end = FrontEndController(self, f"CL1-{name}", f"CL2-{name}")

    @classmethod
    def main_site(cls, blocks: int, journal_capacity: int, fence_policy: FencePolicy,
                  drive_factory: DriveFactory = DiskDrive, write_blocks: int = 1) -> StorageArray:
        """Array A: P, J, B, spare; the pair table with its fence policy."""
        pair = PairTable(fence_policy, [False] * blocks)
        return cls("A", A_LDEVS, blocks, journal_capacity, ("primary", "journal", "base"), pair,
                   drive_factory=drive_factory, write_blocks=write_blocks)

    @classmethod
    def remote_site(cls, blocks: int, journal_capacity: int, drive_factory: DriveFactory = DiskDrive,
                    write_blocks: int = 1) -> StorageArray:
        """Array R: S, JR, RB, spare."""
        return cls("R", R_LDEVS, blocks, journal_capacity, ("remote", "remote_journal", "replica_base"), None,
                   drive_factory=drive_factory, write_blocks=write_blocks)

    def volume_label(self, role: str) -> str:
        """``P (LDEV 0x01)``."""
        return _volume_label(role, self.shm.volume_map.ldev(role))

    def read(self, role: str, lba: int) -> bytes:
        """Block ``lba`` of the volume playing ``role``."""
        return self.interconnect.read(self.shm.volume_map.ldev(role), lba)

    def write(self, role: str, lba: int, block: bytes) -> None:
        """Write block ``lba`` of the volume playing ``role``."""
        self.interconnect.write(self.shm.volume_map.ldev(role), lba, block)

    def write_range(self, role: str, lba: int, data: bytes) -> None:
        """Write a write's blocks from ``lba`` of the volume playing ``role``, in LBA order (one sector write
        each: a power loss between them leaves the first blocks written; the journal redoes the rest)."""
        ldev = self.shm.volume_map.ldev(role)
        for i, block in enumerate(split_blocks(data)):
            self.interconnect.write(ldev, lba + i, block)

    def write_ldev(self, ldev: int, lba: int, block: bytes) -> None:
        """Write block ``lba`` of LDEV ``ldev`` (a host write, through the LDEV its LUN names)."""
        self.interconnect.write(ldev, lba, block)

    def read_lun(self, lun: int, lba: int) -> bytes:
        """Block ``lba`` of the LDEV the host-LUN map names for ``lun`` (a host read)."""
        return self.interconnect.read(self.shm.volume_map.luns[lun], lba)

    def volume(self, role: str) -> list[bytes]:
        """Every block of the volume playing ``role``."""
        return [self.read(role, lba) for lba in range(self.blocks)]

    def drive_images(self) -> tuple[bytes, ...]:
        """The raw media, for snapshots."""
        return tuple(d.image() for d in self.drives)
