"""The frontier engine's visited set: each state's key (a 64-bit fingerprint, or the packed vector itself with
``--exact``) with the state's id, the number of the state in breadth-first order.

Two forms with one contract (``add``), compared by tests/test_frontier.py: ``SortedVisited``, numpy's sorted
key array searched with ``searchsorted`` (any key type), and ``HashVisited``, an open-addressing table of
fingerprints in the compiled runtime (``checkers.frontier.compiled``), which finds each key in constant time
instead of a binary search and needs no re-sorted copy of the whole set per level.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pitmirror.checkers.frontier.compiled import Runtime

_MAX_LOAD = 0.7  # HashVisited grows (doubles) before more than this share of its slots is taken


class Visited(Protocol):
    """A set of keys, each with its state's id."""

    def add(self, keys: np.ndarray, first_id: int, limit: int | None, want_ids: bool
            ) -> tuple[np.ndarray, np.ndarray | None]:
        """Add the keys of a level's candidates, in discovery order (a key may repeat, or be known already):
        each key not yet in the set gets the next id from ``first_id`` at its first occurrence, up to
        ``limit`` ids in all (``None``: no limit). Returns the indices into ``keys`` of the new states, in
        discovery order, and (``want_ids``) the id of every key, -1 for one cut off by ``limit``."""
        ...

    @property
    def nbytes(self) -> int:
        """The bytes the set takes."""
        ...


class SortedVisited:
    """The keys in a sorted array with the ids beside them."""

    def __init__(self, keys: np.ndarray, ids: np.ndarray) -> None:
        order = np.argsort(keys, kind="stable")
        self.keys, self.ids = keys[order], ids[order].astype(np.int32)

    def add(self, keys: np.ndarray, first_id: int, limit: int | None, want_ids: bool
            ) -> tuple[np.ndarray, np.ndarray | None]:
        """``Visited.add``."""
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        firsts = np.ones(sk.size, dtype=bool)
        firsts[1:] = sk[1:] != sk[:-1]
        uk, uj = sk[firsts], order[firsts]  # each distinct key at its first occurrence
        if self.keys.size:
            pos = np.minimum(np.searchsorted(self.keys, uk), self.keys.size - 1)
            new = self.keys[pos] != uk
        else:
            new = np.ones(uk.size, dtype=bool)
        nk, nj = uk[new], uj[new]
        by_discovery = np.argsort(nj, kind="stable")
        nk, nj = nk[by_discovery], nj[by_discovery]
        if limit is not None:
            nk, nj = nk[: max(0, limit - first_id)], nj[: max(0, limit - first_id)]
        ids = np.arange(first_id, first_id + nj.size, dtype=np.int32)
        srt = np.argsort(nk, kind="stable")
        at = np.searchsorted(self.keys, nk[srt])
        self.keys = np.insert(self.keys, at, nk[srt])
        self.ids = np.insert(self.ids, at, ids[srt])
        if not want_ids:
            return nj, None
        pos = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
        return nj, np.where(self.keys[pos] == keys, self.ids[pos], -1).astype(np.int32)

    @property
    def nbytes(self) -> int:
        """``Visited.nbytes``."""
        return int(self.keys.nbytes + self.ids.nbytes)


class HashVisited:
    """Fingerprints in an open-addressing table (linear probing; an id of -1 marks a free slot)."""

    def __init__(self, runtime: Runtime, keys: np.ndarray, ids: np.ndarray) -> None:
        self.runtime = runtime
        self.size = 0
        self._alloc(max(1024, int(keys.size / _MAX_LOAD) + 1))
        if keys.size:
            self.runtime.visit_insert(self.table_keys, self.table_ids, keys.astype(np.uint64),
                                      ids.astype(np.int32))
            self.size = keys.size

    def _alloc(self, at_least: int) -> None:
        slots = 1 << max(10, (at_least - 1).bit_length())
        self.table_keys = np.zeros(slots, dtype=np.uint64)
        self.table_ids = np.full(slots, -1, dtype=np.int32)

    def add(self, keys: np.ndarray, first_id: int, limit: int | None, want_ids: bool
            ) -> tuple[np.ndarray, np.ndarray | None]:
        """``Visited.add``."""
        if (self.size + keys.size) > _MAX_LOAD * self.table_ids.size:  # grow first: every key may be new
            old_keys, old_ids = self.table_keys, self.table_ids
            taken = old_ids >= 0
            self._alloc(int((self.size + keys.size) / _MAX_LOAD) + 1)
            self.runtime.visit_insert(self.table_keys, self.table_ids, np.ascontiguousarray(old_keys[taken]),
                                      np.ascontiguousarray(old_ids[taken]))
        ids = np.empty(keys.size, dtype=np.int32)
        new = np.empty(keys.size, dtype=np.uint8)
        added = self.runtime.visit(self.table_keys, self.table_ids, np.ascontiguousarray(keys, dtype=np.uint64),
                                   first_id, -1 if limit is None else limit, ids, new)
        self.size += added
        return np.flatnonzero(new), ids if want_ids else None

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The id of each key in the set, -1 for one not in it (reads the table only: worker threads may look
        up side by side while nothing is added)."""
        ids = np.empty(keys.size, dtype=np.int32)
        self.runtime.lookup(self.table_keys, self.table_ids, np.ascontiguousarray(keys, dtype=np.uint64), ids)
        return ids

    @property
    def nbytes(self) -> int:
        """``Visited.nbytes``."""
        return int(self.table_keys.nbytes + self.table_ids.nbytes)
