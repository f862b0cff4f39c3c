"""The journal log table's ring (``LogRing``): a commit writes only what the batch changed, and a restart
reads back exactly the entries the last slot named, even when a kill came between the ring and the slot."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pitmirror.impl.device.storage import LogRing
from pitmirror.impl.tables import LogEntry


@pytest.mark.parametrize("seed", [2, 3])  # seeds whose runs reach every branch (a burst past the ring)
def test_the_ring_reads_back_every_committed_state_and_the_one_before(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    ring = LogRing(tmp_path / "log.bin")
    entries: list[LogEntry] = []
    seq = 0
    before: tuple[dict[str, int], list[LogEntry]] | None = None
    rewrites = 0
    for _ in range(150):
        op = rng.random()
        if op < 0.85:  # a batch of checkpoints (free the oldest) and host writes (append), now and then a burst
            if entries and rng.random() < 0.7:
                del entries[: rng.randint(1, len(entries))]
            for _ in range(rng.randint(1, 40) if rng.random() < 0.85 else rng.randint(500, 2500)):
                seq += 1
                entries.append(LogEntry(seq, seq * 2, rng.randrange(64), 4096, 2))
        elif op < 0.95 and entries:  # R truncating JR at a resync
            del entries[rng.randint(0, len(entries) - 1) :]
        else:  # a swap empties the journal
            entries = []
        size = ring.size
        ring.write(entries)
        rewrites += ring.size != size
        state = ring.state()
        assert LogRing(tmp_path / "log.bin").load(state) == entries
        if before is not None:  # a kill before the slot: the previous slot's entries are intact
            assert LogRing(tmp_path / "log.bin").load(before[0]) == before[1]
        before = (state, list(entries))
    assert rewrites >= 1


def test_appending_writes_only_the_new_entries(tmp_path: Path) -> None:
    ring = LogRing(tmp_path / "log.bin")
    entries = [LogEntry(n, n, 0, 512, 2) for n in range(1, 501)]
    ring.write(entries)
    ring.file.sync()
    entries = [*entries[1:], LogEntry(501, 501, 0, 512, 2)]  # a checkpoint and a host write
    ring.write(entries)
    # one entry written, into the ring's preallocated room: one 4 KiB granule touched, not the window
    assert ring.file.size == ring.file.synced_size == 1024 * 40 and ring.file.saved == {500 * 40 // 4096}
    assert LogRing(tmp_path / "log.bin").load(ring.state()) == entries


def test_the_entry_list_keeps_the_sectors_of_every_change() -> None:
    import copy
    import pickle

    from pitmirror.impl.tables import JournalLogTable

    log = JournalLogTable(size=64)
    e = [LogEntry(n, n, 0, 512, 1 + n % 3) for n in range(1, 12)]

    def iadd(xs: list[LogEntry]) -> None:
        log.entries += xs

    def delete(k: slice) -> None:
        del log.entries[k]

    steps = [lambda: log.entries.append(e[0]), lambda: log.entries.extend(e[1:6]), lambda: iadd(e[6:9]),
             lambda: log.entries.insert(0, e[9]), lambda: log.entries.remove(e[9]), lambda: log.entries.pop(0),
             lambda: log.entries.pop(), lambda: delete(slice(4, None)),
             lambda: log.entries.__setitem__(slice(1, 2), [e[10]]), lambda: setattr(log, "entries", [e[0], e[2]]),
             lambda: log.entries.clear()]
    for step in steps:
        step()
        for table in (log, copy.deepcopy(log), pickle.loads(pickle.dumps(log))):
            assert table.used_sectors == sum(x.nsectors for x in table.entries)


def test_an_array_is_served_again_only_with_its_atomic_write(tmp_path: Path) -> None:
    # the journal LDEV is sized for chunks of write_blocks blocks: another size would read P where J was
    from pitmirror.impl.device.storage import ArrayStore

    store = ArrayStore(tmp_path, "A", 8, 8, write_blocks=1)
    store.commit(0)
    store.close()
    with pytest.raises(ValueError, match="at most 2 blocks"):
        ArrayStore(tmp_path, "A", 8, 8, write_blocks=2)
    ArrayStore(tmp_path, "A", 8, 8, write_blocks=1).close()  # the same size: its memory is read back
