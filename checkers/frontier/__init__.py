"""The frontier engine: breadth-first exhaustive search over whole frontiers of state vectors (numpy arrays),
deriving every transition and property from ``checkers.symbolic.encoding``; symmetry on arrays; the job runner.
"""
