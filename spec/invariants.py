"""Strengthening invariants: facts about every reachable state that make the safety properties inductive.

k-induction (``pitmirror prove --induction``) proves a property P by showing that P on k consecutive states
implies P on the next. An unreachable state can break that step although it never occurs; each invariant
below rules out a family of such states. They are plain predicates over ``State``, so the explicit checker
can check them too, and ``prove`` proves them together with the property (the conjunction is what is shown
inductive, and the base case checks it on the initial states), so nothing is assumed that is not proved.

``SUPPORT`` names, per property, the invariants its induction uses (fewer conjuncts, smaller formulas);
``SWAP_SUPPORT`` what a swap recovery adds; ``support(prop, kind)`` is the two together. When a proof fails,
``pitmirror prove --induction`` names every (action / conjunct) obligation that breaks, and writes the first
counterexample to induction as a trace: the state it starts from is what a new invariant must exclude.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from pitmirror.spec.properties import journal_well_formed, replica_base_caught_up
from pitmirror.spec.state import (
    MARKER,
    GhostWrite,
    JournalingState,
    MessageKind,
    Origin,
    PairState,
    Record,
    Recovery,
    RecoveryKind,
    RemoteSwapStatus,
    State,
    apply_records,
    covered,
    image,
    primary_is_newest_image,  # the invariant behind the property primary_is_latest_image: one definition
)


def counters_ordered(s: State) -> bool:
    """``base_seq < next_seq``: a checkpoint only frees records that took a sequence number; a swap restarts
    the journal at ``next_seq`` and moves ``next_seq`` past it."""
    return s.base_seq < s.next_seq


def history_below_next_seq(s: State) -> bool:
    """Every ghost history entry took a sequence number already: its seq is below ``next_seq``."""
    return all(h.seq < s.next_seq for h in s.history)


def history_in_seq_order(s: State) -> bool:
    """The ghost history is in increasing sequence order (writes are applied to P in the order they take
    their numbers), and starts above the ghost base."""
    seqs = [h.seq for h in s.history]
    return all(a < b for a, b in pairwise(seqs)) and all(x > s.ghost_base_seq for x in seqs)


def history_above_base(s: State) -> bool:
    """Every ghost history entry is above B's seq: a checkpoint folds the ghost as far as it moves B (during a
    recovery it may not pass the target, and neither may B). With ``journal_well_formed`` the history is then
    exactly J, so it fits J's capacity."""
    return all(h.seq > s.base_seq for h in s.history)


def recovery_freezes_io(s: State) -> bool:
    """A's journaling state is JOURNALING exactly when no recovery runs (StartRecovery leaves it, SwapVolumes
    moves it on to SWAPPING, FinishRecovery returns to it)."""
    return (s.recovery is None) == (s.journaling_state == JournalingState.JOURNALING)


def recovery_writes_in_flight(s: State) -> bool:
    """Recovery writes are in flight only while a write-through recovery runs, then alone, at most one per block
    (a recovery write waits until the last one to its block is acknowledged), and a write-through recovery
    starts with nothing in flight and freezes host I/O, so only its own writes are in flight while it runs:
    so A's in-flight table holds at most ``concurrency`` host writes and markers, or at most one recovery write
    per block."""
    rec = [e.lba for e in s.in_flight if e.origin == Origin.RECOVERY]
    if s.recovery is not None and s.recovery.kind == RecoveryKind.WRITETHROUGH and len(rec) < len(s.in_flight):
        return False
    if not rec:
        return True
    return (len(rec) == len(s.in_flight) == len(set(rec)) and MARKER not in rec
            and s.recovery is not None and s.recovery.kind == RecoveryKind.WRITETHROUGH)


def acked_only_when_applied(s: State) -> bool:
    """The host is acknowledged only after R's acknowledgement, which is when an entry leaves the in-flight
    table (so none in it is acknowledged), and in PAIR every acknowledged write is one R applied (a write
    acknowledged while the pair is suspended is before the resync that sets R's applied seq to A's)."""
    if any(e.host_acked for e in s.in_flight):
        return False
    return s.pair_state != PairState.PAIR or all(h.seq <= s.remote_applied_seq for h in s.history if h.acked)


def writethrough_recovery_on_track(s: State) -> bool:
    """A running write-through recovery's target is in the window ``[base_seq, next_seq - 1]`` (no checkpoint
    passes it), its ghost target image is ``image(target)`` (the writes it appends come after the target), and
    until a fault marks it the pair is in PAIR and never left it, the path is up, and every write in flight
    still has its MirrorWrite or MirrorAck on the path or its record in R's buffer (only a fault suspends the
    pair or loses a message, and the recovery started with nothing in flight)."""
    r = s.recovery
    if r is None or r.kind != RecoveryKind.WRITETHROUGH:
        return True
    if not (s.base_seq <= r.target < s.next_seq and r.target_image == image(s, r.target)):
        return False
    if r.faulted:
        return True
    on_path = {m.a for m in s.path if m.kind in (MessageKind.MIRROR_WRITE, MessageKind.MIRROR_ACK)}
    buffered = {x.seq for x in s.remote_buffer}
    return (s.pair_state == PairState.PAIR and not r.left_pair and s.path_up
            and all(e.seq in on_path or e.seq in buffered for e in s.in_flight))


def swap_recovery_on_track(s: State) -> bool:
    """A running swap recovery's target is in the window and its ghost target image is ``image(target)`` until A
    swaps, and P is that image once A has (SwapVolumes makes the rebuild of B and J, the image of the target, the
    primary, and host I/O stays frozen); until a fault marks it the pair is in PAIR and never left it, the path
    is up, and while R's answer is awaited the RecoverRequest or R's SwapDone is on the path, so it has not
    timed out (only a lost or cut message lets it)."""
    r = _swap_recovery(s)
    if r is None:
        return True
    if r.a_swapped:
        ok = s.primary == r.target_image
    else:
        ok = s.base_seq <= r.target < s.next_seq and r.target_image == image(s, r.target)
    awaited = any(m.kind in (MessageKind.RECOVER_REQUEST, MessageKind.SWAP_DONE) and m.a == r.recovery_id
                  for m in s.path)
    return ok and (r.faulted or (s.pair_state == PairState.PAIR and not r.left_pair and s.path_up
                                 and r.remote_status != RemoteSwapStatus.TIMED_OUT
                                 and (r.remote_status != RemoteSwapStatus.REQUESTED or awaited)))


def ghost_base_not_past_base(s: State) -> bool:
    """The ghost base never runs ahead of B: ``ghost_base_seq <= base_seq``."""
    return s.ghost_base_seq <= s.base_seq


def base_is_its_image(s: State) -> bool:
    """B is the image P had right after write ``base_seq``: ``B == image(base_seq)`` (checkpoints apply the
    oldest record to B as the ghost folds it; a swap makes both the rebuilt volume)."""
    return s.base == image(s, s.base_seq)


def mirrored_writes_below_next_seq(s: State) -> bool:
    """Every mirrored write on the path, in R's buffer or in A's in-flight table took a seq already."""
    return (all(m.a < s.next_seq for m in s.path if m.kind == MessageKind.MIRROR_WRITE)
            and all(r.seq < s.next_seq for r in s.remote_buffer) and all(e.seq < s.next_seq for e in s.in_flight))


def messages_below_next_seq(s: State) -> bool:
    """Every mirrored write took a seq already (``mirrored_writes_below_next_seq``), and R never applied a seq A
    has not taken. A swap takes one seq on each array: while A alone has swapped, R is at least two behind; while
    R alone has, it may hold the seq A's swap will take."""
    ahead = _swapped_ahead(s)
    caught_up = s.remote_applied_seq < s.next_seq - (1 if ahead == "A" else 0)
    return (caught_up or (ahead == "R" and s.remote_applied_seq == s.next_seq)) and mirrored_writes_below_next_seq(s)


def acks_applied(s: State) -> bool:
    """R acknowledges only what it applied, and buffers only what it has not: every MirrorAck's seq is at most
    ``remote_applied_seq``, every buffered record's above it."""
    return (all(m.a <= s.remote_applied_seq for m in s.path if m.kind == MessageKind.MIRROR_ACK)
            and all(r.seq > s.remote_applied_seq for r in s.remote_buffer))


def tables_in_seq_order(s: State) -> bool:
    """A's in-flight table and R's reorder buffer hold each sequence number once, in increasing order (A
    appends as it numbers writes; R keeps its buffer sorted and never buffers a record twice)."""
    ifl = [e.seq for e in s.in_flight]
    buf = [r.seq for r in s.remote_buffer]
    return all(a < b for xs in (ifl, buf) for a, b in pairwise(xs))


def _pending_records(s: State) -> list[tuple[int, int, int, int]]:
    """Mirrored writes R has not applied yet, as (seq, lba, value, length): on the path above R's applied seq,
    or in R's buffer."""
    out = [(m.a, m.b, m.c, m.d) for m in s.path if m.kind == MessageKind.MIRROR_WRITE and m.a > s.remote_applied_seq]
    return out + [tuple(r) for r in s.remote_buffer]  # type: ignore[misc]


def pending_records_agree(s: State) -> bool:
    """Two writes R has still to apply that carry the same seq are the same write (a seq names one write)."""
    by_seq: dict[int, tuple[int, int, int, int]] = {}
    return all(by_seq.setdefault(r[0], r) == r for r in _pending_records(s))


def pending_writes_tracked(s: State) -> bool:
    """In PAIR every write R has still to apply is in A's in-flight table; out of PAIR it is on a dirty block
    (the timeout or crash that suspended the pair marked it) and nothing is in flight."""
    if s.pair_state == PairState.PAIR:
        in_flight = {(e.seq, e.lba, e.value, e.length) for e in s.in_flight}
        return all(r in in_flight for r in _pending_records(s))
    return not s.in_flight and all(s.dirty[b] for _seq, lba, _v, n in _pending_records(s) for b in covered(lba, n))


def mirror_gap_in_flight(s: State) -> bool:
    """In PAIR, a block where P and S differ has a write in flight that R has not applied, and P holds the
    newest such write's value (so when R applies it, the block agrees again). A swap recovery in progress is
    exempt: between the two swaps P and S legitimately differ."""
    if s.pair_state != PairState.PAIR or (s.recovery is not None and s.recovery.kind == RecoveryKind.SWAP):
        return True
    pending = [e for e in s.in_flight if e.lba != MARKER and e.seq > s.remote_applied_seq]
    for b, (p, r) in enumerate(zip(s.primary, s.remote, strict=True)):
        on_b = [e for e in pending if b in covered(e.lba, e.length)]
        if p != r and not on_b:
            return False
        if on_b and p != max(on_b, key=lambda e: e.seq).value:
            return False
    return True


def _swap_recovery(s: State) -> Recovery | None:
    r = s.recovery
    return r if r is not None and r.kind == RecoveryKind.SWAP else None


def _rebuild(base: tuple[int, ...], journal: tuple[Record, ...], target: int) -> tuple[int, ...]:
    """An array's rebuild of ``target``: ``base`` with the journal's records of ``seq <= target`` applied in the
    order the journal holds them (sequence order: ``replay`` without the sort, which Z3 need not model)."""
    return apply_records(base, [x for x in journal if x.seq <= target])


def _swapped_ahead(s: State) -> str | None:
    """``"A"`` or ``"R"``: the array that alone has swapped for the running swap recovery, if one has."""
    r = _swap_recovery(s)
    if r is None or r.a_swapped == (s.remote_recovery_id >= r.recovery_id):
        return None
    return "A" if r.a_swapped else "R"


def _half_done_swap(s: State) -> bool:
    """One array has swapped for the running swap recovery, the other not yet."""
    return _swapped_ahead(s) is not None


def remote_caught_up(s: State) -> bool:
    """In PAIR every seq A took that R has not applied is in A's in-flight table (a write leaves the table only
    with R's acknowledgement, and a lost one suspends the pair): at least ``next_seq - 1 - remote_applied_seq``
    entries above R's applied seq, one fewer while A alone has swapped (its swap took a seq R takes when it
    swaps), one more while R alone has."""
    if s.pair_state != PairState.PAIR:
        return True
    ahead = _swapped_ahead(s)
    shift = 1 if ahead == "R" else -1 if ahead == "A" else 0
    return sum(1 for e in s.in_flight if e.seq > s.remote_applied_seq) >= s.next_seq - 1 - s.remote_applied_seq + shift


def replica_mirrors_base(s: State) -> bool:
    """In PAIR, outside a half-done swap, R's base and journal are A's, shifted by the checkpoints whose
    ``Checkpointed`` R has not taken yet: RB is at or below B's seq and, with JR's records up to ``base_seq``
    applied, is B; JR is in increasing seq order, and its records above ``base_seq`` are J up to the last seq R
    applied (R applies A's records in sequence order, A checkpoints only records R holds, R's half applies
    JR's oldest records, resync copies B and J)."""
    if s.pair_state != PairState.PAIR or _half_done_swap(s):
        return True
    jr = s.remote_journal
    return (s.replica_base_seq <= s.base_seq and replica_base_caught_up(s) == s.base
            and all(a.seq < b.seq for a, b in pairwise(jr))
            and tuple(x for x in jr if x.seq > s.base_seq) == tuple(x for x in s.journal
                                                                   if x.seq <= s.remote_applied_seq))


def checkpoints_below_base(s: State) -> bool:
    """Every ``Checkpointed`` on the path names a seq at or below B's: A sends the seq its base has just reached,
    and ``base_seq`` never moves back (a checkpoint advances it, a swap restarts it past ``next_seq``); and, while
    a recovery runs, at or below its target (it starts with ``base_seq <= T`` and no checkpoint passes T), so R's
    half never moves RB past what R's rebuild of T reads."""
    r = s.recovery
    return all(m.a <= s.base_seq and (r is None or m.a <= r.target)
               for m in s.path if m.kind == MessageKind.CHECKPOINTED)


def checkpoints_below_late_requests(s: State) -> bool:
    """While a RecoverRequest awaits R (one R has not acted on, running or left late by a timed-out swap), every
    ``Checkpointed`` on the path is at or below its target and JR is in increasing seq order, so R's half of a
    checkpoint folds into RB only records R's rebuild of that target applies anyway. A swap starts in PAIR
    (JR in order, every ``Checkpointed`` at or below ``base_seq <= T``), no checkpoint passes T while it runs,
    and once it has timed out A checkpoints only back in PAIR, after the resync that makes the request stale."""
    targets = [m.b for m in s.path if m.kind == MessageKind.RECOVER_REQUEST and m.a > s.remote_recovery_id]
    if not targets:
        return True
    return (all(a.seq < b.seq for a, b in pairwise(s.remote_journal))
            and all(m.a <= t for m in s.path if m.kind == MessageKind.CHECKPOINTED for t in targets))


def resync_answer_holds_the_copy(s: State) -> bool:
    """Every ``Resynced`` on the path answers a resync A has started; while A is in COPY and the answer of the
    resync it runs is on the path, R holds A's copy: S is P, RB is B at ``base_seq``, JR is J, R has applied
    up to ``next_seq - 1``, settled every recovery A started and buffers nothing. R's half makes it so, and
    nothing moves either side until A's half: A is frozen in COPY (no host write, checkpoint or recovery),
    and what R may still receive is stale (a write at or below its applied seq, a request it has settled, a
    ``Checkpointed`` at or below ``base_seq``, below every record of JR)."""
    answers = [m.a for m in s.path if m.kind == MessageKind.RESYNCED]
    if any(k > s.resync_id for k in answers):
        return False
    if s.pair_state != PairState.COPY or s.resync_id not in answers:
        return True
    return (s.remote == s.primary and s.replica_base == s.base and s.replica_base_seq == s.base_seq
            and s.remote_journal == s.journal and s.remote_applied_seq == s.next_seq - 1
            and s.remote_recovery_id >= s.recoveries_started and not s.remote_buffer)


def journaled_in_flight(s: State) -> bool:
    """In PAIR every in-flight write R has not applied is in J (A journals before it mirrors, and a checkpoint
    frees only records R applied)."""
    if s.pair_state != PairState.PAIR:
        return True
    return all(Record(e.seq, e.lba, e.value, e.length) in s.journal for e in s.in_flight
               if e.seq > s.remote_applied_seq)


def swap_freezes_io(s: State) -> bool:
    """During a swap recovery host I/O is frozen (the journaling state is not JOURNALING), nothing is in flight,
    R buffers nothing and no mirrored write R has not applied is on the path: StartRecovery needs an empty
    in-flight table, so nothing was pending when it began, and nothing new is written until FinishRecovery."""
    if _swap_recovery(s) is None:
        return True
    pending = any(m.kind == MessageKind.MIRROR_WRITE and m.a > s.remote_applied_seq for m in s.path)
    return (s.journaling_state != JournalingState.JOURNALING and not s.in_flight and not s.remote_buffer
            and not pending)


def swap_messages_tracked(s: State) -> bool:
    """R never counts a recovery A has not started, and a running recovery is the last A started; a
    RecoverRequest R has not acted on is the running swap's (its id and target, the answer still awaited); R
    sends SwapDone only once it has swapped, and A records DONE only on receiving one. A timed-out swap is back
    in PAIR only through a resync, which tells R the recovery is settled. A request left late on the path by a
    premature SwapTimeout is the last recovery's, out of PAIR with every block dirty (and, once A has finished
    the recovery, A a seq ahead of R, whose swap took one, with no mirrored write pending at R), until that
    resync makes it stale."""
    r = _swap_recovery(s)
    if s.remote_recovery_id > s.recoveries_started:
        return False
    if s.recovery is not None and s.recovery.recovery_id != s.recoveries_started:
        return False
    timed_out = s.pair_state != PairState.PAIR and all(s.dirty) and (
        (s.recovery is None and s.remote_applied_seq < s.next_seq - 1 and not s.remote_buffer
         and not any(m.kind == MessageKind.MIRROR_WRITE and m.a > s.remote_applied_seq for m in s.path))
        or (s.recovery is not None and s.recovery.remote_status == RemoteSwapStatus.TIMED_OUT))
    for m in s.path:
        if m.kind == MessageKind.RECOVER_REQUEST and m.a > s.remote_recovery_id and not (
                (r is not None and m.a == r.recovery_id and m.b == r.target
                 and r.remote_status == RemoteSwapStatus.REQUESTED)
                or (timed_out and m.a == s.recoveries_started)):
            return False
        if m.kind == MessageKind.SWAP_DONE and m.a > s.remote_recovery_id:
            return False
    if r is None or s.remote_recovery_id >= r.recovery_id:
        return True
    return not (r.remote_status == RemoteSwapStatus.DONE
                or (r.remote_status == RemoteSwapStatus.TIMED_OUT and s.pair_state == PairState.PAIR))


def swap_restarts_journals(s: State) -> bool:
    """During a swap recovery an array that has swapped holds its rebuilt image as volume and base, with an
    empty journal starting at the base: on A ``B == P`` and ``base_seq == next_seq - 1``; on R ``RB == S`` and
    ``replica_base_seq == remote_applied_seq`` (a resync, which counts as R's swap, copies both)."""
    r = _swap_recovery(s)
    if r is None:
        return True
    a_ok = not r.a_swapped or (s.base == s.primary and not s.journal and s.base_seq == s.next_seq - 1)
    r_ok = s.remote_recovery_id < r.recovery_id or (
        s.replica_base == s.remote and not s.remote_journal and s.replica_base_seq == s.remote_applied_seq)
    return a_ok and r_ok


def swap_rebuilds_agree(s: State) -> bool:
    """During a swap recovery in PAIR both arrays end on the same image: an array that has swapped holds what the
    other's rebuild of T will be, two that have not rebuild the same image (and P == S until then). Out of PAIR
    every block is dirty (only a crash of A or a swap timeout suspends a swap, and both mark every block), and a
    resync starts only once A has swapped."""
    r = _swap_recovery(s)
    if r is None:
        return True
    if s.pair_state != PairState.PAIR:
        return all(s.dirty) and (s.pair_state != PairState.COPY or r.a_swapped)
    r_swapped = s.remote_recovery_id >= r.recovery_id
    a_image = s.primary if r.a_swapped else _rebuild(s.base, s.journal, r.target)
    r_image = s.remote if r_swapped else _rebuild(s.replica_base, s.remote_journal, r.target)
    return a_image == r_image and (r.a_swapped or r_swapped or s.primary == s.remote)


def _writethrough_window(s: State) -> Recovery | None:
    """The write-through recovery whose window ``remote_is_point_in_time_or_recovering`` exempts: the running
    one, else the one that ended outside PAIR and awaits the resync (the property's own choice)."""
    r = s.recovery
    return r if r is not None and r.kind == RecoveryKind.WRITETHROUGH else s.recovery_awaiting_resync


def _mixes(volume: tuple[int, ...], r: Recovery) -> bool:
    """Each block of ``volume`` is the block of ``r``'s start image or of its target image."""
    return all(x in (a, b) for x, a, b in zip(volume, r.start_image, r.target_image, strict=True))


def pending_writes_in_history(s: State) -> bool:
    """Every mirrored write R has still to apply is the ghost history's write of its seq (A enters a write in the
    history as it sends it, and a checkpoint folds only what R applied); outside a write-through recovery's
    window it is one the host saw (a host write or a marker), inside it a recovery write carrying its block's
    target value (the recovery started with nothing pending, froze host I/O, and a pair that leaves PAIR
    mirrors nothing new until the resync that closes the window)."""
    w = _writethrough_window(s)

    def fits(h: GhostWrite) -> bool:
        return h.point_in_time if w is None else h.lba != MARKER and all(
            w.target_image[b] == h.value for b in covered(h.lba, h.length))

    return all(any((h.seq, h.lba, h.value, h.length) == r and fits(h) for h in s.history)
               for r in _pending_records(s))


def _swap_unsettled(s: State) -> bool:
    """One array alone has swapped for the running swap recovery, or A has finished one that R has not swapped
    for (it timed out): S is then a rebuild's image or the retired one (``swap_remote_tracked``)."""
    return _half_done_swap(s) or (s.recovery is None and s.retired_image is not None
                                  and s.remote_recovery_id < s.recoveries_started)


def swap_remote_tracked(s: State) -> bool:
    """Where a swap leaves S: until R swaps, its rebuild of T is the target image (R's base and journal were A's
    when the recovery started in PAIR, and a checkpoint during it never passes T), and a RecoverRequest it has
    not acted on is the running recovery's; A's swap retires P's image; before either array swaps
    S == P with R caught up; R alone swapped: S is the target image and R's applied seq the one A's swap will
    take; A alone swapped: S is the retired image, R one seq behind A's swap (the ghost base). Once A has
    finished a swap recovery R never swapped for (it timed out, out of PAIR until the resync), S is still the
    retired image, and the late RecoverRequests are copies of one (a new recovery's start would have found any
    other still waiting), whose rebuild is the ghost base, A's swapped image; otherwise no RecoverRequest awaits
    R. (One request named, not each: the proof rebuilds R's image once, not once per path slot.)"""
    r = _swap_recovery(s)
    requests = [m for m in s.path if m.kind == MessageKind.RECOVER_REQUEST and m.a > s.remote_recovery_id]
    if r is not None:
        if s.remote_recovery_id < r.recovery_id and _rebuild(s.replica_base, s.remote_journal,
                                                             r.target) != r.target_image:
            return False
        if any((m.a, m.b) != (r.recovery_id, r.target) for m in requests) or (
                r.a_swapped and s.retired_image is None):
            return False
        ahead = _swapped_ahead(s)
        if ahead == "R":
            return s.remote == r.target_image and s.remote_applied_seq == s.next_seq
        if ahead == "A":
            return s.remote == s.retired_image and s.remote_applied_seq == s.ghost_base_seq - 1
        return r.a_swapped or (s.remote == s.primary and s.remote_applied_seq == s.next_seq - 1)
    if s.retired_image is None or s.remote_recovery_id >= s.recoveries_started:
        return not requests
    return (s.remote == s.retired_image and s.remote_applied_seq == s.ghost_base_seq - 1
            and all((m.a, m.b) == (requests[0].a, requests[0].b) for m in requests)
            and (not requests or _rebuild(s.replica_base, s.remote_journal, requests[0].b) == s.ghost_base))


def remote_is_applied_image(s: State) -> bool:
    """S is the image right after the last write R applied, ``image(remote_applied_seq)`` (R applies A's writes in
    seq order; a resync copies P, ``image(next_seq - 1)``, and moves R's applied seq there), and outside a
    write-through recovery's window the newest write at or below R's applied seq is one the host saw (so S is a
    point in time). A swap moves S by a rebuild instead: while one array alone has swapped, and after A has
    finished a swap R never swapped for, S is not tied to the history this way (``swap_remote_tracked``)."""
    if _swap_unsettled(s):
        return True
    applied = s.remote_applied_seq
    if s.remote != image(s, applied):
        return False
    below = [h for h in s.history if h.seq <= applied]
    return _writethrough_window(s) is not None or not below or below[-1].point_in_time


def writethrough_window_mixes(s: State) -> bool:
    """While a write-through recovery runs, each block of P and of S is its start image's or its target image's
    (P starts as the one, each recovery write brings a block to the other, host I/O is frozen; S follows P
    through the mirror or a resync); once it has ended outside PAIR, S keeps mixing them and the pair stays out
    of PAIR until the resync that closes the window; outside a running one, the newest history entry is one
    the host saw (FinishRecovery marks the last recovery write as the point the host sees)."""
    r = s.recovery
    if r is not None and r.kind == RecoveryKind.WRITETHROUGH:
        return _mixes(s.primary, r) and _mixes(s.remote, r)
    w = s.recovery_awaiting_resync
    if w is not None and (s.pair_state == PairState.PAIR or not _mixes(s.remote, w)):
        return False
    return not s.history or s.history[-1].point_in_time


def journal_table_lists_journal(s: State) -> bool:
    """The journal log table has one location per record of J: a record joins J with its location (a host
    write, a marker, a recovery write), a checkpoint frees both, a swap restarts both. What bounds the table's
    length by J's in the proof system."""
    return len(s.journal_locations) == len(s.journal)
def lun_follows_role_map(s: State) -> bool:
    """The host-LUN map names the volume the role map calls P, except between the halves of A's swap: the
    intent record is set only while a swap recovery runs and A has swapped its role map (SwapVolumes sets it,
    SwitchHostLun or the restart after a crash clears it, and FinishRecovery waits for that), so host I/O is
    frozen (SWAPPING) whenever the maps differ."""
    if s.lun_switch_pending:
        r = s.recovery
        return (r is not None and r.kind == RecoveryKind.SWAP and r.a_swapped
                and s.journaling_state == JournalingState.SWAPPING)
    return s.host_lun == s.primary_volume


INVARIANTS: tuple[Callable[[State], bool], ...] = (
    counters_ordered, history_below_next_seq, history_in_seq_order, ghost_base_not_past_base, base_is_its_image,
    mirrored_writes_below_next_seq, messages_below_next_seq, acks_applied, tables_in_seq_order,
    pending_records_agree, pending_writes_tracked, mirror_gap_in_flight, journal_well_formed, remote_caught_up,
    replica_mirrors_base, journaled_in_flight,
    swap_freezes_io, swap_messages_tracked, swap_restarts_journals, swap_rebuilds_agree, history_above_base,
    recovery_writes_in_flight, recovery_freezes_io, primary_is_newest_image, acked_only_when_applied,
    writethrough_recovery_on_track, swap_recovery_on_track, pending_writes_in_history, remote_is_applied_image,
    writethrough_window_mixes, swap_remote_tracked, journal_table_lists_journal, lun_follows_role_map,
    checkpoints_below_base, checkpoints_below_late_requests, resync_answer_holds_the_copy,
)

#: What every induction adds, in either system (the checked one of ``prove --induction --bounded`` and the proof
#: system, ``docs/PROOFS.md``): the facts that bound the lengths of J's ghost history and of A's in-flight table,
#: so that every step from a state satisfying them fits the capacities (an obligation of the induction, not an
#: assumption).
CAPACITY_SUPPORT: tuple[str, ...] = ("counters_ordered", "history_below_next_seq", "history_above_base",
                                     "journal_well_formed", "recovery_freezes_io",
                                     "recovery_writes_in_flight", "journal_table_lists_journal")


#: What every induction adds, in either system: the journal log table lists J (a checkpoint frees the oldest
#: record and its location together, which from a state where they disagree leaves the table's length below 0),
#: and every mirrored write took a seq already (a power loss in the middle of a multi-block host write takes back
#: what that write put on the path and in flight by its seq, ``next_seq``: from a state with another entry at
#: that seq it takes that one back too, and the path's slots no longer hold a well-formed message).
TABLE_SUPPORT: tuple[str, ...] = ("journal_table_lists_journal", "mirrored_writes_below_next_seq")


#: The protocol's whole story: every invariant above, with the three core properties, which the properties
#: about acknowledgements, bases and recoveries need together (each conjunct is proved, none assumed).
PROTOCOL_SUPPORT: tuple[str, ...] = (
    "mirror_consistent", "replay_is_point_in_time", "messages_below_next_seq", "acks_applied",
    "tables_in_seq_order", "pending_records_agree", "pending_writes_tracked", "mirror_gap_in_flight",
    "remote_caught_up", "replica_mirrors_base", "checkpoints_below_base", "journaled_in_flight", "swap_freezes_io",
    "swap_messages_tracked",
    "swap_restarts_journals", "swap_rebuilds_agree", "ghost_base_not_past_base", "base_is_its_image",
    "history_in_seq_order", "primary_is_newest_image", "acked_only_when_applied", "writethrough_recovery_on_track",
    "swap_recovery_on_track", "resync_answer_holds_the_copy",
)

#: What the properties about S being a point in time add: S tied to the ghost history through R's applied seq,
#: a write-through recovery's window (the blocks it mixes, the writes it has pending) until it closes, and where
#: a swap leaves S while the arrays' swaps are apart.
REMOTE_SUPPORT: tuple[str, ...] = ("pending_writes_in_history", "remote_is_applied_image",
                                   "writethrough_window_mixes", "swap_remote_tracked",
                                   "checkpoints_below_late_requests")

#: The invariants each property's induction is strengthened with, under either recovery kind (beyond
#: ``CAPACITY_SUPPORT`` and ``TABLE_SUPPORT``, which every one has).
SUPPORT: dict[str, tuple[str, ...]] = {
    "journal_well_formed": ("counters_ordered", "history_below_next_seq"),
    "replay_is_point_in_time": ("counters_ordered", "history_below_next_seq", "history_in_seq_order",
                                "ghost_base_not_past_base", "base_is_its_image", "journal_well_formed"),
    # journal_well_formed: A's half of a checkpoint reads J alone (not R's state), so J's oldest seq must be one
    # A took for base_seq to stay below next_seq
    "mirror_consistent": ("counters_ordered", "messages_below_next_seq", "acks_applied", "tables_in_seq_order",
                          "pending_records_agree", "pending_writes_tracked", "mirror_gap_in_flight",
                          "journal_well_formed", "resync_answer_holds_the_copy", "checkpoints_below_base"),
    **{name: PROTOCOL_SUPPORT for name in ("ack_durable", "recovery_correct", "bases_agree", "swap_correct")},
    **{name: (*PROTOCOL_SUPPORT, *REMOTE_SUPPORT)
       for name in ("remote_is_point_in_time", "remote_is_point_in_time_or_recovering")},
    # every write to P enters the history last (CAPACITY_SUPPORT's history_below_next_seq), a checkpoint folds a
    # prefix of it (history_in_seq_order, above the ghost base), and the invariant holds through a recovery
    # too, where the property exempts it
    "primary_is_latest_image": ("primary_is_newest_image", "history_in_seq_order", "ghost_base_not_past_base"),
    # the maps agree outside the swap's halves, and a swap ending has P == image(T) (swap_recovery_on_track)
    "host_lun_serves_primary": ("lun_follows_role_map", *PROTOCOL_SUPPORT),
}

#: What a swap recovery adds: P and S legitimately differ between the two swaps, and the proof that they agree
#: again needs the arrays' rebuilds tied together (RB/JR mirror B/J, R caught up, the swap messages tracked).
SWAP_SUPPORT: dict[str, tuple[str, ...]] = {
    "mirror_consistent": ("journal_well_formed", "remote_caught_up", "replica_mirrors_base", "checkpoints_below_base",
                          "journaled_in_flight",
                          "swap_freezes_io", "swap_messages_tracked", "swap_restarts_journals", "swap_rebuilds_agree"),
    # under swap ``remote_is_point_in_time`` holds (it is only write-through's expected trade-off) and implies the
    # weaker property. Proved as a conjunct of the weaker one's Q (never assumed), it makes that Q a superset of
    # its own: every obligation the stronger proof discharged is reused (``HeldObligations``), and only the weaker
    # property's own are asked
    "remote_is_point_in_time_or_recovering": ("remote_is_point_in_time",),
}


def support(prop: str, kind: RecoveryKind) -> tuple[str, ...]:
    """The strengthening invariants of ``prop``'s induction under recovery ``kind``, each once and never ``prop``
    itself: the same in the proof system and in the checked one (``--bounded``), whose step case starts from an
    arbitrary state alike."""
    extra = SWAP_SUPPORT.get(prop, ()) if kind == RecoveryKind.SWAP else ()
    # every host write goes through the host-LUN map: each property's step case needs the maps to agree
    names = ("lun_follows_role_map", *SUPPORT.get(prop, ()), *extra, *CAPACITY_SUPPORT, *TABLE_SUPPORT)
    return tuple(n for n in dict.fromkeys(names) if n != prop)
