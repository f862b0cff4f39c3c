"""Power loss: what an array had not synced is gone when it restarts, and nothing acknowledged is.

In process (fast): a ``VolatileFile`` drops exactly its unsynced bytes; an array store keeps a committed
host write across a power loss (journal replay puts it back on P) and, with the seeded bug
``journal_not_persisted_before_ack`` (no sync before the ack), loses it. Served (nbdkit, libnbd): a power loss
of A and of R while a host writes loses no acknowledged chunk, the pair resyncs, P == S and the logs validate;
with the seeded bug, a power loss of A loses acknowledged chunks and the check catches it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from helpers.served_pair import CHUNK, OUTAGE_JOURNAL, chunk, fault_while_writing, image, needs_clients, write
from pitmirror.impl.blocks import BLOCK_SIZE
from pitmirror.impl.device.serve import power_loss
from pitmirror.impl.device.storage import ArrayStore, VolatileFile, drop_unsynced, power_loss_marker
from pitmirror.impl.messages import MirrorAck
from pitmirror.impl.mutants import Mutant
from pitmirror.impl.primary import ArrayAController
from pitmirror.impl.ready import HostRequest


def test_a_volatile_file_drops_exactly_what_was_not_synced(tmp_path: Path) -> None:
    f = VolatileFile(tmp_path / "d.img", granule=4)
    f.pwrite(b"AAAAAAAA", 0)
    f.sync()
    f.pwrite(b"bb", 2)  # overwrites synced bytes
    f.pwrite(b"c", 3)  # again, within the same granule: saved once
    f.append(b"tail")  # beyond the synced length
    f.close()
    assert (tmp_path / "d.img").read_bytes() == b"AAbcAAAAtail"  # a kill -9 keeps all of it
    assert drop_unsynced(tmp_path / "d.img") == 1
    assert (tmp_path / "d.img").read_bytes() == b"AAAAAAAA"  # a power loss keeps what was synced
    assert drop_unsynced(tmp_path / "d.img") == 0  # nothing is left to drop


def test_spans_of_an_earlier_process_are_never_put_back(tmp_path: Path) -> None:
    for data in (b"AAAAAA", b"bbbbbb"):  # two runs of the array, each writing and syncing
        f = VolatileFile(tmp_path / "d.img", granule=2)
        f.pwrite(data, 0)
        f.sync()
        f.close()
    f = VolatileFile(tmp_path / "d.img", granule=2)  # a third run: one span saved where the last run's were
    f.pwrite(b"c", 0)
    f.close()
    assert drop_unsynced(tmp_path / "d.img") == 1
    assert (tmp_path / "d.img").read_bytes() == b"bbbbbb"


def _store(folder: Path, mutant: str | None = None) -> tuple[ArrayStore, ArrayAController]:
    store = ArrayStore(folder, "A", 8, 8, mutant=mutant)
    return store, ArrayAController(store.array, Mutant(None), 4)


@pytest.mark.parametrize("mutant", [None, "journal_not_persisted_before_ack"])
def test_a_committed_write_survives_a_power_loss_unless_the_journal_was_not_synced(
        tmp_path: Path, mutant: str | None) -> None:
    store, a = _store(tmp_path, mutant)
    store.commit(0)  # the array's first tables (serve commits them at start)
    store.sync()
    data = b"invoice 1001".ljust(BLOCK_SIZE, b".")
    req = HostRequest(1, 3, data)
    a.host_write(req)
    assert a.receive(MirrorAck(a.in_flight[0].seq)).acked == [req]  # R has it: A may answer the host
    store.commit(0)  # the batch's commit: after it, the node answers the host
    store.close()
    power_loss_marker(tmp_path, "A").write_text("0")
    store, a = _store(tmp_path)
    assert store.power_lost and not power_loss_marker(tmp_path, "A").exists()
    a.crash()  # the restart: journal replay
    on_p = store.array.read("primary", 3)
    if mutant is None:
        assert on_p == data and a.log.find(1) is not None
    else:
        assert on_p != data and a.log.find(1) is None  # acknowledged, and gone: the bug is caught
    store.close()


@needs_clients
@pytest.mark.parametrize("site", ["A", pytest.param("R", marks=pytest.mark.slow)])
def test_power_loss_while_writing_loses_no_acknowledged_write(serve_cli: Any, tmp_path: Path, site: str) -> None:
    served = serve_cli("--journal-capacity", str(OUTAGE_JOURNAL))
    if site == "A":
        # A's messages wait 150 ms on the path, so the power fails while A waits for R's answer, with its last
        # write to P not yet synced (R always has one: S's writes wait for its next batch's sync)
        assert served.ctl("delay-path", "A", ms=150)["ok"]

    def strike() -> None:
        time.sleep(0.05)
        power_loss(served.folder, site)

    fault_while_writing(served, tmp_path, site, strike)
    st = served.ctl("status", site)
    assert st["power_lost"] and st["unsynced_writes_dropped"] > 0  # the restart did drop unsynced writes


@needs_clients
def test_acking_before_the_journal_is_synced_loses_acknowledged_writes(serve_cli: Any, tmp_path: Path) -> None:
    served = serve_cli("--journal-capacity", str(OUTAGE_JOURNAL), "--mutant", "journal_not_persisted_before_ack")
    acked = write(served.p, 0, 8, "acked")
    assert acked == list(range(8))
    power_loss(served.folder, "A")
    deadline = time.monotonic() + 30
    while served.state()["restarts"]["A"] < 1:
        assert time.monotonic() < deadline, "array A was not restarted"
        time.sleep(0.1)
    served.wait(lambda s: s["power_lost"], what="A restarted after the power loss")
    p = image(served.p, tmp_path, "p.img")
    lost = [i for i in acked if p[i * CHUNK : (i + 1) * CHUNK] != chunk(b"acked", i)]
    assert lost, "the seeded bug lost nothing: the power loss did not drop unsynced writes"
