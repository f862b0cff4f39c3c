"""The explicit-state engine: breadth-first exhaustive search (shortest counterexamples), symmetry, liveness by
backward reachability, and the job runner that spreads a check over worker processes.

The engine (``checker``) checks any ``Model`` of ``pitmirror.spec.interface``, re-exported here so that a
model written for it needs one import; the runner (``runner``) runs the mirror's jobs (bounds, catalogue
properties, traces) and is imported from its module.
"""

from pitmirror.checkers.explicit.checker import CheckResult, Discovery, ExplicitChecker, Verdict
from pitmirror.spec.interface import Canonicalizer, HasBoundary, HasSymmetry, Identity, Kind, Model, Property

__all__ = ["Canonicalizer", "CheckResult", "Discovery", "ExplicitChecker", "HasBoundary", "HasSymmetry",
           "Identity", "Kind", "Model", "Property", "Verdict"]
