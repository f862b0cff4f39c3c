"""Symmetry reduction on whole frontiers: ``model.symmetry``'s renamings applied to the columns of the state
vector, and one exact canonical representative per orbit.

The renamings are the object engine's (``model.symmetry.symmetry_group``: blocks permuted, non-zero values
permuted, 0 fixed), applied field by field as ``model.symmetry.FIELD_TRANSFORMS`` does: volumes and images
move their blocks and rename their values, ``dirty`` moves its blocks, records, in-flight entries, history
entries and mirror writes rename their LBA (``MARKER`` stays) and value, and the two multisets kept sorted by
the model (the path and R's buffer) are sorted again afterwards. Only valid slots are renamed, so unused slots
stay zero and one state keeps exactly one vector. ``tests/test_frontier.py`` proves, state by state, that the
image of a vector here is the vector of ``model.symmetry.apply_perm`` of the state.

The canonical form of a vector is the lexicographically least image over the whole group (in layout order):
a function of the orbit alone, so the number of canonical vectors equals the number of orbits, the object
engine's count with symmetry on.
"""

from __future__ import annotations

import numpy as np

from pitmirror.checkers.symbolic.terms import Layout
from pitmirror.model.symmetry import Perm, symmetry_group
from pitmirror.spec.state import MARKER, MessageKind

#: volumes whose blocks move and whose values are renamed (``_vol`` / ``_recovery`` / ``_maybe_vol``)
VALUE_VOLUMES = ("primary", "base", "remote", "replica_base", "ghost_base", "recovery.target_image",
                 "recovery.start_image", "recovery_ended.target_image", "recovery_ended.start_image",
                 "retired_image")
#: volumes whose blocks move and hold no data value (``_dirty``)
POSITION_VOLUMES = ("dirty",)
#: bounded sequences of (.., lba, value, ..) entries, in order (``_records``, ``_in_flight``, ``_history``)
ENTRY_SEQUENCES = ("journal", "journal_cache", "remote_journal", "in_flight", "history")
#: bounded sequences that are multisets the model keeps sorted (``_sorted_records``, ``_path``)
SORTED_SEQUENCES = ("remote_buffer", "path")

#: the State fields renamed above (tests/test_frontier.py: exactly those ``model.symmetry`` renames)
RENAMED_FIELDS = {"primary", "base", "remote", "replica_base", "ghost_base", "recovery", "recovery_ended",
            "retired_image", "dirty", "journal", "journal_cache", "remote_journal", "in_flight", "history",
            "remote_buffer", "path"}

MW = int(MessageKind.MIRROR_WRITE)
_KEY_BASE = 128  # every field of a path message or record is in -1 .. 126 at any bounds RANGES allows
_INVALID_KEY = np.int64(1) << 62


class RowSymmetry:
    """Renamings and canonical forms of frontiers, as ``(slots, states)`` int8 arrays of one ``Layout``."""

    def __init__(self, lay: Layout, values: int, enabled: bool = True) -> None:
        self.lay = lay
        self.enabled = enabled
        self.group: list[Perm] = symmetry_group(lay.nb, values) if enabled else []
        self.group_size = max(1, len(self.group))
        self.col = {n: k for k, n in enumerate(lay.names)}

    def _vol_cols(self, name: str) -> list[int]:
        return [self.col[f"{name}.{i}"] for i in range(self.lay.nb)]

    def apply(self, f: np.ndarray, perm: Perm) -> np.ndarray:
        """The image of every vector of frontier ``f`` under one renaming."""
        bp, vp = perm
        col, lay = self.col, self.lay
        g = f.copy()
        vlut = np.array(vp, dtype=np.int8)
        blut = np.array([MARKER, *bp], dtype=np.int8)  # indexed by lba + 1, so MARKER stays MARKER
        nv, nb = len(vp), lay.nb
        for name in VALUE_VOLUMES:
            cols = self._vol_cols(name)
            for i, c in enumerate(cols):
                g[cols[bp[i]]] = vlut[f[c]]
        for name in POSITION_VOLUMES:
            cols = self._vol_cols(name)
            for i, c in enumerate(cols):
                g[cols[bp[i]]] = f[c]
        for q in (*ENTRY_SEQUENCES, "remote_buffer"):
            n = f[col[f"{q}.len"]]
            for i in range(lay.caps[q]):
                lc, vc = col[f"{q}.{i}.lba"], col[f"{q}.{i}.value"]
                g[lc] = np.where(i < n, blut[np.clip(f[lc] + 1, 0, nb)], 0)
                g[vc] = vlut[np.clip(f[vc], 0, nv - 1)]  # unused slots hold value 0, which stays 0
        n = f[col["path.len"]]
        for i in range(lay.caps["path"]):
            kc, bc, cc = col[f"path.{i}.kind"], col[f"path.{i}.b"], col[f"path.{i}.c"]
            mirror_write = (i < n) & (f[kc] == MW)  # only a mirror write carries an lba and a value
            g[bc] = np.where(mirror_write, blut[np.clip(f[bc] + 1, 0, nb)], f[bc])
            g[cc] = np.where(mirror_write, vlut[np.clip(f[cc], 0, nv - 1)], f[cc])
        for q in SORTED_SEQUENCES:
            self._sort(g, q)
        return g

    def _sort(self, g: np.ndarray, q: str) -> None:
        """Sort the valid slots of a multiset in every vector (Python's tuple order), unused slots last."""
        cap = self.lay.caps[q]
        if cap < 2:
            return
        fields = self.lay.subs[q]
        n = g[self.col[f"{q}.len"]]
        cols = np.array([[self.col[f"{q}.{i}.{f}"] for f in fields] for i in range(cap)])  # (cap, fields)
        key = np.zeros((cap, g.shape[1]), dtype=np.int64)
        for j in range(len(fields)):
            key = key * _KEY_BASE + (g[cols[:, j]].astype(np.int64) + 1)
        key[np.arange(cap)[:, None] >= n[None, :]] = _INVALID_KEY
        order = np.argsort(key, axis=0, kind="stable")
        for j in range(len(fields)):
            g[cols[:, j]] = np.take_along_axis(g[cols[:, j]], order, axis=0)

    def canonical(self, f: np.ndarray) -> np.ndarray:
        """Each vector of ``f`` replaced by the lexicographically least vector of its orbit."""
        if not self.enabled or len(self.group) <= 1 or f.shape[1] == 0:
            return f
        best = f
        cols = np.arange(f.shape[1])
        for perm in self.group[1:]:  # the identity is the vector itself
            img = self.apply(f, perm)
            differ = img != best
            first = differ.argmax(axis=0)
            smaller = differ[first, cols] & (img[first, cols] < best[first, cols])
            if smaller.any():
                if best is f:
                    best = f.copy()
                best[:, smaller] = img[:, smaller]
        return best
