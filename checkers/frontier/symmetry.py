"""Symmetry reduction on whole frontiers: ``model.symmetry``'s renamings applied to the columns of the state
vector, and one exact canonical representative per orbit.

The renamings are the object engine's (``model.symmetry.symmetry_group``: blocks permuted, non-zero values
permuted, 0 fixed), applied field by field as ``model.symmetry.FIELD_TRANSFORMS`` does: volumes and images
move their blocks and rename their values, ``dirty`` moves its blocks, records, in-flight entries, history
entries and mirror writes rename their LBA (``MARKER`` stays) and value, and the two multisets kept sorted by
the model (the path and R's buffer) are sorted again afterwards. Only valid slots are renamed, so unused slots
stay zero and one state keeps exactly one vector. ``tests/test_frontier.py`` proves, state by state, that the
image of a vector here is the vector of ``model.symmetry.apply_perm`` of the state.

Each renaming is a handful of whole-block array operations: one gather moves the blocks of every volume, one
table lookup renames every value slot, one masked lookup renames every LBA slot. The canonical form of a
vector is the lexicographically least image over the whole group (in layout order): a function of the orbit
alone, so the number of canonical vectors equals the number of orbits, the object engine's count with
symmetry on.
"""

from __future__ import annotations

import numpy as np

from pitmirror.checkers.symbolic.terms import Layout
from pitmirror.model.symmetry import Perm, symmetry_group
from pitmirror.spec.fields import FIELDS, Content
from pitmirror.spec.state import MARKER, MessageKind

# Which columns a renaming touches, derived from spec.fields (the one table of what each State field holds),
# so a field added to State is renamed here by what it holds, not by a second hand-kept list.
_BY_CONTENT: dict[Content, tuple[str, ...]] = {c: tuple(f.name for f in FIELDS if f.content is c) for c in Content}
#: volumes whose blocks move and whose values are renamed (``_vol`` / ``_recovery`` / ``_maybe_vol``)
VALUE_VOLUMES = (*_BY_CONTENT[Content.VOLUME],
                 *(f"{r}.{image}" for r in _BY_CONTENT[Content.RECOVERY] for image in ("target_image", "start_image")),
                 *_BY_CONTENT[Content.OPTIONAL_VOLUME])
#: volumes whose blocks move and hold no data value (``_dirty``)
POSITION_VOLUMES = _BY_CONTENT[Content.BITMAP]
#: bounded sequences of (.., lba, value, ..) entries, in order (``_records``, ``_in_flight``, ``_history``)
ENTRY_SEQUENCES = (*_BY_CONTENT[Content.RECORDS], *_BY_CONTENT[Content.IN_FLIGHT], *_BY_CONTENT[Content.HISTORY])
#: bounded sequences that are multisets the model keeps sorted (``_sorted_records``, ``_path``)
SORTED_SEQUENCES = (*_BY_CONTENT[Content.RECORD_MULTISET], *_BY_CONTENT[Content.MESSAGES])
#: the State fields renamed above (tests/test_frontier.py: exactly those ``model.symmetry`` renames)
RENAMED_FIELDS = {f.name for f in FIELDS if f.content.block_indexed}

MW = int(MessageKind.MIRROR_WRITE)
RS = int(MessageKind.RESYNCED)
_KEY_BASE = 128  # every field of a path message or record is in -1 .. 126 at any bounds RANGES allows
_INVALID_KEY = np.int64(1) << 62


class RowSymmetry:
    """Renamings and canonical forms of frontiers, as ``(slots, states)`` int8 arrays of one ``Layout``."""

    def __init__(self, lay: Layout, values: int, enabled: bool = True) -> None:
        self.lay = lay
        self.values = values
        self.enabled = enabled
        self.group: list[Perm] = symmetry_group(lay.nb, values, lay.bounds.write_blocks) if enabled else []
        self.group_size = max(1, len(self.group))
        col = self.col = {n: k for k, n in enumerate(lay.names)}
        nb = lay.nb
        self._vols = [[col[f"{v}.{i}"] for i in range(nb)] for v in (*VALUE_VOLUMES, *POSITION_VOLUMES)]
        value_cols = [col[f"{v}.{i}"] for v in VALUE_VOLUMES for i in range(nb)]
        lba_cols, lens, slot_of = [], [], []
        for q in (*ENTRY_SEQUENCES, "remote_buffer"):
            for i in range(lay.caps[q]):
                lba_cols.append(col[f"{q}.{i}.lba"])
                value_cols.append(col[f"{q}.{i}.value"])
                lens.append(col[f"{q}.len"])
                slot_of.append(i)
        # a path message's value is 0 unless it is a mirror write, and 0 is never renamed: rename them all
        value_cols += [col[f"path.{i}.c"] for i in range(lay.caps["path"])]
        self._value_cols = np.array(value_cols, dtype=np.intp)
        self._lba_cols = np.array(lba_cols, dtype=np.intp)
        self._lba_len = np.array(lens, dtype=np.intp)
        self._lba_slot = np.array(slot_of, dtype=np.int8)[:, None]
        pc = lay.caps["path"]
        self._path_kind = np.array([col[f"path.{i}.kind"] for i in range(pc)], dtype=np.intp)
        self._path_lba = np.array([col[f"path.{i}.b"] for i in range(pc)], dtype=np.intp)
        self._path_len = col["path.len"]
        self._path_slot = np.arange(pc, dtype=np.int8)[:, None]
        self._path_a = np.array([col[f"path.{i}.a"] for i in range(pc)], dtype=np.intp)
        self._resync_id = col["resync_id"]
        self._sorts = []
        for q in SORTED_SEQUENCES:
            if lay.caps[q] >= 2:
                cols = np.array([[col[f"{q}.{i}.{f}"] for f in lay.subs[q]] for i in range(lay.caps[q])])
                self._sorts.append((q, col[f"{q}.len"], cols))

    def column_order(self, perm: Perm, width: int) -> np.ndarray:
        """Where each slot of the image comes from: the blocks of every volume moved by ``perm``."""
        bp, _ = perm
        order = np.arange(width)
        for cols in self._vols:  # slot of block bp[i] <- slot of block i
            for i, c in enumerate(cols):
                order[cols[bp[i]]] = c
        return order

    def tables(self, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The renamings as flat tables for the compiled kernel (``checkers.frontier.compiled``), which applies
        them as ``apply`` does (tests/test_frontier.py compares the two): per renaming but the identity, the
        column order, value table and block table (``MARKER`` first); and the layout's slots in one ``int32``
        array: the value slots, (lba slot, length slot, index) of every entry, the path's length slot and
        (kind slot, lba slot, index) of every message, and (length slot, capacity, fields, slots) of every
        multiset kept sorted."""
        perms = self.group[1:]
        orders = np.array([self.column_order(p, width) for p in perms], dtype=np.int32).reshape(len(perms), width)
        vluts = np.array([p[1] for p in perms], dtype=np.int8).reshape(len(perms), self.values)
        bluts = np.array([[MARKER, *p[0]] for p in perms], dtype=np.int8).reshape(len(perms), self.lay.nb + 1)
        slots: list[int] = [len(self._value_cols), *self._value_cols.tolist(), len(self._lba_cols)]
        for c, n, i in zip(self._lba_cols.tolist(), self._lba_len.tolist(), self._lba_slot[:, 0].tolist(),
                           strict=True):
            slots += [c, n, i]
        slots += [self._path_len, len(self._path_kind)]
        for i, (k, b) in enumerate(zip(self._path_kind.tolist(), self._path_lba.tolist(), strict=True)):
            slots += [k, b, i]
        slots.append(len(self._sorts))
        for _, len_col, cols in self._sorts:
            slots += [len_col, cols.shape[0], cols.shape[1], *cols.reshape(-1).tolist()]
        return (np.ascontiguousarray(orders), np.ascontiguousarray(vluts), np.ascontiguousarray(bluts),
                np.array(slots, dtype=np.int32))

    def widest_entry(self) -> int:
        """The most fields of an entry of a multiset kept sorted."""
        return max((cols.shape[1] for _, _, cols in self._sorts), default=0)

    def apply(self, rows: np.ndarray, perm: Perm) -> np.ndarray:
        """The image of every vector under one renaming; vectors are the rows of ``rows`` (``pack``ed:
        one row per state, one column per slot, padding columns at the end stay as they are)."""
        bp, vp = perm
        g = np.ascontiguousarray(rows[:, self.column_order(perm, rows.shape[1])])
        vlut = np.array(vp, dtype=np.int8)
        blut = np.array([MARKER, *bp], dtype=np.int8)  # indexed by lba + 1, so MARKER stays MARKER
        nb = self.lay.nb
        if list(vp) != sorted(vp):  # values are renamed (every value slot holds a value in range)
            g[:, self._value_cols] = vlut[g[:, self._value_cols]]
        lba = g[:, self._lba_cols]
        valid = g[:, self._lba_len] > self._lba_slot.T
        g[:, self._lba_cols] = np.where(valid, blut[lba + 1], 0)  # an unused slot's lba is 0: in range
        pl = g[:, self._path_lba]
        mirror_write = (g[:, [self._path_len]] > self._path_slot.T) & (g[:, self._path_kind] == MW)
        g[:, self._path_lba] = np.where(mirror_write, blut[np.clip(pl + 1, 0, nb)], pl)
        for q, _, _ in self._sorts:
            self._sort(g, q)
        return g

    def _sort(self, g: np.ndarray, q: str) -> None:
        """Sort the valid slots of a multiset in every vector (Python's tuple order), unused slots last.
        Renaming rarely reorders a multiset (only equal leading fields can swap), so only the vectors
        found out of order are sorted."""
        for name, len_col, cols in self._sorts:
            if name != q:
                continue
            cap = cols.shape[0]
            n = g[:, len_col]
            key = np.zeros((g.shape[0], cap), dtype=np.int64)
            for j in range(cols.shape[1]):
                key = key * _KEY_BASE + (g[:, cols[:, j]].astype(np.int64) + 1)
            key[np.arange(cap)[None, :] >= n[:, None]] = _INVALID_KEY
            unsorted = np.flatnonzero((key[:, 1:] < key[:, :-1]).any(axis=1))
            if not unsorted.size:
                return
            order = np.argsort(key[unsorted], axis=1, kind="stable")
            for j in range(cols.shape[1]):
                block = g[np.ix_(unsorted, cols[:, j])]
                g[np.ix_(unsorted, cols[:, j])] = np.take_along_axis(block, order, axis=1)

    def fold(self, rows: np.ndarray) -> None:
        """``model.symmetry.fold_resync_ids`` on every vector, in place: where A's resync counter is above 1,
        it becomes 1, and each ``Resynced`` on the path 1 if it names that resync, else 0 (the path stays
        sorted: see ``fold_resync_ids``). A folded vector is its own fold, so this is applied before the
        renamings, which do not touch either number."""
        rid = rows[:, self._resync_id]
        hit = np.flatnonzero(rid > 1)
        if not hit.size:
            return
        g = rows[hit]
        valid = g[:, [self._path_len]] > self._path_slot.T
        answer = valid & (g[:, self._path_kind] == RS)
        current = (g[:, self._path_a] == g[:, [self._resync_id]]).astype(np.int8)
        g[:, self._path_a] = np.where(answer, current, g[:, self._path_a])
        g[:, self._resync_id] = 1
        rows[hit] = g

    def canonical(self, rows: np.ndarray) -> np.ndarray:
        """Each vector (row, ``pack``ed to whole 64-bit words) replaced by the least vector of its orbit,
        ordering vectors by their 64-bit words, first word first, after folding A's resync counter
        (``fold``)."""
        if not self.enabled or rows.shape[0] == 0:
            return rows
        if (rows[:, self._resync_id] > 1).any():
            rows = rows.copy()  # the caller's rows stay as they are
            self.fold(rows)
        if len(self.group) <= 1:
            return rows
        best = rows
        at = np.arange(rows.shape[0])
        for perm in self.group[1:]:  # the identity is the vector itself
            img = self.apply(rows, perm)
            a, b = img.view(np.uint64), best.view(np.uint64)
            differ = a != b
            first = differ.argmax(axis=1)
            smaller = differ[at, first] & (a[at, first] < b[at, first])
            if smaller.any():
                if best is rows:
                    best = rows.copy()
                best[smaller] = img[smaller]
        return best
