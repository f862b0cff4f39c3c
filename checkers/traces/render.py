"""Traces a person can read: the value and change texts every trace tool uses, and the HTML page.

A counterexample is read by a storage engineer, so the page is laid out like the system it shows: the
host, array A, the path and array R as lanes (columns), one row per step, messages as arrows between the
lanes, and the volumes and control tables of each lane after the step with what the step changed
highlighted. ``FIELD_LANE`` below is the one table saying which lane owns which state field; the terminal
table (``pitmirror trace show``) and the diff (``pitmirror trace diff``) use the same labels and texts.

Trace files are untrusted data: everything taken from one is passed through ``html.escape`` before it
reaches the page, and the page is self-contained (inline CSS, no script, no network) so that opening a
trace can neither fetch nor run anything.

The functions take the checked JSON document (``checkers.traces.trace.load``), not ``Trace`` objects: the
schema guarantees the outline, and every value inside a state is treated as arbitrary JSON so a foreign
but well-formed trace still renders.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pitmirror.checkers.traces.trace import final_state
from pitmirror.checkers.traces.validate import StateShapeError, state_from_json
from pitmirror.model.mutants import MUTANTS
from pitmirror.spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, trade_off
from pitmirror.spec.state import MARKER, RecoveryKind

#: The lanes of the page, left to right: who issues requests, the primary array, the path, the remote array.
LANES: tuple[str, ...] = ("host", "A", "path", "R")
#: Not a lane: the ghost variables only the spec reads, and the fault budget; shown dimmed, apart.
GHOST = "ghost"

#: Which lane owns which state field (spec.state.State). The budgets go to whoever spends them.
FIELD_LANE: dict[str, str] = {
    # the host's requests (budgets of the bounds)
    "host_writes_issued": "host", "markers_set": "host", "recoveries_started": "host",
    # array A: volumes P, B, J and the control tables in its shared memory
    "fence_policy": "A", "primary": "A", "base": "A", "base_seq": "A", "next_seq": "A", "journal": "A",
    "journal_cache": "A", "in_flight": "A", "pair_state": "A", "dirty": "A", "journaling_state": "A",
    "recovery": "A",
    # the path: its links and the messages on it
    "path_up": "path", "path": "path", "path_failures": "path", "message_faults": "path",
    "premature_timeouts": "path",
    # array R: volumes S, RB, JR and its volatile reorder buffer
    "remote": "R", "replica_base": "R", "replica_base_seq": "R", "remote_journal": "R",
    "remote_applied_seq": "R", "remote_buffer": "R", "remote_recovery_id": "R",
    # spec only, and the crash budget (a crash hits either array)
    "crashes": GHOST, "ghost_base": GHOST, "ghost_base_seq": GHOST, "history": GHOST, "recovery_ended": GHOST,
    "retired_image": GHOST, "recovery_awaiting_resync": GHOST,
}

#: The names storage engineers use (DESIGN section 1) where they are shorter than the field name.
FIELD_LABEL: dict[str, str] = {
    "primary": "P", "base": "B", "journal": "J", "journal_cache": "J cache", "remote": "S",
    "replica_base": "RB", "remote_journal": "JR", "remote_buffer": "R buffer", "in_flight": "in flight",
    "dirty": "dirty", "replica_base_seq": "RB seq", "remote_applied_seq": "applied seq",
    "remote_recovery_id": "recovery id", "host_writes_issued": "host writes", "markers_set": "markers",
    "recoveries_started": "recoveries", "path_up": "path up", "journaling_state": "journaling",
    "pair_state": "pair", "fence_policy": "fence", "path_failures": "failures", "message_faults": "msg faults",
    "premature_timeouts": "early timeouts",
}

#: Messages travelling from A to R; every other message kind travels from R to A.
A_TO_R_MESSAGES = frozenset({"MirrorWrite", "RecoverRequest"})


def lane_of(field: str) -> str:
    """The lane owning a state field; a field this pitmirror does not know is shown with the ghost."""
    return FIELD_LANE.get(field, GHOST)


def label(field: str) -> str:
    """The short protocol name of a state field (``P`` for ``primary``)."""
    return FIELD_LABEL.get(field, field)


# --- values as text ------------------------------------------------------------------------------------


def brief(v: Any, key: str = "") -> str:
    """A JSON value in the protocol's words, compact: volumes ``(1,0)``, messages ``MirrorAck(seq=1)``,
    records ``{seq=1 lba=0 value=1}``. ``key`` is the field the value belongs to (an ``lba`` of -1 is a
    marker)."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if key == "lba" and v == MARKER:
        return "MARKER"
    if isinstance(v, list):
        if v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return "(" + ",".join(map(str, v)) + ")"
        return "[" + ", ".join(brief(x) for x in v) + "]"
    if isinstance(v, dict):
        if isinstance(v.get("kind"), str) and v["kind"][:1].isupper() and not v["kind"].isupper():
            # a message: {"kind": "MirrorWrite", "seq": ...}; a recovery's kind is SWAP, all capitals
            return f"{v['kind']}(" + ",".join(f"{k}={brief(x, k)}" for k, x in v.items() if k != "kind") + ")"
        return "{" + " ".join(f"{k}={brief(x, k)}" for k, x in v.items()) + "}"
    return str(v)


def _key(v: Any) -> str:
    """A hashable identity for a JSON value (records and messages are dicts)."""
    return json.dumps(v, sort_keys=True)


def is_vector(v: Any) -> bool:
    """A volume or bitmap: a list of plain integers, one per block."""
    return isinstance(v, list) and bool(v) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)


def list_delta(before: list[Any], after: list[Any]) -> tuple[list[Any], list[Any]]:
    """What went from a list and what came into it, as multisets (the path is a multiset; a journal only
    grows at the end and shrinks at the front, so the multiset view is exact for it too)."""
    b, a = Counter(_key(x) for x in before), Counter(_key(x) for x in after)
    gone, came = b - a, a - b
    removed, added = [], []
    for x in before:
        if gone[_key(x)] > 0:
            gone[_key(x)] -= 1
            removed.append(x)
    for x in after:
        if came[_key(x)] > 0:
            came[_key(x)] -= 1
            added.append(x)
    return removed, added


def _updated_entries(before: list[Any], after: list[Any]) -> list[tuple[dict[str, Any], dict[str, Any]]] | None:
    """When a table was updated in place (same length, and each differing entry is the same record, by its
    first key such as ``seq``, with other values), the (before, after) pairs of the entries that changed:
    ``history[seq=1].acked false->true`` says more than removing and re-adding the record. ``None``
    otherwise. Messages (entries with a ``kind``) are a multiset and never "updated"."""
    if len(before) != len(after):
        return None
    pairs = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    for b, a in pairs:
        if not (isinstance(b, dict) and isinstance(a, dict) and b and b.keys() == a.keys() and "kind" not in b):
            return None
        first = next(iter(b))
        if b[first] != a[first]:
            return None
    return pairs or None


def change_text(field: str, before: Any, after: Any) -> str:
    """One field's change as a person says it: ``P (1,0)->(0,0)``, ``J +{seq=3 lba=0 value=0}``,
    ``path -MirrorWrite(seq=1,..) +MirrorAck(seq=1)``, ``recovery.remote_status REQUESTED->DONE``."""
    name = label(field)
    if is_vector(before) and is_vector(after) and len(before) == len(after):
        return f"{name} {brief(before)}->{brief(after)}"
    if isinstance(before, list) and isinstance(after, list):
        updated = _updated_entries(before, after)
        if updated is not None:
            return ", ".join(f"{name}[{k0}={brief(b[k0], k0)}].{k} {brief(b.get(k), k)}->{brief(a.get(k), k)}"
                             for b, a in updated for k0 in [next(iter(b))] for k in a if b.get(k) != a[k])
        removed, added = list_delta(before, after)
        if not removed and not added:  # same items, another order
            return f"{name} {brief(before)}->{brief(after)}"
        return f"{name} " + " ".join([*(f"-{brief(x)}" for x in removed), *(f"+{brief(x)}" for x in added)])
    if isinstance(before, dict) and after is None:
        return f"{name} ->none"  # a table cleared (a recovery ended): its old contents are the row above
    if isinstance(before, dict) and isinstance(after, dict):
        keys = [k for k in after if before.get(k) != after[k]] + [k for k in before if k not in after]
        return ", ".join(f"{name}.{k} {brief(before.get(k), k)}->{brief(after.get(k), k)}" for k in keys)
    return f"{name} {brief(before)}->{brief(after)}"


def state_changes(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields whose value differs between two recorded states, in the after-state's order.

    Computed from the states rather than read from a step's ``changed`` so that a page never shows a
    change the states do not bear out."""
    if before is None:
        return {}
    out = {f: (before.get(f), v) for f, v in after.items() if before.get(f) != v}
    out.update({f: (v, None) for f, v in before.items() if f not in after})
    return out


#: Step 0 of a counterexample to induction is an arbitrary state the solver chose, not an initial one.
CTI_START = "(arbitrary start state: may be unreachable)"


def start_label(doc: dict[str, Any]) -> str:
    """What step 0 of this trace is: an initial state, or the chosen start of a counterexample to induction."""
    return CTI_START if doc.get("verdict") == "possibly-unreachable" else "(initial state)"


def action_text(step: dict[str, Any], start: str = "(initial state)") -> str:
    """A step's action as a call, ``HostWrite(lba=0, value=1)``; ``start`` for step 0."""
    if step["action"] is None:
        return start
    return f"{step['action']}(" + ", ".join(f"{k}={brief(v, k)}" for k, v in step["args"].items()) + ")"


def expected_trade_off(doc: dict[str, Any]) -> str | None:
    """The reason, when this trace shows a trade-off the design expects (not a bug), else ``None``: only for
    the correct protocol, and only when the trace ends inside the trade-off's window (the model replays it
    to judge its last state; ``spec.properties.trade_off``)."""
    cfg = doc["config"]
    if cfg.get("mutant") is not None or doc["verdict"] != "violated":
        return None
    try:
        kind = RecoveryKind[str(cfg.get("recovery_kind", "")).upper()]
    except KeyError:
        return None
    name = doc["property"]["name"]
    if (name, kind) not in EXPECTED_TRADE_OFFS:
        return None
    last = final_state(doc)
    return None if last is None else trade_off(name, kind, last)


def verdict_line(doc: dict[str, Any]) -> str:
    """What the trace shows, in one line: violated / expected trade-off / reached, and where."""
    p, last = doc["property"], len(doc["steps"]) - 1
    trade = expected_trade_off(doc)
    if doc["verdict"] == "witness":
        return f"{p['name']} reached at step {last}"
    if trade is not None:
        return f"{p['name']} violated at step {last} (expected trade-off: {trade})"
    if doc["verdict"] == "violated":
        if p["kind"] == "eventually":
            return f"{p['name']} violated: from step {last} on it can never be satisfied"
        return f"{p['name']} violated at step {last}"
    return f"{p['name']} {doc['verdict']} (step {last})"


def explanation(doc: dict[str, Any]) -> str:
    """What the last state shows, expected against actual, in the property's own words
    (``spec.properties``: each property explains a violating state); empty when it cannot say."""
    prop = BY_NAME.get(str(doc["property"]["name"]))
    if prop is None:
        return ""
    try:
        state = state_from_json(doc["steps"][-1]["state"])
        return prop.explanation(state)
    except (StateShapeError, KeyError, IndexError, ValueError, TypeError):
        return ""  # a state that does not fit the spec (a validated trace always does)


def headline(doc: dict[str, Any]) -> tuple[str, str]:
    """The verdict first: the property, the step, and expected against actual."""
    return verdict_line(doc), explanation(doc)


# --- the arrows of a step --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrow:
    """Something that happens in a step, drawn from lane ``src`` to lane ``dst`` (a badge when they are
    the same lane). ``kind`` picks the style: call, send, deliver, copy, local, fault."""

    src: str
    dst: str
    text: str
    kind: str


def _message_lanes(msg: Any) -> tuple[str, str]:
    """(sender, receiver) of a message on the path."""
    kind = msg.get("kind") if isinstance(msg, dict) else None
    return ("A", "R") if kind in A_TO_R_MESSAGES else ("R", "A")


def arrows(step: dict[str, Any], before: dict[str, Any] | None) -> list[Arrow]:
    """The arrows of a step, from its action and from what it put on the path.

    A message put on the path is an arrow from its sender into the path lane; delivering it is an arrow
    from the path into the receiving lane, so a round trip reads A -> path -> R -> path -> A down the
    page. An array-local step that also changes R's volumes (checkpoint in lockstep, resync) gets a dotted
    arrow A -> R."""
    name, args, actor = step["action"], step["args"], step["actor"]
    if name is None:
        return []
    call = action_text(step)
    out: list[Arrow] = []
    msg = args.get("message")
    if name == "Deliver":
        out.append(Arrow("path", _message_lanes(msg)[1], f"Deliver {brief(msg)}", "deliver"))
    elif name == "LoseMessage":
        out.append(Arrow("path", "path", f"✕ LoseMessage {brief(msg)}", "fault"))
    elif name == "DuplicateMessage":
        out.append(Arrow("path", "path", f"⧉ DuplicateMessage {brief(msg)}", "fault"))
    elif name == "FailPath":
        out.append(Arrow("path", "path", "⚡ FailPath: path down, every message on it lost", "fault"))
    elif name == "RepairPath":
        out.append(Arrow("path", "path", "RepairPath: path up again", "local"))
    elif name == "CrashArray":
        where = args.get("array") if args.get("array") in LANES else "A"
        out.append(Arrow(str(where), str(where), f"⚡ CrashArray({where}): crash and restart", "fault"))
    elif actor == "host":
        out.append(Arrow("host", "A", call, "call"))
    else:
        lane = actor if actor in LANES else "A"
        out.append(Arrow(lane, lane, call, "local"))
    state = step["state"]
    if before is not None and name != "DuplicateMessage":
        old, new = before.get("path"), state.get("path")
        if isinstance(old, list) and isinstance(new, list):
            for m in list_delta(old, new)[1]:
                out.append(Arrow(_message_lanes(m)[0], "path", f"send {brief(m)}", "send"))
    if before is not None and actor == "A" and name not in ("Deliver", "CrashArray"):
        remote = [label(f) for f in state_changes(before, state) if lane_of(f) == "R"]
        if remote:
            out.append(Arrow("A", "R", "in lockstep at R: " + ", ".join(remote), "copy"))
    return out


# --- the page --------------------------------------------------------------------------------------------

_CSS = """
:root { --host:#eef4ff; --A:#eefaf0; --path:#fff8e8; --R:#f6effd; --chg:#ffe066; --add:#b8f0c0; --del:#f7b4b4; }
* { box-sizing: border-box; }
body { font: 13px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1b1b1b; background: #fff; }
header { padding: 12px 18px; border-bottom: 2px solid #333; }
h1 { font-size: 19px; margin: 0 0 4px; }
h1 .verdict-violated { color: #b00020; } h1 .verdict-witness { color: #1d7a2c; } h1 .verdict-trade { color: #a15c00; }
.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0; }
.meta dt { font-weight: 600; color: #555; } .meta dd { margin: 0; }
.note { background: #fff3cd; border-left: 4px solid #e0a800; padding: 4px 8px; margin: 6px 0; white-space: pre-wrap; }
.legend span { margin-right: 14px; }
code, .v, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12px; }
.grid { display: grid; grid-template-columns: 4.6em .45fr .45fr 1.5fr 1.5fr .75fr .75fr 1.25fr 1.25fr; }
.lanes { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 2px solid #333; }
.lanes div { font-weight: 700; text-align: center; padding: 4px; font-size: 14px; }
.h-host, .c-host { background: var(--host); } .h-A, .c-A { background: var(--A); }
.h-path, .c-path { background: var(--path); } .h-R, .c-R { background: var(--R); }
.step { border-bottom: 1px solid #bbb; }
.step:nth-child(even) .num { background: #f2f2f2; }
.num { grid-row: span 3; font-weight: 700; padding: 4px; text-align: right; border-right: 1px solid #ccc; }
.num small { display: block; font-weight: 400; color: #666; }
.arrow { position: relative; margin: 16px 0 6px; height: 0; border-top: 2px solid #333; }
.arrow .t { position: absolute; bottom: 2px; left: 0; right: 0; text-align: center; white-space: nowrap;
  font: 12px ui-monospace, "DejaVu Sans Mono", monospace; overflow: visible; }
.arrow.right::after, .arrow.left::after { content: ""; position: absolute; top: -6px; border: 5px solid transparent; }
.arrow.right::after { right: -2px; border-left: 9px solid #333; border-right: 0; }
.arrow.left::after { left: -2px; border-right: 9px solid #333; border-left: 0; }
.arrow.send { border-top-style: dashed; border-color: #1f5fbf; } .arrow.send .t { color: #1f5fbf; }
.arrow.send.right::after { border-left-color: #1f5fbf; } .arrow.send.left::after { border-right-color: #1f5fbf; }
.arrow.deliver { border-color: #7a3db8; } .arrow.deliver .t { color: #7a3db8; font-weight: 600; }
.arrow.deliver.right::after { border-left-color: #7a3db8; } .arrow.deliver.left::after { border-right-color: #7a3db8; }
.arrow.copy { border-top-style: dotted; border-color: #666; } .arrow.copy .t { color: #555; }
.arrow.copy.right::after { border-left-color: #666; }
.arrow.call .t { font-weight: 700; }
.badge { margin: 4px 6px; padding: 2px 6px; border: 1px solid #555; border-radius: 4px; background: #fff;
  text-align: center; font: 600 12px ui-monospace, "DejaVu Sans Mono", monospace; }
.badge.fault { border-color: #b00020; color: #b00020; background: #fff0f0; }
/* text breaks only between words and after , = ( (the page marks those with <wbr>), never inside a word */
.cell { padding: 3px 6px 5px; border-left: 1px solid #ddd; min-width: 0; overflow-wrap: normal; }
.c-A { columns: 2 15em; column-gap: 10px; } /* A has the most fields: two columns halve a step's height */
.c-host .f, .c-R .f { --kw: 6.6em; }
.tag { display: block; margin-top: 4px; padding: 1px 2px; font-size: 10px; color: #fff; background: #b00020;
  border-radius: 3px; text-align: center; }
.witness .tag { background: #1d7a2c; } .trade .tag { background: #a15c00; }
.verdict.other { border-color: #666; background: #f4f4f4; } h1 .verdict-other { color: #555; }
.f { break-inside: avoid; }
/* a field is its label and its value side by side; a value too wide for the rest of the line goes below its
   label instead of out of the lane (the narrow host lane, the recovery table) */
.f { display: flex; flex-wrap: wrap; gap: 0 4px; }
.f .k { flex: 0 0 var(--kw, 5.8em); color: #555; text-align: right; }
.f .v { flex: 1 1 auto; min-width: 0; }
.f.chg .k { color: #000; font-weight: 700; }
.chg > .v > .now, .blk.chg, .sub.chg { background: var(--chg); }
.was { color: #888; margin-left: 4px; } .was::before { content: "was "; }
.blk { display: inline-block; min-width: 1.5em; text-align: center; border: 1px solid #999; margin-right: 1px;
  background: #fff; }
.item { display: inline-block; margin: 0 3px 1px 0; padding: 0 3px; font-size: 11px; border-radius: 3px;
  background: #0000000a; }
.item.add { background: var(--add); } .item.del { background: var(--del); text-decoration: line-through; }
.sub { padding: 0 2px; }
.empty { color: #999; }
.ghost { grid-column: 2 / -1; padding: 2px 6px 4px; color: #777; font-size: 11px; border-top: 1px dotted #ccc; }
.ghost .f { display: inline-flex; margin-right: 14px; } .ghost .f .k { flex-basis: auto; }
.ghost .v { font-size: 11px; } .ghost .chg .now { background: #fff2b0; }
.verdict { grid-column: 2 / -1; margin: 4px 0; padding: 10px 18px; border: 3px solid #b00020; background: #fff0f0; }
.verdict.witness { border-color: #1d7a2c; background: #effaf0; }
.verdict.trade { border-color: #a15c00; background: #fff6e6; }
.verdict h2 { margin: 0 0 4px; font-size: 17px; }
.headline { margin: 6px 0 8px; padding: 8px 14px; border: 3px solid #b00020; background: #fff0f0; font-size: 15px; }
.headline.witness { border-color: #1d7a2c; background: #effaf0; }
.headline.trade { border-color: #a15c00; background: #fff6e6; }
.headline.other { border-color: #666; background: #f4f4f4; }
.headline .what { font-weight: 700; }
.why { font: 600 13px ui-monospace, "DejaVu Sans Mono", monospace; margin: 2px 0 4px; }
.step.last { box-shadow: inset 6px 0 0 #b00020; }
.step.last.witness { box-shadow: inset 6px 0 0 #1d7a2c; } .step.last.trade { box-shadow: inset 6px 0 0 #a15c00; }
.const { font-size: 11px; color: #666; }
#only-changed:checked ~ main .step:not(.first):not(.last) .f:not(.chg) { display: none; }
footer { padding: 10px 18px; color: #777; }
"""


def esc(v: Any) -> str:
    """Any value as escaped HTML text: trace files are untrusted."""
    return html.escape(str(v), quote=True)


def breakable(text: str) -> str:
    """``text`` escaped, with line-break opportunities after ``,`` and ``(`` (``MirrorWrite(seq=1,lba=0,
    value=1)`` breaks between its arguments, never inside a word)."""
    return esc(text).replace(",", ",<wbr>").replace("(", "(<wbr>")


def _varying_fields(states: list[dict[str, Any]]) -> set[str]:
    """Fields whose value is not the same in every step: the others are shown once, at step 0."""
    first = states[0]
    keys = {k for s in states for k in s}
    return {k for k in keys if any(s.get(k) != first.get(k) for s in states)}


def _value_html(field: str, value: Any, prev: Any, changed: bool) -> str:
    """A field's value after the step, with what the step changed marked: changed blocks of a volume,
    records and messages added (green) and removed (struck through, red), changed subfields of a table."""
    if is_vector(value):
        blocks = []
        for i, x in enumerate(value):
            old = prev[i] if changed and is_vector(prev) and i < len(prev) else x
            cls = "blk chg" if changed and (old != x or not is_vector(prev)) else "blk"
            blocks.append(f'<span class="{cls}" title="block {i}">{esc(x)}</span>')
        was = f'<span class="was">{esc(brief(prev))}</span>' if changed else ""
        return "".join(blocks) + was
    if isinstance(value, list):
        removed, added = list_delta(prev, value) if changed and isinstance(prev, list) else ([], [])
        pending = Counter(_key(x) for x in added)
        items = []
        for x in value:
            cls = "item"
            if pending[_key(x)] > 0:
                pending[_key(x)] -= 1
                cls = "item add"
            items.append(f'<span class="{cls}">{breakable(brief(x))}</span>')
        items += [f'<span class="item del">{breakable(brief(x))}</span>' for x in removed]
        return "".join(items) if items else '<span class="empty">empty</span>'
    if not isinstance(value, dict) or not (prev is None or isinstance(prev, dict)):
        was = f'<span class="was">{esc(brief(prev, field))}</span>' if changed else ""
        return f'<span class="now">{esc(brief(value, field))}</span>{was}'
    # a table (a recovery in progress): mark the entries the step changed, not the whole table
    subs = []
    for k, x in value.items():
        cls = "sub chg" if changed and (not isinstance(prev, dict) or prev.get(k) != x) else "sub"
        subs.append(f'<span class="{cls}">{esc(k)}=<wbr>{breakable(brief(x, k))}</span>')
    was = '<span class="was">none</span>' if changed and prev is None else ""
    return " ".join(subs) + was


def _field_html(field: str, value: Any, prev: Any, changed: bool) -> str:
    cls = "f chg" if changed else "f"
    return (f'<div class="{cls}" data-field="{esc(field)}"><span class="k" title="{esc(field)}">{esc(label(field))}'
            f'</span><span class="v">{_value_html(field, value, prev, changed)}</span></div>')


def _col(lane: str) -> int:
    return LANES.index(lane)


def _arrow_html(a: Arrow) -> str:
    """An arrow between lane centres on the 8 half-columns of the grid (column 1 is the step number), or a
    badge spanning its lane when source and destination are the same lane."""
    text = f'<span class="t">{esc(a.text)}</span>'
    s, d = _col(a.src) if a.src in LANES else 1, _col(a.dst) if a.dst in LANES else 1
    if s == d:
        cls = "badge fault" if a.kind == "fault" else "badge"
        return f'<div class="{cls}" style="grid-column:{2 + 2 * s}/{4 + 2 * s}">{esc(a.text)}</div>'
    lo, hi = sorted((s, d))
    direction = "right" if d > s else "left"
    return (f'<div class="arrow {esc(a.kind)} {direction}" style="grid-column:{3 + 2 * lo}/{3 + 2 * hi}">'
            f'{text}</div>')


def _step_html(doc: dict[str, Any], i: int, varying: set[str], status: str) -> str:
    """One step: its arrows, then the four lanes' fields after it, then the ghost; the last step also
    carries the verdict, so the property is shown where it breaks."""
    step = doc["steps"][i]
    state: dict[str, Any] = step["state"]
    before: dict[str, Any] | None = doc["steps"][i - 1]["state"] if i > 0 else None
    changes = state_changes(before, state)
    last = i == len(doc["steps"]) - 1
    classes = ["step", "grid"] + (["first"] if i == 0 else []) + (["last", status] if last else [])
    tag = {"witness": "✓ reached", "trade": "trade-off", "violated": "✖ violated"}.get(status, "") if last else ""
    parts = [f'<section class="{" ".join(classes)}" id="step-{i}" data-step="{i}">',
             f'<div class="num">step {i}<small>{esc(step["actor"])}</small>'
             + (f'<span class="tag">{tag}</span>' if tag else "") + "</div>"]
    flow = [_arrow_html(a) for a in arrows(step, before)]
    if not flow:
        first = "initial state" if start_label(doc) == "(initial state)" else esc(CTI_START.strip("()"))
        flow = [f'<div class="badge" style="grid-column:2/-1">{first}: every field shown;'
                ' later steps show the fields that change in this trace</div>']
    for row, html_ in enumerate(flow):
        # every arrow on its own grid row so that two arrows of one step never overlap
        parts.append(html_.replace('style="', f'style="grid-row:{row + 1};', 1))
    parts[1] = parts[1].replace('class="num"', f'class="num" style="grid-row:1/span {len(flow) + 2 + last}"')
    ghost = []
    for k, lane in enumerate(LANES):
        # the first and the last step show every field: the start, and the whole state where it breaks
        fields = [f for f in state if lane_of(f) == lane and (i == 0 or last or f in varying)]
        cells = [_field_html(f, state[f], changes.get(f, (None, None))[0], f in changes) for f in fields]
        parts.append(f'<div class="cell c-{lane}" style="grid-row:{len(flow) + 1};grid-column:{2 + 2 * k}/{4 + 2 * k}">'
                     f'{"".join(cells)}</div>')
    for f in state:
        if lane_of(f) == GHOST and (i == 0 or last or f in varying):
            ghost.append(_field_html(f, state[f], changes.get(f, (None, None))[0], f in changes))
    if ghost:
        parts.append(f'<div class="ghost" style="grid-row:{len(flow) + 2}"><b>spec ghost &amp; crash budget'
                     f'</b> ' + "".join(ghost) + "</div>")
    if last:
        parts.append(_verdict_html(doc, status).replace('">', f'" style="grid-row:{len(flow) + 3}">', 1))
    parts.append("</section>")
    return "".join(parts)


def _verdict_html(doc: dict[str, Any], status: str) -> str:
    p = doc["property"]
    claims = ", ".join(map(str, p["claims"])) or "none (beyond the claims)"
    last = len(doc["steps"]) - 1
    trade = expected_trade_off(doc)
    if status == "witness":
        head = f"✓ reached at step {last}: {esc(p['name'])}"
    elif status == "other":
        head = f"{esc(doc['verdict'])} at step {last}: {esc(p['name'])}"
    elif trade is not None:
        head = f"violated at step {last}: {esc(p['name'])} (an expected trade-off, not a bug)"
    elif p["kind"] == "eventually":
        head = f"✖ violated from step {last} on: {esc(p['name'])} (liveness)"
    else:
        head = f"✖ violated at step {last}: {esc(p['name'])}"
    why = explanation(doc)
    body = [f"<h2>{head}</h2>", *([f'<div class="why">{esc(why)}</div>'] if why else []),
            f"<div><b>meaning:</b> {esc(p['meaning'])}</div>",
            f"<div><b>kind:</b> {esc(p['kind'])} &nbsp; <b>claims of US 7,139,851:</b> {esc(claims)}</div>"]
    if trade is not None:
        body.append(f"<div><b>why expected:</b> {esc(trade)}</div>")
    if doc.get("note"):
        body.append(f'<div class="note">{esc(doc["note"])}</div>')
    return f'<section class="verdict {status}" id="verdict">{"".join(body)}</section>'


def _header_html(doc: dict[str, Any], status: str, varying: set[str]) -> str:
    p, cfg = doc["property"], doc["config"]
    word = {"witness": "reached", "trade": "violated (expected trade-off)"}.get(status, str(doc["verdict"]))
    mutant = cfg.get("mutant")
    rows = [("property", f"<code>{esc(p['name'])}</code> ({esc(p['kind'])}): {esc(p['meaning'])}"),
            ("claims", esc(", ".join(map(str, p["claims"])) or "none (beyond the claims)")),
            ("verdict", esc(verdict_line(doc))),
            ("source", f"{esc(doc['source'])} checker, {len(doc['steps']) - 1} step"
                       + ("" if len(doc["steps"]) == 2 else "s"))]
    if mutant is not None:
        m = MUTANTS.get(str(mutant))
        rows.append(("mutant", f"<code>{esc(mutant)}</code>" + (f": {esc(m.wrong_step)}" if m else "")))
    else:
        rows.append(("protocol", "correct (no mutant)"))
    rows.append(("bounds", "<code>" + esc(", ".join(f"{k}={brief(v)}" for k, v in cfg.items()
                                                        if k != "mutant")) + "</code>"))
    consts = [f for f in doc["steps"][0]["state"] if f not in varying]
    if consts:
        names = esc(", ".join(label(f) for f in consts))
        rows.append(("unchanged", f"shown at the first and last step only: <code>{names}</code>"))
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    note = f'<div class="note">{esc(doc["note"])}</div>' if doc.get("note") else ""
    legend = ('<div class="legend"><span><span class="blk chg">1</span> changed by the step</span>'
              '<span><span class="item add">+record</span> added</span>'
              '<span><span class="item del">record</span> removed</span>'
              '<span>— solid: request / delivery</span><span>- - dashed: message put on the path</span>'
              '<span>··· dotted: same step at R</span><span><a href="#verdict">jump to the verdict</a></span>'
              '</div>')
    line, why = headline(doc)
    # the verdict first: what broke, where, and expected against actual, before the details and the steps
    first = (f'<div class="headline {status}" id="headline"><div class="what">{esc(line)}</div>'
             + (f'<div class="why">{esc(why)}</div>' if why else "")
             + '<div><a href="#verdict">the state where it breaks</a></div></div>')
    return (f'<header><h1>{esc(p["name"])}: <span class="verdict-{status}">{esc(word)}</span></h1>'
            f'{first}<dl class="meta">{meta}</dl>{note}{legend}</header>')


def _status(doc: dict[str, Any]) -> str:
    """The page's colour scheme: violated (red), witness (green), trade (amber), other (grey: a verdict such
    as possibly-unreachable that is neither a counterexample nor a witness)."""
    if doc["verdict"] == "witness":
        return "witness"
    if doc["verdict"] != "violated":
        return "other"
    return "trade" if expected_trade_off(doc) else "violated"


def render_html(doc: dict[str, Any]) -> str:
    """The whole page for a checked trace document (``checkers.traces.trace.load``)."""
    status = _status(doc)
    states = [s["state"] for s in doc["steps"]]
    varying = _varying_fields(states)
    title = f"{doc['property']['name']} {doc['verdict']} — pitmirror trace"
    lanes = ['<div></div>'] + [f'<div class="h-{lane}" style="grid-column:span 2">{esc(name)}</div>'
                                for lane, name in zip(LANES, ("host", "array A (P, B, J)", "path",
                                                              "array R (S, RB, JR)"), strict=True)]
    steps = [_step_html(doc, i, varying, status) for i in range(len(doc["steps"]))]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        # no network, no script: a trace page can only show, never fetch or run
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        _header_html(doc, status, varying),
        '<input type="checkbox" id="only-changed"><label for="only-changed"> show only the fields each step'
        ' changed</label>',
        '<main><div class="grid lanes">' + "".join(lanes) + "</div>",
        *steps,
        "</main><footer>pitmirror trace format "
        f"{esc(doc.get('version'))}; lanes and field owners: checkers/render.py FIELD_LANE</footer>",
        "</body></html>",
    ])


def lane_fields(fields: Iterable[str]) -> dict[str, list[str]]:
    """Fields grouped by lane, lanes in page order, ghost last (for tables that follow the page)."""
    out: dict[str, list[str]] = {lane: [] for lane in (*LANES, GHOST)}
    for f in fields:
        out[lane_of(f)].append(f)
    return out
