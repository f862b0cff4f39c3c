"""Bounds of the model: how far the state space reaches. Separate from the protocol's guards (stateright's
``within_boundary``), so the protocol reads as the protocol."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from pitmirror.model.mutants import MUTANTS, check_mutant
from pitmirror.spec.actions import BUDGET_COUNTERS
from pitmirror.spec.state import FencePolicy, RecoveryKind


class BoundsError(ValueError):
    """A bound is out of range or a name is unknown: a usage error."""


#: (lower, upper) for each integer bound; the upper limits keep a run finite on a 2-core machine.
RANGES: dict[str, tuple[int, int]] = {
    "blocks": (1, 4),
    "values": (2, 4),
    "host_writes": (0, 8),
    "concurrency": (1, 4),
    "journal_capacity": (1, 8),
    "markers": (0, 3),
    "path_failures": (0, 3),
    "crashes": (0, 3),
    "message_faults": (0, 3),
    "premature_timeouts": (0, 3),
    "recoveries": (0, 3),
    "write_blocks": (1, 3),
}


@dataclass(frozen=True)
class Bounds:
    """A bounded instance of the protocol. Defaults are ``pitmirror check``'s default bounds."""

    blocks: int = 2
    values: int = 2
    host_writes: int = 3
    concurrency: int = 2
    journal_capacity: int = 2
    markers: int = 0
    path_failures: int = 1
    crashes: int = 1
    message_faults: int = 0
    #: timeouts that may fire while the message (or its answer) is still on the path, late, not lost
    premature_timeouts: int = 0
    recoveries: int = 1
    #: the most blocks one host write covers (a contiguous range, one record, one mirror message); 1 is the
    #: state space of one-block writes exactly, and the only size at which blocks are interchangeable
    write_blocks: int = 1
    recovery_kind: RecoveryKind = RecoveryKind.WRITETHROUGH
    fence_policies: tuple[FencePolicy, ...] = field(default=(FencePolicy.NEVER, FencePolicy.DATA))
    mutant: str | None = None

    def __post_init__(self) -> None:
        for name, (lo, hi) in RANGES.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise BoundsError(f"bound {name}={v!r} is out of range {lo}..{hi}")
        if self.write_blocks > self.blocks:
            raise BoundsError(f"bound write_blocks={self.write_blocks} exceeds blocks={self.blocks}")
        if not self.fence_policies:
            raise BoundsError("at least one fence policy is needed")
        try:
            check_mutant(self.mutant)
        except KeyError as e:
            raise BoundsError(str(e.args[0])) from None

    def with_(self, **changes: Any) -> Bounds:
        """A copy with some bounds changed (validated)."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The bounds as JSON-ready data, for trace files."""
        d = asdict(self)
        d["recovery_kind"] = self.recovery_kind.name.lower()
        d["fence_policies"] = [f.name.lower() for f in self.fence_policies]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Bounds:
        """Inverse of ``to_json``; raises ``BoundsError`` on anything malformed."""
        try:
            kw = dict(d)
            kw["recovery_kind"] = RecoveryKind[str(kw["recovery_kind"]).upper()]
            kw["fence_policies"] = tuple(FencePolicy[str(f).upper()] for f in kw["fence_policies"])
            known = set(cls.__dataclass_fields__)
            unknown = set(kw) - known
            if unknown:
                raise BoundsError(f"unknown bounds in config: {', '.join(sorted(unknown))}")
            return cls(**kw)
        except (KeyError, TypeError, AttributeError) as e:
            raise BoundsError(f"malformed config: {e}") from None


#: The fields of ``Bounds`` that give an instance its shape: neither a budget (``spec.actions.BUDGET_COUNTERS``),
#: nor the value domain, nor what picks the run (the recovery kind, a mutant).
SHAPE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Bounds) if f.name not in BUDGET_COUNTERS
                                      and f.name not in ("values", "recovery_kind", "mutant"))
#: What a proof on the proof system (``prove --induction``: no budgets, any values) holds for: the shape, and the
#: message-fault budget, which there is no budget (losses and duplicates are always on) but the slack of the
#: bounded channel, its one explicit abstraction (docs/PROOFS.md).
PROOF_PARAMETERS: tuple[str, ...] = (*SHAPE_FIELDS, "message_faults")


#: Named presets. ``default`` finishes in under a minute on 2 cores; ``thorough`` is for nightly runs.
PRESETS: dict[str, Bounds] = {
    "default": Bounds(),
    "small": Bounds(blocks=2, values=2, host_writes=2, concurrency=1, journal_capacity=2,
                    path_failures=1, crashes=0),
    # default plus a marker and a second recovery: every witness (the marker recovery included) and a recovery
    # after a recovery (4.9 M / 3.7 M states when it was chosen; the README's table has today's). A message fault on top
    # (what issue 14 asked of thorough) made 52 M / 42 M states and more than 12 GB per kind in the liveness
    # pass (measured, stopped after 8 minutes): past what 2 cores and 24 GiB afford for both kinds side by side,
    # so the message fault stays in ``large``. The README's preset table holds what a run measured
    # (bench/presets.py)
    "thorough": Bounds(markers=1, recoveries=2),
    # the largest bounds meant to finish exhaustively within 10 minutes and 16 GiB on a 2-core machine (each kind
    # on one core, the compiled kernel): default plus a third block and a lost or duplicated message. Until the
    # two-phase checkpoint and resync it also had a marker; with them, that made each kind alone outgrow 24 GiB
    # (killed out of memory after 807 s / 387 s, 2026-11-29), and markers are ``thorough``'s. The README's preset
    # table holds what a run measured (bench/presets.py --large)
    "large": Bounds(blocks=3, message_faults=1),
}

__all__ = ["MUTANTS", "PRESETS", "RANGES", "Bounds", "BoundsError"]
