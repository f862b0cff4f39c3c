"""Two traces compared (``pitmirror trace diff A B``): the regression question "is this still the same
counterexample?", asked after a model change, a checker change, or between two checkers' traces.

The comparison ignores where a trace came from (``source``) and its free-text ``note``: two checkers that
find the same shortest counterexample have produced the same trace. Everything else counts: the config,
the property and verdict, every step's action, and every state field after every step. Steps are compared
by index, since every trace starts at step 0 in an initial state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pitmirror.checkers.traces.render import action_text, change_text


@dataclass(frozen=True)
class StepDiff:
    """One step index at which the traces differ: the two actions and the state fields that differ
    (field, value in A, value in B)."""

    index: int
    action_a: str
    action_b: str
    fields: list[tuple[str, Any, Any]]

    @property
    def same_action(self) -> bool:
        """Both traces took the same action into this step."""
        return self.action_a == self.action_b


@dataclass
class TraceDiff:
    """What differs between trace A and trace B (modulo source and note)."""

    config: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # bound -> (A, B), differing only
    property_a: str = ""
    property_b: str = ""
    verdict_a: str = ""
    verdict_b: str = ""
    length_a: int = 0  # number of steps after the initial state
    length_b: int = 0
    first_action_diff: int | None = None  # first step index whose action differs (or exists in one only)
    steps: list[StepDiff] = field(default_factory=list)  # aligned steps that differ, in order
    extra_a: list[str] = field(default_factory=list)  # actions of the steps only A has
    extra_b: list[str] = field(default_factory=list)
    sources: tuple[str, str] = ("", "")

    @property
    def same_config(self) -> bool:
        """Both traces were found under the same bounds (recovery kind and mutant included)."""
        return not self.config

    @property
    def same_property(self) -> bool:
        """Both traces are about the same property with the same verdict."""
        return self.property_a == self.property_b and self.verdict_a == self.verdict_b

    @property
    def identical(self) -> bool:
        """Equal in everything but source and note."""
        return (self.same_config and self.same_property and self.length_a == self.length_b
                and not self.steps)


def compare(a: dict[str, Any], b: dict[str, Any]) -> TraceDiff:
    """Compare two checked trace documents (``checkers.traces.trace.load``)."""
    d = TraceDiff(property_a=a["property"]["name"], property_b=b["property"]["name"],
                  verdict_a=a["verdict"], verdict_b=b["verdict"],
                  length_a=len(a["steps"]) - 1, length_b=len(b["steps"]) - 1,
                  sources=(a["source"], b["source"]))
    ca, cb = a["config"], b["config"]
    d.config = {k: (ca.get(k), cb.get(k)) for k in [*ca, *(k for k in cb if k not in ca)] if ca.get(k) != cb.get(k)}
    for sa, sb in zip(a["steps"], b["steps"], strict=False):
        act_a, act_b = action_text(sa), action_text(sb)
        if act_a != act_b and d.first_action_diff is None:
            d.first_action_diff = sa["index"]
        state_a, state_b = sa["state"], sb["state"]
        keys = [*state_a, *(k for k in state_b if k not in state_a)]
        fields = [(k, state_a.get(k), state_b.get(k)) for k in keys if state_a.get(k) != state_b.get(k)]
        if fields or act_a != act_b:
            d.steps.append(StepDiff(sa["index"], act_a, act_b, fields))
    shorter = min(len(a["steps"]), len(b["steps"]))
    d.extra_a = [action_text(s) for s in a["steps"][shorter:]]
    d.extra_b = [action_text(s) for s in b["steps"][shorter:]]
    if d.first_action_diff is None and len(a["steps"]) != len(b["steps"]):
        d.first_action_diff = shorter
    return d


def field_difference(name: str, va: Any, vb: Any) -> str:
    """One differing field, read as the change that would turn A's value into B's:
    ``P (1,0)->(0,0)``, ``J +{seq=2 lba=1 value=1}`` (B has a record A does not)."""
    return change_text(name, va, vb)


def summary_lines(d: TraceDiff) -> list[str]:
    """The verdict of the comparison in a few plain lines (no markup), for the terminal and for tests."""
    lines = []
    if d.identical:
        lines.append(f"identical (modulo source and note): {d.property_a} {d.verdict_a}, {d.length_a} steps")
        return lines
    lines.append("config: same" if d.same_config else "config differs: " + ", ".join(
        f"{k} {va!r} | {vb!r}" for k, (va, vb) in d.config.items()))
    if d.same_property:
        lines.append(f"property: same ({d.property_a} {d.verdict_a})")
    else:
        lines.append(f"property differs: {d.property_a} {d.verdict_a} | {d.property_b} {d.verdict_b}")
    lines.append(f"length: {d.length_a} | {d.length_b} steps")
    if d.first_action_diff is None:
        lines.append("actions: the same at every step")
    else:
        lines.append(f"actions: first differ at step {d.first_action_diff}")
    return lines
