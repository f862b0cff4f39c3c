"""``pitmirror trace validate LOG...``: a real run's event logs replayed on the model, step by step.

As etcd raft checks its logs against its TLA+ spec: the served arrays (impl/device/) log every protocol
step they take in the model's action vocabulary; this module merges the logs of both arrays and replays
them on ``MirrorModel``. Every step must be one the model enables in the state reached so far, and after
every step every safety property must hold (except an expected trade-off of a recovery kind the run used,
``spec.properties.EXPECTED_TRADE_OFFS``, reported as such). A rejected log becomes a trace (the
``pitmirror-trace`` format, ``source: impl``) ending at the first divergent step.

Merging. Each line carries ``t``, CLOCK_MONOTONIC nanoseconds of the machine both arrays run on; the
merged log is sorted by ``(t, array, n)``, which is real-time order and therefore respects causality (a
message is sent, at A's step, before R's ``Deliver`` of it is stamped).

The abstraction from 4 KiB blocks to the model's small values. The model's values only ever move within
one block (P[lba] -> S[lba], J's record for lba, B[lba]), so a value need only be consistent per block:
at each LBA, the distinct contents written there are numbered in the order they first appear in the log
(``digest`` names a content: "0" is a block of zeros and maps to value 0, the initial content). Equal
bytes get equal values and different bytes different ones, so P == S in the model exactly when it holds
for the real blocks (up to 64-bit BLAKE2b collisions). Blocks the run never wrote stay zero on every
volume in both worlds, so only the LBAs the log names become model blocks, numbered in LBA order (so the
range of a multi-block write stays a range).

A write of several blocks (an NBD write's chunk: one record, one ``MirrorWrite``) logs its ``length`` and
the digest of each block, and the model writes one value to each of its blocks: the value those blocks'
contents already share if they do, else a value new at every block it covers, which then also stands for
that block's content. A block may so get two values for the same bytes (a chunk that rewrote bytes the block
held already): a one-block mirrored write whose content has several values takes the one the model's
message carries. Exact but for one case: a write-through recovery compares bytes, the model values, so a
block rewritten with the bytes it held may be one the model still sees as differing from the target.

The model is then bounded to the run: that many blocks, the highest value given + 1 values, writes as
long as the longest it logged (``write_blocks``),
the run's host writes, markers, faults and recoveries, and the array's journal capacity and in-flight
limit (``--journal-capacity`` / ``--concurrency``).

Enabledness is asked of the model's own guards (``MirrorModel._actions``, in its fixed order, stopped at
the first match), with the ``values`` range narrowed to the step's own value so a real-sized run does not
enumerate every (block, value) pair. The recovery kind bound is the kind of the recovery in progress.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pitmirror.checkers.traces.trace import ENABLED, RunBounds, Trace
from pitmirror.model.actions import Action, action_from_json
from pitmirror.model.config import Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec import actions as spec_actions
from pitmirror.spec.properties import EXPECTED_TRADE_OFFS, SAFETY, Property
from pitmirror.spec.state import MARKER, FencePolicy, RecoveryKind, State


class LogError(ValueError):
    """An event log is unreadable or not one a served array writes: a usage error."""


@dataclass
class Validation:
    """The verdict: ``ok``, the steps replayed, the first divergent step (1-based) and why, the
    properties shown as expected trade-offs, and the trace of the replay up to where it stopped."""

    ok: bool
    steps: int
    bounds: Bounds
    failed_step: int | None = None
    reason: str = ""
    property: Property | None = None
    trade_offs: dict[str, str] = field(default_factory=dict)
    taken: list[tuple[Action | None, State]] = field(default_factory=list, repr=False)
    blocks: int = 0
    values: int = 0

    def trace(self) -> dict[str, Any]:
        """The replay as a ``pitmirror-trace`` document (built on demand: a long run's is large)."""
        note = self.reason or "the log validates"
        return Trace("impl", self.bounds, self.property or ENABLED, "violated" if not self.ok else "witness",
                     self.taken, note=note).to_dict()


def read_logs(paths: list[Path]) -> list[dict[str, Any]]:
    """Every line of every log, merged in real-time order."""
    events: list[dict[str, Any]] = []
    for path in paths:
        try:
            lines = path.read_text().splitlines()
        except OSError as e:
            raise LogError(f"cannot read {path}: {e.strerror or e}") from None
        for i, line in enumerate(lines, 1):
            try:
                ev = json.loads(line)
                if not isinstance(ev, dict) or not isinstance(ev.get("action"), str) \
                        or not isinstance(ev.get("t"), int) or ev.get("array") not in ("A", "R") \
                        or not isinstance(ev.get("args"), dict):
                    raise ValueError("not an event")
            except ValueError:
                raise LogError(f"{path}:{i}: not an event line of a served array") from None
            events.append(ev)
    events.sort(key=lambda e: (e["t"], e["array"], e.get("n", 0)))
    return events


class _Abstraction:
    """Real LBAs -> model blocks, and per block content digests -> model values."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        # every LBA a write covers, in LBA order: a run of contiguous real blocks stays contiguous in the model,
        # as a multi-block write needs (numbering in order of first appearance would scatter a range)
        written: set[int] = set()
        for ev in events:
            args = ev.get("args", {})
            m = args.get("message", {}) if isinstance(args.get("message"), dict) else {}
            for w in (args, m):
                if "lba" in w and int(w["lba"]) != MARKER:
                    written.update(range(int(w["lba"]), int(w["lba"]) + len(w.get("digests", [0]))))
        self.lbas: dict[int, int] = {lba: i for i, lba in enumerate(sorted(written))}
        self.values: dict[int, dict[str, int]] = {}  # per LBA: content digest -> its first value
        self.content: dict[int, dict[int, str]] = {}  # per LBA: value -> the content it stands for
        self.chunks: dict[str, int] = {}  # a multi-block write (LBA and digests) -> its value
        self.length = max((len(w.get("digests", [0])) for ev in events
                           for w in (ev.get("args", {}), ev.get("args", {}).get("message") or {})
                           if isinstance(w, dict)), default=1)

    def block(self, lba: int) -> int:
        if lba == MARKER:
            return MARKER
        return self.lbas[lba]

    def value(self, lba: int, digest: str) -> int:
        """A one-block write's value: the first value whose content at ``lba`` is ``digest``."""
        if lba == MARKER or digest == "0":
            return 0
        seen = self.values.setdefault(lba, {})
        if digest not in seen:
            seen[digest] = self.top(lba) + 1
            self.content.setdefault(lba, {})[seen[digest]] = digest
        return seen[digest]

    def candidates(self, lba: int, digest: str) -> list[int]:
        """Every value whose content at ``lba`` is ``digest`` (more than one only after a multi-block write
        gave bytes the block already held a value of their own), the first first."""
        first = self.value(lba, digest)
        return [first, *sorted(v for v, d in self.content.get(lba, {}).items() if d == digest and v != first)]

    def chunk_value(self, lba: int, digests: list[str]) -> int:
        """A multi-block write's one value (see the module docstring)."""
        key = f"{lba}:{','.join(digests)}"
        if key in self.chunks:
            return self.chunks[key]
        known = {0 if d == "0" else self.values.get(lba + i, {}).get(d) for i, d in enumerate(digests)}
        if len(known) == 1 and None not in known:
            value = known.pop()
            assert value is not None
        else:
            value = 1 + max(self.top(b) for b in range(lba, lba + len(digests)))
            for i, d in enumerate(digests):
                self.content.setdefault(lba + i, {})[value] = d
                if d != "0":
                    self.values.setdefault(lba + i, {}).setdefault(d, value)
        self.chunks[key] = value
        return value

    def top(self, lba: int) -> int:
        """The highest value given at ``lba`` so far (0: none)."""
        return max(self.content.get(lba, {}), default=0)

    def action(self, ev: dict[str, Any]) -> dict[str, Any]:
        """The event as a model action's JSON (name and args); ``candidates``: the other values a one-block
        mirrored write's content could stand for, tried in turn when the first is not enabled."""
        name, args = ev["action"], dict(ev["args"])
        out: dict[str, Any] = {}
        if name == "HostWrite":
            lba = int(args["lba"])
            if "digests" in args:
                digests = [str(d) for d in args["digests"]]
                args = {"lba": self.block(lba), "value": self.chunk_value(lba, digests), "length": len(digests)}
            else:
                args = {"lba": self.block(lba), "value": self.value(lba, str(args["digest"]))}
        elif name == "SetMarker":
            args = {}
        elif name == "RecoveryWrite":
            args = {"lba": self.block(int(args["lba"]))}
        elif name in ("Deliver", "LoseMessage", "DuplicateMessage"):
            m = dict(args["message"])
            if m.get("kind") == "MirrorWrite":
                lba = int(m["lba"])
                if "digests" in m:
                    digests = [str(d) for d in m["digests"]]
                    m = {"kind": "MirrorWrite", "seq": m["seq"], "lba": self.block(lba),
                         "value": self.chunk_value(lba, digests), "length": len(digests)}
                else:
                    values = self.candidates(lba, str(m.get("digest", "0"))) if lba != MARKER else [0]
                    m = {"kind": "MirrorWrite", "seq": m["seq"], "lba": self.block(lba), "value": values[0]}
                    out["candidates"] = values[1:]
            args = {"message": m}
        return {"action": name, "args": args, **out}


def _enabled(model: MirrorModel, s: State, action: Action) -> bool:
    """Whether the model's guards enable ``action`` in ``s`` (see the module docstring)."""
    value = getattr(action, "value", None) if action.name == "HostWrite" else None
    model.values = range(value, value + 1) if isinstance(value, int) else range(0)
    try:
        return any(a == action for a in model._actions(s))
    finally:
        model.values = range(model.bounds.values)


def validate(paths: list[Path], journal_capacity: int, concurrency: int,
             fence: str = "never") -> Validation:
    """Replay the merged logs on the model (see the module docstring)."""
    events = read_logs(paths)
    if not events:
        raise LogError("the logs hold no events")
    ab = _Abstraction(events)
    try:
        steps = [ab.action(ev) for ev in events]
    except (KeyError, TypeError, ValueError) as e:
        raise LogError(f"an event's arguments are malformed: {e}") from None
    # every budget is what the run used of it (the budget column of spec.actions): a log never exceeds it
    budgets: dict[str, Any] = dict.fromkeys((a.budget.bound for a in spec_actions.ACTIONS if a.budget), 0)
    for st in steps:
        spent = spec_actions.BY_NAME.get(st["action"])
        if spent is not None and spent.budget is not None:
            budgets[spent.budget.bound] += 1
    nvalues = max([ab.top(lba) for lba in ab.content] + [1]) + 1
    kinds = {str(st["args"].get("kind")) for st in steps if st["action"] == "StartRecovery"}
    bounds = replace(RunBounds(blocks=max(len(ab.lbas), 1), values=nvalues, concurrency=concurrency,
                               journal_capacity=journal_capacity, fence_policies=(FencePolicy[fence.upper()],),
                               write_blocks=ab.length),
                     **budgets)
    trade_offs = {name: why for (name, kind), why in EXPECTED_TRADE_OFFS.items() if kind.name.lower() in kinds}
    checked = [p for p in SAFETY if p.name not in trade_offs]
    model = MirrorModel(bounds)
    s = model.init_states()[0]
    taken: list[tuple[Action | None, State]] = [(None, s)]
    result = Validation(True, 0, bounds, trade_offs=trade_offs, blocks=len(ab.lbas), values=nvalues)
    for i, (ev, st) in enumerate(zip(events, steps, strict=True), 1):
        try:
            action = action_from_json(st["action"], st["args"])
        except ValueError as e:
            return _reject(result, taken, i, f"{ev['array']} logged a step the model has no words for: {e}")
        if action.name == "StartRecovery":
            model.bounds = replace(model.bounds, recovery_kind=getattr(action, "kind", RecoveryKind.WRITETHROUGH))
        for value in st.get("candidates", []):  # another value with the same content at that block
            if _enabled(model, s, action):
                break
            m = {**st["args"]["message"], "value": value}
            action = action_from_json(st["action"], {**st["args"], "message": m})
        if not _enabled(model, s, action):
            return _reject(result, taken, i, f"step {i} ({ev['array']}): {action!r} is not enabled in the "
                                             "model's state")
        s = model.next_state(s, action)
        taken.append((action, s))
        result.taken = taken
        result.steps = i
        for p in checked:
            if not p.predicate(s):
                result.property = p
                return _reject(result, taken, i, f"step {i} ({ev['array']}): {action!r} violates {p.name}")
    return result


def _reject(result: Validation, taken: list[tuple[Action | None, State]], step: int, reason: str) -> Validation:
    """A rejected log: the verdict, and the trace of the steps the model took, ending at the divergence
    (the last step shown is the last one the model enabled, or the one that broke the property)."""
    result.ok, result.failed_step, result.reason = False, step, reason
    result.taken = taken
    return result
