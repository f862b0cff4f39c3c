"""Packed rows, the frontier engine's form of a state in its visited set: one row of ``int8`` slots per state,
padded to whole 64-bit words, and the keys made from them (a 64-bit fingerprint, or the row itself with
``--exact``). The compiled runtime (``checkers.frontier.codegen``'s ``RUNTIME_C``) computes the same
fingerprints in C; tests compare the two."""

from __future__ import annotations

import numpy as np

__all__ = ["DTYPE", "collision_probability", "exact_keys", "fingerprints", "first_occurrences", "pack",
           "padded_width", "unpack"]

DTYPE = np.int8
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def fingerprints(rows: np.ndarray) -> np.ndarray:
    """A 64-bit fingerprint of every packed vector (row): its 64-bit words, each folded in by xor, multiply
    and xor-shift, then a splitmix64 finish."""
    words = rows.view(np.uint64)
    h = np.full(rows.shape[0], np.uint64(0x243F6A8885A308D3), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            h ^= words[:, j]
            h *= _M1
            h ^= h >> np.uint64(29)
        h ^= h >> np.uint64(30)
        h *= _M2
        h ^= h >> np.uint64(27)
        h *= _M3
        h ^= h >> np.uint64(31)
    return h


def padded_width(w: int) -> int:
    """Slots per packed vector: ``w`` rounded up to whole 64-bit words."""
    return -(-w // 8) * 8


def pack(f: np.ndarray) -> np.ndarray:
    """A frontier (one row per slot, one column per state) as packed vectors: one row of bytes per state,
    padded with zeros to whole 64-bit words (what fingerprints, keys and symmetry work on)."""
    w, n = f.shape
    rows = np.zeros((n, padded_width(w)), dtype=DTYPE)
    rows[:, :w] = f.T
    return rows


def unpack(rows: np.ndarray, w: int) -> np.ndarray:
    """Packed vectors back to a frontier of ``w`` slots (what the encoding is evaluated on)."""
    return np.ascontiguousarray(rows[:, :w].T)


def exact_keys(rows: np.ndarray) -> np.ndarray:
    """Packed vectors as one opaque, orderable key each (``--exact``)."""
    return np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1]))).reshape(-1)


def first_occurrences(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct ``keys`` in order of first occurrence: the index of each one's first occurrence, and for
    every key the number of its distinct key in that order (``Runtime.dedupe`` computes the same in C).
    Sorting (stable, so each key's first row leads its run) is what np.unique does, minus its hash path, slow
    for 64-bit keys."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    lead = np.ones(sk.size, dtype=bool)
    lead[1:] = sk[1:] != sk[:-1]
    first = order[lead]  # the first row of each distinct key, in key order
    of = np.empty(sk.size, dtype=np.int64)
    of[order] = np.cumsum(lead) - 1  # each row's distinct key, in key order
    by_discovery = np.argsort(first, kind="stable")
    rank = np.empty_like(by_discovery)
    rank[by_discovery] = np.arange(by_discovery.size)
    return first[by_discovery], rank[of]


def collision_probability(states: int) -> float:
    """The chance that two of ``states`` distinct states share a 64-bit fingerprint, were fingerprints
    uniformly random (TLC's optimistic estimate): n(n-1)/2 / 2^64."""
    return states * (states - 1) / 2 / 2.0**64
