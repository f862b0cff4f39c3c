"""What both arrays share to rebuild a point-in-time image: ``replay`` (claims 5, 6, 11, 12) and the volume
swap that installs it (claims 13, 14).

Array A uses both for its recovery (``recovery.py``), array R for its half of a swap recovery (``remote.py``),
from its own replica base and remote journal: since both start from identical bases and journals they build
the same image without a data block crossing the path. Neither function knows which array it runs on.
"""

from __future__ import annotations

from pitmirror.impl.array import StorageArray
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.ready import Persist
from pitmirror.impl.record import JournalRecord


def replay(base: list[bytes], current: list[bytes], records: list[JournalRecord], target: int,
           mutant: Mutant) -> list[bytes]:
    """image(target) as an array rebuilds it: ``base`` with every record of ``seq <= target`` applied in
    sequence order (markers carry no data). ``current`` is the volume being recovered (P at A, S at R)."""
    if mutant("recovery_off_by_one"):
        chosen = [r for r in records if r.seq < target]  # MUTANT: records < T
    else:
        chosen = [r for r in records if r.seq <= target]
    chosen.sort(key=lambda r: r.seq)
    if mutant("replay_out_of_order"):
        chosen.reverse()  # MUTANT: newest first
    image = list(current if mutant("rebuild_from_primary") else base)  # MUTANT: start from P / S
    for r in chosen:
        if not r.is_marker:
            image[r.lba] = r.payload
    return image


def install_image(array: StorageArray, image: list[bytes], data_role: str, base_role: str) -> list[Persist]:
    """The swap at one array (claims 13, 14): build ``image`` in the spare LDEV and swap it in as the data
    volume (P or S); write the same image into the volume left over and swap it in as the base (B or RB);
    the old base becomes the spare. Each step is durable before the next, and a rebuild from the old base
    and journal gives the same image, so a swap cut short by a power loss is simply done again."""
    vmap, done = array.shm.volume_map, []
    for role in (data_role, base_role):
        for lba, block in enumerate(image):
            array.write("spare", lba, block)
        vmap.swap_volumes(role, "spare")  # one volume-map update
        done += [Persist(role, vmap.ldev(role)), Persist("volume map")]
    return done


__all__ = ["install_image", "replay"]
