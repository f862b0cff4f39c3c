"""How much absolute journal locations would multiply the state space (issue 14 item 5, before it is built).

The model's journal is a FIFO of records; claims 2-4 give each record a location in the journal LDEV, used as a
ring. Whether the model can carry those locations literally (absolute, as the impl's journal log table holds
them) or needs a canonical form (locations relative to the ring head) depends on how many states that adds.
This explores the model breadth-first with A's ring head (its next free location) beside each state, advanced
by every record appended to J, and counts distinct (canonical state, head) pairs against distinct states.
Units: ``slot`` (one per record) or ``sector`` (the impl's sizes: a one-block write takes a header, one payload
sector and a trailer, a marker a header and a trailer); the ring holds ``journal_capacity + blocks`` one-block
records, as ``impl.array.StorageArray`` sizes A's journal LDEV. Figures, not assertions; the object model's
breadth-first search (default bounds: about a minute of CPU per kind and unit).

    python bench/ring_growth.py [--preset small|default|thorough] [--unit slot|sector]
"""

from __future__ import annotations

import argparse
import time
from collections import deque

from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.state import MARKER, RecoveryKind, State


def record_size(lba: int, unit: str) -> int:
    """Ring units a record takes."""
    if unit == "slot":
        return 1
    return 2 if lba == MARKER else 3


def count(bounds: Bounds, unit: str) -> tuple[int, int]:
    """Distinct canonical states, and distinct (canonical state, ring head) pairs, reachable in ``bounds``."""
    model = MirrorModel(bounds)
    canon = model.canonicalizer()
    ring = (bounds.journal_capacity + bounds.blocks) * record_size(0, unit)
    states: set[State] = set()
    pairs: set[tuple[State, int]] = set()
    queue: deque[tuple[State, int]] = deque()
    for s in model.init_states():
        states.add(canon(s))
        pairs.add((canon(s), 0))
        queue.append((s, 0))
    while queue:
        s, head = queue.popleft()
        for a in model.actions(s):
            t = model.next_state(s, a)
            # a record appended to J takes the next free location (a checkpoint or a swap frees, never allocates)
            grown = len(t.journal) > len(s.journal) and t.journal[:len(s.journal)] == s.journal
            h = (head + record_size(t.journal[-1].lba, unit)) % ring if grown else head
            c = canon(t)
            states.add(c)
            if (c, h) not in pairs:
                pairs.add((c, h))
                queue.append((t, h))
    return len(states), len(pairs)


def main() -> None:
    """Print the figures for each recovery kind."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    ap.add_argument("--unit", default="sector", choices=["slot", "sector"])
    args = ap.parse_args()
    for kind in RecoveryKind:
        started = time.process_time()
        plain, with_head = count(PRESETS[args.preset].with_(recovery_kind=kind), args.unit)
        print(f"{args.preset} {kind.name.lower()}: {plain:,} states, {with_head:,} with the ring head "
              f"({args.unit} units): x{with_head / plain:.2f}, {time.process_time() - started:.1f} s CPU", flush=True)


if __name__ == "__main__":
    main()
