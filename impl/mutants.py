"""The seeded bugs of docs/PROTOCOL.md, selectable by name. Each switches exactly one step.

The controllers ask ``mutant("skip_journal")`` at the one place that step lives (grep ``MUTANT``);
asking for a name that is not in the table is itself an error, so a typo cannot silently disable a check.
"""

from __future__ import annotations

from pitmirror.impl.errors import UnknownMutantError

#: name -> the wrong step (docs/PROTOCOL.md, "Mutants").
MUTANTS: dict[str, str] = {
    "ack_before_remote": "the host is acknowledged before R applies the write",
    "skip_journal": "host writes take a seq but store no journal record",
    "reuse_sequence_number": "next_seq advances when a write completes, not when it starts",
    "recovery_bypasses_mirror": "recovery suspends the pair, restores P locally, then resyncs",
    "recovery_off_by_one": "replay applies records < T instead of <= T",
    "replay_out_of_order": "replay applies records newest first",
    "checkpoint_drops_record": "checkpoint frees the oldest record without applying it to B (R applies it)",
    "checkpoint_during_recovery": "checkpoint may pass the recovery target",
    "remote_applies_in_arrival_order": "R applies a mirrored write as it arrives, duplicates too",
    "swap_without_freeze": "host writes are accepted during a swap recovery",
    "remote_checkpoints_alone": "R may checkpoint RB without A",
    "rebuild_from_primary": "replay starts from the current P (S at R) instead of the base",
    "journal_not_persisted_before_ack": "the record sits in a volatile cache until PersistJournal()",
    "no_remote_timeout": "A never times out a lost mirror write or swap answer",
    "remote_writes_ahead_of_gap": "R writes a mirrored write to S as it arrives, before the writes it waits for",
}


def check_mutant(name: str | None) -> str | None:
    """``name`` if it is a mutant (or ``None`` for the correct protocol), else ``UnknownMutantError``."""
    if name is not None and name not in MUTANTS:
        raise UnknownMutantError(f"unknown mutant {name!r}; valid names: {', '.join(MUTANTS)}")
    return name


class Mutant:
    """The mutant a system runs (``None``: the correct protocol). Call it with a name to ask whether that
    step is switched: ``if self.mutant("skip_journal"): ...``."""

    def __init__(self, name: str | None) -> None:
        self.name = check_mutant(name)

    def __call__(self, name: str) -> bool:
        if name not in MUTANTS:
            raise UnknownMutantError(f"no mutant {name!r} to ask about; valid names: {', '.join(MUTANTS)}")
        return self.name == name

    def __repr__(self) -> str:
        return f"Mutant({self.name!r})"
