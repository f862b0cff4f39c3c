"""The frontier engine: breadth-first exhaustive search over whole frontiers of state vectors (numpy arrays),
deriving every transition and property from ``checkers.symbolic.encoding``; symmetry on arrays; the job runner.
"""

#: The public API: the package's modules (imported by name, so importing the package stays cheap).
__all__ = ["engine", "predicates", "runner", "symmetry"]
