"""The seeded bugs of docs/PROTOCOL.md, selectable by name. Each switches exactly one step.

The controllers ask ``mutant("skip_journal")`` at the one place that step lives (grep ``MUTANT``);
asking for a name that is not in the table is itself an error, so a typo cannot silently disable a check.

``MUTANTS`` are the protocol's seeded bugs: the model has each of them too (tests/test_layers.py compares the
names). ``IMPL_ONLY_MUTANTS`` are bugs that exist only here, at the places an implementation goes wrong and
a model does not (the journal ring, the record format, the log table, R's reorder buffer, the dirty bitmap,
the volume map): the model stays correct, so only conformance (abstraction(impl) != model) can catch them.
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
    "crash_restores_blocks_from_base": "A's restart re-reads the blocks of the host writes in flight from B, "
                                       "though J keeps their records",
    "remote_accepts_stale_messages": "R takes a late message as current: a mirrored write it has passed lands on S "
                                     "again, a RecoverRequest of a settled recovery swaps again",
    "journal_location_ignores_header": "the ring's next free location advances by a record's payload sectors "
                                       "only, not its header and trailer: the next record overwrites its tail",
    "swap_updates_lun_map_last_without_intent": "A's swap keeps no intent record between its role-map and host-LUN "
                                                "map updates: a restart between them leaves the host on the old P",
    "checkpoint_not_redone": "the resync ships J's records and P's dirty blocks but leaves RB as it is: R's "
                             "half of a checkpoint whose Checkpointed message was lost is never redone",
    "torn_multiblock_write": "A's restart after a power loss inside a multi-block host write does not redo its "
                             "record from J: P keeps the blocks written before the power failed",
    "torn_remote_apply": "R's restart after a power loss inside a multi-block MirrorWrite does not redo its "
                         "record from JR: S keeps the blocks written before the power failed",
    "resync_accepts_stale_answer": "A leaves COPY on any Resynced, not only on the answer of the resync it runs: "
                                   "a late answer of a resync a crash abandoned ends the next one",
    "remote_swap_not_redone": "R keeps no intent record for its half of a swap: its restart after a power loss "
                              "in the middle of it does not redo the swap, RB keeps the first record of the "
                              "rebuild in place, and no SwapDone is sent",
}


#: name -> the wrong step, for bugs of the implementation alone (the model has no such step to get wrong).
IMPL_ONLY_MUTANTS: dict[str, str] = {
    "record_crc_omits_marker_name": "the encoder's CRC32 leaves out a marker's name (the decoder checks it): "
                                    "every marker record reads back as corrupt",
    "log_table_frees_newest": "a checkpoint applies the oldest record but frees the newest entry of the "
                              "journal log table",
    "reorder_buffer_releases_one": "R's reorder buffer releases only the next write when a gap closes, not "
                                   "every consecutive one waiting behind it",
    "timeout_dirties_only_lost_write": "a mirror timeout marks only the lost write's block dirty, not every "
                                       "block in flight",
    "swap_skips_base_remap": "A's swap maps the rebuilt LDEV in as P but never remaps the base role: B keeps "
                             "the old image while base_seq moves on",
    "redo_trusts_commit": "written_seq moves when the journal record commits, before P is written: after a "
                          "power loss between the two, the restart's redo skips the record and P keeps the "
                          "old block",
}

#: The recovery kind whose runs reach each impl-only mutant's step (write-through unless named).
IMPL_ONLY_RECOVERY: dict[str, str] = {"swap_skips_base_remap": "swap"}

_ALL = {**MUTANTS, **IMPL_ONLY_MUTANTS}


def check_mutant(name: str | None) -> str | None:
    """``name`` if it is a mutant of either registry (or ``None`` for the correct protocol), else
    ``UnknownMutantError``."""
    if name is not None and name not in _ALL:
        raise UnknownMutantError(f"unknown mutant {name!r}; valid names: {', '.join(_ALL)}")
    return name


class Mutant:
    """The mutant a system runs (``None``: the correct protocol). Call it with a name to ask whether that
    step is switched: ``if self.mutant("skip_journal"): ...``."""

    def __init__(self, name: str | None) -> None:
        self.name = check_mutant(name)

    def __call__(self, name: str) -> bool:
        if name not in _ALL:
            raise UnknownMutantError(f"no mutant {name!r} to ask about; valid names: {', '.join(_ALL)}")
        return self.name == name

    def __repr__(self) -> str:
        return f"Mutant({self.name!r})"
