"""What each field of ``State`` is: one table, from which the other layers derive their views of the state.

For every field: the lane that owns it (the host, array A, the path, array R, or the ghost that only the
spec reads), whether it is volatile (lost when its array crashes), whether it is a ghost variable, whether it
is a budget (how much of a bound a run has used: bounds, not protocol state), what it holds (``Content``:
which says how a renaming of blocks and data values acts on it), and the storage engineer's short name.

Derived from it: ``model.symmetry`` and ``checkers.frontier.symmetry`` (how each field is renamed),
``checkers.conformance.lockstep`` (the ghost and budget fields the impl does not have),
``checkers.traces.render`` (the page's lanes and labels), ``checkers.symbolic.terms.Layout`` (each field's
slots in the Z3 state vector, and decoding a vector). ``tests/test_fields.py`` checks every ``State`` field
is here once, in order, and that the one table kept by hand (the layout's capacities, which need the
bounds) covers exactly the bounded sequences. What each action is lives in ``spec.actions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Lane(Enum):
    """Who owns a field (the lanes of a trace page, left to right, and the ghost apart)."""

    HOST = "host"
    A = "A"
    PATH = "path"
    R = "R"
    GHOST = "ghost"


class Content(Enum):
    """What a field holds, which decides how renaming blocks and non-zero values acts on it."""

    SCALAR = "scalar"  # a number, flag or enum: no block index, no data value
    VOLUME = "volume"  # one data value per block
    BITMAP = "bitmap"  # one 0/1 per block: block-indexed, but not data
    RECORDS = "records"  # journal records (seq, lba, value) in the order they were applied
    RECORD_MULTISET = "record multiset"  # records in no order of their own, kept sorted
    IN_FLIGHT = "in flight"  # writes in flight (seq, lba, value, origin, host acked), in seq order
    MESSAGES = "messages"  # a sorted multiset of messages, some carrying an lba and a value
    HISTORY = "history"  # the ghost history of writes (seq, lba, value, acked, point in time)
    RECOVERY = "recovery"  # a recovery entry or None; its images are volumes
    OPTIONAL_VOLUME = "optional volume"  # a volume or None
    LOCATIONS = "locations"  # one location (a sector of the journal LDEV) per journal record, in its order

    @property
    def block_indexed(self) -> bool:
        """Whether a renaming of blocks changes the field."""
        return self not in (Content.SCALAR, Content.LOCATIONS)

    @property
    def holds_values(self) -> bool:
        """Whether a renaming of data values changes the field."""
        return self not in (Content.SCALAR, Content.BITMAP, Content.LOCATIONS)


@dataclass(frozen=True)
class Field:
    """One field of ``pitmirror.spec.state.State``."""

    name: str
    lane: Lane
    content: Content = Content.SCALAR
    volatile: bool = False
    ghost: bool = False
    budget: bool = False
    # set when a run starts, from its bounds, and never changed by a step (a size of the configuration): the
    # proofs take it as fixed at its initial value (``checkers.symbolic.bmc.well_formed``)
    constant: bool = False
    label: str = ""  # the short name storage engineers use (DESIGN section 1), when shorter than ``name``


_A, _R, _P, _H, _G = Lane.A, Lane.R, Lane.PATH, Lane.HOST, Lane.GHOST
_V, _REC = Content.VOLUME, Content.RECORDS

#: Every field of ``State``, in its order.
FIELDS: tuple[Field, ...] = (
    # array A: volumes P, B, J and the control tables in its shared memory
    Field("fence_policy", _A, label="fence"),
    Field("primary", _A, _V, label="P"),
    Field("base", _A, _V, label="B"),
    Field("base_seq", _A),
    Field("next_seq", _A),
    Field("journal", _A, _REC, label="J"),
    Field("journal_cache", _A, _REC, volatile=True, label="J cache"),
    Field("in_flight", _A, Content.IN_FLIGHT, volatile=True, label="in flight"),
    Field("pair_state", _A, label="pair"),
    Field("dirty", _A, Content.BITMAP),
    Field("journaling_state", _A, label="journaling"),
    Field("recovery", _A, Content.RECOVERY),
    # the path: its links and the messages on it
    Field("path_up", _P, label="path up"),
    Field("path", _P, Content.MESSAGES),
    # array R: volumes S, RB, JR and its reorder buffer
    Field("remote", _R, _V, label="S"),
    Field("replica_base", _R, _V, label="RB"),
    Field("replica_base_seq", _R, label="RB seq"),
    Field("remote_journal", _R, _REC, label="JR"),
    Field("remote_applied_seq", _R, label="applied seq"),
    Field("remote_buffer", _R, Content.RECORD_MULTISET, volatile=True, label="R buffer"),
    Field("remote_recovery_id", _R, label="recovery id"),
    # budgets, owned by whoever spends them (a crash hits either array, so it sits with the ghost)
    Field("host_writes_issued", _H, budget=True, label="host writes"),
    Field("markers_set", _H, budget=True, label="markers"),
    Field("recoveries_started", _H, budget=True, label="recoveries"),
    Field("path_failures", _P, budget=True, label="failures"),
    Field("crashes", _G, budget=True),
    Field("message_faults", _P, budget=True, label="msg faults"),
    Field("premature_timeouts", _P, budget=True, label="early timeouts"),
    # the ghost: only the spec reads these
    Field("ghost_base", _G, _V, ghost=True),
    Field("ghost_base_seq", _G, ghost=True),
    Field("history", _G, Content.HISTORY, ghost=True),
    Field("recovery_ended", _G, Content.RECOVERY, ghost=True),
    Field("retired_image", _G, Content.OPTIONAL_VOLUME, ghost=True),
    Field("recovery_awaiting_resync", _G, Content.RECOVERY, ghost=True),
    Field("swap_timed_out", _G, ghost=True),
    # array A's journal log table (claim 4): each live record's location on the journal LDEV, the next free
    # location, and the LDEV's size (the ring's, in sectors)
    Field("journal_locations", _A, Content.LOCATIONS, label="J locations"),
    Field("journal_next_free", _A, label="J next free"),
    Field("journal_sectors", _A, constant=True, label="J sectors"),
    # the volume identities (claims 13, 14, 27, 28): the role maps and the host-LUN map, in shared memory
    Field("primary_volume", _A, label="P volume"),
    Field("host_lun", _A, label="host LUN"),
    Field("lun_switch_pending", _A, label="LUN switch pending"),
    Field("secondary_volume", _R, label="S volume"),
    # A's pair management table: which resync A runs (R's answer names it)
    Field("resync_id", _A, label="resync id"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
GHOST_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.ghost)
BUDGET_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.budget)
VOLATILE_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.volatile)
CONSTANT_FIELDS: tuple[str, ...] = tuple(f.name for f in FIELDS if f.constant)

__all__ = ["BUDGET_FIELDS", "BY_NAME", "CONSTANT_FIELDS", "FIELDS", "GHOST_FIELDS", "VOLATILE_FIELDS", "Content",
           "Field", "Lane"]
