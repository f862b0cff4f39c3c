"""The counterexample trace format, shared by every checker (DESIGN section 5).

A trace file is versioned JSON, read with a schema check and never with pickle or eval::

    {"format": "pitmirror-trace", "version": 1, "source": "explicit" | "z3" | "fuzz",
     "config": {<model.config.Bounds.to_json()>},
     "property": {"name", "kind", "meaning", "claims"},
     "verdict": "violated" | "witness", "note": "...",
     "steps": [{"index": 0, "action": null, "args": {}, "actor": "init", "state": {...}, "changed": {}},
               {"index": 1, "action": "HostWrite", "args": {"lba": 0, "value": 1}, "actor": "host",
                "state": {...}, "changed": {"primary": [[0, 0], [1, 0]], ...}}, ...]}

``state`` is the abstract state after the step, field by field in the protocol's names (enums by name,
records and messages as objects); ``changed`` maps each field that the step changed to ``[before, after]``.
Step 0 is the initial state (its ``fence_policy`` picks which one).

A trace of a served run (``source: impl``, written by ``trace validate -o``) has the same shape, with two
differences that reading it must know: its ``config`` is sized to the run (``RunBounds``: hundreds of
blocks, thousands of writes, beyond the ranges that keep ``pitmirror check`` finite), and its property may
be ``step_enabled`` (``ENABLED``), the premise of validation rather than a property of the protocol.

A counterexample to induction of the unbounded proof system (``prove --induction``) says ``"system":
"proof"``: its states are any states of the proof system, so block values and sequence numbers are any
integers (the budgets and the value range of its ``config`` do not bound them), and its first state is not an
initial state, so it cannot be replayed from one. Traces without the key are of the checked system.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import jsonschema

from pitmirror.checkers.traces.validate import StateShapeError, check_action_args, check_state, state_from_json
from pitmirror.model.actions import Action, action_from_json
from pitmirror.model.config import RANGES, Bounds, BoundsError
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, Kind, Property
from pitmirror.spec.state import Message, State

FORMAT = "pitmirror-trace"
VERSION = 1
SOURCES = ("explicit", "z3", "fuzz", "impl")
#: which system a trace's states belong to: the bounded one ``check`` explores, or the unbounded proof system
SYSTEMS = ("checked", "proof")


class TraceError(ValueError):
    """A trace file is unreadable, malformed, foreign, or does not fit the model: a usage error."""


#: what a divergent step of a served run breaks: not a property of the protocol, the premise of validation
ENABLED = Property("step_enabled", Kind.ALWAYS, "every step a served array logged is one the model enables",
                   (), lambda s: True)


def property_named(name: str) -> Property | None:
    """A property a trace may name: the catalogue's, or ``step_enabled`` (served runs only)."""
    return ENABLED if name == ENABLED.name else BY_NAME.get(name)


@dataclass(frozen=True)
class RunBounds(Bounds):
    """Bounds sized to a real run: the ranges that keep ``pitmirror check`` finite do not apply to a
    replay, which visits one path only. Only the shape is checked (non-negative integers, at least one
    block, two values and one fence policy)."""

    def __post_init__(self) -> None:
        for name in RANGES:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise BoundsError(f"bound {name}={v!r} must be a non-negative integer")
        if self.blocks < 1 or self.values < 2 or self.concurrency < 1 or self.journal_capacity < 1:
            raise BoundsError("a run has at least one block, two values, one write in flight and one record")
        if not self.fence_policies:
            raise BoundsError("at least one fence policy is needed")
        if self.mutant is not None:
            raise BoundsError("a served run has no mutant")


SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["format", "version", "source", "config", "property", "verdict", "steps"],
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": VERSION},
        "source": {"enum": list(SOURCES)},
        "config": {"type": "object"},
        "property": {
            "type": "object",
            "required": ["name", "kind", "meaning", "claims"],
            "properties": {
                "name": {"type": "string"},
                "kind": {"enum": [k.value for k in Kind]},
                "meaning": {"type": "string"},
                "claims": {"type": "array", "items": {"type": "integer"}},
            },
        },
        "verdict": {"enum": ["violated", "witness", "possibly-unreachable"]},
        "system": {"enum": list(SYSTEMS)},
        "note": {"type": "string"},
        "steps": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["index", "action", "args", "actor", "state", "changed"],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "action": {"type": ["string", "null"]},
                    "args": {"type": "object"},
                    "actor": {"type": "string"},
                    "state": {"type": "object"},
                    "changed": {"type": "object"},
                },
            },
        },
    },
}


def to_json(value: Any) -> Any:
    """A state (or any part of one) as JSON data, in the protocol's names."""
    if isinstance(value, Message):
        return {"kind": value.name, **value.fields()}
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return {f: to_json(getattr(value, f)) for f in value._fields}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


def state_json(s: State) -> dict[str, Any]:
    """A whole state as a JSON object."""
    out = to_json(s)
    assert isinstance(out, dict)
    return out


def changed_fields(before: State | None, after: State) -> dict[str, list[Any]]:
    """The fields a step changed, each as ``[before, after]``."""
    if before is None:
        return {}
    return {f: [to_json(getattr(before, f)), to_json(getattr(after, f))]
            for f in after._fields if getattr(before, f) != getattr(after, f)}


@dataclass
class Trace:
    """A trace in memory: where it came from, what it shows, and the steps."""

    source: str
    bounds: Bounds
    prop: Property
    verdict: str
    steps: list[tuple[Action | None, State]]
    note: str = ""
    raw_steps: list[dict[str, Any]] = field(default_factory=list)
    #: ``"proof"`` for a counterexample to induction of the unbounded proof system (values and sequence
    #: numbers are any integers there); ``"checked"`` for everything else
    system: str = "checked"

    def to_dict(self) -> dict[str, Any]:
        """The trace as the JSON document of the format."""
        steps = []
        prev: State | None = None
        for i, (a, s) in enumerate(self.steps):
            steps.append({
                "index": i,
                "action": None if a is None else a.name,
                "args": {} if a is None else a.args(),
                "actor": "init" if a is None else a.actor,
                "state": state_json(s),
                "changed": changed_fields(prev, s),
            })
            prev = s
        p = self.prop
        doc: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "source": self.source, "config": self.bounds.to_json(),
            "property": {"name": p.name, "kind": p.kind.value, "meaning": p.meaning, "claims": list(p.claims)},
            "verdict": self.verdict, "note": self.note, "steps": steps,
        }
        if self.system != "checked":  # written only where it matters, so every other trace reads as before
            doc["system"] = self.system
        return doc

    def write(self, path: Path) -> None:
        """Write the trace as JSON (creating the folder)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")


def load(path: Path) -> dict[str, Any]:
    """Read and schema-check a trace file; ``TraceError`` with one line on anything wrong."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TraceError(f"cannot read {path}: {e.strerror}") from None
    if b"\0" in data:
        raise TraceError(f"{path} is a binary file, not a trace (JSON text)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(f"{path} is not UTF-8 text (byte {e.start}): not a trace") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TraceError(f"{path} is not JSON: {e.msg} at line {e.lineno}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TraceError(f"{path} is not a pitmirror trace (no \"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise TraceError(f"{path} is trace format version {doc.get('version')!r}; this pitmirror reads {VERSION}")
    try:
        jsonschema.validate(doc, SCHEMA)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "top level"
        raise TraceError(f"{path} is malformed at {where}: {e.message}") from None
    if property_named(doc["property"]["name"]) is None or \
            (doc["property"]["name"] == ENABLED.name and doc["source"] != "impl"):
        raise TraceError(f"{path} names an unknown property {doc['property']['name']!r}")
    if is_proof_system(doc) and doc["verdict"] != "possibly-unreachable":
        raise TraceError(f"{path} is a trace of the proof system but not a counterexample to induction")
    return doc


def is_proof_system(doc: dict[str, Any]) -> bool:
    """Whether a (schema-checked) trace holds states of the unbounded proof system: a counterexample to
    induction whose values and sequence numbers are any integers and whose first state is not initial."""
    return doc.get("system") == "proof"


def parse(doc: dict[str, Any]) -> tuple[Bounds, Property, list[Action | None]]:
    """The bounds, property and actions of a checked trace document."""
    try:
        # a served run's bounds are sized to the run; every other source stays within check's ranges
        bounds = (RunBounds if doc["source"] == "impl" else Bounds).from_json(doc["config"])
    except BoundsError as e:
        raise TraceError(f"trace config: {e}") from None
    actions: list[Action | None] = []
    for k, step in enumerate(doc["steps"]):
        if step["index"] != k:
            raise TraceError(f"step {k} is numbered {step['index']}")
        try:
            # the proof system's values and sequence numbers are any integers: only the shape is checked
            check_state(state_from_json(step["state"]), bounds, values_bounded=not is_proof_system(doc))
            if not is_proof_system(doc):
                check_action_args(step["args"], bounds, f"action {step['action']}")
        except StateShapeError as e:
            raise TraceError(f"step {k}: {e}") from None
        if step["action"] is None:
            if step["index"] != 0:
                raise TraceError(f"step {step['index']} has no action (only step 0 is the initial state)")
            actions.append(None)
            continue
        try:
            actions.append(action_from_json(step["action"], step["args"]))
        except ValueError as e:
            raise TraceError(f"step {step['index']}: {e}") from None
    if actions[0] is not None:
        raise TraceError("step 0 must be the initial state (action null)")
    prop = property_named(doc["property"]["name"])
    assert prop is not None  # load() checked it
    return bounds, prop, actions


@dataclass
class ReplayReport:
    """What replaying a trace on the model found."""

    steps_replayed: int
    diverged_at: int | None = None  # a step whose action was not enabled or whose state differs
    divergence: str = ""
    violated_at: dict[str, int] = field(default_factory=dict)  # first step violating each safety property

    @property
    def clean(self) -> bool:
        """No divergence and no property violated."""
        return self.diverged_at is None and not self.violated_at


def trapped(model: MirrorModel, start: State, prop: Property, limit: int = 200_000) -> bool | None:
    """For a liveness property: is every state reachable from ``start`` still pending (no way out)?
    ``None`` when more than ``limit`` states are reachable and the question stays open."""
    seen = {start}
    frontier = [start]
    while frontier:
        s = frontier.pop()
        if not prop.predicate(s):
            return False
        for a in model.actions(s):
            t = model.next_state(s, a)
            if t not in seen:
                if len(seen) >= limit:
                    return None
                seen.add(t)
                frontier.append(t)
    return True


def final_state(doc: dict[str, Any]) -> State | None:
    """The model's state at the end of a trace, replayed from its actions; ``None`` when the trace does not
    replay (an action not enabled, a malformed step)."""
    try:
        bounds, _prop, actions = parse(doc)
        model = MirrorModel(bounds)
        fence = doc["steps"][0]["state"].get("fence_policy")
        s = next(x for x in model.init_states() if x.fence_policy.name == fence)
        for a in actions[1:]:
            if a is None or a not in model.actions(s):
                return None
            s = model.next_state(s, a)
    except (TraceError, KeyError, StopIteration, TypeError, AttributeError):
        return None
    return s


def replay_on_model(doc: dict[str, Any], compare_states: bool = True) -> ReplayReport:
    """Step the model along a trace: every action must be enabled, every recorded state must match, and
    every safety property is evaluated after every step. For a liveness trace, the last state must be a
    trap: pending, with no reachable state that is not. A counterexample to induction of the proof system
    starts from a state that is not initial: ``TraceError``."""
    if is_proof_system(doc):
        raise TraceError("this is a counterexample to induction of the unbounded proof system: it starts from an "
                         "arbitrary state, not an initial one, so there is nothing to replay ('trace show' and "
                         "'trace render' read it; 'check' at small bounds says whether such a state is reachable)")
    bounds, prop, actions = parse(doc)
    model = MirrorModel(bounds)
    fence = doc["steps"][0]["state"].get("fence_policy")
    inits = [s for s in model.init_states() if s.fence_policy.name == fence]
    if not inits:
        raise TraceError(f"initial fence_policy {fence!r} is not among the trace's config")
    s = inits[0]
    report = ReplayReport(steps_replayed=0)
    safety = [p for p in BY_NAME.values() if p.kind is Kind.ALWAYS]
    for i, (a, step) in enumerate(zip(actions, doc["steps"], strict=True)):
        if a is not None:
            if a not in model.actions(s):
                report.diverged_at, report.divergence = i, f"{a!r} is not enabled in the model here"
                return report
            s = model.next_state(s, a)
        if compare_states and state_json(s) != step["state"]:
            diff = sorted(k for k, v in state_json(s).items() if step["state"].get(k) != v)
            report.diverged_at, report.divergence = i, f"model state differs in {', '.join(diff)}"
            return report
        for p in safety:
            if p.name not in report.violated_at and not p.predicate(s):
                report.violated_at[p.name] = i
        report.steps_replayed = i + 1
    if prop.kind is Kind.EVENTUALLY and trapped(model, s, prop):
        report.violated_at[prop.name] = len(actions) - 1
    return report
