"""Conformance of the reference implementation (``impl/``) to the model (``model/``): the one module that
imports both.

Theory of operation (etcd raft's trace validation, the other way round): a ``Lockstep`` holds a fresh
``MirroredSystem`` and the model's state for the same ``Bounds`` (mutant included) and takes every step on
both. After each step the abstraction of the impl (``impl_view``: ``impl.abstraction.abstract_state`` made
plain) must equal the model state's non-ghost, non-budget fields (``model_view``); on a mismatch the
differing fields are named. The spec's safety predicates are evaluated on the model's state and, where
meaningful, on the impl's: ``impl_state`` grafts the model's ghost and budget fields (which the impl does not
have) onto the impl's view, so the SAME predicates of ``spec.properties`` judge the impl too.

The lockstep's hot path reads the impl through ``ImplViewer``: the same abstraction, but a volume or a
journal record is decoded again only when a sector of its array was written (or the volume map moved) since
it was last read, and a record that cannot be trusted (torn, bad CRC, not where the log table points) is left
out of the journal's view, with the reason kept, instead of stopping the comparison: the model never holds an
untrustworthy record, so the difference is named as a divergence of ``journal`` (or ``remote_journal``).
tests/test_conformance.py proves the viewer equals ``impl_view`` after every step of random walks.

``impl_mutant`` runs a bug of ``impl.mutants.IMPL_ONLY_MUTANTS`` in the impl alone, under a correct model:
what only conformance can catch.

``replay_on_impl`` steps a trace of any source (explicit, z3, fuzz) through a fresh impl and the model:
the first step where they diverge, or which property fails at which step, on the impl's side.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from pitmirror.checkers.traces import trace as tr
from pitmirror.impl import ScsiError
from pitmirror.impl.abstraction import (
    abstract_state,
    record_tuple,
)
from pitmirror.impl.actions import Action as ImplAction
from pitmirror.impl.blocks import BLOCK_SIZE, value_of_block
from pitmirror.impl.errors import JournalRecordError
from pitmirror.impl.hardware import PowerLoss
from pitmirror.impl.journal import Journal
from pitmirror.impl.mutants import IMPL_ONLY_MUTANTS
from pitmirror.impl.ready import RequestStatus
from pitmirror.impl.record import sectors_for
from pitmirror.impl.system import MirroredSystem
from pitmirror.model.actions import (
    ACTION_TYPES,
    Action,
    HostWrite,
    MirrorTimeout,
    SwapTimeout,
    action_from_json,
)
from pitmirror.model.config import Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec import actions as spec_actions
from pitmirror.spec.fields import BUDGET_FIELDS, GHOST_FIELDS
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
    Volume,
    pending_host_writes,
    recovery_active,
)

# GHOST_FIELDS: the spec's ghost variables: only the spec reads them, the impl has no such thing.
# BUDGET_FIELDS: the checker's budgets (how many writes, faults, recoveries were used): bounds, not protocol
# state. Both from spec.fields, the one table of what each State field is.
#: Every field compared after each step, in the state's order.
COMPARED_FIELDS = tuple(f for f in State._fields if f not in GHOST_FIELDS + BUDGET_FIELDS)
#: The protocol's part of a ``Recovery`` entry (the rest are ghost fields the spec reads).
RECOVERY_FIELDS = ("recovery_id", "kind", "target", "a_swapped", "remote_status")

#: The timeouts, whose budget depends on their argument: one spends premature_timeouts only when it fires
#: while its message is late, not lost (``MirrorModel.within_budget`` on the action object).
_TIMEOUT_NAMES = frozenset(cls.__name__ for cls in (MirrorTimeout, SwapTimeout))


def _key(name: str, args: dict[str, Any]) -> tuple[str, Any]:
    """An action as hashable data: its name and JSON arguments (a message's fields sorted)."""
    return name, tuple(sorted((k, tuple(sorted(v.items())) if isinstance(v, dict) else v)
                              for k, v in args.items()))


#: how many actions each memo below keeps (actions are frozen and recur at every step)
_MEMO = 100_000


@functools.lru_cache(maxsize=_MEMO)
def _model_key(a: Action) -> tuple[str, Any]:
    """``_key`` of a model action, computed once per action."""
    return _key(a.name, a.args())


#: The actions with a budget (``spec.actions``' budget column), in its order.
_BUDGETED = tuple(a.name for a in spec_actions.ACTIONS if a.budget is not None)


@functools.lru_cache(maxsize=_MEMO)
def _as_model_action(a: ImplAction) -> Action:
    """``to_model_action``, computed once per action."""
    return to_model_action(a)


@functools.lru_cache(maxsize=_MEMO)
def _model_args(a: Action) -> dict[str, Any]:
    """``a.args()``, computed once per action: the impl is stepped with them at every lockstep step (callers
    only read the dict)."""
    return a.args()


@functools.lru_cache(maxsize=_MEMO)
def _impl_key(a: ImplAction) -> tuple[str, Any]:
    """``_key`` of an impl action, computed once per action."""
    return _key(a.name, a.to_json()["args"])


#: Every action key seen, numbered: ``check_enabled`` compares sets of these numbers, which hash at once,
#: rather than sets of nested key tuples, hashed again at every step. Both sides' keys share the numbering.
#: (Finite: a run's actions are bounded by its bounds.)
_CODES: dict[tuple[str, Any], int] = {}
_KEYS: list[tuple[str, Any]] = []  # code -> key
#: id(impl action) -> (that action, its code): the impl lists the same action objects step after step
#: (``impl.driver`` makes each once), and its dataclass hash is computed in Python at every lookup. The
#: action is kept, so an id is not reused while its entry lives, and an entry is used only for its object.
_IMPL_CODES: dict[int, tuple[ImplAction, int]] = {}


def _code(key: tuple[str, Any]) -> int:
    """The number of ``key`` (numbered when first seen)."""
    code = _CODES.get(key)
    if code is None:
        code = _CODES[key] = len(_KEYS)
        _KEYS.append(key)
    return code


def _impl_code(a: ImplAction) -> int:
    """``_code(_impl_key(a))``, found by the object's identity."""
    hit = _IMPL_CODES.get(id(a))
    if hit is not None and hit[0] is a:
        return hit[1]
    if len(_IMPL_CODES) > _MEMO:
        _IMPL_CODES.clear()
    code = _code(_impl_key(a))
    _IMPL_CODES[id(a)] = (a, code)
    return code


#: model action -> its code: one look-up per action of a new state rather than two (``_model_key``'s memo,
#: then ``_CODES`` hashing the nested key tuple again)
_MODEL_CODES: dict[Action, int] = {}


def _model_code(a: Action) -> int:
    """``_code(_model_key(a))``."""
    code = _MODEL_CODES.get(a)
    if code is None:
        if len(_MODEL_CODES) > _MEMO:
            _MODEL_CODES.clear()
        code = _MODEL_CODES[a] = _code(_model_key(a))
    return code


def _show_key(key: tuple[str, Any]) -> str:
    name, args = key
    return f"{name}({', '.join(f'{k}={v}' for k, v in args)})"


#: The order a drain (``Lockstep.drain``) prefers: repair, deliver, time out, resync, move a recovery on
#: (``spec.actions.DRAIN_ORDER``, the table's drain column). Only steps the protocol takes by itself once the
#: path is up: no host I/O, no new faults.
DRAIN_ORDER: tuple[type[Action], ...] = tuple(ACTION_TYPES[name] for name in spec_actions.DRAIN_ORDER)


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
    return abstract_state(system)


class ImplViewer:
    """``impl_view`` for the hot path: a block of a volume, or a journal record, is decoded again only when
    one of its blocks was written since it was last read (the interconnect counts the writes that reach
    each block, and every write goes through it). Untrustworthy records are left out of the journal views
    and their errors kept in ``unreadable``."""

    def __init__(self, system: MirroredSystem) -> None:
        self.system = system
        self._blocks: dict[tuple[str, int, int], tuple[int, int]] = {}  # (site, ldev, lba) -> (writes, value)
        self._records: dict[tuple[str, Any],
                            tuple[tuple[int, ...], tuple[int, int, int, int] | JournalRecordError]] = {}
        self.unreadable: list[str] = []
        # whole views, reused while the interconnect counts no write to their LDEV since they were read
        self._volumes: dict[tuple[str, int], tuple[int, tuple[int, ...]]] = {}
        self._journals: dict[str, tuple[tuple[Any, ...], tuple[tuple[int, int, int, int], ...], list[str]]] = {}

    def _volume(self, site: str, array: Any, role: str) -> tuple[int, ...]:
        ldev = array.shm.volume_map.roles[role]
        total = array.interconnect.ldev_writes.get(ldev, 0)
        whole = self._volumes.get((site, ldev))
        if whole is not None and whole[0] == total:
            return whole[1]  # no write reached this LDEV since it was last read: most volumes, most steps
        writes = array.interconnect.block_writes
        out: list[int] = []
        for lba in range(array.blocks):
            n = writes.get((ldev, lba), 0)
            got = self._blocks.get((site, ldev, lba))
            if got is None or got[0] != n:
                got = self._blocks[(site, ldev, lba)] = (n, value_of_block(array.interconnect.read(ldev, lba)))
            out.append(got[1])
        self._volumes[(site, ldev)] = (total, tuple(out))
        return self._volumes[(site, ldev)][1]

    def _journal(self, site: str, journal: Journal) -> tuple[tuple[int, int, int, int], ...]:
        array = journal.array
        ldev, size = array.shm.volume_map.roles[journal.role], journal.log.size
        # unchanged when no write reached the journal's LDEV and the log table lists the same records
        seen = (ldev, array.interconnect.ldev_writes.get(ldev, 0), tuple(journal.log.entries))
        whole = self._journals.get(site)
        if whole is not None and whole[0] == seen:
            self.unreadable += whole[2]
            return whole[1]
        unreadable = len(self.unreadable)
        writes = array.interconnect.block_writes
        out: list[tuple[int, int, int, int]] = []
        for e in journal.log.entries:
            counts = tuple(writes.get((ldev, (e.location + i) % size), 0) for i in range(e.nsectors))
            got = self._records.get((site, e))
            if got is None or got[0] != counts:
                try:
                    rec: tuple[int, int, int, int] | JournalRecordError = record_tuple(journal.read(e))
                except JournalRecordError as err:
                    rec = err
                got = self._records[(site, e)] = (counts, rec)
            if isinstance(got[1], JournalRecordError):
                self.unreadable.append(f"{journal.label} seq {e.seq}: {got[1]}")
            else:
                out.append(got[1])
        if len(self._records) > 10_000:
            self._records.clear()  # entries of freed records pile up otherwise
        self._journals[site] = (seen, tuple(out), self.unreadable[unreadable:])
        return self._journals[site][1]

    def view(self) -> dict[str, Any]:
        """The impl's state in the model's terms, as ``impl_view`` gives it: ``abstract_state`` itself, with
        this viewer's readers of volumes and journals."""
        system = self.system
        sites: dict[str, Any] = {"A": system.a, "R": system.r}
        self.unreadable = []
        return abstract_state(system, volume=lambda site, role: self._volume(site, sites[site].array, role),
                              journal=lambda site: self._journal(site, sites[site].journal))


def differences(impl: dict[str, Any], model: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``field -> (impl, model)`` for every compared field that differs (a missing field differs too)."""
    return {f: (impl.get(f), model.get(f)) for f in COMPARED_FIELDS if impl.get(f) != model.get(f)}


#: The compared fields a state holds as the impl's view gives them (all but the two ``model_view`` reshapes):
#: read from a view and from a state in one C call each, for the equality test after every step.
_SAME_SHAPE = tuple(f for f in COMPARED_FIELDS if f not in ("recovery", "remote_buffer"))
_from_view = operator.itemgetter(*_SAME_SHAPE)
_from_state = operator.itemgetter(*(State._fields.index(f) for f in _SAME_SHAPE))


def conforms(impl: dict[str, Any], s: State) -> bool:
    """Whether ``differences(impl, model_view(s))`` is empty, found without building ``model_view``: this
    runs after every fuzz step, and the states agree at nearly all of them."""
    try:
        if _from_view(impl) != _from_state(s):
            return False
    except KeyError:
        return False  # a field missing from the view: ``differences`` decides
    r = s.recovery
    if (None if r is None else (r.recovery_id, r.kind, r.target, r.a_swapped, r.remote_status)) \
            != impl.get("recovery"):
        return False
    return bool(impl.get("remote_buffer") == tuple(sorted(s.remote_buffer)))


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

    def records(rs: tuple[tuple[int, ...], ...]) -> tuple[Record, ...]:
        return tuple(Record(*r) for r in rs)

    return ghost._replace(
        fence_policy=FencePolicy(v["fence_policy"]), primary=v["primary"], base=v["base"],
        base_seq=v["base_seq"], next_seq=v["next_seq"], journal=records(v["journal"]),
        journal_cache=records(v["journal_cache"]),
        in_flight=tuple(InFlight(e[0], e[1], e[2], Origin(e[3]), e[4], *e[5:]) for e in v["in_flight"]),
        pair_state=PairState(v["pair_state"]), dirty=v["dirty"],
        journaling_state=JournalingState(v["journaling_state"]), recovery=recovery, path_up=v["path_up"],
        path=tuple(Message(MessageKind(m[0]), m[1], m[2], m[3], *m[4:]) for m in v["path"]), remote=v["remote"],
        replica_base=v["replica_base"], replica_base_seq=v["replica_base_seq"],
        remote_journal=records(v["remote_journal"]), remote_applied_seq=v["remote_applied_seq"],
        remote_buffer=records(v["remote_buffer"]), remote_recovery_id=v["remote_recovery_id"],
        journal_locations=v["journal_locations"], journal_next_free=v["journal_next_free"],
        journal_sectors=v["journal_sectors"],
        primary_volume=_volume(v["primary_volume"]), host_lun=_volume(v["host_lun"]),
        lun_switch_pending=v["lun_switch_pending"], secondary_volume=_volume(v["secondary_volume"]),
        resync_id=v["resync_id"],
    )


def _volume(i: int) -> Volume:
    """The impl's volume index as a ``Volume``; the spare (2, no model volume) is kept as it is, so the
    spec's predicates see it differ from both."""
    return Volume(i) if i in (0, 1) else i  # type: ignore[return-value]


# --- building an impl for bounds, and speaking its actions -------------------------------------------------


def make_impl(bounds: Bounds, fence: FencePolicy, seed: int = 0, impl_mutant: str | None = None) -> MirroredSystem:
    """A fresh impl sized like the model's bounds, with the same mutant, fence policy and recovery kind (or,
    with ``impl_mutant``, a bug of the impl alone: ``impl.mutants.IMPL_ONLY_MUTANTS``)."""
    if impl_mutant is not None and bounds.mutant is not None:
        raise ValueError("an impl-only mutant runs against the correct model: give no model mutant with it")
    return MirroredSystem(blocks=bounds.blocks, journal_capacity=bounds.journal_capacity,
                          fence_policy=fence.name.lower(), mutant=impl_mutant or bounds.mutant, seed=seed,
                          max_in_flight=bounds.concurrency, recovery=bounds.recovery_kind.name.lower(),
                          values=bounds.values, write_blocks=bounds.write_blocks)


def to_model_action(a: ImplAction) -> Action:
    """An impl action (the same names) as the model's action object."""
    return action_from_json(a.name, a.to_json()["args"])


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

#: ``Lockstep.facts`` is cleared when it grows past this many states (a long run's memory stays bounded)
_FACTS = 200_000


class StateFacts:
    """What one model state alone decides, worked out at most once per state: the model's enabled actions
    and the successors of those taken, their keys (``check_enabled``), the budgets spent, the last impl
    action list found to match, and ``derived``, a caller's own memo of what it derives from the state (the
    fuzzer's step menu and property verdicts). Valid for one bounds (mutant and recovery kind included)."""

    __slots__ = ("args", "derived", "enabled", "impl_matched", "keys", "spent", "state", "successors")

    def __init__(self, state: State, enabled: list[Action]) -> None:
        self.state, self.enabled = state, enabled
        self.keys: frozenset[int] | None = None  # the enabled actions' keys, numbered (``_code``)
        self.spent: tuple[str, ...] | None = None
        self.impl_matched: list[ImplAction] | None = None
        self.derived: dict[Any, Any] = {}
        # by the action's index in ``enabled`` (``index``): the model's next state, the impl's arguments
        self.successors: list[State | None] = [None] * len(enabled)
        self.args: list[dict[str, Any] | None] = [None] * len(enabled)

    def index(self, a: Action) -> int:
        """Where ``a`` is in ``enabled``: found by identity first (a fuzzer's or a drain's step is one of
        these very objects; equality would compare field by field in Python); ``ValueError`` when the model
        does not enable it."""
        for i, e in enumerate(self.enabled):
            if e is a:
                return i
        try:
            return self.enabled.index(a)
        except ValueError:
            raise ValueError(f"{a!r} is not enabled in the model") from None



@dataclass
class Lockstep:
    """One impl and one model state, stepped together. ``steps`` is the model's (action, state) sequence,
    the trace of the run."""

    bounds: Bounds
    fence: FencePolicy
    seed: int = 0
    impl_mutant: str | None = None
    model: MirrorModel = field(init=False)
    system: MirroredSystem = field(init=False)
    state: State = field(init=False)
    steps: list[tuple[Action | None, State]] = field(init=False)
    #: model state -> what depends on it alone (``StateFacts``); a caller running many lockstep pairs on the
    #: same bounds (the fuzzer's examples, which share their beginnings) passes one dict to them all
    facts: dict[State, StateFacts] = field(default_factory=dict)
    _view: tuple[int, dict[str, Any]] | None = field(init=False, default=None)
    _viewer: ImplViewer = field(init=False)
    _facts: StateFacts | None = field(init=False, default=None)  # ``facts`` of ``state``, once looked up
    _conforms_at: int = field(init=False, default=-1)  # the step whose views were last found equal

    def __post_init__(self) -> None:
        self.model = MirrorModel(self.bounds)
        inits = [s for s in self.model.init_states() if s.fence_policy == self.fence]
        if not inits:
            raise ValueError(f"fence policy {self.fence.name.lower()} is not among the bounds' policies")
        self.state = inits[0]
        self.system = make_impl(self.bounds, self.fence, self.seed, self.impl_mutant)
        self._viewer = ImplViewer(self.system)
        self.steps = [(None, self.state)]

    @property
    def step_index(self) -> int:
        """The index of the last step taken (0: the initial state)."""
        return len(self.steps) - 1

    def state_facts(self) -> StateFacts:
        """What the current model state alone decides (``StateFacts``), looked up once per step and computed
        once per state of ``facts``."""
        f = self._facts
        if f is None or f.state is not self.state:
            f = self.facts.get(self.state)
            if f is None:
                if len(self.facts) > _FACTS:
                    self.facts.clear()
                f = self.facts[self.state] = StateFacts(self.state, self.model.actions(self.state))
            self._facts = f
        return f

    def enabled(self) -> list[Action]:
        """The model's enabled actions: what both sides must be able to do now (computed once per state)."""
        return self.state_facts().enabled

    def view(self) -> dict[str, Any]:
        """The impl's view (``ImplViewer``: equal to ``impl_view``), computed once per step: only a step
        changes the impl (a refused request changes nothing, and the fuzzer checks that separately)."""
        if self._view is None or self._view[0] != len(self.steps):
            self._view = (len(self.steps), self._viewer.view())
        return self._view[1]

    def step(self, a: Action, request: Callable[[], object] | None = None) -> None:
        """Take ``a`` on the model (it must be enabled there) and on the impl (``system.apply(a)``, or
        ``request``: the same step asked another way, e.g. a recovery to a marker by name); an impl refusal
        is a divergence. The states are compared by ``check_conforms``, not here."""
        f = self.state_facts()
        i = f.index(a)
        nxt = f.successors[i]
        if nxt is None:
            nxt = f.successors[i] = self.model.next_state(self.state, a)
        self.state = nxt
        self.steps.append((a, self.state))
        try:
            if request is None:
                args = f.args[i]
                if args is None:
                    args = f.args[i] = _model_args(a)
                self.system.apply(a.name, **args)  # as apply(a) does, the arguments made once
            else:
                request()
        except ScsiError as e:
            raise ConformanceError(self.step_index, f"the impl refuses {a!r}, which the model enables: {e}") \
                from None

    def check_conforms(self) -> None:
        """abstraction(impl) == the model state's non-ghost, non-budget fields; else name the fields."""
        view = self.view()
        diff = {} if conforms(view, self.state) else differences(view, model_view(self.state))
        if diff:
            why = "".join(f"; untrusted: {u}" for u in self._viewer.unreadable)
            raise ConformanceError(self.step_index, f"after {self.steps[-1][0]!r}: {describe(diff)}{why}",
                                   tuple(diff))
        self._conforms_at = len(self.steps)

    def check_enabled(self) -> None:
        """The impl enables exactly the model's actions, once the model's budgets are applied to it.
        Compared by name and JSON arguments (both sides speak the trace format), which is cheaper than
        rebuilding model action objects: this runs after every fuzz step. The model's side (its keys, the
        budgets spent) is worked out once per state; the impl is not asked for the actions whose budget is
        spent (it would list them, and they would be dropped: a recovery's targets cost it an image each).
        An impl list equal to one already found to match in this model state matches again (the filter
        below depends on the model state and the actions only), so it is not keyed again."""
        s, f = self.state, self.state_facts()
        if f.spent is None:
            f.spent = tuple(name for name in _BUDGETED if not self.model.within_budget(s, name))
        listed = self.system.enabled_actions(without=f.spent)
        if listed == f.impl_matched:
            return
        impl = set()
        for ia in listed:
            if ia.name in _TIMEOUT_NAMES and not self.model.within_budget(s, _as_model_action(ia)):
                continue  # a premature timeout, and that budget is spent
            impl.add(_impl_code(ia))
        if f.keys is None:
            f.keys = frozenset(_model_code(a) for a in f.enabled)
        model = f.keys
        if model != impl:
            only_m = ", ".join(sorted(_show_key(_KEYS[c]) for c in model - impl)) or "-"
            only_i = ", ".join(sorted(_show_key(_KEYS[c]) for c in impl - model)) or "-"
            raise ConformanceError(self.step_index, f"enabled actions differ: only the model enables {only_m}; "
                                                    f"only the impl enables {only_i}", ("enabled",))
        f.impl_matched = listed

    def violated(self, props: Iterable[Property]) -> list[tuple[Property, str]]:
        """The properties violated now: on the model's state, then on the impl's (``impl_state``). When
        ``check_conforms`` passed at this step, the impl's state equals the model's field for field (the
        views are equal and the ghost is the model's), so the predicates are not evaluated twice."""
        out: list[tuple[Property, str]] = []
        same = self._conforms_at == len(self.steps)
        impl_s = None if same else impl_state(self.system, self.state, self.view())
        for p in props:
            if not p.predicate(self.state):
                out.append((p, "model"))
            elif impl_s is not None and not p.predicate(impl_s):
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


def power_cut_write(system: MirroredSystem, a: HostWrite) -> None:
    """``a`` on the impl, cut by a power loss after its journal record's sectors are written and the log
    table committed, before P is written (the restart is the next step, ``CrashArray("A")``)."""
    # the record's sectors (a multi-block write's record has one payload sector per block); then P's first fails
    system.a.power_fail_after(sectors_for(a.length * BLOCK_SIZE))
    try:
        system.host_write(a.lba, a.value, a.length)
    except PowerLoss:
        pass
    else:
        raise AssertionError(f"{a!r}: the power did not fail between the journal and P")
    finally:
        system.a.power_fail_after(None)


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


def replay_on_impl(doc: dict[str, Any], drain_limit: int = 200, impl_mutant: str | None = None) -> ImplReplayReport:
    """Apply each step's action of a checked trace document to a fresh impl (with the trace's bounds and
    mutant) and to the model: the first step where the impl refuses a step or its state differs, and the
    first step at which each safety property fails on the impl's state. For a liveness trace, the end state
    is drained (``Lockstep.check_liveness``): a host write or recovery still pending is the violation.
    ``impl_mutant`` (default: the document's ``impl_mutant``, which a fuzz trace of an impl-only mutant
    carries) runs that bug in the impl alone."""
    bounds, prop, actions = tr.parse(doc)
    if impl_mutant is None and doc.get("impl_mutant") is not None:
        impl_mutant = str(doc["impl_mutant"])
    if impl_mutant is not None and impl_mutant not in IMPL_ONLY_MUTANTS:
        raise tr.TraceError(f"unknown impl-only mutant {impl_mutant!r}; valid: {', '.join(IMPL_ONLY_MUTANTS)}")
    fence_name = doc["steps"][0]["state"].get("fence_policy")
    try:
        fence = FencePolicy[str(fence_name)]
    except KeyError:
        raise tr.TraceError(f"initial fence_policy {fence_name!r} is not a fence policy") from None
    try:
        run = Lockstep(bounds, fence, impl_mutant=impl_mutant)
    except ValueError as e:
        raise tr.TraceError(str(e)) from None
    report = ImplReplayReport(steps_replayed=0)
    safety = [p for p in BY_NAME.values() if p.kind is Kind.ALWAYS]
    cuts = {int(c) for c in doc.get("power_cuts", [])}  # host writes cut by a power loss (a fuzz trace's)
    for i, a in enumerate(actions):
        try:
            if a is not None:
                if a not in run.enabled():
                    report.diverged_at, report.divergence = i, f"{a!r} is not enabled in the model here"
                    return report
                if i in cuts and isinstance(a, HostWrite):
                    run.step(a, functools.partial(power_cut_write, run.system, a))
                    report.steps_replayed = i + 1
                    continue  # mid-write until the restart, the next step: compared after that
                run.step(a)
            run.check_conforms()
        except ConformanceError as e:
            report.diverged_at, report.divergence = i, e.detail
            return report
        impl_s = impl_state(run.system, run.state, run.view())
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
