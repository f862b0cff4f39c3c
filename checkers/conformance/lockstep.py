"""Conformance of the reference implementation (``impl/``) to the model (``model/``): the one module that
imports both.

Theory of operation (etcd raft's trace validation, the other way round): a ``Lockstep`` holds a fresh
``MirroredSystem`` and the model's state for the same ``Bounds`` (mutant included) and takes every step on
both. After each step the abstraction of the impl (``impl_view``: ``impl.abstraction.abstract_state`` made
plain) must equal the model state's non-ghost, non-budget fields (``model_view``); on a mismatch the
differing fields are named. The spec's safety predicates are evaluated on the model's state and, where
meaningful, on the impl's: ``impl_state`` grafts the model's ghost and budget fields (which the impl does not
have) onto the impl's view, so the SAME predicates of ``spec.properties`` judge the impl too.

``replay_on_impl`` steps a trace of any source (explicit, z3, fuzz) through a fresh impl and the model:
the first step where they diverge, or which property fails at which step, on the impl's side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from pitmirror.checkers.traces import trace as tr
from pitmirror.impl import ScsiError
from pitmirror.impl.abstraction import abstract_state
from pitmirror.impl.actions import Action as ImplAction
from pitmirror.impl.ready import RequestStatus
from pitmirror.impl.system import MirroredSystem
from pitmirror.model.actions import (
    Action,
    CrashArray,
    Deliver,
    DuplicateMessage,
    FailPath,
    FinishRecovery,
    FinishResync,
    HostWrite,
    LoseMessage,
    MirrorTimeout,
    RecoveryWrite,
    RepairPath,
    SetMarker,
    StartRecovery,
    StartResync,
    SwapTimeout,
    SwapVolumes,
    action_from_json,
)
from pitmirror.model.config import Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec.properties import BY_NAME, EXPECTED_TRADE_OFFS, SAFETY, Kind, Property
from pitmirror.spec.state import (
    FencePolicy,
    InFlight,
    JournalingState,
    Message,
    MessageKind,
    Origin,
    PairState,
    Record,
    Recovery,
    RecoveryKind,
    RemoteSwapStatus,
    State,
    pending_host_writes,
    recovery_active,
)

#: The spec's ghost variables: only the spec reads them, the impl has no such thing.
GHOST_FIELDS = ("ghost_base", "ghost_base_seq", "history", "recovery_ended", "retired_image",
                "recovery_awaiting_resync")
#: The checker's budgets (how many writes, faults, recoveries were used): bounds, not protocol state.
BUDGET_FIELDS = ("host_writes_issued", "markers_set", "recoveries_started", "path_failures", "crashes",
                 "message_faults")
#: Every field compared after each step, in the state's order.
COMPARED_FIELDS = tuple(f for f in State._fields if f not in GHOST_FIELDS + BUDGET_FIELDS)
#: The protocol's part of a ``Recovery`` entry (the rest are ghost fields the spec reads).
RECOVERY_FIELDS = ("recovery_id", "kind", "target", "a_swapped", "remote_status")

#: Which model budget gates each budgeted action (the impl leaves budgets to its caller).
_BUDGETS: dict[type[Action], tuple[str, str]] = {
    HostWrite: ("host_writes_issued", "host_writes"),
    SetMarker: ("markers_set", "markers"),
    LoseMessage: ("message_faults", "message_faults"),
    DuplicateMessage: ("message_faults", "message_faults"),
    FailPath: ("path_failures", "path_failures"),
    CrashArray: ("crashes", "crashes"),
    StartRecovery: ("recoveries_started", "recoveries"),
}

_BUDGETS_BY_NAME = {cls.__name__: b for cls, b in _BUDGETS.items()}


def _key(name: str, args: dict[str, Any]) -> tuple[str, Any]:
    """An action as hashable data: its name and JSON arguments (a message's fields sorted)."""
    return name, tuple(sorted((k, tuple(sorted(v.items())) if isinstance(v, dict) else v)
                              for k, v in args.items()))


def _show_key(key: tuple[str, Any]) -> str:
    name, args = key
    return f"{name}({', '.join(f'{k}={v}' for k, v in args)})"


#: The order a drain (``Lockstep.drain``) prefers: repair, deliver, time out, resync, move a recovery on.
#: Only steps the protocol takes by itself once the path is up: no host I/O, no new faults.
DRAIN_ORDER: tuple[type[Action], ...] = (
    RepairPath, Deliver, MirrorTimeout, SwapTimeout, StartResync, FinishResync, RecoveryWrite, SwapVolumes,
    FinishRecovery,
)


class ConformanceError(AssertionError):
    """The impl and the model disagree: a refusal of an enabled step, or a state that differs."""

    def __init__(self, step: int, detail: str, fields: tuple[str, ...] = ()) -> None:
        self.step, self.detail, self.fields = step, detail, fields
        super().__init__(f"impl and model diverge at step {step}: {detail}")


class PropertyViolation(AssertionError):
    """A spec property is violated (on the model's state, or on the impl's when ``on_impl``)."""

    def __init__(self, prop: Property, step: int, on: str, detail: str = "") -> None:
        self.prop, self.step, self.on, self.detail = prop, step, on, detail
        super().__init__(f"{prop.name} violated at step {step} ({on}): {prop.meaning}"
                         + (f"; {detail}" if detail else ""))


# --- the abstraction function ---------------------------------------------------------------------------


def plain(v: Any) -> Any:
    """Enums as ints and named tuples as plain tuples, recursively: the impl's and the model's views meet
    on plain data, so a difference is a difference of values, never of types."""
    if isinstance(v, bool):
        return v
    if isinstance(v, IntEnum):
        return int(v)
    if isinstance(v, tuple | list):
        return tuple(plain(x) for x in v)
    return v


def model_view(s: State) -> dict[str, Any]:
    """The model state's fields the impl has: every non-ghost, non-budget field, the recovery entry cut to
    its protocol part. Named tuples and IntEnums compare equal to the impl's plain tuples and ints, so no
    conversion is needed on this hot path (``plain`` is for showing a difference)."""
    out: dict[str, Any] = {f: getattr(s, f) for f in COMPARED_FIELDS}
    r = s.recovery
    if r is not None:
        out["recovery"] = (r.recovery_id, r.kind, r.target, r.a_swapped, r.remote_status)
    out["remote_buffer"] = tuple(sorted(s.remote_buffer))  # a reorder buffer is a set: compare sorted
    return out


def impl_view(system: MirroredSystem) -> dict[str, Any]:
    """The impl's state in the model's terms (``impl.abstraction.abstract_state``)."""
    view = abstract_state(system)
    view["remote_buffer"] = tuple(sorted(view["remote_buffer"]))
    return view


def differences(impl: dict[str, Any], model: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``field -> (impl, model)`` for every compared field that differs (a missing field differs too)."""
    return {f: (impl.get(f), model.get(f)) for f in COMPARED_FIELDS if impl.get(f) != model.get(f)}


def describe(diff: dict[str, tuple[Any, Any]]) -> str:
    """``primary: impl (0, 1) != model (0, 0); ...``."""
    return "; ".join(f"{f}: impl {plain(i)!r} != model {plain(m)!r}" for f, (i, m) in diff.items())


def impl_state(system: MirroredSystem, ghost: State, view: dict[str, Any] | None = None) -> State:
    """The impl's state as a ``spec.state.State``: its own fields, with the ghost and the budgets taken
    from the model's ``ghost`` (the impl has neither). The spec's predicates then judge the impl's
    volumes, tables and path with the model's knowledge of what the host saw."""
    v = impl_view(system) if view is None else view
    rec = v["recovery"]
    recovery: Recovery | None = None
    if rec is not None:
        g = ghost.recovery
        recovery = Recovery(rec[0], RecoveryKind(rec[1]), rec[2], rec[3], RemoteSwapStatus(rec[4]),
                            faulted=g.faulted if g else False, left_pair=g.left_pair if g else False,
                            host_io_during_swap=g.host_io_during_swap if g else False,
                            target_image=g.target_image if g else (), start_image=g.start_image if g else ())

    def records(rs: tuple[tuple[int, int, int], ...]) -> tuple[Record, ...]:
        return tuple(Record(*r) for r in rs)

    return ghost._replace(
        fence_policy=FencePolicy(v["fence_policy"]), primary=v["primary"], base=v["base"],
        base_seq=v["base_seq"], next_seq=v["next_seq"], journal=records(v["journal"]),
        journal_cache=records(v["journal_cache"]),
        in_flight=tuple(InFlight(e[0], e[1], e[2], Origin(e[3]), e[4]) for e in v["in_flight"]),
        pair_state=PairState(v["pair_state"]), dirty=v["dirty"],
        journaling_state=JournalingState(v["journaling_state"]), recovery=recovery, path_up=v["path_up"],
        path=tuple(Message(MessageKind(m[0]), m[1], m[2], m[3]) for m in v["path"]), remote=v["remote"],
        replica_base=v["replica_base"], replica_base_seq=v["replica_base_seq"],
        remote_journal=records(v["remote_journal"]), remote_applied_seq=v["remote_applied_seq"],
        remote_buffer=records(v["remote_buffer"]), remote_recovery_id=v["remote_recovery_id"],
    )


# --- building an impl for bounds, and speaking its actions -------------------------------------------------


def make_impl(bounds: Bounds, fence: FencePolicy, seed: int = 0) -> MirroredSystem:
    """A fresh impl sized like the model's bounds, with the same mutant, fence policy and recovery kind."""
    return MirroredSystem(blocks=bounds.blocks, journal_capacity=bounds.journal_capacity,
                          fence_policy=fence.name.lower(), mutant=bounds.mutant, seed=seed,
                          max_in_flight=bounds.concurrency, recovery=bounds.recovery_kind.name.lower(),
                          values=bounds.values)


def to_model_action(a: ImplAction) -> Action:
    """An impl action (the same names) as the model's action object."""
    return action_from_json(a.name, a.to_json()["args"])


def within_budget(bounds: Bounds, s: State, a: Action) -> bool:
    """Whether the model's budgets allow ``a`` in ``s`` (the impl has no budgets; the model bounds them)."""
    budget = _BUDGETS.get(type(a))
    return budget is None or getattr(s, budget[0]) < getattr(bounds, budget[1])


def safety_properties(bounds: Bounds) -> tuple[list[Property], list[tuple[Property, str]]]:
    """The safety properties checked after each step for these bounds, and those left out as the
    documented trade-offs of this recovery kind (with the reason)."""
    checked, excluded = [], []
    for p in SAFETY:
        reason = EXPECTED_TRADE_OFFS.get((p.name, bounds.recovery_kind))
        if reason is None:
            checked.append(p)
        else:
            excluded.append((p, reason))
    return checked, excluded


# --- the lockstep runner ----------------------------------------------------------------------------------


@dataclass
class Lockstep:
    """One impl and one model state, stepped together. ``steps`` is the model's (action, state) sequence,
    the trace of the run."""

    bounds: Bounds
    fence: FencePolicy
    seed: int = 0
    model: MirrorModel = field(init=False)
    system: MirroredSystem = field(init=False)
    state: State = field(init=False)
    steps: list[tuple[Action | None, State]] = field(init=False)
    _view: tuple[int, dict[str, Any]] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.model = MirrorModel(self.bounds)
        inits = [s for s in self.model.init_states() if s.fence_policy == self.fence]
        if not inits:
            raise ValueError(f"fence policy {self.fence.name.lower()} is not among the bounds' policies")
        self.state = inits[0]
        self.system = make_impl(self.bounds, self.fence, self.seed)
        self.steps = [(None, self.state)]

    @property
    def step_index(self) -> int:
        """The index of the last step taken (0: the initial state)."""
        return len(self.steps) - 1

    def enabled(self) -> list[Action]:
        """The model's enabled actions: what both sides must be able to do now."""
        return self.model.actions(self.state)

    def view(self) -> dict[str, Any]:
        """The impl's view (``impl_view``), computed once per step: only a step changes the impl (a refused
        request changes nothing, and the fuzzer checks that separately)."""
        if self._view is None or self._view[0] != len(self.steps):
            self._view = (len(self.steps), impl_view(self.system))
        return self._view[1]

    def step(self, a: Action, request: Callable[[], object] | None = None) -> None:
        """Take ``a`` on the model (it must be enabled there) and on the impl (``system.apply(a)``, or
        ``request``: the same step asked another way, e.g. a recovery to a marker by name); an impl refusal
        is a divergence. The states are compared by ``check_conforms``, not here."""
        if a not in self.model.actions(self.state):
            raise ValueError(f"{a!r} is not enabled in the model")
        self.state = self.model.next_state(self.state, a)
        self.steps.append((a, self.state))
        try:
            if request is None:
                self.system.apply(a)
            else:
                request()
        except ScsiError as e:
            raise ConformanceError(self.step_index, f"the impl refuses {a!r}, which the model enables: {e}") \
                from None

    def check_conforms(self) -> None:
        """abstraction(impl) == the model state's non-ghost, non-budget fields; else name the fields."""
        diff = differences(self.view(), model_view(self.state))
        if diff:
            raise ConformanceError(self.step_index, f"after {self.steps[-1][0]!r}: {describe(diff)}",
                                   tuple(diff))

    def check_enabled(self) -> None:
        """The impl enables exactly the model's actions, once the model's budgets are applied to it.
        Compared by name and JSON arguments (both sides speak the trace format), which is cheaper than
        rebuilding model action objects: this runs after every fuzz step."""
        model = {_key(a.name, a.args()) for a in self.enabled()}
        impl: set[tuple[str, Any]] = set()
        for ia in self.system.enabled_actions():
            budget = _BUDGETS_BY_NAME.get(ia.name)
            if budget is None or getattr(self.state, budget[0]) < getattr(self.bounds, budget[1]):
                impl.add(_key(ia.name, ia.to_json()["args"]))
        if model != impl:
            only_m = ", ".join(sorted(map(_show_key, model - impl))) or "-"
            only_i = ", ".join(sorted(map(_show_key, impl - model))) or "-"
            raise ConformanceError(self.step_index, f"enabled actions differ: only the model enables {only_m}; "
                                                    f"only the impl enables {only_i}", ("enabled",))

    def violated(self, props: Iterable[Property]) -> list[tuple[Property, str]]:
        """The properties violated now: on the model's state, then on the impl's (``impl_state``)."""
        out: list[tuple[Property, str]] = []
        impl_s = impl_state(self.system, self.state, self.view())
        for p in props:
            if not p.predicate(self.state):
                out.append((p, "model"))
            elif not p.predicate(impl_s):
                out.append((p, "impl"))
        return out

    def check_safety(self, props: Iterable[Property]) -> None:
        """Raise ``PropertyViolation`` for the first property violated now."""
        for p, on in self.violated(props):
            raise PropertyViolation(p, self.step_index, on)

    def drain(self, limit: int = 200) -> list[Action]:
        """Let the protocol settle with the path up and no new faults or host I/O: repair the path, deliver
        every message, fire the timeouts, resync, and move a running recovery to its end (``DRAIN_ORDER``,
        in lockstep, conformance checked after each step). Returns the steps taken; stops after ``limit``."""
        taken: list[Action] = []
        while len(taken) < limit:
            enabled = self.enabled()
            choice = next((a for kind in DRAIN_ORDER for a in enabled if type(a) is kind), None)
            if choice is None:
                break
            self.step(choice)
            self.check_conforms()
            taken.append(choice)
        return taken

    def check_liveness(self, limit: int = 200) -> None:
        """Drain, then: no host write left pending (host_write_completes) and no recovery left running
        (recovery_completes), on the model and on the impl. A write still pending after a drain with the
        path up is stuck forever: nothing but a new fault could end it."""
        self.drain(limit)
        impl_pending = any(q.status is RequestStatus.PENDING for q in self.system.requests)
        checks = (("host_write_completes", pending_host_writes(self.state), impl_pending),
                  ("recovery_completes", recovery_active(self.state), self.system.a.jfmt.recovery is not None))
        for name, on_model, on_impl in checks:
            if on_model or on_impl:
                where = "model" if on_model else "impl"
                raise PropertyViolation(BY_NAME[name], self.step_index, where,
                                        f"still pending after a drain of at most {limit} steps with the path up")


# --- replaying any trace on the impl ------------------------------------------------------------------------


@dataclass
class ImplReplayReport:
    """What replaying a trace on the impl and the model in lockstep found."""

    steps_replayed: int
    diverged_at: int | None = None
    divergence: str = ""
    violated_at: dict[str, int] = field(default_factory=dict)  # first step each property fails on the impl
    liveness_checked: bool = False

    @property
    def clean(self) -> bool:
        """No divergence and no property violated."""
        return self.diverged_at is None and not self.violated_at


def replay_on_impl(doc: dict[str, Any], drain_limit: int = 200) -> ImplReplayReport:
    """Apply each step's action of a checked trace document to a fresh impl (with the trace's bounds and
    mutant) and to the model: the first step where the impl refuses a step or its state differs, and the
    first step at which each safety property fails on the impl's state. For a liveness trace, the end state
    is drained (``Lockstep.check_liveness``): a host write or recovery still pending is the violation."""
    bounds, prop, actions = tr.parse(doc)
    fence_name = doc["steps"][0]["state"].get("fence_policy")
    try:
        fence = FencePolicy[str(fence_name)]
    except KeyError:
        raise tr.TraceError(f"initial fence_policy {fence_name!r} is not a fence policy") from None
    try:
        run = Lockstep(bounds, fence)
    except ValueError as e:
        raise tr.TraceError(str(e)) from None
    report = ImplReplayReport(steps_replayed=0)
    safety = [p for p in BY_NAME.values() if p.kind is Kind.ALWAYS]
    for i, a in enumerate(actions):
        try:
            if a is not None:
                if a not in run.enabled():
                    report.diverged_at, report.divergence = i, f"{a!r} is not enabled in the model here"
                    return report
                run.step(a)
            run.check_conforms()
        except ConformanceError as e:
            report.diverged_at, report.divergence = i, e.detail
            return report
        impl_s = impl_state(run.system, run.state)
        for p in safety:
            if p.name not in report.violated_at and not p.predicate(impl_s):
                report.violated_at[p.name] = i
        report.steps_replayed = i + 1
    if prop.kind is Kind.EVENTUALLY:
        report.liveness_checked = True
        try:
            run.check_liveness(drain_limit)
        except ConformanceError as e:
            report.diverged_at, report.divergence = e.step, e.detail
        except PropertyViolation as e:
            if e.prop.name == prop.name:
                report.violated_at[e.prop.name] = len(actions) - 1
    return report
