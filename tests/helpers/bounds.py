"""Bounds more than one test file needs."""

from __future__ import annotations

from pitmirror.model.config import Bounds

#: The smallest bounds where A runs a second resync while the first one's answer may still be on the path (a
#: path failure and a crash of A suspend the pair twice): where folding A's resync counter
#: (``model.symmetry.fold_resync_ids``) merges states.
FOLD_BOUNDS = Bounds(blocks=1, host_writes=1, concurrency=1, journal_capacity=1, path_failures=1, crashes=1)
