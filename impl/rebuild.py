"""What both arrays share to rebuild a point-in-time image: ``replay`` (claims 5, 6, 11, 12) and the volume
swap that installs it (claims 13, 14).

Array A uses ``replay`` and ``install_image`` for its recovery (``recovery.py``); array R, for its half of a swap
recovery (``remote.py``), rebuilds its replica base in place from its remote journal (``rebuild_in_place``,
the same records in the same order as ``replay``) and swaps it in itself, step by step under its swap's intent
record. Since both start from identical bases and journals they build the same image without a data block
crossing the path. No function here knows which array it runs on.
"""

from __future__ import annotations

from pitmirror.impl.array import StorageArray
from pitmirror.impl.blocks import split_blocks
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.ready import Persist
from pitmirror.impl.record import JournalRecord


def replay_records(records: list[JournalRecord], target: int, mutant: Mutant) -> list[JournalRecord]:
    """The records a replay to ``target`` applies, in the order it applies them: every record of
    ``seq <= target``, in sequence order."""
    if mutant("recovery_off_by_one"):
        chosen = [r for r in records if r.seq < target]  # MUTANT: records < T
    else:
        chosen = [r for r in records if r.seq <= target]
    chosen.sort(key=lambda r: r.seq)
    if mutant("replay_out_of_order"):
        chosen.reverse()  # MUTANT: newest first
    return chosen


def replay(base: list[bytes], current: list[bytes], records: list[JournalRecord], target: int,
           mutant: Mutant) -> list[bytes]:
    """image(target) as an array rebuilds it: ``base`` with every record of ``seq <= target`` applied in
    sequence order (markers carry no data). ``current`` is the volume being recovered (P at A, S at R)."""
    image = list(current if mutant("rebuild_from_primary") else base)  # MUTANT: start from P / S
    for r in replay_records(records, target, mutant):
        if not r.is_marker:
            image[r.lba:r.lba + r.nblocks] = split_blocks(r.payload)  # a multi-block record, whole
    return image


def rebuild_in_place(array: StorageArray, base_role: str, current: list[bytes], records: list[JournalRecord],
                     target: int, mutant: Mutant) -> list[Persist]:
    """``replay`` done on the base volume itself (RB at R): each record's blocks written onto it in the order
    the replay applies them, nothing else, so a power loss after the first record leaves the base with that
    record alone applied. Idempotent: done again on a partly rebuilt base it ends the same (a block no record
    names is never written; every other ends with the last record naming it)."""
    if mutant("rebuild_from_primary"):  # MUTANT: start from the current volume (S at R)
        for lba, block in enumerate(current):
            array.write(base_role, lba, block)
    for r in replay_records(records, target, mutant):
        if not r.is_marker:
            array.write_range(base_role, r.lba, r.payload)  # a multi-block record, block by block
    return [Persist(base_role, array.shm.volume_map.ldev(base_role))]


def install_image(array: StorageArray, image: list[bytes], data_role: str, base_role: str) -> list[Persist]:
    """The swap at one array (claims 13, 14): the base (B or RB) is rebuilt in place into ``image`` (replay
    writes only the blocks its records name, so a rebuild cut short and done again ends the same) and the
    role map swaps it in as the data volume (P or S); the old data volume becomes the base and is made a copy
    of the image. The host-LUN map is not touched: at A the host's LUN moves in a step of its own
    (``SwitchHostLun``), R moves its LUN at once (it serves no host I/O)."""
    vmap, done = array.shm.volume_map, []
    for lba, block in enumerate(image):
        array.write(base_role, lba, block)
    done.append(Persist(base_role, vmap.ldev(base_role)))
    vmap.swap_roles(data_role, base_role)  # one role-map update
    done.append(Persist("volume map"))
    for lba, block in enumerate(image):
        array.write(base_role, lba, block)
    done.append(Persist(base_role, vmap.ldev(base_role)))
    return done


__all__ = ["install_image", "rebuild_in_place", "replay", "replay_records"]
