"""The model's transitions and the spec's properties over the state vector of ``checkers.symbolic.terms``.

The transitions are here; the properties and invariants are in ``checkers.symbolic.spec_terms`` (``SpecTerms``,
which ``Encoding`` inherits), since they read a state and never step it.

This is a hand-written transcription of ``model/protocol.py`` and ``spec/properties.py``. It cannot drift
unnoticed: ``tests/test_z3_agreement.py`` enumerates every reachable state at small bounds (both recovery
kinds, every mutant) and checks, for every action instance, that the guard here is true exactly when the
model enables the action and that the effect here is the vector of ``MirrorModel.next_state``; and that
every property here agrees with the Python predicate. The same code runs concretely (fast, every state) and
through Z3 (a solver check of ``encoding(s) & T_a(s, s')`` on sampled states).

Action instances: one per action shape with the variable parts that index the vector fixed (``Deliver`` of
path slot ``j`` carrying a message of kind ``k``, ``HostWrite`` to block ``lba``, ``StartRecovery`` to target
``t``); the written value of a ``HostWrite`` is the only free parameter. A model of the unrolled formula names
the instance taken at each step, which ``decode`` turns into the concrete ``Action`` on the concrete state.

Why the encoding is value-generic: data values are only copied (host write -> journal, P, path, R, ghost)
and compared for equality (properties, ``replay`` vs ``image``, dirty checks); no guard or effect does
arithmetic on a value, and values are compared with ``<`` only to keep the path (in the explicit engines'
encoding, ``canonical_path``) and R's buffer sorted, the model's canonical form of a multiset: which message may
be delivered does not depend on it. (The one
exception is a seeded bug: under ``reuse_sequence_number`` two buffered records can share a seq, and the model
itself then applies the smaller value first.) So the value domain appears only as the range of the
``HostWrite`` parameter and of the well-formedness constraint; ``--values-bits 32`` widens it to 2^32 values
per block, and by the model's value symmetry (``model.symmetry``) a counterexample found there renames to one
the explicit model replays (``checkers.symbolic.bmc.decode``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pitmirror.checkers.symbolic.spec_terms import (
    CK,
    COPY,
    HOST,
    JOURNALING,
    MA,
    MARK,
    MW,
    PAIR,
    RECOV,
    RECOVERING,
    RR,
    RS,
    SD,
    ST_DONE,
    ST_NONE,
    ST_REQ,
    ST_TO,
    SUSPENDED,
    SWAP,
    SWAPPING,
    WT,
    SpecTerms,
)
from pitmirror.checkers.symbolic.terms import (
    RECOVERY_SCALARS,
    SV,
    Layout,
    Term,
    Tup,
    any_of,
    conj,
    count,
    covers,
    disj,
    implies,
    ite,
    ite_t,
    merge,
    neg,
    never,
    seq_append,
    seq_compress,
    seq_contains,
    seq_insert_sorted,
    seq_pop_front,
    seq_remove_where,
    store,
    store_range,
    tmax,
    tmin,
    vol_eq,
    zero,
)
from pitmirror.model.actions import (
    Action,
    Checkpoint,
    CrashArray,
    CrashMidApply,
    CrashMidRemoteSwap,
    CrashMidWrite,
    Deliver,
    DuplicateMessage,
    FailPath,
    FinishRecovery,
    FinishResync,
    HostWrite,
    LoseMessage,
    MirrorTimeout,
    PersistJournal,
    RecoveryWrite,
    RemoteCheckpoint,
    RepairPath,
    SetMarker,
    StartRecovery,
    StartResync,
    SwapTimeout,
    SwapVolumes,
    SwitchHostLun,
)
from pitmirror.model.config import Bounds
from pitmirror.model.protocol import MirrorModel
from pitmirror.spec import actions as spec_actions
from pitmirror.spec.state import (
    MARKER,
    MARKER_RECORD_SECTORS,
    RECORD_FRAME_SECTORS,
    FencePolicy,
    MessageKind,
    RecoveryKind,
    State,
)

#: The bounded sequences whose capacity the proof system assumes (a guard) rather than proves.
ABSTRACTED = ("path", "remote_buffer", "remote_journal")
#: The actions that grow J, the ghost history or A's in-flight table (whose capacities the proofs prove).
JOURNALED = ("HostWrite", "SetMarker", "RecoveryWrite", "PersistJournal", "CrashMidWrite")



@dataclass(frozen=True)
class Inst:
    """One action instance: guard and effect over a vector (``v`` is the HostWrite value parameter), and
    how to name the concrete action once the concrete state before it is known.

    The effect also returns a capacity condition: the new state fits the fixed-width vector. The solver
    takes it as part of the guard; the agreement test checks it holds on every transition it enumerates, so
    at the tested bounds no reachable transition is cut off by a capacity."""

    name: str
    guard: Callable[[SV, Term], Term]
    effect: Callable[[SV, Term], tuple[SV, Term]]  # the state after, and the capacity condition
    decode: Callable[[State, int], Action]
    # "value": v is the written value; "slot": v is the index of a path slot; "target": v is a recovery's
    # target (the proof system's one StartRecovery instance); "": unused
    param: str = ""


def _fits(effect: Callable[[SV, Term], SV]) -> Callable[[SV, Term], tuple[SV, Term]]:
    """An effect that cannot outgrow the vector (it adds to no bounded sequence)."""
    return lambda s, v: (effect(s, v), True)


class Encoding(SpecTerms):
    """Transitions and properties of ``MirrorModel(bounds)`` over ``Layout(bounds, value_bits)``."""

    def __init__(self, bounds: Bounds, value_bits: int | None = None, *, budgets: bool = True,
                 unbounded: bool = False, canonical_path: bool = True) -> None:
        self.b = bounds
        #: the path is a multiset. ``True`` keeps it sorted, the model's canonical form: the explicit engines
        #: deduplicate states, so one multiset must have one vector. ``False`` (the solver engines: BMC,
        #: induction, Houdini, Spacer) appends a message in arrival order: no solver compares two states, and a
        #: sorted insert compares the new message with every slot (docs/PROOFS.md, "The path in arrival order")
        self.canonical_path = canonical_path
        self.unbounded = unbounded  # the proof system (docs/PROOFS.md): no budgets, a bounded channel
        self.budgets = budgets and not unbounded  # False: no action is limited by a budget (see budget_guard)
        self.lay = Layout(bounds, value_bits, unbounded)
        self.nb = bounds.blocks
        self.mut = bounds.mutant
        self.kind = int(bounds.recovery_kind)
        self.model = MirrorModel(bounds)
        #: entries carry a length slot (multi-block host writes); without it every length is the constant 1
        self.multi = self.lay.multi
        self.instances: list[Inst] = self._instances()

    # --- entries: a length slot only when the bounds allow multi-block writes ---------------------------

    def ent(self, *slots: Term, length: Term = 1) -> Tup:
        """A record, in-flight or history entry: its slots, and its length when the layout has that slot."""
        return self.lay.entry(*slots, length=length)

    def msg(self, kind: int, a: Term, b: Term = 0, c: Term = 0, d: Term = 0) -> Tup:
        """A path message (``d``: a MirrorWrite's length, when the layout has that slot)."""
        return (kind, a, b, c, d) if self.multi else (kind, a, b, c)

    # --- budgets ----------------------------------------------------------------------------------------

    def budget_guard(self, name: str, s: SV) -> Term:
        """The budget part of action ``name``'s guard: ``MirrorModel.within_budget`` over the vector, by the
        budget column of ``spec.actions`` (true for an action without a budget). The one place the encoding
        reads a budget, so an encoding built with ``budgets=False`` drops every budget here."""
        budget = spec_actions.budget_of(name)
        if budget is None or not self.budgets:
            return True
        return s[budget.used] < getattr(self.b, budget.bound)

    def late_budget_guard(self, name: str, s: SV) -> Term:
        """The budget a timeout spends only when it fires early, its message late rather than lost (the
        ``late_budget`` column of ``spec.actions``); true when budgets are off."""
        budget = spec_actions.BY_NAME[name].late_budget
        if budget is None or not self.budgets:
            return True
        return s[budget.used] < getattr(self.b, budget.bound)

    def budget_left(self, name: str) -> bool:
        """Whether the bounds give action ``name`` any budget at all (an action with none has no instance)."""
        budget = spec_actions.budget_of(name)
        return budget is None or not self.budgets or getattr(self.b, budget.bound) > 0

    def channel(self, inst: Inst) -> Inst:
        """The proof system's bounded channel: ``inst`` is taken only when the path, R's reorder buffer and JR
        it leaves fit their capacities (``ABSTRACTED``). The explicit abstraction of ``docs/PROOFS.md``: the
        model's path is an unbounded multiset (stale messages a crash leaves in transit are never forced out),
        and that R's buffer and JR stay within A's in-flight table and J is not proved. Every other capacity
        (J, its ghost history, A's in-flight table) is an obligation of the induction."""
        cap = self.lay.caps["path"]
        journaled = inst.name.startswith(JOURNALED)

        def guard(s: SV, v: Term) -> Term:
            g = inst.guard(s, v)
            if g is False:
                return g
            after, ok = inst.effect(s, v)
            # a journaled write adds one message to the path and grows J, its history and the in-flight table,
            # whose capacities are obligations; every other step grows only the sequences of ``ABSTRACTED``
            # (R's buffer may overflow in the middle of a delivery and drain again: the condition of each
            # addition, ``ok``, says so where the final length does not)
            return conj(g, after.length("path") <= cap if journaled else ok)

        return Inst(inst.name, guard, inst.effect, inst.decode, inst.param)

    # --- shared computations (protocol.py's helpers) ------------------------------------------------------

    def replay(self, base: list[Term], slots: list[Tup], n: Term, current: list[Term], target: Term
               ) -> list[Term]:
        """``MirrorModel.replay``: journals are kept in sequence order, so the sort is the identity."""
        return self.rebuild(current if self.mut == "rebuild_from_primary" else base, slots, n, target,
                            below_only=self.mut == "recovery_off_by_one",
                            newest_first=self.mut == "replay_out_of_order")

    def local_image(self, s: SV) -> list[Term]:
        """A's replay(B, J, T) for the running recovery."""
        return self.replay(s.vol("base"), s.slots("journal"), s.length("journal"), s.vol("primary"),
                           s["recovery.target"])

    def journal_free(self, s: SV, for_recovery: bool = False) -> Term:
        """Free journal slots, with the recovery reserve when asked."""
        reserve = self.nb if for_recovery else 0
        return self.b.journal_capacity + reserve - s.length("journal") - s.length("journal_cache")

    def host_io_allowed(self, s: SV) -> Term:
        """``MirrorModel._host_io_allowed``."""
        frozen_ok: Term = False
        if self.mut == "swap_without_freeze":
            frozen_ok = conj(s["recovery.present"] == 1, s["recovery.kind"] == SWAP)
        ifl = s.slots("in_flight")
        n = s.length("in_flight")
        in_flight_host = count(conj(i < n, e[3] != RECOV) for i, e in enumerate(ifl))
        return conj(disj(s["journaling_state"] == JOURNALING, frozen_ok), s["pair_state"] != COPY,
                    neg(conj(s["pair_state"] == SUSPENDED, s["fence_policy"] == int(FencePolicy.DATA))),
                    in_flight_host < self.b.concurrency, self.journal_free(s) > 0)

    def record_step(self, lba: Term, length: Term = 1) -> Term:
        """``MirrorModel.record_step``: how far the next free location moves past a record of ``length`` blocks
        to ``lba``."""
        frame = RECORD_FRAME_SECTORS if self.mut == "journal_location_ignores_header" else 0
        return ite(lba == MARKER, MARKER_RECORD_SECTORS - frame, RECORD_FRAME_SECTORS + length - frame)

    def append_to_journal(self, s: SV, rec: Tup) -> Term:
        """``MirrorModel._append_to_journal`` in place: the record joins J at the next free location, which
        moves past it, wrapping at the end of the ring; returns the capacity condition."""
        slots, n, ok = seq_append(s.slots("journal"), s.length("journal"), rec)
        s.set_seq("journal", slots, n)
        at = s["journal_next_free"]
        locs, ln, ok_loc = seq_append(s.slots("journal_locations"), s.length("journal_locations"), (at,))
        s.set_seq("journal_locations", locs, ln)
        s["journal_next_free"] = self.wrap(s, at + self.record_step(rec[1], self.ln(rec, 3)))
        return conj(ok, ok_loc)

    @staticmethod
    def wrap(s: SV, x: Term) -> Term:
        """``x % journal_sectors`` for ``0 <= x < 2 * journal_sectors`` (a location plus one record's sectors)."""
        return ite(x >= s["journal_sectors"], x - s["journal_sectors"], x)

    # --- small effects ---------------------------------------------------------------------------------

    @staticmethod
    def pre(s: SV) -> SV:
        """``next_state``'s prelude: the ``recovery_ended`` ghost event lives for one state."""
        t = s.copy()
        for k in t.d:
            if k.startswith("recovery_ended."):
                t.d[k] = 0
        return t

    @staticmethod
    def suspend(s: SV) -> None:
        """``_suspend``: a running recovery has left PAIR."""
        s["recovery.left_pair"] = ite(s["recovery.present"] == 1, 1, s["recovery.left_pair"])
        s["pair_state"] = SUSPENDED

    @staticmethod
    def mark_faulted(s: SV) -> None:
        """``_mark_faulted``."""
        s["recovery.faulted"] = ite(s["recovery.present"] == 1, 1, s["recovery.faulted"])

    def path_add(self, s: SV, msg: Tup) -> Term:
        """Add a message to the path multiset (sorted, or last with ``canonical_path=False``); returns the
        capacity condition."""
        add = seq_insert_sorted if self.canonical_path else seq_append
        slots, n, ok = add(s.slots("path"), s.length("path"), msg)
        s.set_seq("path", slots, n)
        return ok

    def complete_host_write(self, s: SV, e: Tup, acked: Term, when: Term) -> None:
        """``_complete_host_write`` for in-flight entry ``e`` if ``when`` holds."""
        seq, lba, val, _origin, host_acked = e[:5]
        hs, hn = s.slots("history"), s.length("history")
        do_ack = conj(when, acked, host_acked == 0)
        match = [conj(i < hn, h[0] == seq, h[1] == lba, h[2] == val, *((h[5] == e[5],) if self.multi else ()))
                 for i, h in enumerate(hs)]
        new = []
        for i, h in enumerate(hs):
            last = conj(match[i], *(neg(match[k]) for k in range(i + 1, len(hs))))
            new.append((*h[:3], ite(conj(do_ack, last), 1, h[3]), *h[4:]))
        s.set_seq("history", new, hn)
        if self.mut == "reuse_sequence_number":
            s["next_seq"] = ite(conj(when, s["next_seq"] == seq), seq + 1, s["next_seq"])

    def journaled_write(self, s: SV, lba: int, value: Term, origin: int, length: int = 1) -> tuple[SV, Term]:
        """``_journaled_write``; returns the state and the capacity condition."""
        s = s.copy()
        ok: Term = True
        seq = s["next_seq"]
        rec = self.ent(seq, lba, value, length=length)
        if self.mut == "skip_journal" and origin == HOST:
            pass
        elif self.mut == "journal_not_persisted_before_ack":
            slots, n, ok1 = seq_append(s.slots("journal_cache"), s.length("journal_cache"), rec)
            s.set_seq("journal_cache", slots, n)
            ok = conj(ok, ok1)
        else:
            ok = conj(ok, self.append_to_journal(s, rec))
        s["next_seq"] = seq if self.mut == "reuse_sequence_number" and origin == HOST else seq + 1
        if lba != MARKER and origin == HOST:
            # a host write goes to the volume the host-LUN map names: P, or B when a swap left the LUN behind
            on_p = s["host_lun"] == s["primary_volume"]
            prim, base = s.vol("primary"), s.vol("base")
            s.set_vol("primary", [ite(on_p, x, y) for x, y in zip(store_range(prim, lba, length, value), prim,
                                                                   strict=True)])
            s.set_vol("base", [ite(on_p, y, x) for x, y in zip(store_range(base, lba, length, value), base,
                                                                strict=True)])
        elif lba != MARKER:
            s.set_vol("primary", store_range(s.vol("primary"), lba, length, value))
        if origin == HOST:
            s["recovery.host_io_during_swap"] = ite(s["recovery.present"] == 1, 1, s["recovery.host_io_during_swap"])
            s["host_writes_issued"] = s["host_writes_issued"] + 1
        bypass = origin == RECOV and self.mut == "recovery_bypasses_mirror"
        pit = int(origin != RECOV)
        # mirrored branch
        m = s.copy()
        acked_now = int(self.mut == "ack_before_remote" and origin == HOST)
        slots, n, ok_if = seq_append(m.slots("in_flight"), m.length("in_flight"),
                                     self.ent(seq, lba, value, origin, acked_now, length=length))
        m.set_seq("in_flight", slots, n)
        p = m.copy()
        ok_path = self.path_add(p, self.msg(MW, seq, lba, value, length))
        m = merge(s["path_up"] == 1, p, m)
        slots, n, ok_h1 = seq_append(m.slots("history"), m.length("history"),
                                     self.ent(seq, lba, value, acked_now, pit, length=length))
        m.set_seq("history", slots, n)
        ok_m = conj(ok_if, implies(s["path_up"] == 1, ok_path), ok_h1)
        # local branch
        loc = s.copy()
        loc["next_seq"] = seq + 1  # reuse_sequence_number: a write completing at once moves the counter now
        if lba != MARKER:
            dirty = loc.vol("dirty")
            for b in range(lba, lba + length):
                dirty[b] = 1
            loc.set_vol("dirty", dirty)
        slots, n, ok_h2 = seq_append(loc.slots("history"), loc.length("history"),
                                     self.ent(seq, lba, value, int(origin == HOST), pit, length=length))
        loc.set_seq("history", slots, n)
        mirrored = False if bypass else s["pair_state"] == PAIR
        return merge(mirrored, m, loc), conj(ok, ite(mirrored, ok_m, ok_h2))

    # --- the actions ------------------------------------------------------------------------------------

    def _instances(self) -> list[Inst]:
        nb = self.nb
        out: list[Inst] = []
        for lba in range(nb):
            for length in self.model.write_lengths(lba):
                out.append(self._host_write(lba, length))
        out.append(Inst("SetMarker", self._g_marker, self._e_marker, lambda st, v: SetMarker()))
        # RecoverRequest and SwapDone exist only in swap recovery
        for k in (MW, MA, RR, SD, CK, RS) if self.kind == SWAP else (MW, MA, CK, RS):
            out.append(self._deliver(k))
        if self.budget_left("LoseMessage"):
            out.append(self._lose())
        if self.budget_left("DuplicateMessage"):
            out.append(self._dup())
        out.append(Inst("FailPath", lambda s, v: conj(s["path_up"] == 1, self.budget_guard("FailPath", s)),
                        _fits(self._e_fail_path), lambda st, v: FailPath()))
        out.append(Inst("RepairPath", lambda s, v: s["path_up"] == 0, _fits(self._e_repair),
                        lambda st, v: RepairPath()))
        if self.mut != "no_remote_timeout":
            out.append(Inst("MirrorTimeout", self._g_mirror_timeout, _fits(self._e_mirror_timeout),
                            self._d_mirror_timeout))
            if self.kind == SWAP:
                out.append(Inst("SwapTimeout", self._g_swap_timeout, _fits(self._e_swap_timeout),
                                lambda st, v: SwapTimeout()))
        for arr in ("A", "R"):
            out.append(self._crash(arr))
        out.append(Inst("Checkpoint", self._g_checkpoint, self._e_checkpoint, lambda st, v: Checkpoint()))
        if self.mut == "remote_checkpoints_alone":
            out.append(Inst("RemoteCheckpoint", lambda s, v: s.length("remote_journal") > 0,
                            _fits(self._e_remote_checkpoint), lambda st, v: RemoteCheckpoint()))
        if self.mut == "journal_not_persisted_before_ack":
            out.append(Inst("PersistJournal", self._g_persist, self._e_persist, lambda st, v: PersistJournal()))
        out.append(Inst("StartResync", self._g_start_resync, _fits(self._e_start_resync), lambda st, v: StartResync()))
        out.append(Inst("FinishResync", self._g_finish_resync, self._e_finish_resync, lambda st, v: FinishResync()))
        if self.unbounded:  # the target is a parameter: sequence numbers are unbounded
            out.append(self._start_recovery(None))
        else:
            for t in range(self.lay.maxseq + 1):
                out.append(self._start_recovery(t))
        if self.kind == WT:
            for lba in range(nb):
                out.append(self._recovery_write(lba))
        else:
            out.append(Inst("SwapVolumes", lambda s, v: conj(s["recovery.present"] == 1, s["recovery.a_swapped"] == 0),
                            _fits(self._e_swap_volumes), lambda st, v: SwapVolumes()))
        out.append(Inst("FinishRecovery", self._g_finish_recovery, _fits(self._e_finish_recovery),
                        lambda st, v: FinishRecovery()))
        if self.kind == SWAP:
            out.append(Inst("SwitchHostLun", self._g_switch_host_lun, _fits(self._e_switch_host_lun),
                            lambda st, v: SwitchHostLun()))
        if self.budget_left("CrashMidWrite"):
            for lba in range(nb):
                for length in self.model.write_lengths(lba)[1:]:
                    out.append(self._crash_mid_write(lba, length))
            if self.multi:
                out.append(self._crash_mid_apply())
        if self.kind == SWAP and self.budget_left("CrashMidRemoteSwap"):
            out.append(self._crash_mid_remote_swap())
        return [self.channel(i) for i in out] if self.unbounded else out

    # host I/O

    def _host_write(self, lba: int, length: int = 1) -> Inst:
        def guard(s: SV, v: Term) -> Term:
            return conj(self.host_io_allowed(s), self.budget_guard("HostWrite", s), v >= 0,
                        v < self.lay.vmax)

        def effect(s: SV, v: Term) -> tuple[SV, Term]:
            return self.journaled_write(self.pre(s), lba, v, HOST, length)

        name = f"HostWrite[{lba}]" if length == 1 else f"HostWrite[{lba}+{length}]"
        return Inst(name, guard, effect, lambda st, v: HostWrite(lba, v, length), param="value")

    def _g_marker(self, s: SV, v: Term) -> Term:
        return conj(self.host_io_allowed(s), self.budget_guard("SetMarker", s))

    def _e_marker(self, s: SV, v: Term) -> tuple[SV, Term]:
        t, ok = self.journaled_write(self.pre(s), MARKER, 0, MARK)
        t["markers_set"] = t["markers_set"] + 1
        return t, ok

    # the path

    def path_slot(self, s: SV, j: Term) -> Tup:
        """The message in path slot ``j`` (a term)."""
        slots = s.slots("path")
        if type(j) is int:  # a concrete slot (the concrete checks): what the chain below folds to, at once
            return slots[j] if 0 <= j < len(slots) - 1 else slots[-1]
        out = slots[-1]
        for i in range(len(slots) - 2, -1, -1):
            out = ite_t(j == i, slots[i], out)
        return out

    def path_remove(self, s: SV, j: Term) -> None:
        """Remove path slot ``j`` (a term; the guard ensures ``0 <= j < len``)."""
        slots = s.slots("path")
        padded = [*slots, zero(len(slots[0]) if slots else 0)]
        s.set_seq("path", [ite_t(j <= i, padded[i + 1], slots[i]) for i in range(len(slots))],
                  s.length("path") - 1)

    def _deliver(self, k: int) -> Inst:
        # one instance per message kind; the parameter is the path slot, so the receive logic is built once
        def guard(s: SV, v: Term) -> Term:
            return conj(s["path_up"] == 1, v >= 0, v < s.length("path"), self.path_slot(s, v)[0] == k)

        def effect(s: SV, v: Term) -> tuple[SV, Term]:
            return self._deliver_effect(s, v, k)

        def decode(st: State, v: int) -> Action:
            return Deliver(st.path[v])

        return Inst(f"Deliver[{MessageKind(k).name}]", guard, effect, decode, param="slot")

    def _deliver_effect(self, s0: SV, j: Term, k: int) -> tuple[SV, Term]:
        m = self.path_slot(s0, j)
        s = self.pre(s0)
        self.path_remove(s, j)
        if k == MW:
            return self._remote_receive_write(s, self.ent(m[1], m[2], m[3], length=self.ln(m, 4)))
        if k == MA:
            return self._receive_ack(s, m[1]), True
        if k == RR:
            return self._remote_swap(s, m[1], m[2])
        if k == CK:
            return self._remote_checkpoint_upto(s, m[1]), True
        if k == RS:
            return self._receive_resynced(s, m[1]), True
        cond = conj(s["recovery.present"] == 1, s["recovery.recovery_id"] == m[1],
                    s["recovery.remote_status"] == ST_REQ)
        s["recovery.remote_status"] = ite(cond, ST_DONE, s["recovery.remote_status"])
        return s, True

    def _remote_receive_write(self, s: SV, rec: Tup) -> tuple[SV, Term]:
        seq, lba, val = rec[:3]
        n_blocks = self.ln(rec, 3)
        if self.mut == "remote_applies_in_arrival_order":
            t = s.copy()
            t.set_vol("remote", store_range(t.vol("remote"), lba, n_blocks, val))
            rj, rn = t.slots("remote_journal"), t.length("remote_journal")
            have = seq_contains(rj, rn, rec)
            ins, inn, ok1 = seq_append(rj, rn, rec)  # JR in arrival order, no duplicates
            t.set_seq("remote_journal", [tuple(ite(have, x, y) for x, y in zip(a, c, strict=True))
                                         for a, c in zip(rj, ins, strict=True)], ite(have, rn, inn))
            t["remote_applied_seq"] = tmax(t["remote_applied_seq"], seq)
            p = t.copy()
            ok2 = self.path_add(p, self.msg(MA, seq))
            return merge(t["path_up"] == 1, p, t), conj(implies(neg(have), ok1), implies(t["path_up"] == 1, ok2))
        dup = s.copy()  # a duplicate or a late write R has passed: acknowledged again, not applied
        if self.mut == "remote_accepts_stale_messages":  # the late write lands on S (a marker's lba stores nothing)
            dup.set_vol("remote", store_range(dup.vol("remote"), lba, n_blocks, val))
        ok_dup = self.path_add(dup, self.msg(MA, seq))
        t = s.copy()
        buf, bn = t.slots("remote_buffer"), t.length("remote_buffer")
        have = seq_contains(buf, bn, rec)
        ins, inn, ok_ins = seq_insert_sorted(buf, bn, rec)
        t.set_seq("remote_buffer", [tuple(ite(have, x, y) for x, y in zip(a, c, strict=True))
                                    for a, c in zip(buf, ins, strict=True)], ite(have, bn, inn))
        ok: Term = implies(neg(have), ok_ins)
        if self.mut == "remote_writes_ahead_of_gap":  # S written on arrival (a marker's lba stores nothing)
            t.set_vol("remote", store_range(t.vol("remote"), lba, n_blocks, val))
        for _ in range(self.lay.caps["remote_buffer"]):
            buf, bn = t.slots("remote_buffer"), t.length("remote_buffer")
            nxt = buf[0]
            go = conj(bn > 0, nxt[0] == t["remote_applied_seq"] + 1)
            if never(go):
                break
            u = t.copy()
            slots, n = seq_pop_front(buf, bn)
            u.set_seq("remote_buffer", slots, n)
            u.set_vol("remote", store_range(u.vol("remote"), nxt[1], self.ln(nxt, 3), nxt[2]))
            rjs, rjn, ok1 = seq_append(u.slots("remote_journal"), u.length("remote_journal"), nxt)
            u.set_seq("remote_journal", rjs, rjn)
            u["remote_applied_seq"] = nxt[0]
            ok2 = self.path_add(u, self.msg(MA, nxt[0]))
            ok = conj(ok, implies(go, conj(ok1, ok2)))
            t = merge(go, u, t)
        is_dup = seq <= s["remote_applied_seq"]
        return merge(is_dup, dup, t), ite(is_dup, ok_dup, ok)

    def _receive_ack(self, s: SV, seq: Term) -> SV:
        ifl, n = s.slots("in_flight"), s.length("in_flight")
        hit = [e[0] == seq for e in ifl]
        first = [conj(i < n, hit[i], *(neg(conj(k < n, hit[k])) for k in range(i))) for i in range(len(ifl))]
        slots, nn, found = seq_remove_where(ifl, n, hit)
        t = s.copy()
        t.set_seq("in_flight", slots, nn)
        for i, e in enumerate(ifl):
            self.complete_host_write(t, e, True, conj(first[i], e[3] == HOST))
        return merge(found, t, s)

    def _lose(self) -> Inst:
        def guard(s: SV, v: Term) -> Term:
            return conj(self.budget_guard("LoseMessage", s), v >= 0, v < s.length("path"))

        def effect(s0: SV, v: Term) -> tuple[SV, Term]:
            s = self.pre(s0)
            self.path_remove(s, v)
            s["message_faults"] = s["message_faults"] + 1
            self.mark_faulted(s)
            return s, True

        return Inst("LoseMessage", guard, effect, lambda st, v: LoseMessage(st.path[v]), param="slot")

    def _dup(self) -> Inst:
        def eff(s0: SV, v: Term) -> tuple[SV, Term]:
            m = self.path_slot(s0, v)
            s = self.pre(s0)
            ok = self.path_add(s, m)
            s["message_faults"] = s["message_faults"] + 1
            return s, ok

        def guard(s: SV, v: Term) -> Term:
            return conj(self.budget_guard("DuplicateMessage", s), v >= 0, v < s.length("path"))

        return Inst("DuplicateMessage", guard, eff, lambda st, v: DuplicateMessage(st.path[v]), param="slot")

    def _e_fail_path(self, s0: SV, v: Term) -> SV:
        s = self.pre(s0)
        s["path_up"] = 0
        s.clear_seq("path")
        s["path_failures"] = s["path_failures"] + 1
        self.mark_faulted(s)
        return s

    def _e_repair(self, s0: SV, v: Term) -> SV:
        s = self.pre(s0)
        s["path_up"] = 1
        return s

    def any_lost(self, s: SV) -> Term:
        """Some write in flight is lost (``MirrorModel._timed_out_write`` then names it: no budget spent)."""
        n = s.length("in_flight")
        return any_of(conj(i < n, self.lost(s, e[0])) for i, e in enumerate(s.slots("in_flight")))

    def _g_mirror_timeout(self, s: SV, v: Term) -> Term:
        premature = conj(s.length("in_flight") > 0, self.late_budget_guard("MirrorTimeout", s))
        return disj(self.any_lost(s), premature)

    def _d_mirror_timeout(self, st: State, v: int) -> Action:
        return next(a for a in self.model.actions(st) if isinstance(a, MirrorTimeout))

    def _e_mirror_timeout(self, s0: SV, v: Term) -> SV:
        s = self.pre(s0)
        self.spend_premature(s, neg(self.any_lost(s0)))
        ifl, n = s.slots("in_flight"), s.length("in_flight")
        dirty = s.vol("dirty")
        for i, e in enumerate(ifl):
            dirty = [ite(conj(i < n, covers(e[1], self.ln(e, 5), k)), 1, x) for k, x in enumerate(dirty)]
        for i, e in enumerate(ifl):
            self.complete_host_write(s, e, s["fence_policy"] == int(FencePolicy.NEVER), conj(i < n, e[3] == HOST))
        s.clear_seq("in_flight")
        s.set_vol("dirty", dirty)
        self.suspend(s)
        return s

    def spend_premature(self, s: SV, premature: Term) -> None:
        """A timeout that fired while its message was late: one of the budget spent, and a fault."""
        s["premature_timeouts"] = s["premature_timeouts"] + ite(premature, 1, 0)
        s["recovery.faulted"] = ite(conj(premature, s["recovery.present"] == 1), 1, s["recovery.faulted"])

    def swap_answer_late(self, s: SV) -> Term:
        """``MirrorModel._swap_answer_late``."""
        pn = s.length("path")
        rid = s["recovery.recovery_id"]
        return conj(s["recovery.present"] == 1, any_of(conj(i < pn, disj(m[0] == RR, m[0] == SD), m[1] == rid)
                                                       for i, m in enumerate(s.slots("path"))))

    def _g_swap_timeout(self, s: SV, v: Term) -> Term:
        return conj(s["recovery.present"] == 1, s["recovery.remote_status"] == ST_REQ,
                    disj(neg(self.swap_answer_late(s)), self.late_budget_guard("SwapTimeout", s)))

    def _e_swap_timeout(self, s0: SV, v: Term) -> SV:
        s = self.pre(s0)
        self.spend_premature(s, self.swap_answer_late(s0))
        s["recovery.remote_status"] = ST_TO
        s.set_vol("dirty", [1] * self.nb)
        s["swap_timed_out"] = 1  # ghost: until the resync
        self.suspend(s)
        return s

    def _crash(self, arr: str) -> Inst:
        def effect(s0: SV, v: Term) -> tuple[SV, Term]:
            return self.crash(self.pre(s0), arr), True

        return Inst(f"CrashArray[{arr}]", lambda s, v: self.budget_guard("CrashArray", s), effect,
                    lambda st, v: CrashArray(arr))

    def _crash_mid_write(self, lba: int, length: int) -> Inst:
        """``CrashMidWrite(lba, v, length)``: the write journaled, not mirrored, then A's crash."""
        def guard(s: SV, v: Term) -> Term:
            return conj(self.host_io_allowed(s), self.budget_guard("HostWrite", s),
                        self.budget_guard("CrashMidWrite", s), v >= 0, v < self.lay.vmax)

        def effect(s0: SV, v: Term) -> tuple[SV, Term]:
            s = self.pre(s0)
            on_p, seq = s["host_lun"] == s["primary_volume"], s["next_seq"]
            prim0, base0 = s.vol("primary"), s.vol("base")
            t, ok = self.journaled_write(s, lba, v, HOST, length)
            # not mirrored: the power failed before step 5
            ps, pn, _ = seq_remove_where(t.slots("path"), t.length("path"),
                                         [conj(m[0] == MW, m[1] == seq) for m in t.slots("path")])
            t.set_seq("path", ps, pn)
            fs, fn, _ = seq_remove_where(t.slots("in_flight"), t.length("in_flight"),
                                         [e[0] == seq for e in t.slots("in_flight")])
            t.set_seq("in_flight", fs, fn)
            self.complete_host_write(t, self.ent(seq, lba, v, HOST, 0, length=length), False, True)
            hs, hn = t.slots("history"), t.length("history")
            t.set_seq("history", [(*h[:3], ite(i == hn - 1, 0, h[3]), *h[4:]) for i, h in enumerate(hs)], hn)
            if self.mut == "torn_multiblock_write":  # no redo from J: the LUN's volume keeps the first block only
                t.set_vol("primary", [ite(on_p, x, y) for x, y in zip(store(prim0, lba, v), t.vol("primary"),
                                                                       strict=True)])
                t.set_vol("base", [ite(on_p, y, x) for x, y in zip(store(base0, lba, v), t.vol("base"), strict=True)])
            return self.crash(t, "A"), ok

        return Inst(f"CrashMidWrite[{lba}+{length}]", guard, effect,
                    lambda st, v: CrashMidWrite(lba, v, length), param="value")

    def _crash_mid_apply(self) -> Inst:
        """``CrashMidApply(message)``: R takes the MirrorWrite it applies next, then crashes (no ack)."""
        def guard(s: SV, v: Term) -> Term:
            m = self.path_slot(s, v)
            return conj(self.budget_guard("CrashMidApply", s), s["path_up"] == 1, v >= 0, v < s.length("path"),
                        m[0] == MW, m[4] > 1, m[1] == s["remote_applied_seq"] + 1)

        def effect(s0: SV, v: Term) -> tuple[SV, Term]:
            m = self.path_slot(s0, v)
            s = self.pre(s0)
            self.path_remove(s, v)
            if self.mut == "torn_remote_apply":  # no redo from JR: S keeps the first block only
                s.set_vol("remote", store(s.vol("remote"), m[2], m[3]))
            else:
                s.set_vol("remote", store_range(s.vol("remote"), m[2], m[4], m[3]))
            rjs, rjn, ok = seq_append(s.slots("remote_journal"), s.length("remote_journal"),
                                      self.ent(m[1], m[2], m[3], length=m[4]))
            s.set_seq("remote_journal", rjs, rjn)
            s["remote_applied_seq"] = m[1]
            return self.crash(s, "R"), ok

        return Inst("CrashMidApply", guard, effect, lambda st, v: CrashMidApply(st.path[v]), param="slot")

    def _crash_mid_remote_swap(self) -> Inst:
        """``CrashMidRemoteSwap(message)``: R's swap on the RecoverRequest in the slot, then R's crash (the
        restart redoes the swap from its intent record, and answers)."""
        def guard(s: SV, v: Term) -> Term:
            m = self.path_slot(s, v)
            return conj(self.budget_guard("CrashMidRemoteSwap", s), s["path_up"] == 1, v >= 0,
                        v < s.length("path"), m[0] == RR, m[1] > s["remote_recovery_id"])

        def effect(s0: SV, v: Term) -> tuple[SV, Term]:
            m = self.path_slot(s0, v)
            s = self.pre(s0)
            self.path_remove(s, v)
            ok: Term = True
            if self.mut == "remote_swap_not_redone":
                # no intent record: RB keeps the first of JR's records up to T (JR is in seq order), no answer
                rec = s.slots("remote_journal")[0]
                first = conj(s.length("remote_journal") > 0, rec[0] <= m[2])
                moved = store_range(s.vol("replica_base"), rec[1], self.ln(rec, 3), rec[2])
                s.set_vol("replica_base", [ite(first, x, y) for x, y in zip(moved, s.vol("replica_base"),
                                                                            strict=True)])
            else:
                s, ok = self._remote_swap(s, m[1], m[2])
            return self.crash(s, "R"), ok

        return Inst("CrashMidRemoteSwap", guard, effect, lambda st, v: CrashMidRemoteSwap(st.path[v]), param="slot")

    def crash(self, s: SV, arr: str) -> SV:
        """``_do_crash`` of array ``arr`` on ``s`` (already past ``pre``; changed in place and returned)."""
        s["crashes"] = s["crashes"] + 1
        if arr == "R":
            s.clear_seq("remote_buffer")
            self.mark_faulted(s)
            return s
        ifl, n = s.slots("in_flight"), s.length("in_flight")
        if self.mut == "crash_restores_blocks_from_base":  # P's blocks in flight re-read from B
            base = s.vol("base")
            prim = s.vol("primary")
            for i, e in enumerate(ifl):
                hit = conj(i < n, e[3] == HOST, e[1] != MARKER)
                prim = [ite(conj(hit, covers(e[1], self.ln(e, 5), k)), b, x)
                        for k, (x, b) in enumerate(zip(prim, base, strict=True))]
            s.set_vol("primary", prim)
        for i, e in enumerate(ifl):
            self.complete_host_write(s, e, False, conj(i < n, e[3] == HOST))
        s.clear_seq("in_flight")
        s.clear_seq("journal_cache")
        s.set_vol("dirty", [1] * self.nb)
        # the restart completes a swap caught between its two map updates, from its intent record
        pending = s["lun_switch_pending"] == 1
        if self.mut != "swap_updates_lun_map_last_without_intent":  # MUTANT: no intent: the switch is lost
            s["host_lun"] = ite(pending, s["primary_volume"], s["host_lun"])
        s["lun_switch_pending"] = 0
        was = s["pair_state"]
        t = s.copy()
        self.suspend(t)
        s = merge(was != SUSPENDED, t, s)
        self.mark_faulted(s)
        return s

    # checkpoint and resync

    def _g_checkpoint(self, s: SV, v: Term) -> Term:
        """``MirrorModel._checkpoint_enabled``: A's half, on demand (J full) and quiesced (nothing in flight)."""
        j0 = s.slots("journal")[0]
        during: Term = True if self.mut == "checkpoint_during_recovery" else disj(
            s["recovery.present"] == 0, j0[0] <= s["recovery.target"])
        return conj(s.length("journal") > 0, self.journal_free(s) <= 0, s["pair_state"] == PAIR, s["path_up"] == 1,
                    s.length("in_flight") == 0, during)

    def _remote_checkpoint(self, s: SV) -> None:
        rec = s.slots("remote_journal")[0]
        s.set_vol("replica_base", store_range(s.vol("replica_base"), rec[1], self.ln(rec, 3), rec[2]))
        s["replica_base_seq"] = rec[0]
        slots, n = seq_pop_front(s.slots("remote_journal"), s.length("remote_journal"))
        s.set_seq("remote_journal", slots, n)

    def _remote_checkpoint_upto(self, s: SV, seq: Term) -> SV:
        """``_remote_checkpoint_upto``: R applies JR's oldest records up to ``seq`` to RB, oldest first.

        In closed form rather than the model's loop unrolled: the records applied are the prefix of JR whose
        seqs are all at or below ``seq`` (each slot's condition reads JR as it was, not a popped copy), RB takes
        them in order, and JR keeps the rest. The loop unrolled nests a pop inside every iteration's condition,
        and the step case of swap's ``swap_remote_tracked`` took minutes on it."""
        s = s.copy()
        slots, n = s.slots("remote_journal"), s.length("remote_journal")
        applied: list[Term] = []
        prefix: Term = True
        for i, rec in enumerate(slots):
            prefix = conj(prefix, i < n, rec[0] <= seq)
            applied.append(prefix)
        rb, rb_seq = s.vol("replica_base"), s["replica_base_seq"]
        for rec, go in zip(slots, applied, strict=True):
            if never(go):
                break
            moved = store_range(rb, rec[1], self.ln(rec, 3), rec[2])
            rb = [ite(go, x, y) for x, y in zip(moved, rb, strict=True)]
            rb_seq = ite(go, rec[0], rb_seq)
        s.set_vol("replica_base", rb)
        s["replica_base_seq"] = rb_seq
        kept, m = seq_compress(slots, n, [neg(go) for go in applied])
        s.set_seq("remote_journal", kept, m)
        return s

    def _e_checkpoint(self, s0: SV, v: Term) -> tuple[SV, Term]:
        s = self.pre(s0)
        rec = s.slots("journal")[0]
        if self.mut != "checkpoint_drops_record":
            s.set_vol("base", store_range(s.vol("base"), rec[1], self.ln(rec, 3), rec[2]))
        s["base_seq"] = rec[0]
        for q in ("journal", "journal_locations"):  # the record and its entry in the journal log table
            slots, n = seq_pop_front(s.slots(q), s.length(q))
            s.set_seq(q, slots, n)
        ok: Term = True
        if self.mut != "remote_checkpoints_alone":  # R's half follows over the path
            ok = self.path_add(s, self.msg(CK, rec[0]))
        return self._ghost_checkpoint(s), ok

    def _ghost_checkpoint(self, s: SV) -> SV:
        limit = ite(s["recovery.present"] == 0, s["base_seq"], tmin(s["base_seq"], s["recovery.target"]))
        hs, hn = s.slots("history"), s.length("history")
        fold = [conj(i < hn, h[0] <= limit) for i, h in enumerate(hs)]
        any_fold = any_of(fold)
        t = s.copy()
        g = t.vol("ghost_base")
        for i, h in enumerate(hs):
            g = [ite(conj(fold[i], covers(h[1], self.ln(h, 5), k)), h[2], x) for k, x in enumerate(g)]
        t.set_vol("ghost_base", g)
        t["ghost_base_seq"] = tmax(t["ghost_base_seq"], limit)
        keep, kn = seq_compress(hs, hn, [h[0] > limit for h in hs])
        t.set_seq("history", keep, kn)
        return merge(any_fold, t, s)

    def _e_remote_checkpoint(self, s0: SV, v: Term) -> SV:
        s = self.pre(s0)
        self._remote_checkpoint(s)
        return s

    def _g_persist(self, s: SV, v: Term) -> Term:
        return s.length("journal_cache") > 0

    def _e_persist(self, s0: SV, v: Term) -> tuple[SV, Term]:
        s = self.pre(s0)
        c = s.slots("journal_cache")
        ok = self.append_to_journal(s, c[0])
        cs, cn = seq_pop_front(c, s.length("journal_cache"))
        s.set_seq("journal_cache", cs, cn)
        return s, ok

    def _g_start_resync(self, s: SV, v: Term) -> Term:
        half = conj(s["recovery.present"] == 1, s["recovery.kind"] == SWAP, s["recovery.a_swapped"] == 0)
        return conj(s["pair_state"] == SUSPENDED, s["path_up"] == 1, s.length("in_flight") == 0, neg(half))

    def _e_start_resync(self, s0: SV, v: Term) -> SV:
        s = self.pre(s0)
        s["pair_state"] = COPY
        s["resync_id"] = s["resync_id"] + 1
        return s

    def _g_finish_resync(self, s: SV, v: Term) -> Term:
        """``MirrorModel._resync_copy_enabled``: A in COPY, the path up, no answer of this resync on it."""
        return conj(s["pair_state"] == COPY, s["path_up"] == 1,
                    neg(seq_contains(s.slots("path"), s.length("path"), self.msg(RS, s["resync_id"]))))

    def _e_finish_resync(self, s0: SV, v: Term) -> tuple[SV, Term]:
        """The copy and R's half (``MirrorModel._do_finish_resync``); A's half is ``_receive_resynced``."""
        s = self.pre(s0)
        s.set_vol("remote", [ite(d == 1, p, r) for p, r, d in zip(s.vol("primary"), s.vol("remote"), s.vol("dirty"),
                                                                    strict=True)])
        if self.mut != "checkpoint_not_redone":  # MUTANT: RB kept, a lost Checkpointed never redone
            s.set_vol("replica_base", s.vol("base"))
        s["replica_base_seq"] = s["base_seq"]
        js = s.slots("journal")
        cap = self.lay.caps["remote_journal"]
        s.set_seq("remote_journal", [*js, *[zero(len(js[0]))] * (cap - len(js))], s.length("journal"))
        s["remote_applied_seq"] = s["next_seq"] - 1
        s["remote_recovery_id"] = tmax(s["remote_recovery_id"], s["recoveries_started"])
        s.clear_seq("remote_buffer")
        for k in self.lay.names:
            if k.startswith("recovery_awaiting_resync."):
                s[k] = 0  # ghost: S is whole again
        ok = self.path_add(s, self.msg(RS, s["resync_id"]))
        return s, ok

    def _receive_resynced(self, s: SV, resync_id: Term) -> SV:
        """``MirrorModel._receive_resynced``: A's half, on the answer of the resync it runs."""
        current = s["pair_state"] == COPY
        if self.mut != "resync_accepts_stale_answer":  # MUTANT: any answer ends COPY
            current = conj(current, resync_id == s["resync_id"])
        s.set_vol("dirty", [ite(current, 0, d) for d in s.vol("dirty")])
        s["pair_state"] = ite(current, PAIR, s["pair_state"])
        s["swap_timed_out"] = ite(current, 0, s["swap_timed_out"])
        for k in self.lay.names:
            if k.startswith("recovery_awaiting_resync."):
                s[k] = ite(current, 0, s[k])  # ghost: S is whole
        return s

    # recovery

    def _start_recovery(self, fixed: int | None) -> Inst:
        # ``fixed``: one instance per target (the bounded system); None: the target is the parameter ``v``
        swap = self.kind == SWAP

        def guard(s: SV, v: Term) -> Term:
            t = v if fixed is None else fixed
            base = conj(s["recovery.present"] == 0, self.budget_guard("StartRecovery", s),
                        s["pair_state"] == PAIR, s.length("in_flight") == 0,
                        s["journaling_state"] == JOURNALING, s["base_seq"] <= t, t < s["next_seq"])
            if base is False or swap:
                return base
            img = self.replay(s.vol("base"), s.slots("journal"), s.length("journal"), s.vol("primary"), t)
            differing = count(p != x for p, x in zip(s.vol("primary"), img, strict=True))
            return conj(base, differing <= self.journal_free(s, True))

        def effect(s0: SV, v: Term) -> tuple[SV, Term]:
            t = v if fixed is None else fixed
            s = self.pre(s0)
            ok: Term = True
            rid = s["recoveries_started"] + 1
            vals = {"recovery_id": rid, "kind": self.kind, "target": t, "a_swapped": 0,
                    "remote_status": ST_REQ if swap else ST_NONE, "faulted": ite(s["path_up"] == 1, 0, 1),
                    "left_pair": 0, "host_io_during_swap": 0}
            for f in RECOVERY_SCALARS:
                s[f"recovery.{f}"] = vals[f]
            s["recovery.present"] = 1
            s.set_vol("recovery.target_image", self.image(s0, t))
            s.set_vol("recovery.start_image", s.vol("primary"))
            s["recoveries_started"] = rid
            s["journaling_state"] = RECOVERING
            if swap:
                p = s.copy()
                ok = implies(s["path_up"] == 1, self.path_add(p, self.msg(RR, rid, t)))
                s = merge(s["path_up"] == 1, p, s)
            if not swap and self.mut == "recovery_bypasses_mirror":
                self.suspend(s)
            return s, ok

        if fixed is None:
            return Inst("StartRecovery", guard, effect, lambda st, v: StartRecovery(v, RecoveryKind(self.kind)),
                        param="target")
        return Inst(f"StartRecovery[{fixed}]", guard, effect,
                    lambda st, v: StartRecovery(fixed, RecoveryKind(self.kind)))

    def _recovery_write(self, lba: int) -> Inst:
        bypass = self.mut == "recovery_bypasses_mirror"

        def guard(s: SV, v: Term) -> Term:
            if_n = s.length("in_flight")
            img = self.local_image(s)
            busy = any_of(conj(i < if_n, e[1] == lba) for i, e in enumerate(s.slots("in_flight")))
            pair_ok: Term = True if bypass else s["pair_state"] == PAIR
            return conj(s["recovery.present"] == 1, pair_ok, self.journal_free(s, True) > 0,
                        s.vol("primary")[lba] != img[lba], neg(busy))

        def effect(s: SV, v: Term) -> tuple[SV, Term]:
            img = self.local_image(s)
            return self.journaled_write(self.pre(s), lba, img[lba], RECOV)

        return Inst(f"RecoveryWrite[{lba}]", guard, effect, lambda st, v: RecoveryWrite(lba))

    def _e_swap_volumes(self, s0: SV, v: Term) -> SV:
        s = self.pre(s0)
        img = self.local_image(s)
        seq = s["next_seq"]
        s.set_vol("retired_image", s.vol("primary"))
        s["retired_image.present"] = 1
        s.set_vol("primary", img)
        s.set_vol("base", img)
        s["base_seq"] = seq
        s["next_seq"] = seq + 1
        s.clear_seq("journal")
        s.clear_seq("journal_locations")  # the table restarts empty; the next free location stays
        s["journaling_state"] = SWAPPING
        s["recovery.a_swapped"] = 1
        s["primary_volume"] = 1 - s["primary_volume"]
        s["lun_switch_pending"] = 1
        s.set_vol("ghost_base", img)
        s["ghost_base_seq"] = seq
        s.clear_seq("history")
        return s

    def _remote_swap(self, s: SV, rid: Term, target: Term) -> tuple[SV, Term]:
        t = s.copy()
        img = self.replay(t.vol("replica_base"), t.slots("remote_journal"), t.length("remote_journal"),
                          t.vol("remote"), target)
        seq = t["remote_applied_seq"] + 1
        t.set_vol("remote", img)
        t.set_vol("replica_base", img)
        t["replica_base_seq"] = seq
        t.clear_seq("remote_journal")
        t["remote_applied_seq"] = seq
        t.clear_seq("remote_buffer")
        t["remote_recovery_id"] = rid
        t["secondary_volume"] = 1 - t["secondary_volume"]
        s = t if self.mut == "remote_accepts_stale_messages" else merge(rid > s["remote_recovery_id"], t, s)
        ok = self.path_add(s, self.msg(SD, rid))
        return s, ok

    def _g_finish_recovery(self, s: SV, v: Term) -> Term:
        if self.kind == WT:
            img = self.local_image(s)
            same = vol_eq(s.vol("primary"), img)
            return conj(s["recovery.present"] == 1, same, s.length("in_flight") == 0)
        return conj(s["recovery.present"] == 1, s["recovery.a_swapped"] == 1, s["lun_switch_pending"] == 0,
                    disj(s["recovery.remote_status"] == ST_DONE, s["recovery.remote_status"] == ST_TO))

    def _g_switch_host_lun(self, s: SV, v: Term) -> Term:
        """``MirrorModel``: the second half of A's swap, while the intent record is set."""
        return conj(s["recovery.present"] == 1, s["recovery.a_swapped"] == 1, s["lun_switch_pending"] == 1)

    def _e_switch_host_lun(self, s0: SV, v: Term) -> SV:
        s = self.pre(s0)
        s["host_lun"] = s["primary_volume"]
        s["lun_switch_pending"] = 0
        return s

    def _e_finish_recovery(self, s0: SV, v: Term) -> SV:
        s = self.pre(s0)
        s["recovery.left_pair"] = ite(s["pair_state"] != PAIR, 1, s["recovery.left_pair"])
        # ghost: a write-through recovery ending outside PAIR leaves S mixing its images until the resync
        awaiting = conj(self.kind == WT, s["pair_state"] != PAIR)
        for k in list(s.d):
            if k.startswith("recovery."):
                field = k[len("recovery."):]
                s["recovery_ended." + field] = s[k]
                s["recovery_awaiting_resync." + field] = ite(awaiting, s[k], 0)
                s[k] = 0
        hs, hn = s.slots("history"), s.length("history")
        s.set_seq("history", [(*h[:4], ite(hn - 1 == i, 1, h[4]), *h[5:]) for i, h in enumerate(hs)], hn)
        s["journaling_state"] = JOURNALING
        return s

    # --- initial states --------------------------------------------------------------------------------

    def init_vectors(self) -> list[dict[str, int]]:
        """The vectors of the model's initial states."""
        return [self.lay.encode(s) for s in self.model.init_states()]

    def params(self, inst: Inst) -> range:
        """The parameter values of an instance, for a concrete run."""
        if inst.param == "value":
            return range(self.lay.vmax)
        if inst.param == "slot":
            return range(self.lay.caps["path"])
        if inst.param == "target":
            return range(self.lay.maxseq + 1)
        return range(1)

