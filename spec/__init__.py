"""What must hold: the abstract state of the mirror, ``image(n)``, the property catalogue (each property once,
with its claims), the proof invariants, and the generic interface between a model and an engine.

The names most users need are re-exported here (``Property`` is the catalogue's entry, which satisfies the
interface's ``Property`` protocol); ``spec.state``, ``spec.properties``, ``spec.fields`` (what each state field
is), ``spec.actions`` (what each action is), ``spec.invariants`` and ``spec.interface`` hold the rest.
"""

from pitmirror.spec.interface import Kind, Model
from pitmirror.spec.properties import (
    BY_NAME,
    EXPECTED_TRADE_OFFS,
    LIVENESS,
    PROPERTIES,
    REACHABILITY,
    SAFETY,
    Property,
    get,
)
from pitmirror.spec.state import (
    MARKER,
    FencePolicy,
    JournalingState,
    PairState,
    RecoveryKind,
    State,
    image,
    replay,
)

__all__ = [
    "BY_NAME", "EXPECTED_TRADE_OFFS", "LIVENESS", "MARKER", "PROPERTIES", "REACHABILITY", "SAFETY",
    "FencePolicy", "JournalingState", "Kind", "Model", "PairState", "Property", "RecoveryKind",
    "State", "get", "image", "replay",
]
