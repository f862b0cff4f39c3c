"""pitmirror's reference implementation: two storage arrays, byte-accurate, and the protocol between them.

Array A holds the primary volume P, the journal J and the base B; array R holds the remote secondary S,
the remote journal JR and the replica base RB (US 7,139,851, claims 1-28; docs/PROTOCOL.md). Drives,
back-end controllers, LDEVs, shared-memory control tables and the path are real structures; the
controller cores do no I/O (they return a ``Ready``); a seeded driver runs them, so every run replays.

A storage engineer's script::

    from pitmirror.impl import MirroredSystem, text_block

    system = MirroredSystem(blocks=8, journal_capacity=16, fence_policy="never", mutant=None, seed=0)
    system.write(0, text_block("invoice 1001: 250.00 EUR"))      # acknowledged once on P, J and S
    system.write(1, text_block("invoice 1002: 990.00 EUR"))
    system.set_marker("before-batch")                             # a named consistency point
    system.write(0, text_block("#### corrupted by a bad batch job ####"))
    report = system.recover(to="before-batch", method="writethrough")   # or method="swap"
    print(report)                  # what crossed the path: the differing blocks (a swap sends none)
    assert system.read(0) == text_block("invoice 1001: 250.00 EUR")
    assert system.primary_blocks() == system.remote_blocks()      # P == S == image(marker)
    system.a.jfmt, system.a.log, system.a.pair, system.a.array.shm.volume_map   # the control tables

Step by step, with the model's action names (for conformance with ``model/``)::

    system.apply("HostWrite", lba=0, value=1)     # model values map to blocks: impl.blocks
    system.enabled_actions()                      # [HostWrite(lba=0, value=0), ..., Deliver(message=...)]
    system.events                                 # the event log, in the same words

Modules: ``blocks`` (value <-> bytes), ``hardware`` (drives, back end, LDEVs, interconnect), ``array``
(one site), ``tables`` (the control tables), ``record`` (the journal record format), ``journal`` (J and JR),
``messages``, ``ready``, ``states`` (states and transition tables), ``primary`` / ``remote`` (the controller
cores), ``rebuild`` (replay and the volume swap, which both arrays use), ``recovery`` (A's write-through and
swap steps, over a declared ``RecoveryController`` protocol), ``path``, ``actions``, ``driver`` (step API,
random runs), ``system`` (the scripting API), ``abstraction`` (impl state -> model state), ``mutants``, ``errors``,
``demo``.
"""

from pitmirror.impl.actions import ACTION_NAMES, Action
from pitmirror.impl.blocks import BLOCK_SIZE, block_of_value, describe_block, text_block, value_of_block
from pitmirror.impl.driver import Driver, FaultPlan
from pitmirror.impl.errors import ScsiError, SenseKey, UnknownMutantError
from pitmirror.impl.hardware import PowerLoss
from pitmirror.impl.messages import MirrorAck, MirrorWrite, RecoverRequest, SwapDone
from pitmirror.impl.mutants import MUTANTS
from pitmirror.impl.record import MARKER, JournalRecord
from pitmirror.impl.states import FencePolicy, JournalingState, PairState, RecoveryKind
from pitmirror.impl.system import MirroredSystem, RecoveryReport

__all__ = [
    "ACTION_NAMES", "BLOCK_SIZE", "MARKER", "MUTANTS", "Action", "Driver", "FaultPlan", "FencePolicy",
    "JournalRecord", "JournalingState", "MirrorAck", "MirrorWrite", "MirroredSystem", "PairState",
    "PowerLoss", "RecoverRequest", "RecoveryKind", "RecoveryReport", "ScsiError", "SenseKey", "SwapDone",
    "UnknownMutantError", "block_of_value", "describe_block", "text_block", "value_of_block",
]
