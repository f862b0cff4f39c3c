"""How much the journal locations multiply the state space (issue 14 item 5).

Claims 2-4 give each journal record a location on the journal LDEV, used as a ring; the model's state carries them
(``journal_locations``, ``journal_next_free``: A's journal log table, in the impl's units of sectors). This explores
the model breadth-first and counts distinct canonical states against distinct states with the two location fields
blanked out: the ratio is what the locations cost. (Before the model had them, this script carried A's ring head
beside each state itself; it measured x1.00 then, the figure the design was agreed on.) Figures, not assertions;
the object model's breadth-first search (default bounds: about a minute of CPU per kind).

    python bench/ring_growth.py [--preset small|default|thorough]
"""

from __future__ import annotations

import argparse
import time
from collections import deque

from pitmirror.model.config import PRESETS, Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.state import RecoveryKind, State


def count(bounds: Bounds) -> tuple[int, int]:
    """Distinct canonical states reachable in ``bounds``, and how many remain once the locations are blanked."""
    model = MirrorModel(bounds)
    canon = model.canonicalizer()
    states: set[State] = set()
    queue: deque[State] = deque()
    for s in model.init_states():
        states.add(canon(s))
        queue.append(s)
    while queue:
        s = queue.popleft()
        for a in model.actions(s):
            c = canon(model.next_state(s, a))
            if c not in states:
                states.add(c)
                queue.append(c)
    without = {s._replace(journal_locations=(), journal_next_free=0) for s in states}
    return len(states), len(without)


def main() -> None:
    """Print the figures for each recovery kind."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    args = ap.parse_args()
    for kind in RecoveryKind:
        started = time.process_time()
        with_locations, without = count(PRESETS[args.preset].with_(recovery_kind=kind))
        print(f"{args.preset} {kind.name.lower()}: {with_locations:,} states, {without:,} without the journal "
              f"locations: x{with_locations / without:.2f}, {time.process_time() - started:.1f} s CPU", flush=True)


if __name__ == "__main__":
    main()
