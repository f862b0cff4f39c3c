"""The protocol as a state machine: ``MirrorModel(bounds)`` with its initial states, enabled actions and next
state (a ``pitmirror.spec.interface.Model``), the bounds and presets, the seeded bugs, and the symmetry
(``canonicalizer()``) that the explicit engine asks the model for.
"""

from pitmirror.model.actions import ACTION_TYPES, Action, action_from_json
from pitmirror.model.config import PRESETS, Bounds, BoundsError
from pitmirror.model.mutants import MUTANTS, Mutant
from pitmirror.model.protocol import MirrorModel
from pitmirror.model.symmetry import Canonicalizer

__all__ = ["ACTION_TYPES", "MUTANTS", "PRESETS", "Action", "Bounds", "BoundsError", "Canonicalizer",
           "MirrorModel", "Mutant", "action_from_json"]
