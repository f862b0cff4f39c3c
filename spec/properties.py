"""The property catalogue (DESIGN section 2): each property written once, used by every checker.

A property is data (stateright's shape): a stable name, a kind, a one-line meaning, the claims of
US 7,139,851 it comes from, and one predicate. ``ALWAYS`` predicates hold in every reachable state;
``EVENTUALLY`` properties are liveness, given as the set of states that are *pending* (a recovery running,
a host write waiting): the checker requires that from every pending state a non-pending state is reachable;
``SOMETIMES`` predicates must hold in some reachable state, proving the bounds are not vacuous.

Next to each predicate, ``explain_<predicate>`` says in one line what a state that breaks it shows,
expected against actual ("expected P = image(1) = (1,0), got P = (0,0)"): the trace page and ``trace show``
open with it. An explanation decides nothing; the predicate alone is the property.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pitmirror.spec.interface import Kind
from pitmirror.spec.state import (
    MARKER,
    GhostWrite,
    JournalingState,
    PairState,
    Record,
    RecoveryKind,
    State,
    apply_records,
    covered,
    image,
    pending_host_writes,
    points_in_time,
    primary_is_newest_image,
    record_sectors,
    recovery_active,
    replay,
    served_volume,
)


@dataclass(frozen=True)
class Event:
    """A step that witnesses a ``SOMETIMES`` property: the action, by its protocol name, and what the states
    before and after it show. ``event(pre, action, post)`` is the one definition every engine evaluates on
    the transitions it explores (no state of its own: an event predicate multiplies no state space)."""

    action: str
    holds: Callable[[State, State], bool]

    def __call__(self, pre: State, action: object, post: State) -> bool:
        """Whether the step ``pre --action--> post`` is this event."""
        return type(action).__name__ == self.action and self.holds(pre, post)


def _witnessed_by_a_step(s: State) -> bool:
    """The ``predicate`` of a property witnessed by an event: no single state can witness it."""
    raise TypeError("this property is witnessed by a step (its event), not by a state")


@dataclass(frozen=True)
class Property:
    """One entry of the catalogue. ``predicate(state)`` is the single definition every checker uses.

    It is a ``pitmirror.spec.interface.Property[State]`` (name, kind, predicate), so any engine written
    against that interface checks it; meaning and claims are what the mirror's reports add."""

    name: str
    kind: Kind
    meaning: str
    claims: tuple[int, ...]
    predicate: Callable[[State], bool]
    beyond_claims: bool = False
    explain: Callable[[State], str] | None = None  # for a state the predicate rejects (or, sometimes, accepts)
    # a SOMETIMES property witnessed by a step, not a state (``spec.interface.event_of``); then ``explain``
    # reads the state after the step
    event: Event | None = None
    # a witness of one recovery kind's behaviour (checked only in runs of that kind), and the least bounds
    # it needs to be possible at all (a recovery to a marker needs a marker)
    recovery_kind: RecoveryKind | None = None
    needs: tuple[tuple[str, int], ...] = ()
    # when the least bounds are not one conjunction: why these bounds exclude the witness ("" when they do not)
    excluded_by: Callable[[Any], str] | None = None

    def explanation(self, s: State) -> str:
        """What ``s`` shows about this property, in one line (empty when the property has no explanation)."""
        return "" if self.explain is None else self.explain(s)


# --- safety -------------------------------------------------------------------------------------------


def _v(volume: tuple[int, ...] | None) -> str:
    """A volume as the trace tools print it: ``(1,0)``."""
    return "none" if volume is None else "(" + ",".join(map(str, volume)) + ")"


def mirror_consistent(s: State) -> bool:
    """PAIR with no write in flight (and no swap half-done) => P == S; SUSPENDED/COPY: differ only on dirty."""
    if s.pair_state == PairState.PAIR:
        if s.in_flight or s.remote_buffer:
            return True
        if s.recovery is not None and s.recovery.kind == RecoveryKind.SWAP:
            return True  # between the two swaps P and S legitimately differ; swap_correct covers the end
        return s.primary == s.remote
    return all(p == r or d for p, r, d in zip(s.primary, s.remote, s.dirty, strict=True))


def explain_mirror_consistent(s: State) -> str:
    """Which blocks of P and S differ where they must not."""
    if s.pair_state == PairState.PAIR:
        return f"in PAIR with no write in flight, expected S = P = {_v(s.primary)}, got S = {_v(s.remote)}"
    bad = [i for i, (p, r, d) in enumerate(zip(s.primary, s.remote, s.dirty, strict=True)) if p != r and not d]
    return (f"in {s.pair_state.name}, P and S may differ only on dirty blocks: block(s) {bad} differ and are not "
            f"dirty (P = {_v(s.primary)}, S = {_v(s.remote)}, dirty = {_v(s.dirty)})")


def ack_durable(s: State) -> bool:
    """Every acknowledged write, on each block where it is still the latest, is on P, in J, and on S in PAIR
    (a multi-block write block by block: a later write may have covered part of it)."""
    journal = set(s.journal)
    check_remote = s.pair_state == PairState.PAIR and s.recovery is None
    for b, h in _latest_writes(s).items():
        if not h.acked:
            continue
        if s.primary[b] != h.value:
            return False
        if h.seq > s.base_seq and _record_of(h) not in journal:
            return False
        if check_remote and s.remote[b] != h.value:
            return False
    return True


def _latest_writes(s: State) -> dict[int, GhostWrite]:
    """Each block's latest write in the ghost history (blocks no write in the window covers are absent)."""
    latest: dict[int, GhostWrite] = {}
    for h in s.history:
        for b in covered(h.lba, h.length):
            latest[b] = h
    return latest


def _record_of(h: GhostWrite) -> Record:
    """The journal record of a write in the ghost history."""
    return Record(h.seq, h.lba, h.value, h.length)


def explain_ack_durable(s: State) -> str:
    """The acknowledged write that is missing from P, J or S."""
    journal = set(s.journal)
    for b, h in _latest_writes(s).items():
        if not h.acked:
            continue
        what = f"write seq {h.seq} (block {b} = {h.value}) was acknowledged: "
        if s.primary[b] != h.value:
            return what + f"expected P[{b}] = {h.value}, got P = {_v(s.primary)}"
        if h.seq > s.base_seq and _record_of(h) not in journal:
            seqs = [r.seq for r in s.journal]
            return what + f"expected its record in J, got J with seqs {seqs}"
        if s.pair_state == PairState.PAIR and s.recovery is None and s.remote[b] != h.value:
            return what + f"in PAIR expected S[{b}] = {h.value}, got S = {_v(s.remote)}"
    return "every acknowledged write is on P, in J and on S"


def journal_well_formed(s: State) -> bool:
    """J holds exactly seqs base_seq+1 .. next_seq-1, each once, in the order the writes were applied to P."""
    seqs = [r.seq for r in s.journal]
    if seqs != list(range(s.base_seq + 1, s.next_seq)):
        return False
    applied = [_record_of(h) for h in s.history if h.seq > s.base_seq]
    return list(s.journal) == applied


def explain_journal_well_formed(s: State) -> str:
    """The sequence numbers J should hold, or the records it should hold, against what it holds."""
    seqs = [r.seq for r in s.journal]
    want = list(range(s.base_seq + 1, s.next_seq))
    if seqs != want:
        return f"expected J to hold seqs {want} (base_seq + 1 .. next_seq - 1) once each, got seqs {seqs}"
    applied = [tuple(_record_of(h)) for h in s.history if h.seq > s.base_seq]
    return (f"expected J = the writes applied to P, (seq, lba, value, length) {applied}, "
            f"got {[tuple(r) for r in s.journal]}")


def replay_is_point_in_time(s: State) -> bool:
    """For every n in the window, B + the records of seq <= n equals image(n)."""
    return all(replay(s.base, s.journal, n) == image(s, n) for n in range(s.base_seq, s.next_seq))


def explain_replay_is_point_in_time(s: State) -> str:
    """The first point in time that B + J does not rebuild."""
    for n in range(s.base_seq, s.next_seq):
        got, want = replay(s.base, s.journal, n), image(s, n)
        if got != want:
            return f"expected B + records <= {n} = image({n}) = {_v(want)}, got {_v(got)}"
    return "B + J rebuilds every point in time of the window"


def recovery_correct(s: State) -> bool:
    """When a recovery to T ends: P == image(T); S == P unless a fault suspended the pair; no fault-free
    recovery ever left PAIR."""
    ended = s.recovery_ended
    if ended is None:
        return True
    target_image = ended.target_image
    if s.primary != target_image:
        return False
    if ended.faulted:
        return True  # the pair may be suspended by the fault; mirror_consistent still bounds P vs S
    return not ended.left_pair and s.pair_state == PairState.PAIR and s.remote == target_image


def explain_recovery_correct(s: State) -> str:
    """What the recovery that just ended left on P, on S, and in the pair state."""
    e = s.recovery_ended
    if e is None:
        return "no recovery has just ended"
    t = f"the recovery to {e.target} ({e.kind.name.lower()}) ended: "
    if s.primary != e.target_image:
        return t + f"expected P = image({e.target}) = {_v(e.target_image)}, got P = {_v(s.primary)}"
    if e.faulted:
        return t + "P is right"
    if e.left_pair:
        return t + "expected the pair to stay in PAIR throughout (no fault), but it left PAIR"
    if s.pair_state != PairState.PAIR:
        return t + f"expected the pair in PAIR (no fault), got {s.pair_state.name}"
    return t + f"expected S = image({e.target}) = {_v(e.target_image)}, got S = {_v(s.remote)}"


def bases_agree(s: State) -> bool:
    """In PAIR, outside a half-done swap: R's replica base and journal hold A's base, and J and JR agree up to
    the last sequence number both arrays hold. R's half of a checkpoint follows A's over the path
    (``Checkpointed``), so RB may lag B, at an older seq, while JR still holds the records between them: RB
    with those records applied is B. (While suspended R is no mirror; resync copies the base too.)"""
    if s.pair_state != PairState.PAIR:
        return True
    r = s.recovery
    if r is not None and r.kind == RecoveryKind.SWAP and r.a_swapped != (s.remote_recovery_id >= r.recovery_id):
        return True  # one array has swapped and rebuilt its base, the other not yet
    if s.replica_base_seq > s.base_seq or replica_base_caught_up(s) != s.base:
        return False
    # R may be ahead of A (it swapped first) or behind (suspended): compare what both hold
    upto = min(s.remote_applied_seq, s.next_seq - 1)
    local = [r for r in s.journal if r.seq <= upto]
    remote = [r for r in s.remote_journal if s.base_seq < r.seq <= upto]
    return local == remote


def replica_base_caught_up(s: State) -> tuple[int, ...]:
    """RB with JR's records up to A's ``base_seq`` applied, in JR's order: what R's half of the checkpoints A
    has committed makes of RB (B, when the arrays agree)."""
    return apply_records(s.replica_base, [x for x in s.remote_journal if x.seq <= s.base_seq])


def explain_bases_agree(s: State) -> str:
    """Where B and RB, or J and JR, disagree."""
    if s.replica_base_seq > s.base_seq or replica_base_caught_up(s) != s.base:
        return (f"in PAIR expected RB, with JR's records up to base_seq {s.base_seq} applied, = B = {_v(s.base)}, "
                f"got RB = {_v(s.replica_base)} at seq {s.replica_base_seq}, caught up to "
                f"{_v(replica_base_caught_up(s))}")
    upto = min(s.remote_applied_seq, s.next_seq - 1)
    local = [tuple(r) for r in s.journal if r.seq <= upto]
    remote = [tuple(r) for r in s.remote_journal if s.base_seq < r.seq <= upto]
    return f"expected JR = J up to seq {upto}, (seq, lba, value): J has {local}, JR has {remote}"


def swap_correct(s: State) -> bool:
    """No host I/O between the two swaps; when a swap recovery ends, P == S == image(T) (P alone if faulted)."""
    if s.recovery is not None and s.recovery.host_io_during_swap:
        return False
    ended = s.recovery_ended
    if ended is None or ended.kind != RecoveryKind.SWAP:
        return True
    target_image = ended.target_image
    if ended.host_io_during_swap or s.primary != target_image:
        return False
    return ended.faulted or s.remote == target_image


def explain_swap_correct(s: State) -> str:
    """Host I/O between the swaps, or what a finished swap left on P and S."""
    if (s.recovery is not None and s.recovery.host_io_during_swap) or (
            s.recovery_ended is not None and s.recovery_ended.host_io_during_swap):
        return "expected no host I/O between the two swaps, got host I/O while one array had swapped"
    e = s.recovery_ended
    if e is None:
        return "no swap has just ended"
    t = f"the swap to {e.target} ended: "
    if s.primary != e.target_image:
        return t + f"expected P = image({e.target}) = {_v(e.target_image)}, got P = {_v(s.primary)}"
    return t + f"expected S = image({e.target}) = {_v(e.target_image)}, got S = {_v(s.remote)}"


def remote_is_point_in_time(s: State) -> bool:
    """S equals image(k) for some point in time k the host saw: R always holds a usable DR copy."""
    r = s.recovery
    if r is not None and r.kind == RecoveryKind.SWAP and s.remote == r.target_image:
        return True  # R swapped first: S jumped atomically to image(T)
    if s.remote == s.retired_image:
        return True  # A swapped and R not (yet): S is still the image from before the swap
    return any(image(s, k) == s.remote for k in points_in_time(s))


def remote_is_point_in_time_or_recovering(s: State) -> bool:
    """S equals an image the host saw, except while a write-through recovery sends its differing blocks
    (and, when a fault cut that short, until the resync after it): then each block of S is either the
    image from before the recovery or image(T), so the blocks the recovery does not write are untouched."""
    if remote_is_point_in_time(s):
        return True
    r = s.recovery
    if r is None or r.kind != RecoveryKind.WRITETHROUGH:
        r = s.recovery_awaiting_resync
    if r is None:
        return False
    return all(x in (before, after) for x, before, after in zip(s.remote, r.start_image, r.target_image, strict=True))


def explain_remote_is_point_in_time_or_recovering(s: State) -> str:
    """S against the host-seen images and, in a write-through recovery's window, against its two images."""
    r = s.recovery if s.recovery is not None and s.recovery.kind == RecoveryKind.WRITETHROUGH \
        else s.recovery_awaiting_resync
    if r is None:
        return explain_remote_is_point_in_time(s) + " (no write-through recovery is running)"
    bad = [i for i, (x, before, after) in enumerate(zip(s.remote, r.start_image, r.target_image, strict=True))
           if x not in (before, after)]
    return (f"expected each block of S to be the pre-recovery image {_v(r.start_image)} or image({r.target}) = "
            f"{_v(r.target_image)}; got S = {_v(s.remote)} (blocks {', '.join(map(str, bad))})")


def primary_is_latest_image(s: State) -> bool:
    """Outside a recovery, P is image(next_seq - 1): the journal replayed to its newest write.

    Which states may differ, checked against the protocol: a write is on P from the moment it takes its
    sequence number (step 3 precedes the mirror's answer), so writes in flight are already in the image, and
    a failed write (fence ``data``, a crash) stays on P as it stays in J; a marker takes a sequence number
    and carries no data, which ``image`` skips. Only a recovery rewrites P towards an older image while it
    runs (write-through block by block, swap in one step), which ``recovery_correct`` and ``swap_correct``
    judge at its end. The trade-off: the property judges P against the ghost history, not against B + J,
    so it says nothing about the journal itself (``journal_well_formed`` and ``replay_is_point_in_time`` do);
    what it adds is that nothing but a journaled write, or a recovery, ever changes P."""
    return s.recovery is not None or primary_is_newest_image(s)


def explain_primary_is_latest_image(s: State) -> str:
    """P against the newest image."""
    n = s.next_seq - 1
    return f"no recovery is running: expected P = image({n}) = {_v(image(s, n))}, got P = {_v(s.primary)}"


def journal_records_at_their_locations(s: State) -> bool:
    """The journal log table places every live record where it lies: one location per record of J, each a
    sector of the journal LDEV (a ring of ``journal_sectors``); the records lie back to back in sequence order,
    each starting right after the one before it ends (wrapping at the end of the ring), the next free location
    right after the newest, and together they fit the ring. So no record was allocated over a live one: every
    live record's location still holds that record.

    The trade-off: the model has the table, not the sectors; the bytes at a location are the impl's, which
    conformance reads back record by record through the table (``checkers.conformance.lockstep``)."""
    size, locs = s.journal_sectors, s.journal_locations
    if len(locs) != len(s.journal) or not 0 <= s.journal_next_free < size:
        return False
    if sum(record_sectors(r.lba, r.length) for r in s.journal) > size:
        return False
    ends = [(loc + record_sectors(r.lba, r.length)) % size for loc, r in zip(locs, s.journal, strict=True)]
    return (all(0 <= loc < size for loc in locs) and locs[1:] == tuple(ends[:-1])
            and (not ends or ends[-1] == s.journal_next_free))


def explain_journal_records_at_their_locations(s: State) -> str:
    """The first fact of the journal log table that does not hold: where a record should lie, against where
    the table places it."""
    size, locs, nf = s.journal_sectors, s.journal_locations, s.journal_next_free
    if len(locs) != len(s.journal):
        return f"expected one location per record of J, got {len(locs)} locations for {len(s.journal)} records"
    if not 0 <= nf < size:
        return f"expected the next free location in the ring of {size} sectors, got {nf}"
    used = sum(record_sectors(r.lba, r.length) for r in s.journal)
    if used > size:
        return f"expected J's records to fit the ring of {size} sectors, they take {used}"
    for i, (r, loc) in enumerate(zip(s.journal, locs, strict=True)):
        if not 0 <= loc < size:
            return f"expected seq {r.seq}'s location in the ring of {size} sectors, got {loc}"
        sectors = record_sectors(r.lba, r.length)
        end = (loc + sectors) % size
        nxt = f"seq {s.journal[i + 1].seq} to start" if i + 1 < len(locs) else "the next free location"
        want = locs[i + 1] if i + 1 < len(locs) else nf
        if want != end:
            return (f"seq {r.seq} lies at {loc} and takes {sectors} sectors of the ring of {size}: "
                    f"expected {nxt} at {end}, got {want}")
    return f"J's records lie back to back at {list(locs)} in the ring of {size} sectors, next free {nf}"
def host_lun_serves_primary(s: State) -> bool:
    """Which volume serves host I/O, not only what it holds: outside a recovery the host's LUN names the
    volume A's role map calls P; and when a swap recovery has just ended, the volume the LUN serves holds
    image(T), not the old P.

    Why identities and not contents alone: right after A's swap the old P has become B and a copy of
    image(T), so a host left on it would read the right data at first and ``swap_correct`` (contents only)
    could not tell; its next write would land on B, not on P, J's image or S's counterpart. During a recovery
    host I/O is frozen, so the two maps may differ only between the halves of A's swap."""
    ended = s.recovery_ended
    if ended is not None and ended.kind == RecoveryKind.SWAP and served_volume(s) != ended.target_image:
        return False
    return s.recovery is not None or s.host_lun == s.primary_volume


def explain_host_lun_serves_primary(s: State) -> str:
    """The host-LUN map against the role map, or what the LUN serves after a swap."""
    e = s.recovery_ended
    if e is not None and e.kind == RecoveryKind.SWAP and served_volume(s) != e.target_image:
        return (f"the swap to {e.target} ended: expected the host's LUN to serve image({e.target}) = "
                f"{_v(e.target_image)}, got {_v(served_volume(s))}")
    return (f"no recovery is running: expected the host's LUN on volume {s.primary_volume} (P by A's role map), "
            f"got volume {s.host_lun} (B{', the swap is not complete' if s.lun_switch_pending else ''})")


def explain_remote_is_point_in_time(s: State) -> str:
    """S against the images the host saw."""
    seen = sorted({image(s, k) for k in points_in_time(s)})
    return f"expected S = image(k) for some point in time k, one of {', '.join(map(_v, seen))}; got S = {_v(s.remote)}"


# --- liveness: the pending predicates -------------------------------------------------------------------


def recovery_pending(s: State) -> bool:
    """A recovery is running (host I/O is frozen)."""
    return recovery_active(s)


def host_write_pending(s: State) -> bool:
    """Some host write has been neither acknowledged nor failed."""
    return pending_host_writes(s)


def explain_recovery_pending(s: State) -> str:
    """The recovery that can never end."""
    r = s.recovery
    what = "a recovery" if r is None else f"the recovery to {r.target} ({r.kind.name.lower()})"
    return f"{what} is running and no continuation ends it (pair {s.pair_state.name}, path " \
           f"{'up' if s.path_up else 'down'})"


def explain_host_write_pending(s: State) -> str:
    """The host writes that can never complete."""
    seqs = [w.seq for w in s.in_flight if not w.host_acked]
    return (f"host write(s) seq {seqs} pending and no continuation acknowledges or fails them "
            f"(pair {s.pair_state.name}, path {'up' if s.path_up else 'down'})")


# --- sometimes: the bounds reach the interesting behaviour ------------------------------------------------
#
# Each witness is an event: a step (state before, action, state after) that shows the behaviour it names,
# so its shortest trace ends with that action. An event needs no ghost state when the step itself shows it;
# only "a swap that timed out and was later resynced" needs memory (the ghost ``swap_timed_out``); "a late
# delivery after a timeout" is derived from the numbers the write carries (its seq against A's in-flight table
# and R's applied seq), so it needs none.


def recovery_completed(pre: State, post: State) -> bool:
    """A fault-free recovery that changed P ended in PAIR with P == S == image(T), the pair in PAIR
    throughout (the step is ``FinishRecovery``)."""
    e = post.recovery_ended
    return (e is not None and not e.faulted and not e.left_pair and e.target_image != e.start_image
            and post.pair_state == PairState.PAIR and post.primary == e.target_image
            and post.remote == e.target_image)


def explain_recovery_completed(s: State) -> str:
    """The recovery that ended, and what it left on P and S."""
    e = s.recovery_ended
    return "no recovery has just ended" if e is None else (
        f"the {e.kind.name.lower()} recovery to {e.target} changed P from {_v(e.start_image)} to {_v(s.primary)} "
        f"and ended in {s.pair_state.name} with S = {_v(s.remote)}")


def resync_completed(pre: State, post: State) -> bool:
    """A resync copied what R lacked, R committed its half, and A's half (``Deliver`` of R's ``Resynced``)
    returned the pair from COPY to PAIR with S == P."""
    return pre.pair_state == PairState.COPY and post.pair_state == PairState.PAIR and post.remote == post.primary


def explain_resync_completed(s: State) -> str:
    """What the resync left."""
    return f"pair {s.pair_state.name} with S = {_v(s.remote)}, P = {_v(s.primary)} (dirty {_v(s.dirty)})"


def checkpoint_committed(pre: State, post: State) -> bool:
    """A checkpoint that both arrays committed: R's half (``Deliver`` of ``Checkpointed``) moved RB forward to
    A's base_seq, and RB and B hold the same image. (The one other delivery that moves RB is R's half of a
    swap, which settles a recovery id: not a checkpoint.)"""
    return (post.replica_base_seq > pre.replica_base_seq and post.replica_base_seq == post.base_seq
            and post.replica_base == post.base and post.remote_recovery_id == pre.remote_recovery_id)


def explain_checkpoint_committed(s: State) -> str:
    """Where both bases now stand."""
    return (f"base_seq = {s.base_seq}, B = {_v(s.base)}; replica base seq = {s.replica_base_seq}, "
            f"RB = {_v(s.replica_base)}")


def swap_timeout_resynced(pre: State, post: State) -> bool:
    """A swap recovery that timed out waiting for R was later resynchronized: the pair came back to PAIR with
    S == P (A's half of the resync, ``Deliver`` of ``Resynced``, while the ghost ``swap_timed_out`` remembers
    the timeout)."""
    return pre.swap_timed_out and resync_completed(pre, post)


def recovery_to_marker(pre: State, post: State) -> bool:
    """A recovery started whose target is a marker in J (a named consistency point; ``StartRecovery``)."""
    r = post.recovery
    return r is not None and Record(r.target, MARKER, 0) in pre.journal


def explain_recovery_to_marker(s: State) -> str:
    """The recovery that targets a marker."""
    r = s.recovery
    if r is None:
        return "no recovery is running"
    return f"a {r.kind.name.lower()} recovery to the marker at seq {r.target}"


def late_write_received(pre: State, post: State) -> bool:
    """A mirrored write reached R after A's timeout had given up on it: late, not lost (``Deliver``).

    Derived from the write's own sequence number, with no memory of the timeout: R now holds a record it did
    not hold before (new in its reorder buffer, or applied past its old applied seq) whose seq A no longer
    waits for (it is not in A's in-flight table), so A ended that write without R's acknowledgement. A ends a
    write so in two ways, a timeout or its own crash (the in-flight table is volatile), and the state does not
    remember which: the event asks for a run in which no array has crashed, where only a timeout can have
    done it (a witness needs one way to the behaviour, not every way). A late write R has already passed (a
    resync raised its applied seq over it) is dropped, so R holds nothing new: not this event."""
    if pre.crashes:
        return False
    waiting = {e.seq for e in pre.in_flight}
    new = [r for r in post.remote_buffer if r not in pre.remote_buffer]
    new += [r for r in post.remote_journal if r.seq > pre.remote_applied_seq]
    return any(r.seq not in waiting for r in new)


def late_delivery_excluded_by(b: Any) -> str:
    """Why bounds ``b`` (a ``model.config.Bounds``) exclude a late delivery after a timeout; empty when they
    do not. A write is left on the path past its timeout in two ways: the timeout fires early (a premature
    timeout), or it fires for a lost write and ends every write in flight with it, one of which was sent after
    the loss. The second needs a loss (a path failure or a lost message) and two writes in flight at once: two
    host writes or markers (concurrency 2, and two journal slots, since a checkpoint frees none while a write is
    in flight), or two blocks written by a write-through recovery (which the
    concurrency bound does not limit; P must differ from the target in two blocks, so two host writes the
    journal holds). ``tests/test_witnesses.py`` checks on a grid of small bounds that the witness is reached
    exactly where this says it applies."""
    if b.premature_timeouts >= 1:
        return ""
    loss = b.path_failures >= 1 or b.message_faults >= 1
    # two host writes in flight need room for both in J: a checkpoint waits until nothing is in flight
    two_host = b.concurrency >= 2 and b.host_writes + b.markers >= 2 and b.journal_capacity >= 2
    two_recovery = (b.recovery_kind == RecoveryKind.WRITETHROUGH and b.recoveries >= 1 and b.blocks >= 2
                    and b.host_writes >= 2 and b.journal_capacity >= 2)
    if loss and (two_host or two_recovery):
        return ""
    return ("needs premature_timeouts >= 1, or a lost write beside a late one (a path failure or message fault, "
            "and two writes in flight)")


def explain_late_write_received(s: State) -> str:
    """What R holds after the late write arrived."""
    return (f"R holds applied seq {s.remote_applied_seq}, reorder buffer seqs {[r.seq for r in s.remote_buffer]}, "
            f"while A waits for seqs {[e.seq for e in s.in_flight]} (pair {s.pair_state.name})")


PROPERTIES: tuple[Property, ...] = (
    Property("mirror_consistent", Kind.ALWAYS,
             "pair in PAIR and no write in flight => P == S; in SUSPENDED, P and S differ only on dirty blocks",
             (1, 15), mirror_consistent,
             explain=explain_mirror_consistent),
    Property("ack_durable", Kind.ALWAYS,
             "every acknowledged write is on P, on S (unless suspended) and in J, until overwritten",
             (1, 5), ack_durable,
             explain=explain_ack_durable),
    Property("journal_well_formed", Kind.ALWAYS,
             "sequence numbers contiguous from base_seq + 1, one record each, in the order applied to P",
             (2, 3, 4, 16, 17, 18), journal_well_formed,
             explain=explain_journal_well_formed),
    Property("replay_is_point_in_time", Kind.ALWAYS,
             "for every n in the window, B + records <= n equals the image P had right after write n",
             (5, 6, 19, 20), replay_is_point_in_time,
             explain=explain_replay_is_point_in_time),
    Property("recovery_correct", Kind.ALWAYS,
             "when a recovery to T ends, P == S == image(T), and the pair stayed in PAIR throughout",
             (1, 6, 7, 20, 21), recovery_correct,
             explain=explain_recovery_correct),
    Property("bases_agree", Kind.ALWAYS,
             "in PAIR, RB with JR's records up to base_seq is B, and J, JR agree up to the last sequence number "
             "both arrays hold",
             (10, 24), bases_agree,
             explain=explain_bases_agree),
    Property("swap_correct", Kind.ALWAYS,
             "after a swap recovery P == S == image(T); no host I/O between the two swaps",
             (11, 12, 13, 14, 25, 26, 27, 28), swap_correct,
             explain=explain_swap_correct),
    Property("remote_is_point_in_time", Kind.ALWAYS,
             "S always equals image(k) for some k (a usable disaster-recovery copy)",
             (), remote_is_point_in_time, beyond_claims=True, explain=explain_remote_is_point_in_time),
    Property("remote_is_point_in_time_or_recovering", Kind.ALWAYS,
             "S equals an image the host saw, except while a write-through recovery (or the resync a fault "
             "leaves it owing) sends its blocks: then each block is the pre-recovery image or image(T)",
             (), remote_is_point_in_time_or_recovering, beyond_claims=True,
             explain=explain_remote_is_point_in_time_or_recovering),
    Property("primary_is_latest_image", Kind.ALWAYS,
             "outside a recovery, P == image(next_seq - 1): P holds the journal replayed to its newest write",
             (1, 2, 15, 16), primary_is_latest_image,
             explain=explain_primary_is_latest_image),
    Property("journal_records_at_their_locations", Kind.ALWAYS,
             "every live journal record lies at its location in the journal log table: back to back in sequence "
             "order in the ring of the journal LDEV, none allocated over another",
             (2, 3, 4, 16, 17, 18), journal_records_at_their_locations,
             explain=explain_journal_records_at_their_locations),
    Property("host_lun_serves_primary", Kind.ALWAYS,
             "outside a recovery the host's LUN names the volume A's role map calls P; a swap ends with the LUN "
             "serving image(T), not the old P",
             (13, 14, 27, 28), host_lun_serves_primary,
             explain=explain_host_lun_serves_primary),
    Property("recovery_completes", Kind.EVENTUALLY,
             "with the path eventually up, every recovery ends",
             (1, 10), recovery_pending,
             explain=explain_recovery_pending),
    Property("host_write_completes", Kind.EVENTUALLY,
             "with the path eventually up, every host write is acknowledged or failed",
             (1, 15), host_write_pending,
             explain=explain_host_write_pending),
    Property("recovery_reachable", Kind.SOMETIMES,
             "a fault-free recovery that changes P ends in PAIR with P == S == image(T), of the run's kind",
             (1, 10), _witnessed_by_a_step, event=Event("FinishRecovery", recovery_completed),
             explain=explain_recovery_completed),
    Property("resync_reachable", Kind.SOMETIMES,
             "a resync completes: the pair returns from COPY to PAIR with S == P",
             (1,), _witnessed_by_a_step, event=Event("Deliver", resync_completed),
             explain=explain_resync_completed),
    Property("checkpoint_reachable", Kind.SOMETIMES,
             "a checkpoint that both arrays commit: R's half brings RB to A's base_seq and B's image",
             (10,), _witnessed_by_a_step, event=Event("Deliver", checkpoint_committed),
             explain=explain_checkpoint_committed),
    Property("swap_timeout_resynced", Kind.SOMETIMES,
             "a swap recovery that timed out waiting for R is resynchronized to PAIR with S == P",
             (13, 14, 27, 28), _witnessed_by_a_step, event=Event("Deliver", swap_timeout_resynced),
             explain=explain_resync_completed, recovery_kind=RecoveryKind.SWAP),
    Property("marker_recovery_reachable", Kind.SOMETIMES,
             "a recovery to a marker (a named consistency point) starts",
             (3, 4, 17, 18), _witnessed_by_a_step, event=Event("StartRecovery", recovery_to_marker),
             explain=explain_recovery_to_marker, needs=(("markers", 1), ("recoveries", 1))),
    Property("late_delivery_reachable", Kind.SOMETIMES,
             "a mirrored write reaches R after A's timeout gave up on it (it was late, not lost)",
             (1, 15), _witnessed_by_a_step, event=Event("Deliver", late_write_received),
             explain=explain_late_write_received, excluded_by=late_delivery_excluded_by),
)

BY_NAME: dict[str, Property] = {p.name: p for p in PROPERTIES}
SAFETY = tuple(p for p in PROPERTIES if p.kind is Kind.ALWAYS)
LIVENESS = tuple(p for p in PROPERTIES if p.kind is Kind.EVENTUALLY)
REACHABILITY = tuple(p for p in PROPERTIES if p.kind is Kind.SOMETIMES)

# Properties expected to fail by design, with the reason (DESIGN section 2): the checkers show the
# trade-off with a counterexample instead of hiding it.
EXPECTED_TRADE_OFFS: dict[tuple[str, RecoveryKind], str] = {
    ("remote_is_point_in_time", RecoveryKind.WRITETHROUGH):
        "write-through recovery passes S through mixed images while the differing blocks cross the path",
}
# The window of each trade-off: the property that holds exactly where the trade-off is allowed. A violation
# is labelled a trade-off only in a state the window property accepts, and a checker that checks a
# trade-off property checks its window too, so the label can never hide a violation outside the window.
TRADE_OFF_WINDOWS: dict[str, str] = {
    "remote_is_point_in_time": "remote_is_point_in_time_or_recovering",
}


def trade_off(name: str, kind: RecoveryKind, violating: State) -> str | None:
    """The reason when the violation of ``name`` in the state ``violating`` is the expected trade-off of
    ``kind`` recovery; ``None`` when it is a real violation (no trade-off, or outside its window)."""
    reason = EXPECTED_TRADE_OFFS.get((name, kind))
    window = TRADE_OFF_WINDOWS.get(name)
    if reason is None or (window is not None and not BY_NAME[window].predicate(violating)):
        return None
    return reason


def with_windows(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``names`` and the window of every trade-off property among them (in catalogue order)."""
    wanted = set(names) | {TRADE_OFF_WINDOWS[n] for n in names if n in TRADE_OFF_WINDOWS}
    return tuple(p.name for p in PROPERTIES if p.name in wanted)


def not_applicable(prop: Property, bounds: Any) -> str:
    """Why the witness ``prop`` cannot be reached by construction in a run with ``bounds`` (a
    ``model.config.Bounds``: a run of the other recovery kind, or a bound it needs at zero); empty when it
    applies. A witness that applies and is not reached means the bounds are vacuous for it."""
    if prop.recovery_kind is not None and bounds.recovery_kind != prop.recovery_kind:
        return f"a witness of {prop.recovery_kind.name.lower()} recovery only"
    short = [f"{k} >= {v}" for k, v in prop.needs if getattr(bounds, k) < v]
    if short:
        return f"needs {', '.join(short)}"
    return "" if prop.excluded_by is None else prop.excluded_by(bounds)


def get(name: str) -> Property:
    """Look up a property by name, with a clear error listing the valid names."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown property {name!r}; valid: {', '.join(BY_NAME)}") from None


__all__ = [
    "BY_NAME", "EXPECTED_TRADE_OFFS", "LIVENESS", "PROPERTIES", "REACHABILITY", "SAFETY", "TRADE_OFF_WINDOWS",
    "Event", "JournalingState", "Kind", "Property", "get", "not_applicable", "trade_off", "with_windows",
]
