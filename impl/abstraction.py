"""The abstraction function: an impl state read as the model's state (``spec.state.State``'s fields,
without the ghost and the budgets). Blocks become model values through ``value_of_block`` (a block of
host text raises ``ValueError``); enums become their int values, which equal the model's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pitmirror.impl.blocks import BLOCK_SIZE, value_of_block
from pitmirror.impl.messages import Message, MirrorWrite
from pitmirror.impl.record import MARKER, JournalRecord

if TYPE_CHECKING:
    from pitmirror.impl.driver import Driver


def blocks_of(lba: int, data: bytes) -> int:
    """How many blocks a write's data covers (a marker, whose data is its name, counts as one)."""
    return 1 if lba == MARKER else max(1, len(data) // BLOCK_SIZE)


def record_tuple(rec: JournalRecord) -> tuple[int, int, int, int]:
    """A record as the model's ``Record(seq, lba, value, length)`` (a marker's value is 0; a multi-block
    record's value is its first block's)."""
    if rec.is_marker:
        return rec.seq, rec.lba, 0, 1
    return rec.seq, rec.lba, value_of_block(rec.payload[:BLOCK_SIZE]), blocks_of(rec.lba, rec.payload)


def message_tuple(msg: Message) -> tuple[int, int, int, int, int]:
    """A message as the model's ``Message(kind, a, b, c, d)`` (``d``: a MirrorWrite's length in blocks)."""
    f = [*msg.fields().values(), 0, 0]
    d = blocks_of(msg.lba, msg.data) if isinstance(msg, MirrorWrite) else 0
    return (msg.kind, f[0], f[1], f[2], d)


def in_flight_tuple(e: Any) -> tuple[int, int, int, int, bool, int]:
    """An in-flight entry as the model's ``InFlight(seq, lba, value, origin, host_acked, length)``."""
    value = 0 if e.lba == MARKER else value_of_block(e.data[:BLOCK_SIZE])
    return (e.seq, e.lba, value, int(e.origin), e.host_acked, blocks_of(e.lba, e.data))


def buffered_tuple(m: Any) -> tuple[int, int, int, int]:
    """A write in R's reorder buffer as the model's ``Record(seq, lba, value, length)``."""
    return (m.seq, m.lba, m.value, blocks_of(m.lba, m.data))


def values(blocks: list[bytes]) -> tuple[int, ...]:
    """A volume as the model's tuple of values."""
    return tuple(value_of_block(b) for b in blocks)


def volume_index(ldev: int, first: int, second: int) -> int:
    """An LDEV as the model's ``Volume``: 0 for the array's first data volume (P's or S's at the start), 1 for
    its second (B's or RB's), 2 for any other (the spare: no model volume, so it never conforms)."""
    return 0 if ldev == first else 1 if ldev == second else 2


#: Reads a volume, by site ("A" or "R") and role ("primary", "base", "remote", "replica_base"), as values.
VolumeReader = Callable[[str, str], tuple[int, ...]]
#: Reads a site's journal (J at "A", JR at "R") as the model's records, in the log's order.
JournalReader = Callable[[str], tuple[tuple[int, int, int, int], ...]]


def abstract_state(system: Driver, volume: VolumeReader | None = None,
                   journal: JournalReader | None = None) -> dict[str, Any]:
    """The model's view of ``system``. ``volume`` and ``journal`` read the volumes and journals (by default
    straight from the arrays; the conformance layer passes readers that decode again only what was written
    since, so that every field is still read here, in one place)."""
    a, r = system.a, system.r
    if volume is None:
        def volume(site: str, role: str) -> tuple[int, ...]:
            return values(getattr(a if site == "A" else r, role)())
    if journal is None:
        def journal(site: str) -> tuple[tuple[int, int, int, int], ...]:
            return tuple(record_tuple(x) for x in (a if site == "A" else r).journal.records())  # log order
    rec = a.jfmt.recovery
    return {
        "fence_policy": int(a.pair.fence_policy),
        "primary": volume("A", "primary"),
        "base": volume("A", "base"),
        "base_seq": a.jfmt.base_seq,
        "next_seq": a.log.next_seq,
        "journal": journal("A"),
        "journal_cache": tuple(record_tuple(x) for x in a.journal_cache),
        "in_flight": tuple(in_flight_tuple(e) for e in a.in_flight),
        "pair_state": int(a.pair.pair_state),
        "dirty": tuple(int(d) for d in a.pair.dirty),
        "journaling_state": int(a.jfmt.journaling_state),
        "recovery": None if rec is None else (rec.recovery_id, int(rec.kind), rec.target, rec.a_swapped,
                                              int(rec.remote_status)),
        "path_up": system.path.up,
        "path": tuple(sorted(message_tuple(m) for m in system.path.messages)),
        "remote": volume("R", "remote"),
        "replica_base": volume("R", "replica_base"),
        "replica_base_seq": r.replica_base_seq,
        "remote_journal": journal("R"),
        "remote_applied_seq": r.applied_seq,
        "remote_buffer": tuple(sorted(buffered_tuple(m) for m in r.buffer)),
        "remote_recovery_id": r.jfmt.last_recovery_id,
        # A's journal log table: each live record's first sector, the next free sector, the ring's size
        "journal_locations": tuple(e.location for e in a.log.entries),
        "journal_next_free": a.log.next_free,
        "journal_sectors": a.log.size,
        **volume_identities(system),
        "resync_id": a.pair.resync_id,
    }


def volume_identities(system: Driver) -> dict[str, Any]:
    """The role maps, the host-LUN map and the swap's intent record, as the model's volumes."""
    a, r = system.a, system.r
    avm, rvm = a.array.shm.volume_map, r.array.shm.volume_map
    return {
        "primary_volume": volume_index(avm.ldev("primary"), *system.a_volumes),
        "host_lun": volume_index(avm.luns[0], *system.a_volumes),
        "lun_switch_pending": a.jfmt.lun_switch_pending,
        "secondary_volume": volume_index(rvm.ldev("remote"), *system.r_volumes),
    }
