"""The spec over the state vector: every safety property of ``spec.properties`` and every strengthening invariant
of ``spec.invariants``, transcribed once over the term layer of ``checkers.symbolic.terms``, so each runs
concretely, through Z3 and over numpy frontiers and the compiled kernel alike.

``SpecTerms`` is the part of ``checkers.symbolic.encoding.Encoding`` that reads a state and never steps it
(``Encoding`` inherits it; the transitions stay in ``encoding``). It cannot drift unnoticed:
``tests/test_z3_agreement.py`` compares each property and invariant here with its Python predicate on every
enumerated state.
"""

from __future__ import annotations

from collections.abc import Callable

from pitmirror.checkers.symbolic.terms import (
    SV,
    Layout,
    Term,
    Tup,
    all_of,
    any_of,
    conj,
    count,
    covers,
    disj,
    eq_t,
    implies,
    ite,
    neg,
    select,
    seq_compress,
    seq_contains,
    seq_equal,
    tmin,
    vol_eq,
)
from pitmirror.spec.state import (
    MARKER,
    MARKER_RECORD_SECTORS,
    RECORD_FRAME_SECTORS,
    JournalingState,
    MessageKind,
    Origin,
    PairState,
    RecoveryKind,
    RemoteSwapStatus,
)

PAIR, SUSPENDED, COPY = int(PairState.PAIR), int(PairState.SUSPENDED), int(PairState.COPY)
JOURNALING, RECOVERING, SWAPPING = (int(JournalingState.JOURNALING), int(JournalingState.RECOVERING),
                                    int(JournalingState.SWAPPING))
HOST, MARK, RECOV = int(Origin.HOST), int(Origin.MARKER), int(Origin.RECOVERY)
MW, MA, RR, SD = (int(MessageKind.MIRROR_WRITE), int(MessageKind.MIRROR_ACK), int(MessageKind.RECOVER_REQUEST),
                  int(MessageKind.SWAP_DONE))
CK = int(MessageKind.CHECKPOINTED)
RS = int(MessageKind.RESYNCED)
WT, SWAP = int(RecoveryKind.WRITETHROUGH), int(RecoveryKind.SWAP)
ST_NONE, ST_REQ, ST_DONE, ST_TO = (int(RemoteSwapStatus.NONE), int(RemoteSwapStatus.REQUESTED),
                                   int(RemoteSwapStatus.DONE), int(RemoteSwapStatus.TIMED_OUT))


class SpecTerms:
    """The safety properties and the strengthening invariants over a vector of ``lay``, for recovery kind
    ``kind``, in the proof system when ``unbounded`` (``Encoding`` sets all three)."""

    lay: Layout
    kind: int
    unbounded: bool

    # --- what the properties and the guards both read -----------------------------------------------------

    def ln(self, e: Tup, i: int) -> Term:
        """The length of entry ``e`` whose length slot is ``i`` (the constant 1 in a one-block layout, which
        has no length slot: its terms are then exactly the one-block terms)."""
        return e[i] if self.lay.multi else 1

    def hist_record(self, h: Tup) -> Tup:
        """The journal record of a history entry: (seq, lba, value) and its length when the layout has one."""
        return (*h[:3], h[5]) if self.lay.multi else h[:3]

    def _apply(self, vol: list[Term], take: Term, e: Tup, len_slot: int) -> list[Term]:
        """``vol`` with entry ``e`` (seq, lba, value, ...) applied where ``take`` holds, whole."""
        return [ite(conj(take, covers(e[1], self.ln(e, len_slot), k)), e[2], x) for k, x in enumerate(vol)]

    def lost(self, s: SV, seq: Term) -> Term:
        """Nothing of write ``seq`` is on the path or in R's buffer."""
        pn, bn = s.length("path"), s.length("remote_buffer")
        on_path = any_of(conj(i < pn, disj(m[0] == MW, m[0] == MA), m[1] == seq)
                         for i, m in enumerate(s.slots("path")))
        buffered = any_of(conj(i < bn, r[0] == seq) for i, r in enumerate(s.slots("remote_buffer")))
        return conj(neg(on_path), neg(buffered))

    def image(self, s: SV, n: Term) -> list[Term]:
        """``spec.state.image``: the ghost base with every history entry of ``seq <= n`` applied in order."""
        out = s.vol("ghost_base")
        hn = s.length("history")
        for i, h in enumerate(s.slots("history")):
            out = self._apply(out, conj(i < hn, h[0] <= n), h, 5)
        return out

    # --- properties -------------------------------------------------------------------------------------

    def prop_mirror_consistent(self, s: SV) -> Term:
        """``spec.properties.mirror_consistent``."""
        busy = disj(s.length("in_flight") > 0, s.length("remote_buffer") > 0,
                    conj(s["recovery.present"] == 1, s["recovery.kind"] == SWAP))
        in_pair = disj(busy, vol_eq(s.vol("primary"), s.vol("remote")))
        elsewhere = all_of(disj(p == r, d != 0) for p, r, d in zip(s.vol("primary"), s.vol("remote"), s.vol("dirty"),
                                                                    strict=True))
        return ite(s["pair_state"] == PAIR, in_pair, elsewhere)

    def prop_ack_durable(self, s: SV) -> Term:
        """``spec.properties.ack_durable``."""
        hs, hn = s.slots("history"), s.length("history")
        js, jn = s.slots("journal"), s.length("journal")
        check_remote = conj(s["pair_state"] == PAIR, s["recovery.present"] == 0)
        out = []
        if self.lay.multi:  # block by block: a later write may cover part of a multi-block write
            for i, h in enumerate(hs):
                for b in range(self.lay.nb):
                    latest = conj(i < hn, covers(h[1], h[5], b),
                                  *(neg(conj(k < hn, covers(hs[k][1], hs[k][5], b))) for k in range(i + 1, len(hs))))
                    ok = conj(s.vol("primary")[b] == h[2],
                              implies(h[0] > s["base_seq"], seq_contains(js, jn, self.hist_record(h))),
                              implies(check_remote, s.vol("remote")[b] == h[2]))
                    out.append(implies(conj(latest, h[3] == 1), ok))
            return all_of(out)
        for i, h in enumerate(hs):
            latest = conj(i < hn, h[1] != MARKER,
                          *(neg(conj(k < hn, hs[k][1] == h[1])) for k in range(i + 1, len(hs))))
            ok = conj(select(s.vol("primary"), h[1]) == h[2],
                      implies(h[0] > s["base_seq"], seq_contains(js, jn, h[:3])),
                      implies(check_remote, select(s.vol("remote"), h[1]) == h[2]))
            out.append(implies(conj(latest, h[3] == 1), ok))
        return all_of(out)

    def prop_journal_well_formed(self, s: SV) -> Term:
        """``spec.properties.journal_well_formed``."""
        js, jn = s.slots("journal"), s.length("journal")
        bs, ns = s["base_seq"], s["next_seq"]
        count_ok = ite(ns > bs, jn == ns - bs - 1, jn == 0)
        seqs_ok = all_of(implies(i < jn, r[0] == bs + 1 + i) for i, r in enumerate(js))
        hs, hn = s.slots("history"), s.length("history")
        applied, an = seq_compress([self.hist_record(h) for h in hs], hn, [h[0] > bs for h in hs])
        return conj(count_ok, seqs_ok, seq_equal(js, jn, applied, an))

    def prop_replay_is_point_in_time(self, s: SV) -> Term:
        """``spec.properties.replay_is_point_in_time`` (the correct replay, whatever the mutant)."""
        out = []
        js, jn = s.slots("journal"), s.length("journal")
        if self.unbounded:
            return self._replay_window(s)
        for n in range(self.lay.maxseq + 2):
            img = s.vol("base")
            for i, r in enumerate(js):
                img = self._apply(img, conj(i < jn, r[0] <= n), r, 3)
            out.append(implies(conj(s["base_seq"] <= n, n < s["next_seq"]), vol_eq(img, self.image(s, n))))
        return all_of(out)

    def _replay_window(self, s: SV) -> Term:
        """``replay_is_point_in_time`` with sequence numbers relative to the journal base: n = base_seq + i
        for i = 0 .. the journal's capacity. Stronger than the property where the window is wider than J's
        capacity (it then also demands ``next_seq - base_seq - 1 <= capacity``), which is sound for a proof:
        what is proved implies the property."""
        js, jn = s.slots("journal"), s.length("journal")
        bs = s["base_seq"]
        cap = self.lay.caps["journal"]
        out = [s["next_seq"] - bs <= cap + 1]
        for i in range(cap + 1):
            n = bs + i
            img = s.vol("base")
            for j, r in enumerate(js):
                img = self._apply(img, conj(j < jn, r[0] <= n), r, 3)
            out.append(implies(n < s["next_seq"], vol_eq(img, self.image(s, n))))
        return all_of(out)

    def prop_recovery_correct(self, s: SV) -> Term:
        """``spec.properties.recovery_correct``."""
        ti = s.vol("recovery_ended.target_image")
        ok = conj(vol_eq(s.vol("primary"), ti),
                  disj(s["recovery_ended.faulted"] == 1,
                       conj(s["recovery_ended.left_pair"] == 0, s["pair_state"] == PAIR, vol_eq(s.vol("remote"), ti))))
        return implies(s["recovery_ended.present"] == 1, ok)

    def replica_base_caught_up(self, s: SV) -> list[Term]:
        """``spec.properties.replica_base_caught_up``: RB with JR's records up to ``base_seq`` applied."""
        rb, rn, bs = s.vol("replica_base"), s.length("remote_journal"), s["base_seq"]
        for i, r in enumerate(s.slots("remote_journal")):
            rb = self._apply(rb, conj(i < rn, r[0] <= bs), r, 3)
        return rb

    def prop_bases_agree(self, s: SV) -> Term:
        """``spec.properties.bases_agree``."""
        half = conj(s["recovery.present"] == 1, s["recovery.kind"] == SWAP,
                    disj(conj(s["recovery.a_swapped"] == 1, s["remote_recovery_id"] < s["recovery.recovery_id"]),
                         conj(s["recovery.a_swapped"] == 0, s["remote_recovery_id"] >= s["recovery.recovery_id"])))
        upto = tmin(s["remote_applied_seq"], s["next_seq"] - 1)
        bs = s["base_seq"]
        js, jn = s.slots("journal"), s.length("journal")
        rs, rn = s.slots("remote_journal"), s.length("remote_journal")
        loc, ln = seq_compress(js, jn, [r[0] <= upto for r in js])
        rem, rmn = seq_compress(rs, rn, [conj(bs < r[0], r[0] <= upto) for r in rs])
        agree = conj(s["replica_base_seq"] <= bs, vol_eq(self.replica_base_caught_up(s), s.vol("base")),
                     seq_equal(loc, ln, rem, rmn))
        return disj(s["pair_state"] != PAIR, half, agree)

    def prop_swap_correct(self, s: SV) -> Term:
        """``spec.properties.swap_correct``."""
        during = conj(s["recovery.present"] == 1, s["recovery.host_io_during_swap"] == 1)
        ti = s.vol("recovery_ended.target_image")
        ended = conj(s["recovery_ended.present"] == 1, s["recovery_ended.kind"] == SWAP)
        ok = conj(s["recovery_ended.host_io_during_swap"] == 0, vol_eq(s.vol("primary"), ti),
                  disj(s["recovery_ended.faulted"] == 1, vol_eq(s.vol("remote"), ti)))
        return conj(neg(during), implies(ended, ok))

    def prop_remote_is_point_in_time(self, s: SV) -> Term:
        """``spec.properties.remote_is_point_in_time``."""
        remote = s.vol("remote")
        swapped = conj(s["recovery.present"] == 1, s["recovery.kind"] == SWAP,
                       vol_eq(remote, s.vol("recovery.target_image")))
        retired = conj(s["retired_image.present"] == 1, vol_eq(remote, s.vol("retired_image")))
        hs, hn = s.slots("history"), s.length("history")
        points = [vol_eq(self.image(s, s["ghost_base_seq"]), remote)]
        points += [conj(i < hn, h[4] == 1, vol_eq(self.image(s, h[0]), remote)) for i, h in enumerate(hs)]
        return disj(swapped, retired, any_of(points))

    def prop_remote_is_point_in_time_or_recovering(self, s: SV) -> Term:
        """``spec.properties.remote_is_point_in_time_or_recovering``."""
        running_wt = conj(s["recovery.present"] == 1, s["recovery.kind"] == WT)

        def mixes(r: str) -> Term:
            return all_of(disj(x == a, x == b) for x, a, b in zip(
                s.vol("remote"), s.vol(f"{r}.start_image"), s.vol(f"{r}.target_image"), strict=True))

        window = ite(running_wt, mixes("recovery"),
                     conj(s["recovery_awaiting_resync.present"] == 1, mixes("recovery_awaiting_resync")))
        return disj(self.prop_remote_is_point_in_time(s), window)

    def prop_primary_is_latest_image(self, s: SV) -> Term:
        """``spec.properties.primary_is_latest_image``: the invariant outside a recovery."""
        return disj(s["recovery.present"] == 1, self.inv_primary_is_newest_image(s))

    def prop_journal_records_at_their_locations(self, s: SV) -> Term:
        """``spec.properties.journal_records_at_their_locations``."""
        size, nf = s["journal_sectors"], s["journal_next_free"]
        js, jn = s.slots("journal"), s.length("journal")
        ls = s.slots("journal_locations")
        sizes = [ite(r[1] == MARKER, MARKER_RECORD_SECTORS, RECORD_FRAME_SECTORS + self.ln(r, 3)) for r in js]
        total: Term = 0
        for i, n in enumerate(sizes):
            total = total + ite(i < jn, n, 0)
        # where each record ends: a location plus at most one record's sectors wraps at most once
        ends = [ite(loc[0] + n >= size, loc[0] + n - size, loc[0] + n) for loc, n in zip(ls, sizes, strict=True)]
        return conj(s.length("journal_locations") == jn, nf >= 0, nf < size, total <= size,
                    *(implies(i < jn, conj(loc[0] >= 0, loc[0] < size)) for i, loc in enumerate(ls)),
                    *(implies(i + 1 < jn, ls[i + 1][0] == ends[i]) for i in range(len(ls) - 1)),
                    *(implies(jn == i + 1, ends[i] == nf) for i in range(len(ls))))
    def prop_host_lun_serves_primary(self, s: SV) -> Term:
        """``spec.properties.host_lun_serves_primary``."""
        on_p = s["host_lun"] == s["primary_volume"]
        served = [ite(on_p, p, b) for p, b in zip(s.vol("primary"), s.vol("base"), strict=True)]
        ended_swap = conj(s["recovery_ended.present"] == 1, s["recovery_ended.kind"] == SWAP)
        return conj(implies(ended_swap, vol_eq(served, s.vol("recovery_ended.target_image"))),
                    disj(s["recovery.present"] == 1, on_p))

    def inv_primary_is_newest_image(self, s: SV) -> Term:
        """``spec.state.primary_is_newest_image``."""
        return vol_eq(s.vol("primary"), self.image(s, s["next_seq"] - 1))

    def properties(self) -> dict[str, Callable[[SV], Term]]:
        """Every safety property of the catalogue, by name."""
        return {
            "mirror_consistent": self.prop_mirror_consistent,
            "ack_durable": self.prop_ack_durable,
            "journal_well_formed": self.prop_journal_well_formed,
            "replay_is_point_in_time": self.prop_replay_is_point_in_time,
            "recovery_correct": self.prop_recovery_correct,
            "bases_agree": self.prop_bases_agree,
            "swap_correct": self.prop_swap_correct,
            "remote_is_point_in_time": self.prop_remote_is_point_in_time,
            "remote_is_point_in_time_or_recovering": self.prop_remote_is_point_in_time_or_recovering,
            "primary_is_latest_image": self.prop_primary_is_latest_image,
            "journal_records_at_their_locations": self.prop_journal_records_at_their_locations,
            "host_lun_serves_primary": self.prop_host_lun_serves_primary,
        }

    def invariants(self) -> dict[str, Callable[[SV], Term]]:
        """Every strengthening invariant of ``spec.invariants``, by name (the agreement test compares each
        with its Python predicate on every enumerated state)."""
        return {
            "counters_ordered": lambda s: s["base_seq"] < s["next_seq"],
            "history_below_next_seq": lambda s: self._all_slots(s, "history", lambda h: h[0] < s["next_seq"]),
            "history_in_seq_order": self.inv_history_in_seq_order,
            "ghost_base_not_past_base": lambda s: s["ghost_base_seq"] <= s["base_seq"],
            "base_is_its_image": lambda s: vol_eq(s.vol("base"), self.image(s, s["base_seq"])),
            "mirrored_writes_below_next_seq": self.inv_mirrored_writes_below_next_seq,
            "messages_below_next_seq": lambda s: conj(
                disj(s["remote_applied_seq"] < s["next_seq"] - ite(self._ahead(s, "A"), 1, 0),
                     conj(self._ahead(s, "R"), s["remote_applied_seq"] == s["next_seq"])),
                self.inv_mirrored_writes_below_next_seq(s)),
            "acks_applied": lambda s: conj(
                self._all_slots(s, "path", lambda m: implies(m[0] == MA, m[1] <= s["remote_applied_seq"])),
                self._all_slots(s, "remote_buffer", lambda r: r[0] > s["remote_applied_seq"])),
            "tables_in_seq_order": lambda s: conj(*(
                all_of(implies(i + 1 < s.length(q), xs[i][0] < xs[i + 1][0]) for i in range(len(xs) - 1))
                for q in ("in_flight", "remote_buffer") for xs in [s.slots(q)])),
            "pending_records_agree": self.inv_pending_records_agree,
            "pending_writes_tracked": self.inv_pending_writes_tracked,
            "mirror_gap_in_flight": self.inv_mirror_gap_in_flight,
            "journal_well_formed": self.prop_journal_well_formed,
            "remote_caught_up": self.inv_remote_caught_up,
            "replica_mirrors_base": self.inv_replica_mirrors_base,
            "journaled_in_flight": self.inv_journaled_in_flight,
            "swap_freezes_io": self.inv_swap_freezes_io,
            "swap_messages_tracked": self.inv_swap_messages_tracked,
            "swap_restarts_journals": self.inv_swap_restarts_journals,
            "swap_rebuilds_agree": self.inv_swap_rebuilds_agree,
            "history_above_base": lambda s: self._all_slots(s, "history", lambda h: h[0] > s["base_seq"]),
            "recovery_writes_in_flight": self.inv_recovery_writes_in_flight,
            "recovery_freezes_io": lambda s: (s["recovery.present"] == 0) == (s["journaling_state"] == JOURNALING),
            "primary_is_newest_image": self.inv_primary_is_newest_image,
            "acked_only_when_applied": self.inv_acked_only_when_applied,
            "writethrough_recovery_on_track": self.inv_writethrough_recovery_on_track,
            "swap_recovery_on_track": self.inv_swap_recovery_on_track,
            "pending_writes_in_history": self.inv_pending_writes_in_history,
            "remote_is_applied_image": self.inv_remote_is_applied_image,
            "writethrough_window_mixes": self.inv_writethrough_window_mixes,
            "swap_remote_tracked": self.inv_swap_remote_tracked,
            "journal_table_lists_journal": lambda s: s.length("journal_locations") == s.length("journal"),
            "lun_follows_role_map": self.inv_lun_follows_role_map,
            "checkpoints_below_base": self.inv_checkpoints_below_base,
            "checkpoints_below_late_requests": self.inv_checkpoints_below_late_requests,
            "resync_answer_holds_the_copy": self.inv_resync_answer_holds_the_copy,
        }

    def inv_lun_follows_role_map(self, s: SV) -> Term:
        """``spec.invariants.lun_follows_role_map``."""
        swapped = conj(s["recovery.present"] == 1, s["recovery.kind"] == SWAP, s["recovery.a_swapped"] == 1,
                       s["journaling_state"] == SWAPPING)
        pending = s["lun_switch_pending"] == 1
        return conj(implies(pending, swapped), disj(pending, s["host_lun"] == s["primary_volume"]))

    # --- S and the ghost history: what the properties about S being a point in time need -------------------

    def _writethrough_window(self, s: SV) -> tuple[Term, list[Term]]:
        """``spec.invariants._writethrough_window``: (is a window open, its target image)."""
        running = conj(s["recovery.present"] == 1, s["recovery.kind"] == WT)
        target = [ite(running, a, b) for a, b in zip(s.vol("recovery.target_image"),
                                                     s.vol("recovery_awaiting_resync.target_image"), strict=True)]
        if self.kind != WT:  # a swap run has no write-through window (and no recovery awaiting its resync)
            return False, target
        return disj(running, s["recovery_awaiting_resync.present"] == 1), target

    @staticmethod
    def _mixes(s: SV, volume: list[Term], r: str) -> Term:
        """``spec.invariants._mixes`` of the recovery in field ``r``."""
        return all_of(disj(x == a, x == b) for x, a, b in zip(
            volume, s.vol(f"{r}.start_image"), s.vol(f"{r}.target_image"), strict=True))

    def inv_pending_writes_in_history(self, s: SV) -> Term:
        """``spec.invariants.pending_writes_in_history``."""
        window, target = self._writethrough_window(s)
        hs, hn = s.slots("history"), s.length("history")

        def fits(h: Tup) -> Term:
            if self.lay.multi:
                whole = all_of(implies(covers(h[1], h[5], b), target[b] == h[2]) for b in range(self.lay.nb))
                return ite(window, conj(h[1] != MARKER, whole), h[4] == 1)
            return ite(window, conj(h[1] != MARKER, select(target, h[1]) == h[2]), h[4] == 1)

        return all_of(implies(c, any_of(conj(i < hn, eq_t(self.hist_record(h), r), fits(h))
                                        for i, h in enumerate(hs)))
                      for c, r in self._pending(s))

    def inv_remote_is_applied_image(self, s: SV) -> Term:
        """``spec.invariants.remote_is_applied_image``."""
        applied = s["remote_applied_seq"]
        hs, hn = s.slots("history"), s.length("history")
        below = [conj(i < hn, h[0] <= applied) for i, h in enumerate(hs)]
        newest_seen = all_of(implies(conj(below[i], *(neg(below[j]) for j in range(i + 1, len(hs)))), h[4] == 1)
                             for i, h in enumerate(hs))
        ok = conj(vol_eq(s.vol("remote"), self.image(s, applied)), disj(self._writethrough_window(s)[0], newest_seen))
        if self.kind != SWAP:
            return ok
        return disj(self._swap_unsettled(s), ok)

    def _swap_unsettled(self, s: SV) -> Term:
        """``spec.invariants._swap_unsettled`` (under a swap recovery kind)."""
        return disj(self._half_done_swap(s), conj(s["recovery.present"] == 0, s["retired_image.present"] == 1,
                                                  s["remote_recovery_id"] < s["recoveries_started"]))

    def inv_swap_remote_tracked(self, s: SV) -> Term:
        """``spec.invariants.swap_remote_tracked``."""
        if self.kind != SWAP:
            return True
        remote, applied = s.vol("remote"), s["remote_applied_seq"]
        rb, rjs, rjn = s.vol("replica_base"), s.slots("remote_journal"), s.length("remote_journal")
        ti = s.vol("recovery.target_image")
        r_behind = s["remote_recovery_id"] < s["recovery.recovery_id"]
        rebuilds = implies(r_behind, vol_eq(self.rebuild(rb, rjs, rjn, s["recovery.target"]), ti))
        where = ite(self._ahead(s, "R"), conj(vol_eq(remote, ti), applied == s["next_seq"]),
                    ite(self._ahead(s, "A"),
                        conj(vol_eq(remote, s.vol("retired_image")), applied == s["ghost_base_seq"] - 1),
                        disj(s["recovery.a_swapped"] == 1,
                             conj(vol_eq(remote, s.vol("primary")), applied == s["next_seq"] - 1))))
        pn, rid_r = s.length("path"), s["remote_recovery_id"]
        requests = [(conj(i < pn, m[0] == RR, m[1] > rid_r), m) for i, m in enumerate(s.slots("path"))]
        retired = implies(s["recovery.a_swapped"] == 1, s["retired_image.present"] == 1)
        running = conj(rebuilds, where, retired, all_of(implies(c, conj(m[1] == s["recovery.recovery_id"],
                                                                m[2] == s["recovery.target"])) for c, m in requests))
        # the late requests are copies of one: the first one's id and target, and its rebuild, stand for all
        first_id, first_target = 0, 0
        for c, m in reversed(requests):
            first_id, first_target = ite(c, m[1], first_id), ite(c, m[2], first_target)
        late = conj(all_of(implies(c, conj(m[1] == first_id, m[2] == first_target)) for c, m in requests),
                    implies(any_of(c for c, _m in requests),
                            vol_eq(self.rebuild(rb, rjs, rjn, first_target), s.vol("ghost_base"))))
        ended = ite(conj(s["retired_image.present"] == 1, rid_r < s["recoveries_started"]),
                    conj(vol_eq(remote, s.vol("retired_image")), applied == s["ghost_base_seq"] - 1, late),
                    all_of(neg(c) for c, _m in requests))
        return ite(s["recovery.present"] == 1, running, ended)

    def inv_writethrough_window_mixes(self, s: SV) -> Term:
        """``spec.invariants.writethrough_window_mixes``."""
        running = conj(s["recovery.present"] == 1, s["recovery.kind"] == WT)
        hs, hn = s.slots("history"), s.length("history")
        newest_seen = all_of(implies(hn == i + 1, h[4] == 1) for i, h in enumerate(hs))
        awaiting = implies(s["recovery_awaiting_resync.present"] == 1,
                           conj(s["pair_state"] != PAIR,
                                self._mixes(s, s.vol("remote"), "recovery_awaiting_resync")))
        if self.kind != WT:  # a swap run leaves no write-through recovery awaiting its resync
            awaiting = s["recovery_awaiting_resync.present"] == 0
        mixing = conj(self._mixes(s, s.vol("primary"), "recovery"), self._mixes(s, s.vol("remote"), "recovery"))
        return ite(running, mixing, conj(awaiting, newest_seen))

    def inv_swap_recovery_on_track(self, s: SV) -> Term:
        """``spec.invariants.swap_recovery_on_track``."""
        if self.kind != SWAP:
            return True
        t, ti = s["recovery.target"], s.vol("recovery.target_image")
        before = conj(s["base_seq"] <= t, t < s["next_seq"], vol_eq(ti, self.image(s, t)))
        ok = ite(s["recovery.a_swapped"] == 1, vol_eq(s.vol("primary"), ti), before)
        pn, rid = s.length("path"), s["recovery.recovery_id"]
        awaited = any_of(conj(i < pn, disj(m[0] == RR, m[0] == SD), m[1] == rid) for i, m in enumerate(s.slots("path")))
        unfaulted = conj(s["pair_state"] == PAIR, s["recovery.left_pair"] == 0, s["path_up"] == 1,
                         s["recovery.remote_status"] != ST_TO, implies(s["recovery.remote_status"] == ST_REQ, awaited))
        return implies(s["recovery.present"] == 1, conj(ok, disj(s["recovery.faulted"] == 1, unfaulted)))

    def inv_acked_only_when_applied(self, s: SV) -> Term:
        """``spec.invariants.acked_only_when_applied``."""
        none_acked = self._all_slots(s, "in_flight", lambda e: e[4] == 0)
        applied = self._all_slots(s, "history", lambda h: implies(h[3] == 1, h[0] <= s["remote_applied_seq"]))
        return conj(none_acked, implies(s["pair_state"] == PAIR, applied))

    def inv_writethrough_recovery_on_track(self, s: SV) -> Term:
        """``spec.invariants.writethrough_recovery_on_track``."""
        if self.kind != WT:
            return True
        t = s["recovery.target"]
        on_track = conj(s["base_seq"] <= t, t < s["next_seq"], vol_eq(s.vol("recovery.target_image"), self.image(s, t)),
                        disj(s["recovery.faulted"] == 1,
                             conj(s["pair_state"] == PAIR, s["recovery.left_pair"] == 0, s["path_up"] == 1,
                                  self._all_slots(s, "in_flight", lambda e: neg(self.lost(s, e[0]))))))
        return implies(s["recovery.present"] == 1, on_track)

    def inv_recovery_writes_in_flight(self, s: SV) -> Term:
        """``spec.invariants.recovery_writes_in_flight``."""
        ifl, n = s.slots("in_flight"), s.length("in_flight")
        rec = [conj(i < n, e[3] == RECOV) for i, e in enumerate(ifl)]
        alone = all_of(implies(i < n, e[3] == RECOV) for i, e in enumerate(ifl))
        distinct = all_of(implies(conj(rec[i], rec[j]), ifl[i][1] != ifl[j][1])
                          for i in range(len(ifl)) for j in range(i + 1, len(ifl)))
        parts = conj(alone, distinct, all_of(implies(r, e[1] != MARKER) for r, e in zip(rec, ifl, strict=True)),
                     s["recovery.present"] == 1, self.kind == WT)
        wt_running = conj(s["recovery.present"] == 1, self.kind == WT)
        return conj(implies(any_of(rec), parts), implies(wt_running, alone))

    # the swap invariants are about a swap recovery: under write-through they are true by construction

    def _ahead(self, s: SV, array: str) -> Term:
        """``spec.invariants._swapped_ahead(s) == array``."""
        if self.kind != SWAP:
            return False
        r_swapped = s["remote_recovery_id"] >= s["recovery.recovery_id"]
        a_swapped = s["recovery.a_swapped"] == 1
        alone = conj(a_swapped, neg(r_swapped)) if array == "A" else conj(neg(a_swapped), r_swapped)
        return conj(s["recovery.present"] == 1, alone)

    def _half_done_swap(self, s: SV) -> Term:
        return disj(self._ahead(s, "A"), self._ahead(s, "R"))

    @staticmethod
    def rebuild(base: list[Term], slots: list[Tup], n: Term, target: Term, below_only: bool = False,
                newest_first: bool = False) -> list[Term]:
        """``spec.invariants._rebuild``: the records of ``seq <= target`` applied in journal order. The two
        flags are the seeded replay bugs ``replay`` switches on (records ``< target``; newest first)."""
        order = range(len(slots) - 1, -1, -1) if newest_first else range(len(slots))
        out = list(base)
        for i in order:
            seq, lba, val = slots[i][:3]
            length = slots[i][3] if len(slots[i]) > 3 else 1  # a multi-block layout's records carry a length
            take = conj(i < n, seq < target if below_only else seq <= target)
            out = [ite(conj(take, covers(lba, length, k)), val, x) for k, x in enumerate(out)]
        return out

    def inv_remote_caught_up(self, s: SV) -> Term:
        """``spec.invariants.remote_caught_up``."""
        applied = s["remote_applied_seq"]
        n = s.length("in_flight")
        above = count(conj(i < n, e[0] > applied) for i, e in enumerate(s.slots("in_flight")))
        shift = ite(self._ahead(s, "R"), 1, ite(self._ahead(s, "A"), -1, 0))
        return disj(s["pair_state"] != PAIR, above >= s["next_seq"] - 1 - applied + shift)

    def inv_replica_mirrors_base(self, s: SV) -> Term:
        """``spec.invariants.replica_mirrors_base``."""
        js, jn = s.slots("journal"), s.length("journal")
        rs, rn = s.slots("remote_journal"), s.length("remote_journal")
        applied, bs = s["remote_applied_seq"], s["base_seq"]
        loc, ln = seq_compress(js, jn, [r[0] <= applied for r in js])
        rem, rmn = seq_compress(rs, rn, [r[0] > bs for r in rs])
        ordered = all_of(implies(i + 1 < rn, rs[i][0] < rs[i + 1][0]) for i in range(len(rs) - 1))
        agree = conj(s["replica_base_seq"] <= bs, vol_eq(self.replica_base_caught_up(s), s.vol("base")), ordered,
                     seq_equal(loc, ln, rem, rmn))
        return disj(s["pair_state"] != PAIR, self._half_done_swap(s), agree)

    def inv_checkpoints_below_base(self, s: SV) -> Term:
        """``spec.invariants.checkpoints_below_base``."""
        running = s["recovery.present"] == 1
        return self._all_slots(s, "path", lambda m: implies(m[0] == CK, conj(
            m[1] <= s["base_seq"], implies(running, m[1] <= s["recovery.target"]))))

    @staticmethod
    def resync_answered(s: SV) -> Term:
        """The answer (``Resynced``) to the resync A runs is on the path."""
        rid, pn = s["resync_id"], s.length("path")
        return any_of(conj(i < pn, m[0] == RS, m[1] == rid) for i, m in enumerate(s.slots("path")))

    def inv_resync_answer_holds_the_copy(self, s: SV) -> Term:
        """``spec.invariants.resync_answer_holds_the_copy``."""
        rid = s["resync_id"]
        not_ahead = self._all_slots(s, "path", lambda m: implies(m[0] == RS, m[1] <= rid))
        current = self.resync_answered(s)
        copy = conj(vol_eq(s.vol("remote"), s.vol("primary")), vol_eq(s.vol("replica_base"), s.vol("base")),
                    s["replica_base_seq"] == s["base_seq"],
                    seq_equal(s.slots("remote_journal"), s.length("remote_journal"), s.slots("journal"),
                              s.length("journal")),
                    s["remote_applied_seq"] == s["next_seq"] - 1, s["remote_recovery_id"] >= s["recoveries_started"],
                    s.length("remote_buffer") == 0)
        return conj(not_ahead, implies(conj(s["pair_state"] == COPY, current), copy))

    def inv_checkpoints_below_late_requests(self, s: SV) -> Term:
        """``spec.invariants.checkpoints_below_late_requests``."""
        pn, rid_r = s.length("path"), s["remote_recovery_id"]
        ms = s.slots("path")
        rs, rn = s.slots("remote_journal"), s.length("remote_journal")
        ordered = all_of(implies(i + 1 < rn, rs[i][0] < rs[i + 1][0]) for i in range(len(rs) - 1))
        parts: list[Term] = []
        for i, m in enumerate(ms):
            request = conj(i < pn, m[0] == RR, m[1] > rid_r)
            below = all_of(implies(conj(j < pn, c[0] == CK), c[1] <= m[2]) for j, c in enumerate(ms))
            parts.append(implies(request, conj(ordered, below)))
        return all_of(parts)

    def inv_journaled_in_flight(self, s: SV) -> Term:
        """``spec.invariants.journaled_in_flight``."""
        js, jn = s.slots("journal"), s.length("journal")
        n, applied = s.length("in_flight"), s["remote_applied_seq"]
        return disj(s["pair_state"] != PAIR,
                    all_of(implies(conj(i < n, e[0] > applied), seq_contains(js, jn, (*e[:3], *e[5:])))
                           for i, e in enumerate(s.slots("in_flight"))))

    def inv_swap_freezes_io(self, s: SV) -> Term:
        """``spec.invariants.swap_freezes_io``."""
        if self.kind != SWAP:
            return True
        pn, applied = s.length("path"), s["remote_applied_seq"]
        pending = any_of(conj(i < pn, m[0] == MW, m[1] > applied) for i, m in enumerate(s.slots("path")))
        return implies(s["recovery.present"] == 1,
                       conj(s["journaling_state"] != JOURNALING, s.length("in_flight") == 0,
                            s.length("remote_buffer") == 0, neg(pending)))

    def inv_swap_messages_tracked(self, s: SV) -> Term:
        """``spec.invariants.swap_messages_tracked``."""
        rid_r = s["remote_recovery_id"]
        parts: list[Term] = [rid_r <= s["recoveries_started"],
                             implies(s["recovery.present"] == 1, s["recovery.recovery_id"] == s["recoveries_started"])]
        if self.kind != SWAP:
            return all_of(parts)
        present = s["recovery.present"] == 1
        pn = s.length("path")
        rid_applied = s["remote_applied_seq"]
        timed_out = conj(s["pair_state"] != PAIR, all_of(d == 1 for d in s.vol("dirty")),
                         disj(conj(neg(present), s["remote_applied_seq"] < s["next_seq"] - 1,
                                   s.length("remote_buffer") == 0,
                                   neg(any_of(conj(i < pn, m[0] == MW, m[1] > rid_applied)
                                              for i, m in enumerate(s.slots("path"))))),
                              conj(present, s["recovery.remote_status"] == ST_TO)))
        for i, m in enumerate(s.slots("path")):
            parts.append(implies(conj(i < pn, m[0] == RR, m[1] > rid_r),
                                 disj(conj(present, m[1] == s["recovery.recovery_id"], m[2] == s["recovery.target"],
                                           s["recovery.remote_status"] == ST_REQ),
                                      conj(timed_out, m[1] == s["recoveries_started"]))))
            parts.append(implies(conj(i < pn, m[0] == SD), m[1] <= rid_r))
        status = s["recovery.remote_status"]
        parts.append(neg(conj(present, rid_r < s["recovery.recovery_id"],
                              disj(status == ST_DONE, conj(status == ST_TO, s["pair_state"] == PAIR)))))
        return all_of(parts)

    def inv_swap_restarts_journals(self, s: SV) -> Term:
        """``spec.invariants.swap_restarts_journals``."""
        if self.kind != SWAP:
            return True
        a_ok = implies(s["recovery.a_swapped"] == 1,
                       conj(vol_eq(s.vol("base"), s.vol("primary")), s.length("journal") == 0,
                            s["base_seq"] == s["next_seq"] - 1))
        r_ok = implies(s["remote_recovery_id"] >= s["recovery.recovery_id"],
                       conj(vol_eq(s.vol("replica_base"), s.vol("remote")), s.length("remote_journal") == 0,
                            s["replica_base_seq"] == s["remote_applied_seq"]))
        return implies(s["recovery.present"] == 1, conj(a_ok, r_ok))

    def inv_swap_rebuilds_agree(self, s: SV) -> Term:
        """``spec.invariants.swap_rebuilds_agree``."""
        if self.kind != SWAP:
            return True
        a_sw = s["recovery.a_swapped"] == 1
        r_sw = s["remote_recovery_id"] >= s["recovery.recovery_id"]
        t = s["recovery.target"]
        a_todo = self.rebuild(s.vol("base"), s.slots("journal"), s.length("journal"), t)
        r_todo = self.rebuild(s.vol("replica_base"), s.slots("remote_journal"), s.length("remote_journal"), t)
        a_img = [ite(a_sw, p, x) for p, x in zip(s.vol("primary"), a_todo, strict=True)]
        r_img = [ite(r_sw, r, x) for r, x in zip(s.vol("remote"), r_todo, strict=True)]
        in_pair = conj(vol_eq(a_img, r_img), disj(a_sw, r_sw, vol_eq(s.vol("primary"), s.vol("remote"))))
        every_dirty = conj(all_of(d == 1 for d in s.vol("dirty")), implies(s["pair_state"] == COPY, a_sw))
        return implies(s["recovery.present"] == 1, ite(s["pair_state"] == PAIR, in_pair, every_dirty))

    @staticmethod
    def _all_slots(s: SV, q: str, f: Callable[[Tup], Term]) -> Term:
        n = s.length(q)
        return all_of(implies(i < n, f(x)) for i, x in enumerate(s.slots(q)))

    def inv_mirrored_writes_below_next_seq(self, s: SV) -> Term:
        """``spec.invariants.mirrored_writes_below_next_seq``."""
        return conj(self._all_slots(s, "path", lambda m: implies(m[0] == MW, m[1] < s["next_seq"])),
                    self._all_slots(s, "remote_buffer", lambda r: r[0] < s["next_seq"]),
                    self._all_slots(s, "in_flight", lambda e: e[0] < s["next_seq"]))

    def inv_history_in_seq_order(self, s: SV) -> Term:
        """``spec.invariants.history_in_seq_order``."""
        hs, hn = s.slots("history"), s.length("history")
        order = all_of(implies(i + 1 < hn, hs[i][0] < hs[i + 1][0]) for i in range(len(hs) - 1))
        return conj(order, self._all_slots(s, "history", lambda h: h[0] > s["ghost_base_seq"]))

    def _pending(self, s: SV) -> list[tuple[Term, Tup]]:
        """(is pending, (seq, lba, value)) for every path slot and buffer slot."""
        applied = s["remote_applied_seq"]
        pn, bn = s.length("path"), s.length("remote_buffer")
        out = [(conj(i < pn, m[0] == MW, m[1] > applied), (m[1], m[2], m[3], *m[4:]))
               for i, m in enumerate(s.slots("path"))]
        out += [(i < bn, r) for i, r in enumerate(s.slots("remote_buffer"))]
        return out

    def inv_pending_records_agree(self, s: SV) -> Term:
        """``spec.invariants.pending_records_agree``."""
        p = self._pending(s)
        return all_of(implies(conj(p[i][0], p[j][0], p[i][1][0] == p[j][1][0]), eq_t(p[i][1], p[j][1]))
                      for i in range(len(p)) for j in range(i + 1, len(p)))

    def inv_pending_writes_tracked(self, s: SV) -> Term:
        """``spec.invariants.pending_writes_tracked``."""
        ifl, n = s.slots("in_flight"), s.length("in_flight")
        pending = self._pending(s)
        tracked = all_of(implies(c, seq_contains([(*e[:3], *e[5:]) for e in ifl], n, r)) for c, r in pending)
        dirty = s.vol("dirty")
        if self.lay.multi:
            on_dirty = all_of(implies(c, all_of(implies(covers(r[1], r[3], b), dirty[b] == 1)
                                                for b in range(self.lay.nb))) for c, r in pending)
        else:
            on_dirty = all_of(implies(c, disj(r[1] == MARKER, select(dirty, r[1]) == 1)) for c, r in pending)
        return ite(s["pair_state"] == PAIR, tracked, conj(n == 0, on_dirty))

    def inv_mirror_gap_in_flight(self, s: SV) -> Term:
        """``spec.invariants.mirror_gap_in_flight``."""
        ifl, n = s.slots("in_flight"), s.length("in_flight")
        applied = s["remote_applied_seq"]
        pend = [conj(i < n, e[1] != MARKER, e[0] > applied) for i, e in enumerate(ifl)]
        out = []
        for b, (p, r) in enumerate(zip(s.vol("primary"), s.vol("remote"), strict=True)):
            on_b = [conj(pend[i], covers(e[1], self.ln(e, 5), b)) for i, e in enumerate(ifl)]
            out.append(disj(p == r, any_of(on_b)))
            for i, e in enumerate(ifl):
                newest = conj(on_b[i], *(neg(conj(on_b[k], ifl[k][0] > e[0])) for k in range(len(ifl)) if k != i))
                out.append(implies(newest, p == e[2]))
        return implies(conj(s["pair_state"] == PAIR, neg(self._swapping(s))), all_of(out))

    @staticmethod
    def _swapping(s: SV) -> Term:
        return conj(s["recovery.present"] == 1, s["recovery.kind"] == SWAP)
