"""C generated from the traced encoding (``checkers.frontier.trace``), and the runtime every kernel shares.

``c_source`` turns the DAG into C functions over packed rows (one state per row, ``int8`` slots):
``pm_guards`` computes every instance's guard on every state (all guards of a state share their subterms),
``pm_effects`` computes the effect (and the witness events) of each enabled (state, instance) only, writing
each successor at the place the numpy path puts it (instance-major, then source row), so both paths give the
same successors in the same order and hence the same state ids and traces; ``pm_props`` evaluates the
properties. ``RUNTIME_C`` is the part that does not depend on the encoding: fingerprints, canonical forms
and the visited set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pitmirror.checkers.frontier.trace import BINARY, Traced, TracedEncoding, is_bool
from pitmirror.spec.state import MessageKind


def _atom(x: Any) -> str:
    if isinstance(x, Traced):
        return f"t{x.nid}"
    return str(int(x))


def _expr(n: Traced) -> str:
    op, a = n.op, n.args
    if op == "var":
        return f"s[{int(a[0])}]"
    if op == "ite":
        return f"{_atom(a[0])} ? {_atom(a[1])} : {_atom(a[2])}"
    if op == "b2i":
        return _atom(a[0])
    if op in ("invert", "logical_not"):
        return f"!{_atom(a[0])}" if is_bool(a[0]) or op == "logical_not" else f"~{_atom(a[0])}"
    if op == "negative":
        return f"-{_atom(a[0])}"
    return f"{_atom(a[0])} {BINARY[op]} {_atom(a[1])}"


def _needed(roots: Sequence[Any], done: set[int]) -> list[Traced]:
    """The nodes ``roots`` depend on that are not in ``done``, in an order that computes arguments first
    (node ids are already such an order: a node is made after its arguments)."""
    out: dict[int, Traced] = {}
    stack = [r for r in roots if isinstance(r, Traced)]
    while stack:
        n = stack.pop()
        if n.nid in out or n.nid in done:
            continue
        out[n.nid] = n
        stack.extend(x for x in n.args if isinstance(x, Traced))
    return [out[k] for k in sorted(out)]


def _lines(nodes: list[Traced], indent: str) -> list[str]:
    return [f"{indent}const int t{n.nid} = {_expr(n)};" for n in nodes]


def c_source(te: TracedEncoding) -> str:
    """The C kernel of a traced encoding (see the module docstring for its three functions)."""
    np_ = len(te.pairs)
    out = ["#include <stdint.h>", "#include <string.h>", f"#define NPAIRS {np_}", ""]
    # guards: every guard of a state at once, sharing subterms
    guards = [p.guard for p in te.pairs]
    out += ["int64_t pm_guards(const int8_t *rows, int64_t n, int64_t wp, uint8_t *g, int64_t *counts) {",
            "  for (int64_t i = 0; i < n; i++) {", "    const int8_t *s = rows + i * wp;",
            "    uint8_t *gi = g + i * NPAIRS;"]
    out += _lines(_needed(guards, set()), "    ")
    for k, gd in enumerate(guards):
        out.append(f"    gi[{k}] = ({_atom(gd)}) != 0; counts[{k}] += gi[{k}];")
    out += ["  }", "  return 0;", "}", ""]
    # effects: one function per pair (small functions keep the compiler's time linear in the source), called
    # only where the guard holds; each successor at its place (pos[k]: the next row of pair k). A witness's
    # event is evaluated on the step only while it is wanted (want[e]) and this pair has not hit it yet in
    # this call: hit[e * NPAIRS + k] is the first row where it holds (rows ascend), -1 while none does
    for k, p in enumerate(te.pairs):
        out.append(f"static int eff{k}(const int8_t *s, int8_t *o, int64_t i, int64_t *hit, const uint8_t *want) {{")
        body = _needed([*p.writes.values(), p.fits], set())
        out += _lines(body, "  ")
        out += [f"  o[{col}] = (int8_t)({_atom(x)});" for col, x in p.writes.items()]
        done = {n.nid for n in body}
        for e, ev in p.events.items():
            out.append(f"  if (want[{e}] && hit[{e} * NPAIRS + {k}] < 0) {{")
            out += _lines(_needed([ev], done), "    ")  # its own nodes: the effect's are in scope already
            out += [f"    if ({_atom(ev)}) hit[{e} * NPAIRS + {k}] = i;", "  }"]
        out += [f"  return ({_atom(p.fits)}) != 0;", "}", ""]
    out += ["int64_t pm_effects(const int8_t *rows, int64_t n, int64_t wp, const uint8_t *g, int64_t *pos,",
            "                   int8_t *out, int64_t *src, int64_t *hit, const uint8_t *want) {",
            "  for (int64_t i = 0; i < n; i++) {", "    const int8_t *s = rows + i * wp;",
            "    const uint8_t *gi = g + i * NPAIRS;"]
    for k in range(np_):
        out += [f"    if (gi[{k}]) {{", f"      int64_t at = pos[{k}]++;", "      int8_t *o = out + at * wp;",
                "      memcpy(o, s, wp);", "      src[at] = i;",
                f"      if (!eff{k}(s, o, i, hit, want)) return i * NPAIRS + {k};  /* outgrows a capacity */", "    }"]
    out += ["  }", "  return -1;", "}", ""]
    # predicates: one row of results per predicate
    preds = list(te.predicates.values())
    out += ["void pm_props(const int8_t *rows, int64_t n, int64_t wp, uint8_t *res) {",
            "  for (int64_t i = 0; i < n; i++) {", "    const int8_t *s = rows + i * wp;"]
    out += _lines(_needed(preds, set()), "    ")
    out += [f"    res[{k} * n + i] = ({_atom(x)}) != 0;" for k, x in enumerate(preds)]
    out += ["  }", "}", ""]
    return "\n".join(out)


# The part of the kernel that is not traced: fingerprints (``rows.fingerprints``) and canonical forms
# (``symmetry.RowSymmetry.canonical``) of packed rows, written out once here from the numpy versions and
# compared with them by tests/test_frontier.py. The renamings come in as ``RowSymmetry.tables``.
RUNTIME_C = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#define PM_MIRROR_WRITE @MIRROR_WRITE@

static const uint64_t FP_SEED = 0x243F6A8885A308D3ULL, FP_M1 = 0x9E3779B97F4A7C15ULL,
    FP_M2 = 0xBF58476D1CE4E5B9ULL, FP_M3 = 0x94D049BB133111EBULL;

void pm_fingerprints(const int8_t *rows, int64_t n, int64_t wp, uint64_t *out) {
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = FP_SEED, w;
    for (int64_t j = 0; j < wp; j += 8) {
      memcpy(&w, rows + i * wp + j, 8);
      h ^= w; h *= FP_M1; h ^= h >> 29;
    }
    h ^= h >> 30; h *= FP_M2; h ^= h >> 27; h *= FP_M3; h ^= h >> 31;
    out[i] = h;
  }
}

/* the image of one row under one renaming (RowSymmetry.apply) */
static void pm_apply(const int8_t *row, int8_t *g, int64_t wp, const int32_t *order, const int32_t *moved,
                     int32_t nmoved, const int8_t *vlut, int rename_values, const int8_t *blut, int nb,
                     const int32_t *t) {
  /* g[j] = row[order[j]] for every slot: a copy, then the few slots a renaming moves (the blocks of volumes) */
  memcpy(g, row, wp);
  for (int32_t k = 0; k < nmoved; k++) g[moved[k]] = row[order[moved[k]]];
  int32_t nv = *t++;
  if (rename_values) for (int32_t k = 0; k < nv; k++) g[t[k]] = vlut[g[t[k]]];
  t += nv;
  int32_t nl = *t++;
  for (int32_t k = 0; k < nl; k++, t += 3) g[t[0]] = g[t[1]] > t[2] ? blut[g[t[0]] + 1] : 0;
  int32_t plen = *t++, np = *t++;
  for (int32_t k = 0; k < np; k++, t += 3) {
    if (g[plen] > t[2] && g[t[0]] == PM_MIRROR_WRITE) {
      int x = g[t[1]] + 1;
      g[t[1]] = blut[x < 0 ? 0 : x > nb ? nb : x];
    }
  }
  int32_t ns = *t++;
  for (int32_t q = 0; q < ns; q++) {  /* insertion sort of the valid slots of a multiset */
    int32_t lenc = t[0], cap = t[1], nf = t[2];
    const int32_t *c = t + 3;
    int32_t n = g[lenc];
    if (n > cap) n = cap;
    for (int32_t i = 1; i < n; i++) {
      int8_t key[64];
      for (int32_t f = 0; f < nf; f++) key[f] = g[c[i * nf + f]];
      int32_t j = i - 1;
      for (; j >= 0; j--) {
        int cmp = 0;
        for (int32_t f = 0; f < nf && !cmp; f++) cmp = (g[c[j * nf + f]] > key[f]) - (g[c[j * nf + f]] < key[f]);
        if (cmp <= 0) break;
        for (int32_t f = 0; f < nf; f++) g[c[(j + 1) * nf + f]] = g[c[j * nf + f]];
      }
      for (int32_t f = 0; f < nf; f++) g[c[(j + 1) * nf + f]] = key[f];
    }
    t += 3 + cap * nf;
  }
}

static int pm_less(const int8_t *a, const int8_t *b, int64_t wp) {  /* by 64-bit words, first word first */
  for (int64_t j = 0; j < wp; j += 8) {
    uint64_t x, y;
    memcpy(&x, a + j, 8); memcpy(&y, b + j, 8);
    if (x != y) return x < y;
  }
  return 0;
}

int64_t pm_canonical(int8_t *rows, int64_t n, int64_t wp, int64_t nperm, const int32_t *orders,
                  const int8_t *vluts, int64_t nvals, const int8_t *bluts, int64_t nb, const int32_t *t) {
  int8_t img[4096], best[4096];
  /* per renaming: the slots it moves, and whether it renames values (one that moves only blocks leaves every
     value slot as it is) */
  int32_t *moved = malloc(sizeof(int32_t) * (size_t)(nperm * wp + 1));
  int32_t *nmoved = malloc(sizeof(int32_t) * (size_t)(nperm + 1));
  int8_t *renames = malloc((size_t)nperm + 1);
  if (!moved || !nmoved || !renames) { free(moved); free(nmoved); free(renames); return -1; }
  for (int64_t p = 0; p < nperm; p++) {
    nmoved[p] = 0;
    for (int64_t j = 0; j < wp; j++)
      if (orders[p * wp + j] != j) moved[p * wp + nmoved[p]++] = (int32_t)j;
    renames[p] = 0;
    for (int64_t v = 0; v < nvals; v++) renames[p] |= vluts[p * nvals + v] != v;
  }
  for (int64_t i = 0; i < n; i++) {
    int8_t *row = rows + i * wp;
    memcpy(best, row, wp);
    for (int64_t p = 0; p < nperm; p++) {
      pm_apply(row, img, wp, orders + p * wp, moved + p * wp, nmoved[p], vluts + p * nvals, renames[p],
               bluts + p * (nb + 1), (int)nb, t);
      if (pm_less(img, best, wp)) memcpy(best, img, wp);
    }
    memcpy(row, best, wp);
  }
  free(moved); free(nmoved); free(renames);
  return 0;
}

/* the visited set (visited.HashVisited): open addressing, linear probing, a free slot has id -1 */
static inline uint64_t pm_slot(uint64_t key, uint64_t mask) { return (key * 0x9E3779B97F4A7C15ULL >> 17) & mask; }

void pm_visit_insert(uint64_t *tk, int32_t *ti, int64_t slots, const uint64_t *keys, const int32_t *ids, int64_t n) {
  uint64_t mask = (uint64_t)slots - 1;
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = pm_slot(keys[i], mask);
    while (ti[h] >= 0) h = (h + 1) & mask;
    tk[h] = keys[i]; ti[h] = ids[i];
  }
}

/* the distinct keys of a frontier's successors in discovery order (engine.FrontierChecker.expand): first[m]
   is the first row with the m-th distinct key, of[i] the number of row i's key; tk/ti a free table of slots
   (a power of two above n) */
int64_t pm_dedupe(const uint64_t *keys, int64_t n, uint64_t *tk, int32_t *ti, int64_t slots, int64_t *first,
                  int64_t *of) {
  uint64_t mask = (uint64_t)slots - 1;
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = pm_slot(keys[i], mask);
    while (ti[h] >= 0 && tk[h] != keys[i]) h = (h + 1) & mask;
    if (ti[h] >= 0) { of[i] = ti[h]; continue; }
    tk[h] = keys[i]; ti[h] = (int32_t)m; first[m] = i; of[i] = m; m++;
  }
  return m;
}

void pm_lookup(const uint64_t *tk, const int32_t *ti, int64_t slots, const uint64_t *keys, int64_t n, int32_t *ids) {
  uint64_t mask = (uint64_t)slots - 1;
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = pm_slot(keys[i], mask);
    while (ti[h] >= 0 && tk[h] != keys[i]) h = (h + 1) & mask;
    ids[i] = ti[h];  /* -1: a free slot, the key is not there */
  }
}

int64_t pm_visit(uint64_t *tk, int32_t *ti, int64_t slots, const uint64_t *keys, int64_t n, int64_t first_id,
                 int64_t limit, int32_t *ids, uint8_t *is_new) {
  uint64_t mask = (uint64_t)slots - 1;
  int64_t next = first_id;
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = pm_slot(keys[i], mask);
    while (ti[h] >= 0 && tk[h] != keys[i]) h = (h + 1) & mask;
    is_new[i] = 0;
    if (ti[h] >= 0) { ids[i] = ti[h]; continue; }
    if (limit >= 0 && next >= limit) { ids[i] = -1; continue; }
    tk[h] = keys[i]; ti[h] = (int32_t)next; ids[i] = (int32_t)next; is_new[i] = 1; next++;
  }
  return next - first_id;
}
""".replace("@MIRROR_WRITE@", str(int(MessageKind.MIRROR_WRITE)))
