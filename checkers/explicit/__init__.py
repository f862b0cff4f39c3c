"""The explicit-state engine: breadth-first exhaustive search (shortest counterexamples), symmetry, liveness by
backward reachability, and the job runner that spreads a check over worker processes.
"""
