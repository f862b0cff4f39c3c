"""The frontier engine's compiled kernel: the encoding traced once into a term DAG (``trace``), generated as C
(``codegen``), built with the system C compiler, cached and loaded here.

Nothing of the protocol is written here. ``trace`` runs every action instance's guard and effect, and every
property, of ``checkers.symbolic.encoding`` once on a vector of *traced* terms: ``Traced`` is a numpy array
subclass, so the encoding's array branch (``ite`` -> ``np.where``, ``conj`` -> ``&``, comparisons, ``+``)
records each operation as a node instead of computing it, with no change to the encoding or to
``checkers.symbolic.terms``. Equal operations on equal arguments are one node (hash-consed), so a subterm the
encoding builds twice (``host_io_allowed`` in every HostWrite guard, a path slot read by every delivery) is
computed once. A change to the encoding (a new field, action or mutant) is traced on the next run: the
kernel is derived from what the encoding says then.

``c_source`` turns the DAG into three C functions over packed rows (one state per row, ``int8`` slots):
``pm_guards`` computes every instance's guard on every state (all guards of a state share their subterms),
``pm_effects`` computes the effect of each enabled (state, instance) only, writing each successor at the
place the numpy path puts it (instance-major, then source row), so both paths give the same successors in
the same order and hence the same state ids and traces; ``pm_props`` evaluates the properties. ``build``
compiles the source with the system C compiler into a shared library kept in the user's cache
(``$XDG_CACHE_HOME/pitmirror/kernels/<sha256 of the source>.so``), so a second run of the same bounds loads it
in milliseconds; ``ctypes`` calls it. Without a C compiler the engine stays on numpy.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pitmirror.checkers.frontier.codegen import RUNTIME_C, c_source
from pitmirror.checkers.frontier.symmetry import RowSymmetry
from pitmirror.checkers.frontier.trace import EventSpec, TraceError, trace
from pitmirror.checkers.symbolic.encoding import Encoding
from pitmirror.checkers.symbolic.terms import SV, Term

#: what this module offers (``trace`` and ``c_source`` are reached through it by the tests)
__all__ = ["RUNTIME_C", "CompileError", "Kernel", "Runtime", "TraceError", "build", "c_source", "cache_dir",
           "cannot_build", "compile_encoding", "compiler", "kernel_key", "prune_cache", "runtime_library", "touch",
           "trace"]


class CompileError(RuntimeError):
    """The C compiler is missing or failed on the generated source."""


# numpy ufunc name -> (C operator, arity); comparisons and logical operators yield 0/1


RUNTIME_CFLAGS = ("-O2", "-shared", "-fPIC", "-fwrapv", "-w")
CFLAGS = ("-Og", "-shared", "-fPIC", "-fwrapv", "-w")


def compiler() -> str | None:
    """The C compiler to use (``$CC``, else ``cc`` or ``gcc`` on the PATH), or ``None``."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    return None


def cannot_build() -> str | None:
    """Why no kernel could be built here (no C compiler, a cache folder that cannot be written), or ``None``."""
    if compiler() is None:
        return "no C compiler found (set CC, or install gcc)"
    folder = cache_dir()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not os.access(existing, os.W_OK):
        return f"the kernel cache {folder} cannot be written"
    return None


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$XDG_CACHE_HOME/pitmirror/kernels`` (``~/.cache`` by default)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "pitmirror" / "kernels"


#: the kernel cache is pruned whenever a kernel is built: a library unused (neither built nor loaded) for
#: KEEP_DAYS days goes, and of the rest only the KEEP_NEWEST most recently used stay (a kernel is about 1 MB at
#: the default bounds; every bounds, mutant, property selection and source edit is a kernel of its own)
KEEP_DAYS = 30
KEEP_NEWEST = 64
_STALE_BUILD = 3600.0  # seconds after which a build's temporary folder is a leftover of a killed run


def touch(library: Path) -> None:
    """Mark a cached library as used now (its mtime is what ``prune_cache`` ranks by)."""
    with contextlib.suppress(OSError):  # a read-only cache still loads; it is only ranked as older
        os.utime(library)


def prune_cache(folder: Path | None = None, keep: Collection[Path] = (), keep_days: float = KEEP_DAYS,
                keep_newest: int = KEEP_NEWEST, now: float | None = None) -> list[Path]:
    """Bound the kernel cache: remove each library (with its sidecar) unused for more than ``keep_days``
    days or beyond the ``keep_newest`` most recently used, never one of ``keep``; and what builds killed more than
    an hour ago left (temporary folders and sidecar files, sidecars without their library). Returns the
    libraries removed. Errors are ignored: another run may be pruning the same folder, and a library in use
    stays mapped in the processes that loaded it."""
    folder = cache_dir() if folder is None else folder
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    libraries: list[tuple[float, Path]] = []
    for e in entries:
        try:
            mtime = e.stat(follow_symlinks=False).st_mtime
            if e.name.endswith(".so") and e.is_file(follow_symlinks=False):
                libraries.append((mtime, Path(e.path)))
            elif ".json" in e.name and now - mtime > _STALE_BUILD and (
                    not e.name.endswith(".json") or not os.path.exists(os.path.join(folder, e.name[:-5] + ".so"))):
                os.unlink(e.path)  # the temporary sidecar of a killed run, or a sidecar without its library
            elif e.is_dir(follow_symlinks=False) and e.name.startswith("tmp") and now - mtime > _STALE_BUILD:
                shutil.rmtree(e.path, ignore_errors=True)
        except OSError:
            continue
    libraries.sort(key=lambda x: x[0], reverse=True)  # most recently used first
    kept = {Path(k).resolve() for k in keep}
    removed = []
    for rank, (mtime, lib) in enumerate(libraries):
        if lib.resolve() in kept or (rank < keep_newest and now - mtime <= keep_days * 86400):
            continue
        for f in (lib, lib.with_suffix(".json")):
            with contextlib.suppress(OSError):
                f.unlink()
        removed.append(lib)
    return removed


FORMAT = 2  # of the generated source and its sidecar: bump when ``c_source`` changes meaning


@functools.cache
def _sources_digest() -> str:
    """A digest of every source file the traced kernel can depend on: the state and properties (``spec``),
    the model, the encoding and term layer, the frontier's predicates and this module (not the engine's
    search, whose changes leave the kernel as it is). Computed once per process, near when the sources were
    imported, so a kernel built late in a long run is not filed under sources edited meanwhile."""
    import pitmirror.checkers.symbolic as symbolic
    import pitmirror.model as model
    import pitmirror.spec as spec

    here = Path(__file__).resolve().parent
    files = [here / "compiled.py", here / "trace.py", here / "codegen.py", here / "predicates.py"]
    for pkg in (spec, model, symbolic):
        files += sorted(Path(pkg.__file__ or "").resolve().parent.glob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def kernel_key(enc: Encoding, predicates: Sequence[str], cc: str) -> str:
    """The cache key of a kernel: the sources it is derived from, the bounds, the predicates, the compiler."""
    # the instances by name and by the functions that make them: an instance swapped at run time (a test's
    # stand-in) is a different kernel even though no source file changed
    insts = [f"{i.name}:{i.param}:{i.guard.__qualname__}:{i.effect.__qualname__}" for i in enc.instances]
    parts = (str(FORMAT), _sources_digest(), repr(enc.b), repr(enc.lay.vmax), *insts, "|", *predicates, cc, *CFLAGS)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


def build(source: str, target: Path, cc: str, flags: Sequence[str] = CFLAGS) -> None:
    """Compile ``source`` into the shared library ``target`` (atomically: a concurrent run sees no library or
    a whole one). ``CompileError`` when the compiler fails or the cache folder cannot be written."""
    try:
        _build(source, target, cc, flags)
    except OSError as e:
        raise CompileError(f"cannot build the kernel in {target.parent}: {e}") from None


def _build(source: str, target: Path, cc: str, flags: Sequence[str]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / "kernel.c"
        src.write_text(source)
        lib = Path(tmp) / "kernel.so"
        done = subprocess.run([cc, *flags, "-o", str(lib), str(src)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise CompileError(f"{cc} failed on the generated kernel: {done.stderr.strip()[:500]}")
        os.replace(lib, target)


_I8 = np.ctypeslib.ndpointer(np.int8, flags="C_CONTIGUOUS")
_U8 = np.ctypeslib.ndpointer(np.uint8, flags="C_CONTIGUOUS")
_I64 = np.ctypeslib.ndpointer(np.int64, flags="C_CONTIGUOUS")
_U64 = np.ctypeslib.ndpointer(np.uint64, flags="C_CONTIGUOUS")
_I32 = np.ctypeslib.ndpointer(np.int32, flags="C_CONTIGUOUS")
_N = ctypes.c_int64
_MAX_ROW, _MAX_FIELDS = 4096, 64  # pm_canonical's buffers: the widest row and multiset entry it takes


def _c_function(lib: ctypes.CDLL, name: str, argtypes: list[Any], restype: Any) -> Callable[..., Any]:
    """The C function ``name`` of ``lib`` with its argument and result types, as a Python callable that keeps
    Ctrl-C an interrupt: one that lands while ctypes converts an argument comes out of ctypes as
    ``ArgumentError("argument N: KeyboardInterrupt: ")``, with nothing chained, and would end the run as an
    internal error instead of a partial verdict."""
    fn = getattr(lib, name)
    fn.argtypes, fn.restype = argtypes, restype

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except ctypes.ArgumentError as e:
            if "KeyboardInterrupt" in str(e):
                raise KeyboardInterrupt from None
            raise

    return call


class Runtime:
    """The compiled fingerprints and canonical forms (``RUNTIME_C``), the same for every encoding."""

    def __init__(self, library: Path) -> None:
        lib = ctypes.CDLL(str(library))
        self._fingerprints = _c_function(lib, "pm_fingerprints", [_I8, _N, _N, _U64], None)
        self._canonical = _c_function(lib, "pm_canonical", [_I8, _N, _N, _N, _I32, _I8, _N, _I8, _N, _I32], _N)
        self._sym: tuple[Any, ...] | None = None
        self._visit_insert = _c_function(lib, "pm_visit_insert", [_U64, _I32, _N, _U64, _I32, _N], None)
        self._visit = _c_function(lib, "pm_visit", [_U64, _I32, _N, _U64, _N, _N, _N, _I32, _U8], _N)
        self._dedupe = _c_function(lib, "pm_dedupe", [_U64, _N, _U64, _I32, _N, _I64, _I64], _N)
        self._lookup = _c_function(lib, "pm_lookup", [_U64, _I32, _N, _U64, _N, _I32], None)
        self._local = threading.local()

    def scratch(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A work array of this thread, reused from call to call (contents undefined). A fresh array of tens of
        megabytes per frontier chunk costs the kernel's zeroing of every new page, which showed as the largest
        single item of a profile of a run; a reused one is paid for once."""
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape)) * dt.itemsize
        bufs: dict[str, np.ndarray] = self._local.__dict__.setdefault("bufs", {})
        buf = bufs.get(name)
        if buf is None or buf.size < nbytes:
            buf = bufs[name] = np.empty(nbytes + nbytes // 4, dtype=np.uint8)  # room to grow a little
        out: np.ndarray = buf[:nbytes].view(dt).reshape(shape)
        return out

    def visit_insert(self, table_keys: np.ndarray, table_ids: np.ndarray, keys: np.ndarray, ids: np.ndarray) -> None:
        """Put distinct keys, none in the table yet, with their ids into an open-addressing table."""
        self._visit_insert(table_keys, table_ids, table_ids.size, keys, ids, keys.size)

    def lookup(self, table_keys: np.ndarray, table_ids: np.ndarray, keys: np.ndarray, ids: np.ndarray) -> None:
        """The id of each key in an open-addressing table, into ``ids`` (-1: not there); reads only."""
        self._lookup(table_keys, table_ids, table_ids.size, keys, keys.size, ids)

    def visit(self, table_keys: np.ndarray, table_ids: np.ndarray, keys: np.ndarray, first_id: int, limit: int,
              ids: np.ndarray, is_new: np.ndarray) -> int:
        """``visited.HashVisited.add`` in the table (``limit`` -1: none); returns how many keys were new."""
        return int(self._visit(table_keys, table_ids, table_ids.size, keys, keys.size, first_id, limit, ids, is_new))

    def dedupe(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct ``keys`` in order of first occurrence: the index of each one's first occurrence, and
        for every key the number of its distinct key (what sorting the keys gives, in one pass)."""
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        slots = 1 << max(4, (2 * keys.size).bit_length())
        first = np.empty(keys.size, dtype=np.int64)
        of = np.empty(keys.size, dtype=np.int64)
        table_ids = self.scratch("dedupe_ids", (slots,), np.int32)
        table_ids.fill(-1)
        m = self._dedupe(keys, keys.size, self.scratch("dedupe_keys", (slots,), np.uint64), table_ids, slots, first,
                         of)
        return first[:m], of

    def fingerprints(self, rows: np.ndarray) -> np.ndarray:
        """``rows.fingerprints`` of packed rows, compiled."""
        rows = np.ascontiguousarray(rows)
        out = np.empty(rows.shape[0], dtype=np.uint64)
        self._fingerprints(rows, rows.shape[0], rows.shape[1], out)
        return out

    def use_symmetry(self, sym: RowSymmetry, width: int) -> None:
        """Take the renamings of ``sym`` for packed rows of ``width`` slots (``canonical`` applies them)."""
        orders, vluts, bluts, slots = sym.tables(width)
        if width > _MAX_ROW or sym.widest_entry() > _MAX_FIELDS:
            raise CompileError(f"rows of {width} slots are too wide for the compiled canonical form")
        self._sym = (len(orders), orders, vluts, vluts.shape[1], bluts, sym.lay.nb, slots)
        self._fold = sym.fold

    def canonical(self, rows: np.ndarray, in_place: bool = False) -> np.ndarray:
        """``RowSymmetry.canonical`` of packed rows, compiled: a new array, or ``rows`` itself rewritten when
        ``in_place`` (and it is a C-contiguous ``int8`` array)."""
        assert self._sym is not None, "use_symmetry first"
        nperm, orders, vluts, nvals, bluts, nb, slots = self._sym
        fits = in_place and rows.dtype == np.int8 and rows.flags.c_contiguous and rows.flags.writeable
        out = rows if fits else np.array(rows, dtype=np.int8, order="C")
        self._fold(out)  # a few whole-array operations on the rare rows with a resync counter above 1
        if nperm and out.shape[0] and self._canonical(out, out.shape[0], out.shape[1], nperm, orders, vluts, nvals,
                                                      bluts, nb, slots):
            raise MemoryError("the compiled canonical form could not allocate its tables")
        return out


def runtime_library() -> Path:
    """The shared library of ``RUNTIME_C``: built once per machine and compiler, then taken from the cache."""
    cc = compiler()
    if cc is None:
        raise CompileError("no C compiler found (set CC, or install gcc)")
    digest = hashlib.sha256("\0".join((RUNTIME_C, cc, *RUNTIME_CFLAGS)).encode()).hexdigest()[:32]
    library = cache_dir() / f"runtime-{digest}.so"
    if library.exists():
        touch(library)
    else:
        build(RUNTIME_C, library, cc, RUNTIME_CFLAGS)
    return library


class Kernel(Runtime):
    """A compiled encoding: successors and predicates of whole frontiers of packed rows (and the runtime's
    fingerprints and canonical forms)."""

    def __init__(self, library: Path, pairs: Sequence[tuple[int, int]], predicates: Sequence[str],
                 cached: bool, events: Sequence[str] = ()) -> None:
        super().__init__(runtime_library())
        self.library = library
        self.cached = cached  # loaded from the cache, not compiled by this run
        self.npairs = len(pairs)
        self.predicate_names = list(predicates)
        self.event_names = list(events)
        lib = ctypes.CDLL(str(library))
        self._guards = _c_function(lib, "pm_guards", [_I8, _N, _N, _U8, _I64], _N)
        self._effects = _c_function(lib, "pm_effects", [_I8, _N, _N, _U8, _I64, _I8, _I64, _I64, _U8], _N)
        self._props = _c_function(lib, "pm_props", [_I8, _N, _N, _U8], None)
        self.pair_inst = np.array([a for a, _ in pairs], dtype=np.int16)
        self.pair_param = np.array([v for _, v in pairs], dtype=np.int16)

    def successors(self, packed: np.ndarray, hits: dict[str, tuple[int, int, int]] | None = None,
                   found: Collection[str] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """Every successor of every row of ``packed`` (instance-major, then source row, as the numpy path
        orders them): the packed successors, their source rows, instances and parameters, and -1; or, when a
        successor outgrows a capacity, ``row * pairs + pair`` of the first such one last. With ``hits``, the
        first step (source row, instance, parameter; in that order too) of each compiled event not in
        ``hits`` or ``found`` yet is added to it. The successors' array is this thread's scratch: the next
        call from the same thread overwrites it (copy what must stay)."""
        packed = np.ascontiguousarray(packed)
        n, wp = packed.shape
        g = self.scratch("guards", (n * self.npairs,), np.uint8)
        counts = np.zeros(self.npairs, dtype=np.int64)
        self._guards(packed, n, wp, g, counts)
        starts = np.concatenate(([0], np.cumsum(counts)))
        total = int(starts[-1])
        out = self.scratch("successors", (total, wp), np.int8)
        src = np.empty(total, dtype=np.int64)
        want = np.array([hits is not None and e not in hits and e not in found for e in self.event_names]
                        + [False], dtype=np.uint8)  # (one more: never an empty array)
        hit = np.full(max(1, len(self.event_names) * self.npairs), -1, dtype=np.int64)
        bad = self._effects(packed, n, wp, g, np.ascontiguousarray(starts[:-1]), out, src, hit, want)
        if hits is not None and want.any():
            first = hit[: len(self.event_names) * self.npairs].reshape(len(self.event_names), max(1, self.npairs))
            for e, name in enumerate(self.event_names):
                pair = np.flatnonzero(first[e] >= 0)
                if want[e] and pair.size:  # the first pair in the numpy path's order, at its first row
                    k = int(pair[0])
                    hits[name] = (int(first[e, k]), int(self.pair_inst[k]), int(self.pair_param[k]))
        return out, src, np.repeat(self.pair_inst, counts), np.repeat(self.pair_param, counts), int(bad)

    def predicates(self, packed: np.ndarray) -> dict[str, np.ndarray]:
        """Every compiled predicate on every row of ``packed``."""
        packed = np.ascontiguousarray(packed)
        n, wp = packed.shape
        res = np.empty(len(self.predicate_names) * n, dtype=np.uint8)
        self._props(packed, n, wp, res)
        m = res.view(bool).reshape(len(self.predicate_names), n)
        return {name: m[k] for k, name in enumerate(self.predicate_names)}


def compile_encoding(enc: Encoding, predicates: dict[str, Callable[[SV], Term]], build_missing: bool = True,
                     events: dict[str, EventSpec] | None = None) -> Kernel | None:
    """The kernel of ``enc``, ``predicates`` and the witnesses' ``events``: loaded from the cache when these
    sources and bounds were compiled before (no tracing then), else traced, generated, compiled and cached
    (``None`` instead when not ``build_missing``). Raises ``CompileError`` without a working C compiler,
    ``TraceError`` when the encoding cannot be traced."""
    cc = compiler()
    if cc is None:
        raise CompileError("no C compiler found (set CC, or install gcc)")
    events = events or {}
    key = kernel_key(enc, [*predicates, "|", *(f"{n}:{a}" for n, (a, _) in events.items())], cc)
    library = cache_dir() / f"{key}.so"
    sidecar = library.with_suffix(".json")
    if library.exists() and sidecar.exists():
        try:
            meta = json.loads(sidecar.read_text())
            pairs = [(int(a), int(v)) for a, v in meta["pairs"]]
            if (meta["predicates"] == list(predicates) and meta["events"] == list(events)
                    and all(0 <= a < len(enc.instances) for a, _ in pairs)):
                touch(library)
                return Kernel(library, pairs, meta["predicates"], cached=True, events=meta["events"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry: build it again
    if not build_missing:
        return None
    te = trace(enc, predicates, events)
    build(c_source(te), library, cc)
    pairs = [(p.inst, p.param) for p in te.pairs]
    tmp = sidecar.with_suffix(f".json.{os.getpid()}")
    try:
        tmp.write_text(json.dumps({"pairs": pairs, "predicates": list(te.predicates), "events": te.events}))
        os.replace(tmp, sidecar)
    except OSError:
        pass  # the library is built and loads; without its sidecar the next run builds it again
    prune_cache(library.parent, keep=(library, runtime_library()))
    return Kernel(library, pairs, list(te.predicates), cached=False, events=te.events)
