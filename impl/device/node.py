"""One served array as a process: the sans-I/O controller core of array A or R, its drives and tables in
files (``storage``), the path as a real TCP connection, local sockets for the NBD shim and the control
commands, and the event log.

Everything runs on one asyncio loop, so controller steps never interleave: each step runs to its
``Ready``, which the node acts on in the contract's order (``ArrayStore.commit`` makes it durable, then
messages go on the path, then the host hears). Run as
``python -m pitmirror.impl.device.node --site A|R --dir D --blocks N ...`` (``pitmirror serve`` does).

What the node does that the in-process driver (impl/driver.py) does for a scripted run:

- A times out writes the path lost: when the connection to R breaks (``FailPath``), every write in flight
  is lost, so A takes ``MirrorTimeout`` at once; the pair suspends (fence ``never``: the host is answered).
- When the connection comes back (``RepairPath``) A resynchronizes: ``StartResync``, the batch to R,
  ``FinishResync`` on R's answer.
- A host write of n blocks is journalled as ceil(n / write_blocks) records, one ``MirrorWrite`` each, in
  order: each chunk is applied whole on P, J, S and JR, or (after a power loss) redone whole from the journal.
- A checkpoints (in lockstep, R told over the path) only when a host write finds the journal full.
- A restart after ``kill -9`` is ``CrashArray``: the core's ``crash()`` on the tables and drives read back.
- A fail-path command closes the connection gracefully: R answers everything it has read before A logs
  ``FailPath``, so the log's order is the order things happened.
- ``ctl delay-path MS`` makes each array hold what it puts on the path MS milliseconds (``PathSender``), in
  order; a fail-path lets what was handed over go out first, as it was already on the path.
- ``ctl power-loss`` is a ``kill -9`` whose restart first drops every write the array had not synced
  (``storage``): the node syncs before it sends or answers (``ArrayStore.commit``), so the restart's
  ``CrashArray`` finds every record it acknowledged.

The event log's timestamps are ``CLOCK_MONOTONIC`` nanoseconds, one clock for every process on the
machine (the served arrays are loopback-only), so the merged log is in real-time order, which respects
causality: a message is logged as sent (at A's step) before it is logged as delivered.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from pitmirror.impl.device.array_a import ArrayANode
from pitmirror.impl.device.array_r import ArrayRNode
from pitmirror.impl.device.site import Node
from pitmirror.impl.device.storage import DEVICE_MUTANTS
from pitmirror.impl.states import FencePolicy

__all__ = ["main", "main_async"]


async def main_async(args: argparse.Namespace) -> None:
    folder = Path(args.dir)
    fence = FencePolicy[args.fence.upper()]
    servers: list[asyncio.AbstractServer] = []
    node: Node
    if args.site == "A":
        node = ArrayANode(folder, args.blocks, args.journal_capacity, fence, args.path_host, args.path_port,
                          args.max_in_flight, args.mutant, args.write_blocks)
        asyncio.create_task(node.path_loop())  # noqa: RUF006 - lives as long as the loop
    else:
        rnode = ArrayRNode(folder, args.blocks, args.journal_capacity, args.mutant, args.write_blocks)
        servers.append(await asyncio.start_server(rnode.on_connection, args.path_host, args.path_port))
        node = rnode
    writable = args.site == "A"
    role = "primary" if writable else "remote"

    async def host(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await node.host_reader(reader, writer, role, writable)

    servers.append(await node.serve_unix(folder / f"{args.site}.host.sock", host))
    servers.append(await node.serve_unix(folder / f"{args.site}.ctl.sock", node.control))
    (folder / f"{args.site}.ready").write_text(str(os.getpid()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    node.commit()
    node.store.close()
    # Everything is committed to the files; leave without unwinding the path and resync tasks (a task
    # parked in a shielded wait can hold up asyncio's cancel-all for ever, and nothing is left to save).
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of one array process."""
    p = argparse.ArgumentParser(prog="pitmirror-array")
    p.add_argument("--site", choices=("A", "R"), required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--blocks", type=int, required=True)
    p.add_argument("--journal-capacity", type=int, required=True)
    p.add_argument("--fence", choices=("never", "data"), default="never")
    p.add_argument("--path-host", default="127.0.0.1")
    p.add_argument("--path-port", type=int, required=True)
    p.add_argument("--max-in-flight", type=int, default=256)
    p.add_argument("--write-blocks", type=int, default=1,
                   help="the atomic write: the most blocks one journal record and one MirrorWrite carry")
    p.add_argument("--mutant", choices=DEVICE_MUTANTS, default=None)
    args = p.parse_args(argv)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
